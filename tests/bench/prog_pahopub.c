/*
 * prog_pahopub.c - the broker ceiling: a bare paho publisher that sends the
 * same messages a gateway sends (topic S013/MOTnn/POS/X, payload
 * "+000000042", per-port sequence numbers), as fast as it can, with nothing
 * else to do: no serial port, no framing, no regex, no template.
 *
 *   prog_pahopub      --uri URI --qos Q --ports N --seconds S [--window W] [--inflight I] [--id ID]
 *   prog_pahopub-sync (the same options)
 *
 * prog_benchsub receives them exactly as it receives a gateway's, so the
 * gateway's throughput can be given as a share of this one.
 *
 * Why it is shaped so:
 *  - Two builds of this one file (bench.mk): prog_pahopub calls
 *    MQTTAsync_send(), the call mqttgw makes for every frame, with the same
 *    client options (no persistence, maxInflight 65535 unless --inflight), so the difference
 *    between it and the gateway is the gateway's own work, not a different
 *    library or protocol setting. prog_pahopub-sync (-DBENCH_PAHO_SYNC)
 *    calls MQTTClient_publish(), which writes the packet on the calling
 *    thread with no hand-off to a sending thread: what paho can push at
 *    best, hence the nearest a paho publisher gets to the broker's own
 *    ceiling. The two libraries are never linked into one binary (they
 *    export some of the same internal names, Thread_* and Heap_*).
 *  - A window of W unfinished sends (default 256; onSuccess fires after the
 *    write for QoS 0, after the PUBACK for QoS 1): without it the loop
 *    would outrun paho's sending thread and queue millions of commands in
 *    memory. And small, because paho walks its command queue on every send
 *    (a QoS 1 message id is found by scanning it): measured here, QoS 1 ran
 *    at 31,000 messages/s with W = 256, 22,000 with 1,000, 12,600 with
 *    5,000; QoS 0 at 68,000 / 43,000 / 46,000. (paho itself refuses a send
 *    once maxBufferedMessages commands are queued, connected or not; it is
 *    set just above the window.)
 *  - Time-bound like prog_benchdev burst (S seconds, then the tail drains),
 *    and it prints start_ns/end_ns/frames the same way, so run.py treats a
 *    ceiling run like any gateway run.
 */
#include <pthread.h>
#include <unistd.h>

#ifdef BENCH_PAHO_SYNC
#include <MQTTClient.h>
#else
#include <MQTTAsync.h>
#endif

#include "bench.h"

#define BENCH_MAX_PORTS 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static uint64_t done_count, fail_count;
static int waiting, state, inflight = 65535;

static void count_done(void)
{
	pthread_mutex_lock(&lock);
	__atomic_add_fetch(&done_count, 1, __ATOMIC_RELAXED);
	if (waiting)
		pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
}

static void set_state(int s)
{
	pthread_mutex_lock(&lock);
	state = s;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

#ifdef BENCH_PAHO_SYNC

#define API_NAME "MQTTClient"
static MQTTClient client;

static int on_arrived(void *ctx, char *topic, int tlen, MQTTClient_message *m)
{
	(void)ctx;
	(void)tlen;
	MQTTClient_freeMessage(&m);
	MQTTClient_free(topic);
	return 1;
}

static void on_delivered(void *ctx, MQTTClient_deliveryToken t)
{
	(void)ctx;
	(void)t;
	count_done();
}

static void client_connect(const char *uri, const char *id, int window)
{
	MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer;
	int rc;

	(void)window;
	if ((rc = MQTTClient_create(&client, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL)) != MQTTCLIENT_SUCCESS)
		bench_die("pahopub: create: %d", rc);
	/* callbacks set: paho's own thread reads the PUBACKs while we write */
	MQTTClient_setCallbacks(client, NULL, NULL, on_arrived, on_delivered);
	o.keepAliveInterval = 60;
	o.cleansession = 1;
	o.maxInflightMessages = inflight;
	if ((rc = MQTTClient_connect(client, &o)) != MQTTCLIENT_SUCCESS)
		bench_die("pahopub: connect to %s: %d", uri, rc);
	set_state(1);
}

static void client_send(const char *topic, char *payload, int qos)
{
	int rc = MQTTClient_publish(client, topic, 10, payload, qos, 0, NULL);

	if (rc != MQTTCLIENT_SUCCESS)
		bench_die("pahopub: publish: %d", rc);
	if (qos == 0)	/* written: that is all QoS 0 waits for */
		__atomic_add_fetch(&done_count, 1, __ATOMIC_RELAXED);
}

static void client_close(void)
{
	MQTTClient_disconnect(client, 1000);
	MQTTClient_destroy(&client);
}

#else

#define API_NAME "MQTTAsync"
static MQTTAsync client;

static void on_done(void *ctx, MQTTAsync_successData *r)
{
	(void)ctx;
	(void)r;
	count_done();
}

static void on_send_fail(void *ctx, MQTTAsync_failureData *r)
{
	(void)ctx;
	(void)r;
	pthread_mutex_lock(&lock);
	fail_count++;
	pthread_mutex_unlock(&lock);
	count_done();
}

static void on_connect_ok(void *ctx, MQTTAsync_successData *r)
{
	(void)ctx;
	(void)r;
	set_state(1);
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *r)
{
	(void)ctx;
	fprintf(stderr, "pahopub: connect failed: %s\n", r && r->message ? r->message : "?");
	set_state(-1);
}

static void client_connect(const char *uri, const char *id, int window)
{
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
	int rc;

	/* paho refuses sends beyond maxBufferedMessages queued commands, connected or not */
	co.maxBufferedMessages = window + 1000;
	if ((rc = MQTTAsync_createWithOptions(&client, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &co)) !=
	    MQTTASYNC_SUCCESS)
		bench_die("pahopub: create: %s", MQTTAsync_strerror(rc));
	o.keepAliveInterval = 60;
	o.cleansession = 1;
	o.maxInflight = inflight;
	o.onSuccess = on_connect_ok;
	o.onFailure = on_connect_fail;
	if ((rc = MQTTAsync_connect(client, &o)) != MQTTASYNC_SUCCESS)
		bench_die("pahopub: connect: %s", MQTTAsync_strerror(rc));
}

static void client_send(const char *topic, char *payload, int qos)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	int rc;

	ro.onSuccess = on_done;
	ro.onFailure = on_send_fail;
	rc = MQTTAsync_send(client, topic, 10, payload, qos, 0, &ro);
	if (rc != MQTTASYNC_SUCCESS)
		bench_die("pahopub: send: %s", MQTTAsync_strerror(rc));
}

static void client_close(void)
{
	MQTTAsync_disconnect(client, NULL);
	usleep(100000);
	MQTTAsync_destroy(&client);
}

#endif

/* wait until at most `left` sends are unfinished */
static void wait_outstanding(uint64_t sent, uint64_t left)
{
	pthread_mutex_lock(&lock);
	while (sent - __atomic_load_n(&done_count, __ATOMIC_RELAXED) > left) {
		waiting = 1;
		pthread_cond_wait(&cond, &lock);
	}
	waiting = 0;
	pthread_mutex_unlock(&lock);
}

static void usage(void)
{
	fprintf(stderr, "usage: prog_pahopub --uri URI --qos Q --ports N --seconds S [--window W] [--inflight I] [--id ID]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct bench_pub_opts o = { NULL, "pahopub", 0, 1, 0, 256 };
	int i;
	uint64_t sent = 0, seq[BENCH_MAX_PORTS] = { 0 };
	char topics[BENCH_MAX_PORTS][32], payload[16];
	int64_t start, end;

	if (bench_pub_opts_parse(argc, argv, &o, 2, 10000000, BENCH_MAX_PORTS, &inflight) < 0)
		usage();
	if (!o.uri || o.seconds <= 0)
		usage();
	for (i = 0; i < o.ports; i++)
		snprintf(topics[i], sizeof(topics[i]), "S013/MOT%02d/POS/X", i + 1);
	client_connect(o.uri, o.id, (int)o.window);
	pthread_mutex_lock(&lock);
	while (state == 0)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	if (state < 0)
		return 1;

	start = bench_now_ns();
	end = start + (int64_t)(o.seconds * 1e9);
	while (bench_now_ns() < end) {
		/* a batch per clock read: the clock is cheap, but not free */
		for (i = 0; i < 64; i++) {
			int p = (int)(sent % (uint64_t)o.ports);
			uint64_t s = seq[p]++;
			int k;

			payload[0] = '+';
			for (k = 9; k >= 1; k--) {
				payload[k] = (char)('0' + s % 10);
				s /= 10;
			}
			if (sent - __atomic_load_n(&done_count, __ATOMIC_RELAXED) > o.window)
				wait_outstanding(sent, o.window / 2);
			client_send(topics[p], payload, o.qos);
			sent++;
		}
	}
	wait_outstanding(sent, 0);
	printf("api=%s start_ns=%lld end_ns=%lld failed=%llu frames=", API_NAME, (long long)start,
	       (long long)bench_now_ns(), (unsigned long long)fail_count);
	for (i = 0; i < o.ports; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)seq[i]);
	printf("\n");
	fflush(stdout);
	client_close();
	return 0;
}
