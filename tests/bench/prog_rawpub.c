/*
 * prog_rawpub.c - the broker's own ceiling: a publisher that costs next to
 * nothing, so what the subscriber sees is what mosquitto can take.
 *
 *   prog_rawpub --uri tcp://HOST:PORT --qos Q --ports N --seconds S [--window W] [--id ID]
 *
 * Same messages as prog_pahopub and the gateways (S013/MOTnn/POS/X,
 * "+000000042", per-port sequence numbers), same output line.
 *
 * Why it exists next to prog_pahopub: a paho publisher measures paho as
 * much as the broker. MQTTAsync_send() costs tens of thousands of
 * instructions a message on two threads, and MQTTClient_publish() sleeps
 * 100 ms whenever the socket is full; in `make bench` a gateway built on
 * paho can beat both, so neither can be "what the broker can take". This
 * one encodes PUBLISH packets straight into a 64 KiB buffer (rawmqtt.h) and
 * hands the kernel a buffer at a time; with QoS 1 it keeps at most W
 * messages unacknowledged (default 1000) and reads PUBACKs between writes.
 * The table reports it beside the paho publishers, and shares of "the
 * ceiling" are taken against the best of them all.
 */
#include <poll.h>
#include <unistd.h>

#include "bench.h"
#include "rawmqtt.h"

#define BENCH_MAX_PORTS 64
#define OUT_BUF (64 * 1024)

static void usage(void)
{
	fprintf(stderr, "usage: prog_rawpub --uri tcp://HOST:PORT --qos Q --ports N --seconds S [--window W] [--id ID]\n");
	exit(2);
}

/* Count the PUBACKs that have arrived; blocks up to timeout_ms for the first. */
static uint64_t read_acks(int fd, unsigned char *buf, size_t *have, int timeout_ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	uint64_t acks = 0;
	const unsigned char *b;
	size_t len, blen, off = 0;
	unsigned hdr;
	ssize_t n;

	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	n = read(fd, buf + *have, 65536 - *have);
	if (n <= 0)
		bench_die("rawpub: connection closed by the broker");
	*have += (size_t)n;
	while ((len = rawmqtt_parse(buf + off, *have - off, &hdr, &b, &blen)) > 0) {
		if ((hdr >> 4) == 4)
			acks++;
		off += len;
	}
	memmove(buf, buf + off, *have - off);
	*have -= off;
	return acks;
}

int main(int argc, char **argv)
{
	struct bench_pub_opts o = { NULL, "rawpub", 0, 1, 0, 1000 };
	int i, fd;
	uint64_t sent = 0, acked = 0, seq[BENCH_MAX_PORTS] = { 0 };
	char topics[BENCH_MAX_PORTS][32];
	unsigned char *out = malloc(OUT_BUF), *in = malloc(65536);
	size_t have_in = 0;
	unsigned id_next = 1;
	int64_t start, end;

	if (bench_pub_opts_parse(argc, argv, &o, 1, 60000, BENCH_MAX_PORTS, NULL) < 0)
		usage();
	if (!o.uri || o.seconds <= 0 || !out || !in)
		usage();
	for (i = 0; i < o.ports; i++)
		snprintf(topics[i], sizeof(topics[i]), "S013/MOT%02d/POS/X", i + 1);
	fd = rawmqtt_connect(o.uri, o.id);

	start = bench_now_ns();
	end = start + (int64_t)(o.seconds * 1e9);
	while (bench_now_ns() < end) {
		size_t n = 0;

		/* one buffer of packets, as many as the QoS 1 window allows */
		while (n + 64 < OUT_BUF && (o.qos == 0 || sent - acked < o.window)) {
			int p = (int)(sent % (uint64_t)o.ports);
			uint64_t s = seq[p]++;
			char payload[10];
			int k;

			payload[0] = '+';
			for (k = 9; k >= 1; k--) {
				payload[k] = (char)('0' + s % 10);
				s /= 10;
			}
			n += rawmqtt_publish(out + n, topics[p], payload, sizeof(payload), o.qos, id_next);
			id_next = id_next % 65535 + 1;
			sent++;
		}
		if (n)
			rawmqtt_write_all(fd, out, n);
		if (o.qos)
			acked += read_acks(fd, in, &have_in, sent - acked >= o.window ? 100 : 0);
	}
	while (o.qos && acked < sent)
		acked += read_acks(fd, in, &have_in, 1000);
	printf("api=raw start_ns=%lld end_ns=%lld failed=0 frames=", (long long)start, (long long)bench_now_ns());
	for (i = 0; i < o.ports; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)seq[i]);
	printf("\n");
	fflush(stdout);
	rawmqtt_disconnect(fd);
	close(fd);
	free(out);
	free(in);
	return 0;
}
