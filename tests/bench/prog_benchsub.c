/*
 * prog_benchsub.c - the measuring subscriber: receives the position frames a
 * gateway (or prog_pahopub) publishes, checks that none is lost, duplicated
 * or out of order, and says when the first and the last arrived.
 *
 *   prog_benchsub --uri tcp://HOST:PORT --filter F [--filter F...] --qos Q --ports N
 *                 [--times-max M --times FILE] [--idle-ms MS] [--id CLIENTID] [--paho] [--quickack]
 *
 * Protocol with run.py: it prints "ready" once the broker has granted the
 * subscriptions; the harness then starts the writer and, when the writer is
 * done, writes "expect N0,N1,..." (frames sent per port) on our stdin. We
 * finish when every port has all its frames, or when nothing has arrived
 * for --idle-ms, and print one line of key=value results.
 *
 * Why it is shaped so:
 *  - The measuring side must not be the bottleneck, and paho's receive path
 *    is expensive: strace -c on this program built on MQTTAsync shows 3
 *    recvfrom() and 2 poll() per message (paho reads the fixed header a
 *    byte at a time), plus a few mallocs and a thread hand-off. On a 2-core
 *    box shared with the gateway and the broker that caps what it can take
 *    well below the 100,000 frames/s. So by default it speaks MQTT
 *    3.1.1 itself on a plain TCP socket (CONNECT, SUBSCRIBE, then PUBLISH
 *    in / PUBACK out), reading 256 KiB at a time and answering every QoS 1
 *    message of one read() with one write(): about one syscall per hundred
 *    messages under load. --paho switches to the MQTTAsync client, to show
 *    the difference (run.py measures both once); all other figures in
 *    BENCHMARKS.md use the default. The protocol code is in rawmqtt.h.
 *  - Topics are S013/MOTnn/POS/X and payloads "+000000042" (or, from the
 *    bench's JSON route, {"pos":42,...}): the port comes from the topic,
 *    the sequence number from the payload, so loss (a gap),
 *    a duplicate (seq below the next expected) and reordering are told apart
 *    per port without any state beyond one counter per port.
 *  - --quickack (latency runs): ACK every read at once (rawmqtt.h says why).
 *    Not for throughput runs: there the delayed ACK lets mosquitto's Nagle
 *    pack many messages into one segment, as it would for any subscriber,
 *    and acking every read instead costs both ends a lot of CPU (measured:
 *    the broker ceiling fell from ~130,000 to ~100,000 messages/s).
 *  - Throughput runs read at most once a millisecond (after a short read,
 *    the reader sleeps 1 ms): on two cores the subscriber competes with the
 *    gateway for CPU, and reading every segment as it comes cost it 35% of
 *    a core at 70,000 messages/s against ~0% when reads are large; which
 *    one happened depended on TCP timing, and gateway throughput swung
 *    between 65,000 and 122,000 frames/s with it. A millisecond is nothing
 *    against a 3 s run, and a few kilobytes of socket buffer.
 *  - A message's receive time is the time its read() returned. With
 *    --times, the time of (port, seq) is kept for seq < M and written as
 *    int64 ns (CLOCK_MONOTONIC, native order, 0 = never): run.py subtracts
 *    the writer's send times to get per-frame latency.
 */
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <MQTTAsync.h>

#include "bench.h"
#include "rawmqtt.h"

#define BENCH_MAX_PORTS 64
#define BENCH_MAX_FILTERS 8
#define RAW_BUF (256 * 1024)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int nports;
static uint64_t next_seq[BENCH_MAX_PORTS], got[BENCH_MAX_PORTS], dups[BENCH_MAX_PORTS], gaps[BENCH_MAX_PORTS];
static uint64_t expect[BENCH_MAX_PORTS], total_got, foreign;
static int have_expect, complete;
static int64_t t_first, t_last;
static int64_t *times;
static uint64_t times_max;
static int state;			/* 0 connecting, 1 subscribed, 2 stopping, -1 failed */
static char *filters[BENCH_MAX_FILTERS];
static int qoss[BENCH_MAX_FILTERS], nfilters;
static const char *client_id = "benchsub";

static void signal_state(int s)
{
	pthread_mutex_lock(&lock);
	state = s;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

static int all_in(void)
{
	int i;

	if (!have_expect)
		return 0;
	for (i = 0; i < nports; i++)
		if (got[i] - dups[i] < expect[i])
			return 0;
	return 1;
}

/* "S013/MOT03/POS/X" -> 2; -1 if not ours */
static int topic_port(const char *t, size_t len)
{
	const char *p = memmem(t, len, "/MOT", 4);
	int v = 0, d = 0;

	if (!p)
		return -1;
	for (p += 4; p < t + len && *p >= '0' && *p <= '9'; p++, d++)
		v = v * 10 + (*p - '0');
	return d && v >= 1 && v <= nports ? v - 1 : -1;
}

/* "+000000042" -> 42; the JSON route's {"pos":42,"mm":4.2} -> 42 (its first member); -1 if neither */
static int64_t payload_seq(const char *p, size_t len)
{
	int64_t v = 0;
	size_t i = 0, end = len;

	if (len > 0 && p[0] == '{') {
		const char *colon = memchr(p, ':', len);

		if (!colon)
			return -1;
		i = (size_t)(colon - p) + 1;
		for (end = i; end < len && p[end] != ',' && p[end] != '}'; end++)
			;
	}
	if (i < end && (p[i] == '+' || p[i] == '-'))
		i++;
	if (i >= end)
		return -1;
	for (; i < end; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* One message; lock held. */
static void record(const char *topic, size_t tlen, const char *payload, size_t plen, int64_t now)
{
	int port = topic_port(topic, tlen);
	int64_t seq = payload_seq(payload, plen);
	uint64_t s;

	if (port < 0 || seq < 0) {
		foreign++;
		return;
	}
	s = (uint64_t)seq;
	if (!t_first)
		t_first = now;
	t_last = now;
	got[port]++;
	total_got++;
	if (s < next_seq[port]) {
		dups[port]++;
		return;
	}
	if (s > next_seq[port])
		gaps[port] += s - next_seq[port];
	next_seq[port] = s + 1;
	if (times && s < times_max)
		times[(uint64_t)port * times_max + s] = now;
}

/* Lock held. */
static void check_complete(void)
{
	if (have_expect && !complete && all_in()) {
		complete = 1;
		pthread_cond_broadcast(&cond);
	}
}

/* ---- paho MQTTAsync client (--paho) ---- */

static MQTTAsync client;

static int paho_message(void *ctx, char *topic, int tlen, MQTTAsync_message *m)
{
	int64_t now = bench_now_ns();

	(void)ctx;
	pthread_mutex_lock(&lock);
	record(topic, tlen > 0 ? (size_t)tlen : strlen(topic), m->payload, (size_t)m->payloadlen, now);
	check_complete();
	pthread_mutex_unlock(&lock);
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

static void paho_lost(void *ctx, char *cause)
{
	(void)ctx;
	fprintf(stderr, "benchsub: connection lost: %s\n", cause ? cause : "?");
	signal_state(-1);
}

static void paho_sub_ok(void *ctx, MQTTAsync_successData *r)
{
	(void)ctx;
	(void)r;
	signal_state(1);
}

static void paho_fail(void *ctx, MQTTAsync_failureData *r)
{
	(void)ctx;
	fprintf(stderr, "benchsub: connect/subscribe failed: %s\n", r && r->message ? r->message : "?");
	signal_state(-1);
}

static void paho_connect_ok(void *ctx, MQTTAsync_successData *r)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;

	(void)r;
	(void)ctx;
	ro.onSuccess = paho_sub_ok;
	ro.onFailure = paho_fail;
	if (MQTTAsync_subscribeMany(client, nfilters, filters, qoss, &ro) != MQTTASYNC_SUCCESS)
		signal_state(-1);
}

static void paho_start(const char *uri)
{
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
	int rc;

	if ((rc = MQTTAsync_createWithOptions(&client, uri, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &co)) !=
	    MQTTASYNC_SUCCESS)
		bench_die("benchsub: create: %s", MQTTAsync_strerror(rc));
	MQTTAsync_setCallbacks(client, NULL, paho_lost, paho_message, NULL);
	o.keepAliveInterval = 60;
	o.cleansession = 1;
	o.onSuccess = paho_connect_ok;
	o.onFailure = paho_fail;
	if ((rc = MQTTAsync_connect(client, &o)) != MQTTASYNC_SUCCESS)
		bench_die("benchsub: connect: %s", MQTTAsync_strerror(rc));
}

static void paho_stop(void)
{
	MQTTAsync_disconnect(client, NULL);
	usleep(100000);
	MQTTAsync_destroy(&client);
}

/* ---- raw MQTT 3.1.1 client (default, rawmqtt.h) ---- */

static int raw_fd = -1, quickack;
static pthread_t raw_thread;

static void *raw_reader(void *arg)
{
	unsigned char *buf = malloc(RAW_BUF), *acks = malloc(RAW_BUF / 2);
	size_t have = 0;

	(void)arg;
	if (!buf || !acks)
		bench_die("out of memory");
	for (;;) {
		ssize_t n = read(raw_fd, buf + have, RAW_BUF - have);
		int64_t now = bench_now_ns();
		size_t off = 0, nacks = 0, len, blen;
		const unsigned char *b;
		unsigned hdr;

		if (quickack)
			rawmqtt_quickack(raw_fd);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (state == 1)
				fprintf(stderr, "benchsub: connection closed by the broker\n");
			signal_state(-1);
			break;
		}
		have += (size_t)n;
		pthread_mutex_lock(&lock);
		while ((len = rawmqtt_parse(buf + off, have - off, &hdr, &b, &blen)) > 0) {
			if ((hdr >> 4) == 3) {	/* PUBLISH */
				int q = (hdr >> 1) & 3;
				size_t tl = ((size_t)b[0] << 8) | b[1], pl = blen - 2 - tl - (q ? 2 : 0);

				record((const char *)b + 2, tl, (const char *)b + 2 + tl + (q ? 2 : 0), pl, now);
				if (q == 1) {
					acks[nacks++] = 0x40;
					acks[nacks++] = 2;
					acks[nacks++] = b[2 + tl];
					acks[nacks++] = b[3 + tl];
				}
			} else if ((hdr >> 4) == 9) {	/* SUBACK */
				state = 1;
				pthread_cond_broadcast(&cond);
			}
			off += len;
			if (nacks > RAW_BUF / 2 - 4) {
				rawmqtt_write_all(raw_fd, acks, nacks);
				nacks = 0;
			}
		}
		check_complete();
		pthread_mutex_unlock(&lock);
		if (nacks)
			rawmqtt_write_all(raw_fd, acks, nacks);
		memmove(buf, buf + off, have - off);
		have -= off;
		if (have == RAW_BUF)
			bench_die("benchsub: packet larger than %d bytes", RAW_BUF);
		if (!quickack && n < RAW_BUF / 4) {
			/* throughput runs: let a millisecond of messages gather (see above) */
			struct timespec ms = { 0, 1000000 };

			nanosleep(&ms, NULL);
		}
	}
	free(buf);
	free(acks);
	return NULL;
}

static void raw_start(const char *uri)
{
	raw_fd = rawmqtt_connect(uri, client_id);
	if (pthread_create(&raw_thread, NULL, raw_reader, NULL) != 0)
		bench_die("benchsub: pthread_create failed");
	rawmqtt_subscribe(raw_fd, filters, qoss, nfilters);	/* the reader sees the SUBACK */
}

static void raw_stop(void)
{
	signal_state(2);	/* the reader's EOF is ours, not the broker's */
	rawmqtt_disconnect(raw_fd);
	shutdown(raw_fd, SHUT_RDWR);
	pthread_join(raw_thread, NULL);
	close(raw_fd);
}

/* ---- main ---- */

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static void parse_expect(char *line)
{
	char *save = NULL, *tok;
	int i = 0;

	if (strncmp(line, "expect ", 7) != 0)
		bench_die("benchsub: want \"expect N0,N1,...\" on stdin, got \"%s\"", line);
	for (tok = strtok_r(line + 7, ",\n", &save); tok && i < nports; tok = strtok_r(NULL, ",\n", &save))
		expect[i++] = (uint64_t)bench_num("expect", tok, 0, 999999999);
	if (i != nports)
		bench_die("benchsub: expect: %d counts for %d ports", i, nports);
}

static void usage(void)
{
	fprintf(stderr, "usage: prog_benchsub --uri tcp://HOST:PORT --filter F [--filter F...] --qos Q --ports N\n"
			"                     [--times-max M --times FILE] [--idle-ms MS] [--id CLIENTID] [--paho]\n"
			"                     [--quickack]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *uri = NULL, *times_path = NULL;
	int qos = 0, idle_ms = 3000, use_paho = 0, i, rc;
	char line[4096];
	double cpu0, cpu1;
	int64_t t_expect, t_end;
	uint64_t lost = 0, dup = 0, gap = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--paho") == 0) {
			use_paho = 1;
			continue;
		}
		if (strcmp(argv[i], "--quickack") == 0) {
			quickack = 1;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--uri") == 0)
			uri = argv[++i];
		else if (strcmp(argv[i], "--filter") == 0 && nfilters < BENCH_MAX_FILTERS)
			filters[nfilters++] = argv[++i];
		else if (strcmp(argv[i], "--qos") == 0)
			qos = (int)bench_num("--qos", argv[++i], 0, 1);
		else if (strcmp(argv[i], "--ports") == 0)
			nports = (int)bench_num("--ports", argv[++i], 1, BENCH_MAX_PORTS);
		else if (strcmp(argv[i], "--times-max") == 0)
			times_max = (uint64_t)bench_num("--times-max", argv[++i], 1, 100000000);
		else if (strcmp(argv[i], "--times") == 0)
			times_path = argv[++i];
		else if (strcmp(argv[i], "--idle-ms") == 0)
			idle_ms = (int)bench_num("--idle-ms", argv[++i], 1, 600000);
		else if (strcmp(argv[i], "--id") == 0)
			client_id = argv[++i];
		else
			usage();
	}
	if (!uri || !nfilters || !nports || (!times_path != !times_max))
		usage();
	for (i = 0; i < nfilters; i++)
		qoss[i] = qos;
	if (times_max && !(times = calloc((size_t)(times_max * (uint64_t)nports), sizeof(int64_t))))
		bench_die("out of memory");

	if (use_paho)
		paho_start(uri);
	else
		raw_start(uri);
	pthread_mutex_lock(&lock);
	while (state == 0)
		pthread_cond_wait(&cond, &lock);
	rc = state;
	pthread_mutex_unlock(&lock);
	if (rc < 0)
		return 1;
	cpu0 = cpu_seconds();
	printf("ready\n");
	fflush(stdout);

	if (!fgets(line, sizeof(line), stdin))
		bench_die("benchsub: no expect line on stdin");
	pthread_mutex_lock(&lock);
	parse_expect(line);
	have_expect = 1;
	complete = all_in();
	t_expect = bench_now_ns();
	for (;;) {
		struct timespec ts;
		int64_t last, now = bench_now_ns();

		if (complete || state < 0)
			break;
		last = t_last > t_expect ? t_last : t_expect;
		if (now - last > (int64_t)idle_ms * 1000000)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&cond, &lock, &ts);
	}
	t_end = bench_now_ns();
	cpu1 = cpu_seconds();
	for (i = 0; i < nports; i++) {
		uint64_t uniq = got[i] - dups[i];

		lost += uniq < expect[i] ? expect[i] - uniq : 0;
		dup += dups[i];
		gap += gaps[i];
	}
	printf("client=%s complete=%d received=%llu lost=%llu dup=%llu gaps=%llu foreign=%llu t_first=%lld "
	       "t_last=%lld t_end=%lld cpu=%.3f got=",
	       use_paho ? "paho" : "raw", complete, (unsigned long long)total_got, (unsigned long long)lost,
	       (unsigned long long)dup, (unsigned long long)gap, (unsigned long long)foreign, (long long)t_first,
	       (long long)t_last, (long long)t_end, cpu1 - cpu0);
	for (i = 0; i < nports; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)got[i]);
	printf("\n");
	fflush(stdout);
	pthread_mutex_unlock(&lock);
	if (times)
		bench_write_times(times_path, times, (size_t)(times_max * (uint64_t)nports));
	if (use_paho)
		paho_stop();
	else
		raw_stop();
	free(times);
	return 0;
}
