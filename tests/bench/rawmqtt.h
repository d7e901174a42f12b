/*
 * rawmqtt.h - just enough MQTT 3.1.1 on a plain TCP socket for the
 * measuring side of the benchmark: CONNECT/CONNACK, SUBSCRIBE, PUBLISH in
 * both directions, PUBACK, DISCONNECT. No threads, no timers, no buffering
 * of its own: callers write whole packets with one write() and parse what
 * one read() brought.
 *
 * Why it exists: the clients that time and count must cost next to nothing
 * and add no delays of their own. paho's MQTTClient, used synchronously,
 * stalls a publish for up to 100 ms now and then (seen here as a 100 ms
 * p99 on the no-gateway floor), and its receive path makes five syscalls
 * per message (three 1-byte recvfrom(), two poll()). Both would be charged
 * to the gateway under test. The gateways themselves and the broker
 * ceiling's publisher use paho, as the issue asks.
 *
 * Header-only (static), included by prog_benchsub.c and prog_benchlat.c.
 */
#ifndef RAWMQTT_H
#define RAWMQTT_H

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

static inline void rawmqtt_write_all(int fd, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			bench_die("mqtt: write: %s", w < 0 ? strerror(errno) : "closed");
		p += w;
		n -= (size_t)w;
	}
}

static inline size_t rawmqtt_put_len(unsigned char *p, size_t len)
{
	size_t n = 0;

	do {
		unsigned char b = len % 128;

		len /= 128;
		p[n++] = (unsigned char)(len ? b | 128 : b);
	} while (len);
	return n;
}

static inline size_t rawmqtt_put_str(unsigned char *p, const char *s, size_t l)
{
	p[0] = (unsigned char)(l >> 8);
	p[1] = (unsigned char)l;
	memcpy(p + 2, s, l);
	return l + 2;
}

/* One whole packet: type byte, remaining length, body; one write(). */
static inline void rawmqtt_send(int fd, unsigned char type, const unsigned char *body, size_t blen)
{
	unsigned char pkt[4096];
	size_t n = 0;

	if (blen > sizeof(pkt) - 5)
		bench_die("mqtt: packet too long");
	pkt[n++] = type;
	n += rawmqtt_put_len(pkt + n, blen);
	memcpy(pkt + n, body, blen);
	rawmqtt_write_all(fd, pkt, n + blen);
}

/* Encode a PUBLISH into out (room for topic + payload + 9); returns its length. */
static inline size_t rawmqtt_publish(unsigned char *out, const char *topic, const void *payload, size_t plen,
				     int qos, unsigned id)
{
	size_t tl = strlen(topic), rl = 2 + tl + (qos ? 2 : 0) + plen, n = 0;

	out[n++] = (unsigned char)(0x30 | (qos << 1));
	n += rawmqtt_put_len(out + n, rl);
	n += rawmqtt_put_str(out + n, topic, tl);
	if (qos) {
		out[n++] = (unsigned char)(id >> 8);
		out[n++] = (unsigned char)id;
	}
	memcpy(out + n, payload, plen);
	return n + plen;
}

/*
 * Split the packet at the start of buf[0..have): its first byte in *hdr,
 * its body in *body and *blen. Returns the packet's whole length, or 0 when
 * buf does not hold all of it yet.
 */
static inline size_t rawmqtt_parse(const unsigned char *buf, size_t have, unsigned *hdr,
				   const unsigned char **body, size_t *blen)
{
	size_t rl = 0, hl = 1, mul = 1;

	for (;;) {
		if (hl >= have)
			return 0;
		if (hl > 4)
			bench_die("mqtt: bad remaining length");
		rl += (buf[hl] & 127u) * mul;
		mul *= 128;
		if (!(buf[hl++] & 128))
			break;
	}
	if (have < hl + rl)
		return 0;
	*hdr = buf[0];
	*body = buf + hl;
	*blen = rl;
	return hl + rl;
}

/*
 * Acknowledge what was read at once. mosquitto leaves Nagle on by default
 * (set_tcp_nodelay false), so a small packet it sends while an earlier one
 * is unacknowledged waits for our ACK; with the kernel's delayed ACK that
 * held the first frames of a paced run for ~17 ms (they all arrived in one
 * read). TCP_QUICKACK is not sticky: call it after every read. For latency
 * measurements only (see prog_benchsub.c).
 */
static inline void rawmqtt_quickack(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

/* Read exactly n bytes (blocking). */
static inline void rawmqtt_read_exact(int fd, unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			bench_die("mqtt: read: %s", r < 0 ? strerror(errno) : "closed by the broker");
		p += r;
		n -= (size_t)r;
	}
}

/*
 * Connect to tcp://HOST:PORT as client id, clean session, no keepalive
 * (runs are short), TCP_NODELAY; wait for a good CONNACK. Returns the fd.
 */
static inline int rawmqtt_connect(const char *uri, const char *id)
{
	char host[256];
	const char *h = strstr(uri, "://") ? strstr(uri, "://") + 3 : uri, *colon = strrchr(h, ':');
	struct addrinfo hints, *ai;
	unsigned char body[512], ack[4];
	size_t n = 0;
	int one = 1, fd, rc;

	if (!colon || (size_t)(colon - h) >= sizeof(host) || strlen(id) > 256)
		bench_die("mqtt: want tcp://HOST:PORT and a short client id, got %s", uri);
	memcpy(host, h, (size_t)(colon - h));
	host[colon - h] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, colon + 1, &hints, &ai)) != 0)
		bench_die("mqtt: %s: %s", uri, gai_strerror(rc));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		bench_die("mqtt: connect %s: %s", uri, strerror(errno));
	freeaddrinfo(ai);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	n += rawmqtt_put_str(body + n, "MQTT", 4);
	body[n++] = 4;		/* 3.1.1 */
	body[n++] = 0x02;	/* clean session */
	body[n++] = 0;		/* keepalive 0 */
	body[n++] = 0;
	n += rawmqtt_put_str(body + n, id, strlen(id));
	rawmqtt_send(fd, 0x10, body, n);
	rawmqtt_read_exact(fd, ack, sizeof(ack));
	if (ack[0] != 0x20 || ack[3] != 0)
		bench_die("mqtt: connection refused (CONNACK %02x, code %d)", ack[0], ack[3]);
	return fd;
}

/* SUBSCRIBE packet id 1 to n filters; the SUBACK is for the caller to read. */
static inline void rawmqtt_subscribe(int fd, char *const *filters, const int *qos, int n)
{
	unsigned char body[2048];
	size_t len = 0;
	int i;

	body[len++] = 0;
	body[len++] = 1;
	for (i = 0; i < n; i++) {
		size_t fl = strlen(filters[i]);

		if (len + fl + 3 > sizeof(body))
			bench_die("mqtt: filters too long");
		len += rawmqtt_put_str(body + len, filters[i], fl);
		body[len++] = (unsigned char)qos[i];
	}
	rawmqtt_send(fd, 0x82, body, len);
}

static inline void rawmqtt_disconnect(int fd)
{
	static const unsigned char disc[2] = { 0xe0, 0 };

	if (write(fd, disc, sizeof(disc)) < 0)
		(void)0;	/* the broker may be gone already: nothing to do about it */
}

#endif
