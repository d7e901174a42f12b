/*
 * prog_benchlat.c - downlink latency: publish a command, wait for the line
 * to come out of the serial port, take the time, next.
 *
 *   prog_benchlat --uri tcp://HOST:PORT --topic T --fd N --count C [--qos Q] [--warmup W] --times FILE
 *   prog_benchlat --uri tcp://HOST:PORT --topic T --floor --count C [--qos Q] [--warmup W] --times FILE
 *
 * With --fd, N is the master side of the pty the gateway has open as the
 * port: command i is "DRVX+<i mod 10^6>" (it passes the route's accept
 * regex) and its latency runs from just before the PUBLISH is written to
 * the broker to the moment read() returns its "\r\n" from the port. With
 * --floor there is no gateway: a second connection of this program
 * subscribes to T and the time runs from publish to the message arriving
 * there, the cost of the broker hop alone, to set the gateway's figures
 * against. (Two connections, as with a gateway: on one, mosquitto's PUBACK
 * and the PUBLISH back would be two small writes on one socket, and with
 * its default set_tcp_nodelay false, Nagle holds the second until the
 * peer's delayed ACK: a 40 ms stall that is no part of a gateway's path.) Latencies (int64 ns,
 * native order, -1 = lost) go to FILE; a summary line goes to stdout.
 *
 * Why it is shaped so:
 *  - Sequential (one command in flight), as the issue asks: each figure is
 *    one full trip, never queueing behind the previous command.
 *  - The MQTT side is rawmqtt.h, one write() per PUBLISH on this thread and
 *    no client threads: paho's MQTTClient stalls a publish for up to 100 ms
 *    now and then, which showed up as a 100 ms p99 even on the no-gateway
 *    floor. The broker's PUBACKs are read after the time is taken.
 *  - Warm-up: the subscription of a gateway that has just said "online" may
 *    not be active yet, so a first command is repeated until a line comes
 *    back, and W more are sent unmeasured (caches, buffers, the scheduler).
 *  - A line that is not the one expected (left over from the warm-up) is
 *    skipped; a command whose line never comes in 2 s is counted as lost.
 */
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "bench.h"
#include "rawmqtt.h"

#define LINE_TIMEOUT_MS 2000

static int mq = -1, sq = -1, qos = 1, fd = -1;
static unsigned next_id = 1;
static const char *topic;
static unsigned char rbuf[16384], mbuf[65536];
static size_t rlen, mlen;

static void publish(const char *payload)
{
	unsigned char pkt[512];
	size_t n = rawmqtt_publish(pkt, topic, payload, strlen(payload), qos, next_id);

	next_id = next_id % 65535 + 1;
	rawmqtt_write_all(mq, pkt, n);
}

/*
 * Handle what the broker sent: PUBACKs are dropped, a PUBLISH is acked
 * (QoS 1) and, if its payload is `want`, reported. Returns 1 if `want` came.
 */
static int broker_input(const char *want)
{
	const unsigned char *b;
	size_t len, blen, off = 0;
	unsigned hdr;
	int found = 0;

	while ((len = rawmqtt_parse(mbuf + off, mlen - off, &hdr, &b, &blen)) > 0) {
		if ((hdr >> 4) == 3) {
			int q = (hdr >> 1) & 3;
			size_t tl = ((size_t)b[0] << 8) | b[1], pl = blen - 2 - tl - (q ? 2 : 0);
			const unsigned char *p = b + 2 + tl + (q ? 2 : 0);

			if (q == 1) {
				unsigned char ack[4] = { 0x40, 2, b[2 + tl], b[3 + tl] };

				rawmqtt_write_all(sq, ack, sizeof(ack));
			}
			if (want && pl == strlen(want) && memcmp(p, want, pl) == 0)
				found = 1;
		}
		off += len;
	}
	memmove(mbuf, mbuf + off, mlen - off);
	mlen -= off;
	return found;
}

/* Read and drop what the broker sent the publishing connection (PUBACKs). */
static void broker_drain(void)
{
	unsigned char junk[4096];
	ssize_t n;

	while ((n = recv(mq, junk, sizeof(junk), MSG_DONTWAIT)) > 0)
		;
	if (n == 0)
		bench_die("benchlat: connection closed by the broker");
}

/* Does rbuf hold the line `want`? Consumes every line up to and including it. */
static int port_input(const char *want)
{
	size_t wl = strlen(want);
	unsigned char *e;

	while ((e = memmem(rbuf, rlen, "\r\n", 2)) != NULL) {
		size_t ll = (size_t)(e - rbuf);
		int match = ll == wl && memcmp(rbuf, want, wl) == 0;

		memmove(rbuf, e + 2, rlen - ll - 2);
		rlen -= ll + 2;
		if (match)
			return 1;
	}
	if (rlen == sizeof(rbuf))	/* garbage without eol: drop it */
		rlen = 0;
	return 0;
}

/* Wait until `want` comes out (port line, or our own message with --floor); *at = when. */
static int await(const char *want, int timeout_ms, int64_t *at)
{
	int64_t deadline = bench_now_ns() + (int64_t)timeout_ms * 1000000;
	int src = fd >= 0 ? fd : sq;

	for (;;) {
		struct pollfd p = { src, POLLIN, 0 };
		int64_t left = (deadline - bench_now_ns()) / 1000000;
		ssize_t n;

		if (left < 0)
			return -1;
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			bench_die("poll: %s", strerror(errno));
		if (fd >= 0) {
			n = read(fd, rbuf + rlen, sizeof(rbuf) - rlen);
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				bench_die("read: %s", strerror(errno));
			if (n > 0) {
				*at = bench_now_ns();
				rlen += (size_t)n;
				if (port_input(want))
					return 0;
			}
		} else {
			n = recv(sq, mbuf + mlen, sizeof(mbuf) - mlen, MSG_DONTWAIT);
			rawmqtt_quickack(sq);
			if (n == 0)
				bench_die("benchlat: connection closed by the broker");
			if (n > 0) {
				*at = bench_now_ns();
				mlen += (size_t)n;
				if (broker_input(want))
					return 0;
			}
		}
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: prog_benchlat --uri tcp://HOST:PORT --topic T (--fd N | --floor) --count C [--qos Q]\n"
			"                     [--warmup W] --times FILE\n");
	exit(2);
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const char *uri = NULL, *times_path = NULL;
	int count = 0, warmup = 50, floor_mode = 0, i, lost = 0, tries;
	int64_t *lat, *sorted, at = 0;
	char cmd[32];

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--floor") == 0) {
			floor_mode = 1;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--uri") == 0)
			uri = argv[++i];
		else if (strcmp(argv[i], "--topic") == 0)
			topic = argv[++i];
		else if (strcmp(argv[i], "--fd") == 0)
			fd = (int)bench_num("--fd", argv[++i], 0, 65535);
		else if (strcmp(argv[i], "--count") == 0)
			count = (int)bench_num("--count", argv[++i], 1, 10000000);
		else if (strcmp(argv[i], "--qos") == 0)
			qos = (int)bench_num("--qos", argv[++i], 0, 1);
		else if (strcmp(argv[i], "--warmup") == 0)
			warmup = (int)bench_num("--warmup", argv[++i], 0, 1000000);
		else if (strcmp(argv[i], "--times") == 0)
			times_path = argv[++i];
		else
			usage();
	}
	if (!uri || !topic || !count || !times_path || (fd < 0) == !floor_mode || strlen(topic) > 256)
		usage();
	if (fd >= 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		bench_die("fd %d: %s", fd, strerror(errno));
	lat = calloc((size_t)count, sizeof(*lat));
	sorted = calloc((size_t)count, sizeof(*sorted));
	if (!lat || !sorted)
		bench_die("out of memory");

	mq = rawmqtt_connect(uri, floor_mode ? "benchlat-floor-pub" : "benchlat");
	if (floor_mode) {
		char *f[1] = { (char *)(uintptr_t)topic };
		unsigned char sa[5];

		sq = rawmqtt_connect(uri, "benchlat-floor-sub");
		rawmqtt_subscribe(sq, f, &qos, 1);
		rawmqtt_read_exact(sq, sa, sizeof(sa));
		if (sa[0] != 0x90 || sa[4] > 2)
			bench_die("benchlat: subscribe refused");
	}

	/* warm-up: until the first command comes back, then `warmup` more */
	for (tries = 0;; tries++) {
		if (tries == 40)
			bench_die("benchlat: no line back for the warm-up command after %d tries", tries);
		publish("STOP");
		if (await("STOP", 250, &at) == 0)
			break;
	}
	for (i = 0; i < warmup; i++) {
		snprintf(cmd, sizeof(cmd), "DRVY+%d", i % 1000000);
		publish(cmd);
		await(cmd, LINE_TIMEOUT_MS, &at);
		broker_drain();
	}

	for (i = 0; i < count; i++) {
		int64_t t0;

		snprintf(cmd, sizeof(cmd), "DRVX+%d", i % 1000000);
		t0 = bench_now_ns();
		publish(cmd);
		if (await(cmd, LINE_TIMEOUT_MS, &at) == 0) {
			lat[i] = at - t0;
		} else {
			lat[i] = -1;
			lost++;
		}
		broker_drain();	/* the PUBACK, outside the timed window */
	}
	bench_write_times(times_path, lat, (size_t)count);
	memcpy(sorted, lat, sizeof(*lat) * (size_t)count);
	qsort(sorted, (size_t)count, sizeof(*sorted), cmp64);
	{
		int n = count - lost;
		const int64_t *s = sorted + lost;

		printf("count=%d lost=%d p50_us=%.1f p99_us=%.1f max_us=%.1f\n", count, lost,
		       n ? s[n / 2] / 1e3 : -1.0, n ? s[(int)((n - 1) * 0.99)] / 1e3 : -1.0,
		       n ? s[n - 1] / 1e3 : -1.0);
	}
	fflush(stdout);
	rawmqtt_disconnect(mq);
	close(mq);
	if (sq >= 0) {
		rawmqtt_disconnect(sq);
		close(sq);
	}
	free(lat);
	free(sorted);
	return 0;
}
