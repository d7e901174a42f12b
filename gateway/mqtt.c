/*
 * mqtt.c - MQTTAsync client, event queue and reconnect backoff.
 *
 * Threading: paho callbacks run on paho threads (or, from inside
 * MQTTAsync_destroy, on the loop thread) and only hand over: mqtt_push()
 * for connection news and messages, mqtt_completed() for QoS 1/2 publish
 * completions, atomics for QoS 0 ones; the eventfd is written when both
 * lists were empty (the loop takes until none is left). Everything else
 * runs on the loop thread. The inbound queue is bounded (MQTT_QUEUE_MAX): a
 * flood on a command topic costs counted drops, not unbounded memory.
 *
 * Outbound: paho is only the pipe. Every QoS 1/2 publish goes into our own
 * queue (outq.c), which hands paho at most MQTT_WINDOW of them at a time
 * (or the broker's MQTT 5 Receive Maximum, beyond which paho would hold
 * them unwoken) and forgets each when its completion says the broker acknowledged it.
 * When the link dies the client is destroyed and a new one made, and
 * everything unacknowledged is sent again on the next connection, in
 * order. Measured reasons for not leaving this to paho (1.3.12): it lost
 * publishes that failed on a dead socket (about 1,000 of 10,000 frames
 * around a broker kill), could resend a half-written PUBLISH for ever
 * (eclipse-paho #1592, #1310), resent a publish the broker hangs up on
 * after every reconnect, with no way to give up on it, and its file store
 * costs a file a message (3,647 frames/s). Here a message that three
 * connections in a row die holding as the oldest unacknowledged is
 * dropped and counted (refused_out), and buffer.dir is one append-only
 * journal written in batches (before the loop sleeps, and before a serial
 * port forgets the bytes it framed). Completions travel like every other
 * event: a locked list and the eventfd. QoS 2 is exactly-once within a
 * connection; a message resent on a new connection may arrive twice.
 *
 * QoS 0 while connected, with nothing older waiting, goes straight to
 * paho. Offline it is dropped (counted), unless buffer.qos0 keeps it.
 *
 * Back-pressure: while connected with MQTT_BACKLOG_HIGH or more messages
 * queued or unfinished, mqtt_congested() tells the bridge to stop reading
 * serial ports: bytes wait in the kernel and, with flow = rtscts, the
 * device is held off (before this, `make bench` lost 25-46% of frames in
 * 8-port bursts and reached 112 MB RSS). Reading resumes at
 * MQTT_BACKLOG_LOW, or when nothing was acknowledged for
 * MQTT_BACKLOG_STALL_MS (the queue then keeps the newest max_messages, as
 * offline). A short paho queue is a fast one too: paho walks its command
 * list to give each QoS 1 message an id.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <MQTTAsync.h>

#include "clock.h"
#include "linkcheck.h"
#include "log.h"
#include "mqtt.h"
#include "outq.h"

/* Inbound messages waiting for the loop; a flood beyond this is dropped and counted. */
#define MQTT_QUEUE_MAX 8192
/* And at most this many bytes of them: a stalled loop costs bounded memory. */
#define MQTT_QUEUE_BYTES (4 * 1024 * 1024)
/* No command is longer (max_frame <= 65536, hex spelling 3 bytes a byte). */
#define MQTT_PAYLOAD_MAX (256 * 1024)
#define MQTT_PASSWORD_MAX 256
/* Back-pressure: unfinished publishes that hold serial reading, and free it again. */
#define MQTT_BACKLOG_HIGH 1000
#define MQTT_BACKLOG_LOW 250
#define MQTT_BACKLOG_STALL_MS 2000
/* QoS 1/2 messages handed to paho and not yet acknowledged, at most */
#define MQTT_WINDOW 1000
#define MQTT_JOURNAL "outq.journal"
/* A loss this soon after the oldest unacknowledged message went out is a strike against it. */
#define MQTT_STRIKE_MS 2000

/* One paho client's identity: completions of a destroyed client are ignored. */
struct mqtt_link {
	struct mqtt *m;
	uint32_t gen;
};

/* A publish completion: code 0 acknowledged, else paho's code or an MQTT 5 reason code. */
struct mqtt_done {
	uint32_t gen;
	int token;
	int code;
	int probe;	/* the link probe's (tokens of a probe and a publish may meet in one batch) */
};

struct mqtt {
	const struct cfg_mqtt *cfg;
	const struct cfg_buffer *buf;
	MQTTAsync client;
	int efd;
	pthread_mutex_t lock;
	struct mqtt_event *head, *tail;	/* locked */
	int queued;			/* locked */
	size_t queued_bytes;		/* locked: inbound payloads and topics */
	uint64_t dropped_in;		/* locked */
	uint64_t oversized_in;		/* locked */
	char tls_err[200];		/* locked: OpenSSL's reason for the last failure */
	int connected;			/* loop thread */
	int connecting;			/* loop thread: an attempt is under way */
	uint64_t next_attempt;		/* loop thread; UINT64_MAX: none */
	int backoff_ms;
	int uri_idx;			/* the uri of the current / next attempt */
	const char *attempt_uri;	/* the uri being tried (in the config) */
	struct mqtt_link *link;		/* the current client's */
	uint32_t ack_lost_gen;		/* loop thread: the link an ack timeout has already declared lost */
	struct mqtt_done *done_v;	/* locked: completions for the loop */
	size_t done_n, done_cap;
	struct mqtt_done *spare_v;	/* loop thread: the other half of the swap */
	size_t spare_cap;
	struct outq *q;			/* loop thread */
	uint64_t dropped_seen;		/* q->dropped when last logged */
	int window;			/* QoS 1/2 in flight at most: MQTT_WINDOW, or the broker's Receive Maximum */
	uint64_t sent;			/* QoS 0 sent straight (atomic; only the loop adds) */
	uint64_t done;			/* ... of them finished (atomic; paho threads add) */
	int held;			/* atomic: serial reading held; mqtt_congested() or a QoS 0 completion clears it */
	uint64_t progress;		/* loop thread: QoS 1/2 acknowledgements */
	uint64_t now;			/* loop thread: the time of the current turn */
	uint64_t connected_at;
	uint64_t seen_progress;		/* loop thread: progress as last seen, and when it last moved */
	uint64_t seen_at;
	struct linkcheck lc;		/* loop thread: mqtt.link_timeout_ms */
	int probe_token;		/* the unanswered link probe's (lc.outstanding) */
	uint32_t lc_lost_gen;		/* the link the link check has already declared lost */
	char password[MQTT_PASSWORD_MAX];
	struct mqtt_stats stats;
};

static void mqtt_push(struct mqtt *m, struct mqtt_event *ev)
{
	uint64_t one = 1;
	int drop = 0, wake;

	pthread_mutex_lock(&m->lock);
	/* the loop takes events until none is left: a non-empty list needs no second wake-up */
	wake = !m->head && m->done_n == 0;
	if (ev->type == MQTT_EV_MESSAGE &&
	    (m->queued >= MQTT_QUEUE_MAX || m->queued_bytes + ev->len > MQTT_QUEUE_BYTES)) {
		m->dropped_in++;
		drop = 1;
	} else {
		if (ev->type == MQTT_EV_MESSAGE)
			m->queued_bytes += ev->len;
		ev->next = NULL;
		if (m->tail)
			m->tail->next = ev;
		else
			m->head = ev;
		m->tail = ev;
		m->queued++;
	}
	pthread_mutex_unlock(&m->lock);
	if (drop) {
		mqtt_event_free(ev);
		return;
	}
	/* the eventfd counter only says "look"; a failed write means it is full */
	if (wake && write(m->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		abort();
}

static struct mqtt_event *mqtt_event_new(enum mqtt_event_type type, const char *text)
{
	struct mqtt_event *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return NULL;
	ev->type = type;
	if (text)
		ev->text = strdup(text);
	return ev;
}

void mqtt_event_free(struct mqtt_event *ev)
{
	if (!ev)
		return;
	free(ev->topic);
	free(ev->payload);
	free(ev->text);
	free(ev->response_topic);
	free(ev->correlation);
	free(ev);
}

/* ---- paho callbacks (paho threads) ---- */

static void mqtt_add_tls_reason(struct mqtt *m, char *why, size_t size);

/*
 * MQTT 5: keep the response topic and correlation data (request/response)
 * and the subscription identifiers the copy was sent for (subs.h). And the
 * message expiry: the broker hands over what is left of it (it counts down
 * while the message waits in a session queue), in seconds; the deadline
 * starts now, when the message reached us.
 */
static void mqtt_copy_props(struct mqtt_event *ev, MQTTProperties *props)
{
	MQTTProperty *p;
	int i, n;

	if (!props || props->count == 0)
		return;
	p = MQTTProperties_getProperty(props, MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL);
	if (p) {
		ev->has_expiry = 1;
		ev->expires_at = clock_now_ms() + (uint64_t)p->value.integer4 * 1000u;
	}
	n = MQTTProperties_propertyCount(props, MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER);
	for (i = 0; i < n && ev->n_sub_ids < MQTT_SUB_IDS_MAX; i++) {
		p = MQTTProperties_getPropertyAt(props, MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER, i);
		if (p && p->value.integer4 > 0)
			ev->sub_ids[ev->n_sub_ids++] = (uint32_t)p->value.integer4;
	}
	p = MQTTProperties_getProperty(props, MQTTPROPERTY_CODE_RESPONSE_TOPIC);
	if (p && p->value.data.len > 0)
		ev->response_topic = strndup(p->value.data.data, (size_t)p->value.data.len);
	p = MQTTProperties_getProperty(props, MQTTPROPERTY_CODE_CORRELATION_DATA);
	if (p && p->value.data.len > 0) {
		ev->correlation = malloc((size_t)p->value.data.len);
		if (ev->correlation) {
			memcpy(ev->correlation, p->value.data.data, (size_t)p->value.data.len);
			ev->correlation_len = (size_t)p->value.data.len;
		}
	}
}

/* The link is gone (ctx: its mqtt_link): the loop replaces the client. */
static void mqtt_lost(struct mqtt_link *l, const char *why)
{
	struct mqtt_event *ev = mqtt_event_new(MQTT_EV_LOST, why);

	if (ev) {
		ev->gen = l->gen;
		mqtt_push(l->m, ev);
	}
}

static void mqtt_cb_lost(void *ctx, char *cause)
{
	mqtt_lost(ctx, cause ? cause : "connection lost");
}

static int mqtt_cb_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *msg)
{
	struct mqtt *m = ((struct mqtt_link *)ctx)->m;
	struct mqtt_event *ev;
	size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);

	if (msg->payloadlen > MQTT_PAYLOAD_MAX) {
		/* no copy of an oversized payload: counted, like a full queue */
		pthread_mutex_lock(&m->lock);
		m->dropped_in++;
		m->oversized_in++;
		pthread_mutex_unlock(&m->lock);
		MQTTAsync_freeMessage(&msg);
		MQTTAsync_free(topic);
		return 1;
	}
	ev = mqtt_event_new(MQTT_EV_MESSAGE, NULL);
	if (ev) {
		ev->topic = strndup(topic, tlen);
		ev->payload = malloc((size_t)msg->payloadlen + 1);
		if (ev->topic && ev->payload) {
			memcpy(ev->payload, msg->payload, (size_t)msg->payloadlen);
			ev->payload[msg->payloadlen] = '\0';
			ev->len = (size_t)msg->payloadlen;
			ev->qos = msg->qos;
			ev->retained = msg->retained;
			mqtt_copy_props(ev, &msg->properties);
			mqtt_push(m, ev);
		} else {
			mqtt_event_free(ev);
		}
	}
	MQTTAsync_freeMessage(&msg);
	MQTTAsync_free(topic);
	return 1;
}

static void mqtt_cb_connect_ok(void *ctx, MQTTAsync_successData *resp)
{
	struct mqtt *m = ctx;
	/* paho names the first uri of an earlier attempt: we know which we tried */
	struct mqtt_event *ev = mqtt_event_new(MQTT_EV_CONNECTED, m->attempt_uri);

	(void)resp;

	if (ev)
		mqtt_push(ctx, ev);
}

static void mqtt_cb_connect_fail(void *ctx, MQTTAsync_failureData *resp)
{
	char why[256];
	struct mqtt_event *ev;

	/* a CONNACK refusal comes as code 1..5 with the unhelpful text "CONNACK return code" */
	if (resp && resp->code >= 1 && resp->code <= 5)
		snprintf(why, sizeof(why), "broker refused: %s (CONNACK %d)", mqtt_connack_str(resp->code), resp->code);
	else if (resp && resp->message)
		snprintf(why, sizeof(why), "%s", resp->message);
	else if (resp)
		snprintf(why, sizeof(why), "%s (code %d)", mqtt_connack_str(resp->code), resp->code);
	else
		snprintf(why, sizeof(why), "connect failed");
	mqtt_add_tls_reason(ctx, why, sizeof(why));
	ev = mqtt_event_new(MQTT_EV_CONNECT_FAILED, why);
	if (ev) {
		ev->rc = resp ? resp->code : -1;
		mqtt_push(ctx, ev);
	}
}

static void mqtt_cb_connect_ok5(void *ctx, MQTTAsync_successData5 *resp)
{
	struct mqtt *m = ctx;
	struct mqtt_event *ev = mqtt_event_new(MQTT_EV_CONNECTED, m->attempt_uri);
	MQTTProperty *p = resp ? MQTTProperties_getProperty(&resp->properties, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM)
			       : NULL;

	if (ev) {
		/* the broker's Receive Maximum: more in flight would wait inside paho, unwoken */
		ev->rc = p ? (int)p->value.integer2 : 0;
		mqtt_push(ctx, ev);
	}
}

static void mqtt_cb_connect_fail5(void *ctx, MQTTAsync_failureData5 *resp)
{
	char why[256];
	struct mqtt_event *ev;

	if (resp && (resp->reasonCode || resp->code >= 0x80)) {
		/* paho 1.3 leaves reasonCode 0 and puts a CONNACK's reason in code */
		int rcode = resp->reasonCode ? (int)resp->reasonCode : resp->code;

		snprintf(why, sizeof(why), "broker refused: %s (reason code %d)",
			 MQTTReasonCode_toString((enum MQTTReasonCodes)rcode), rcode);
	} else if (resp && resp->code >= 1 && resp->code <= 5)
		snprintf(why, sizeof(why), "broker refused: %s (CONNACK %d)", mqtt_connack_str(resp->code), resp->code);
	else if (resp && resp->message)
		snprintf(why, sizeof(why), "%s", resp->message);
	else
		snprintf(why, sizeof(why), "%s", MQTTAsync_strerror(resp ? resp->code : MQTTASYNC_FAILURE));
	mqtt_add_tls_reason(ctx, why, sizeof(why));
	ev = mqtt_event_new(MQTT_EV_CONNECT_FAILED, why);
	if (ev) {
		ev->rc = resp ? resp->code : -1;
		mqtt_push(ctx, ev);
	}
}

/*
 * MQTT 5: the broker sent DISCONNECT (packet too large, session taken
 * over, shutting down, a kick). paho 1.3.12 does not report the lost
 * connection after it (eclipse-paho #1619): this is the loss, or the
 * gateway would believe itself connected for ever, fail-safes unarmed.
 */
static void mqtt_cb_server_disconnect(void *ctx, MQTTProperties *props, enum MQTTReasonCodes rc)
{
	struct mqtt_link *l = ctx;
	struct mqtt_event *ev;
	char why[200];

	(void)props;
	snprintf(why, sizeof(why), "broker disconnected us: %s (reason code %d)", MQTTReasonCode_toString(rc),
		 (int)rc);
	/* as mqtt_lost(), with the reason code: the bridge names a session taken over */
	ev = mqtt_event_new(MQTT_EV_LOST, why);
	if (ev) {
		ev->gen = l->gen;
		ev->rc = (int)rc;
		mqtt_push(l->m, ev);
	}
}

/* OpenSSL's words for a failed handshake ("certificate verify failed"), kept for the failure. */
static int mqtt_cb_ssl_error(const char *str, size_t len, void *ctx)
{
	struct mqtt *m = ctx;

	const char *p = str, *end = str + len;
	int field;

	/* "THREAD:error:CODE:LIB:FUNC:REASON:FILE:LINE:": the reason is the words */
	for (field = 0; field < 5 && p < end; field++) {
		const char *c = memchr(p, ':', (size_t)(end - p));

		if (!c)
			break;
		p = c + 1;
	}
	if (field == 5) {
		const char *c = memchr(p, ':', (size_t)(end - p));

		str = p;
		len = c ? (size_t)(c - p) : (size_t)(end - p);
	}
	while (len > 0 && (str[len - 1] == '\n' || str[len - 1] == '\r'))
		len--;
	pthread_mutex_lock(&m->lock);
	snprintf(m->tls_err, sizeof(m->tls_err), "%.*s", (int)(len < sizeof(m->tls_err) ? len : sizeof(m->tls_err) - 1),
		 str);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/* Append the TLS reason, if OpenSSL gave one, to a failure text. */
static void mqtt_add_tls_reason(struct mqtt *m, char *why, size_t size)
{
	size_t n = strlen(why);

	pthread_mutex_lock(&m->lock);
	if (m->tls_err[0] && n < size)
		snprintf(why + n, size - n, " (TLS: %s)", m->tls_err);
	m->tls_err[0] = '\0';
	pthread_mutex_unlock(&m->lock);
}

static void mqtt_cb_disconnected(void *ctx, MQTTAsync_successData *resp)
{
	struct mqtt_event *ev = mqtt_event_new(MQTT_EV_DISCONNECTED, NULL);

	(void)resp;
	if (ev)
		mqtt_push(ctx, ev);
}

static void mqtt_cb_disconnect_fail(void *ctx, MQTTAsync_failureData *resp)
{
	mqtt_cb_disconnected(ctx, NULL);
	(void)resp;
}

/* A QoS 0 publish is finished (paho thread): wake the loop if that frees the ports. */
static void mqtt_finished(struct mqtt *m)
{
	uint64_t done = __atomic_add_fetch(&m->done, 1, __ATOMIC_SEQ_CST), one = 1;
	int64_t backlog = (int64_t)(__atomic_load_n(&m->sent, __ATOMIC_SEQ_CST) - done);

	if (backlog <= MQTT_BACKLOG_LOW && __atomic_load_n(&m->held, __ATOMIC_SEQ_CST) &&
	    __atomic_exchange_n(&m->held, 0, __ATOMIC_SEQ_CST) && write(m->efd, &one, sizeof(one)) < 0 &&
	    errno != EAGAIN)
		abort();
}

static void mqtt_cb_sent0(void *ctx, MQTTAsync_successData *resp)
{
	(void)resp;
	mqtt_finished(((struct mqtt_link *)ctx)->m);
}

static void mqtt_cb_failed0(void *ctx, MQTTAsync_failureData *resp)
{
	(void)resp;
	mqtt_finished(((struct mqtt_link *)ctx)->m);
}

/* paho refuses v3 callbacks on an MQTT 5 client ("Options for wrong MQTT version") */
static void mqtt_cb_sent0_5(void *ctx, MQTTAsync_successData5 *resp)
{
	(void)resp;
	mqtt_finished(((struct mqtt_link *)ctx)->m);
}

static void mqtt_cb_failed0_5(void *ctx, MQTTAsync_failureData5 *resp)
{
	(void)resp;
	mqtt_finished(((struct mqtt_link *)ctx)->m);
}

/* A QoS 1/2 publish is finished (paho thread): to the loop, which owns the queue. */
static void mqtt_completed_as(struct mqtt_link *l, int token, int code, int probe)
{
	struct mqtt *m = l->m;
	uint64_t one = 1;
	int wake = 0;

	pthread_mutex_lock(&m->lock);
	if (m->done_n == m->done_cap) {
		size_t cap = m->done_cap ? 2 * m->done_cap : 256;
		struct mqtt_done *v = realloc(m->done_v, cap * sizeof(*v));

		if (v) {
			m->done_v = v;
			m->done_cap = cap;
		}
	}
	/* without memory the message stays in flight and is sent again after the next loss */
	if (m->done_n < m->done_cap) {
		wake = !m->head && m->done_n == 0;
		m->done_v[m->done_n++] = (struct mqtt_done){ l->gen, token, code, probe };
	}
	pthread_mutex_unlock(&m->lock);
	if (wake && write(m->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		abort();
}

static void mqtt_completed(struct mqtt_link *l, int token, int code)
{
	mqtt_completed_as(l, token, code, 0);
}

static void mqtt_cb_published(void *ctx, MQTTAsync_successData *resp)
{
	mqtt_completed(ctx, resp ? resp->token : 0, 0);
}

static void mqtt_cb_publish_failed(void *ctx, MQTTAsync_failureData *resp)
{
	mqtt_completed(ctx, resp ? resp->token : 0, resp && resp->code ? resp->code : MQTTASYNC_FAILURE);
}

static void mqtt_cb_published5(void *ctx, MQTTAsync_successData5 *resp)
{
	mqtt_completed(ctx, resp ? resp->token : 0, 0);
}

static void mqtt_cb_publish_failed5(void *ctx, MQTTAsync_failureData5 *resp)
{
	int code = MQTTASYNC_FAILURE;

	/* a PUBACK / PUBREC with a reason code of 0x80 or more: the broker refused it */
	if (resp && resp->reasonCode >= 0x80)
		code = (int)resp->reasonCode;
	else if (resp && resp->code)
		code = resp->code;
	mqtt_completed(ctx, resp ? resp->token : 0, code);
}

/*
 * The link probe (an UNSUBSCRIBE, see linkcheck.h) came back. Its answer
 * travels like a publish completion: MQTT_PROBE_ANSWERED when the broker
 * answered (an UNSUBACK, whatever its reason codes), else paho's code.
 */
#define MQTT_PROBE_ANSWERED (-1000)

static void mqtt_cb_probe_ok(void *ctx, MQTTAsync_successData *resp)
{
	mqtt_completed_as(ctx, resp ? resp->token : 0, MQTT_PROBE_ANSWERED, 1);
}

static void mqtt_cb_probe_failed(void *ctx, MQTTAsync_failureData *resp)
{
	mqtt_completed_as(ctx, resp ? resp->token : 0, resp && resp->code ? resp->code : MQTTASYNC_FAILURE, 1);
}

static void mqtt_cb_probe_ok5(void *ctx, MQTTAsync_successData5 *resp)
{
	mqtt_completed_as(ctx, resp ? resp->token : 0, MQTT_PROBE_ANSWERED, 1);
}

static void mqtt_cb_probe_failed5(void *ctx, MQTTAsync_failureData5 *resp)
{
	/* an UNSUBACK with a refusal is an answer all the same */
	int answered = resp && (resp->reasonCode >= 0x80 || resp->packet_type == 11);

	mqtt_completed_as(ctx, resp ? resp->token : 0,
			  answered ? MQTT_PROBE_ANSWERED : resp && resp->code ? resp->code : MQTTASYNC_FAILURE, 1);
}

/* ---- loop thread ---- */

static void mqtt_pump(struct mqtt *m);


const char *mqtt_connack_str(int code)
{
	switch (code) {
	case 1:
		return "unacceptable protocol version";
	case 2:
		return "client identifier rejected";
	case 3:
		return "server unavailable";
	case 4:
		return "bad user name or password";
	case 5:
		return "not authorized";
	default:
		return MQTTAsync_strerror(code) ? MQTTAsync_strerror(code) : "connect failed";
	}
}

int mqtt_read_password(const char *file, char *out, size_t outlen, char *err, size_t errlen)
{
	char path[4096];
	struct stat st;
	ssize_t n;
	int fd;
	/*
	 * A systemd credential lives in a directory only this service can
	 * read; systemd 254 and later show it as 0440 (an ACL for User=), which
	 * is no leak: only "others" is checked there.
	 */
	mode_t forbidden = S_IRWXG | S_IRWXO;

	if (strncmp(file, "credential:", 11) == 0) {
		forbidden = S_IRWXO;
		/* systemd LoadCredential=NAME:... puts it in $CREDENTIALS_DIRECTORY/NAME */
		const char *dir = getenv("CREDENTIALS_DIRECTORY");

		if (!dir || strchr(file + 11, '/') || !file[11]) {
			snprintf(err, errlen, "password_file %s: no systemd credential of that name (CREDENTIALS_DIRECTORY %s)",
				 file, dir ? "has none" : "is not set");
			return -1;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, file + 11);
		file = path;
	}
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "password_file %s: %s", file, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || (st.st_mode & forbidden)) {
		snprintf(err, errlen, "password_file %s is readable by %s; chmod 600 it", file,
			 forbidden & S_IRWXG ? "group or others" : "others");
		close(fd);
		return -1;
	}
	n = read(fd, out, outlen - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "password_file %s: %s", file, strerror(errno));
		return -1;
	}
	out[n] = '\0';
	/* one line; the newline editors add is not part of the password */
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

/* The paho client itself; called at start and to replace a broken one. */
static int mqtt_client_create(struct mqtt *m, char *err, size_t errlen)
{
	const struct cfg_mqtt *cfg = m->cfg;
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	struct mqtt_link *link;
	static int global_done;	/* MQTTAsync_global_init: once, before the first client */
	int rc;

	if (!global_done) {
		/*
		 * paho's own OpenSSL set-up (its default) costs 1.4 MB of RSS even
		 * with no TLS uri; OpenSSL 1.1 and later initialise themselves on
		 * first use instead.
		 */
		MQTTAsync_init_options io = MQTTAsync_init_options_initializer;

		io.do_openssl_init = 0;
		MQTTAsync_global_init(&io);
		/*
		 * paho formats protocol-level trace lines into an in-memory ring by
		 * default: two vsnprintf() a message, 11% of its sending thread
		 * (callgrind). Nobody reads them.
		 */
		MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
		global_done = 1;
	}
	/* nothing is sent while disconnected: the queue keeps it (see the top) */
	co.sendWhileDisconnected = 0;
	co.restoreMessages = 0;
	/*
	 * paho counts its unwritten commands against this, connected or not:
	 * the QoS 1/2 window plus QoS 0 sent straight, which back-pressure
	 * bounds only once a loop turn (8 busy ports can add thousands a turn)
	 */
	co.maxBufferedMessages = MQTT_WINDOW + (m->buf->max_messages > 10000 ? m->buf->max_messages : 10000);
	/* 3.1.1 exactly: "default" would fall back to 3.1 on every refusal */
	co.MQTTVersion = cfg->protocol == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
	rc = MQTTAsync_createWithOptions(&m->client, cfg->uris[0], cfg->client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL,
					 &co);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(err, errlen, "cannot create MQTT client for %s: %s", cfg->uris[0], MQTTAsync_strerror(rc));
		m->client = NULL;
		return -1;
	}
	link = calloc(1, sizeof(*link));
	if (!link) {
		snprintf(err, errlen, "out of memory");
		MQTTAsync_destroy(&m->client);
		m->client = NULL;
		return -1;
	}
	link->m = m;
	link->gen = m->link ? m->link->gen + 1 : 1;
	free(m->link);
	m->link = link;
	rc = MQTTAsync_setCallbacks(m->client, link, mqtt_cb_lost, mqtt_cb_message, NULL);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(err, errlen, "cannot set MQTT callbacks: %s", MQTTAsync_strerror(rc));
		MQTTAsync_destroy(&m->client);
		m->client = NULL;
		return -1;
	}
	if (cfg->protocol == 5)
		MQTTAsync_setDisconnected(m->client, link, mqtt_cb_server_disconnect);
	/* a replaced client's QoS 0 publishes will never finish: start counting afresh */
	__atomic_store_n(&m->sent, __atomic_load_n(&m->done, __ATOMIC_SEQ_CST), __ATOMIC_SEQ_CST);
	return 0;
}

/* buffer.dir: what an earlier run left unacknowledged goes first. */
static int mqtt_open_journal(struct mqtt *m, char *err, size_t errlen)
{
	char path[4200];
	size_t restored;

	snprintf(path, sizeof(path), "%s/%s", m->buf->dir, MQTT_JOURNAL);
	m->q->sync = m->buf->sync;
	if (outq_open_journal(m->q, path, &restored, err, errlen) < 0)
		return -1;
	if (restored)
		log_msg(LOG_INFO, "mqtt: %zu messages restored from %s", restored, path);
	return 0;
}

struct mqtt *mqtt_new(const struct cfg_mqtt *cfg, const struct cfg_buffer *buf, char *err, size_t errlen)
{
	struct mqtt *m = calloc(1, sizeof(*m));

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->cfg = cfg;
	m->buf = buf;
	m->efd = -1;
	m->next_attempt = UINT64_MAX;
	m->backoff_ms = cfg->reconnect_min_ms;
	linkcheck_init(&m->lc, cfg->link_timeout_ms, cfg->link_check_ms);
	pthread_mutex_init(&m->lock, NULL);
	if (cfg->password_file && *cfg->password_file &&
	    mqtt_read_password(cfg->password_file, m->password, sizeof(m->password), err, errlen) < 0)
		goto fail;
	m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (m->efd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	m->q = outq_new((size_t)buf->max_messages);
	if (!m->q) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (*buf->dir && mqtt_open_journal(m, err, errlen) < 0)
		goto fail;
	if (mqtt_client_create(m, err, errlen) < 0)
		goto fail;
	return m;
fail:
	mqtt_free(m);
	return NULL;
}

void mqtt_free(struct mqtt *m)
{
	struct mqtt_event *ev;

	if (!m)
		return;
	if (m->client)
		MQTTAsync_destroy(&m->client);
	if (m->q && m->q->count)
		log_msg(m->q->fd >= 0 ? LOG_INFO : LOG_WARNING, "mqtt: %zu messages not acknowledged at exit %s",
			m->q->count, m->q->fd >= 0 ? "are kept in buffer.dir" : "are lost (buffer.dir keeps them)");
	outq_free(m->q);
	free(m->link);
	free(m->done_v);
	free(m->spare_v);
	while ((ev = m->head) != NULL) {
		m->head = ev->next;
		mqtt_event_free(ev);
	}
	if (m->efd >= 0)
		close(m->efd);
	pthread_mutex_destroy(&m->lock);
	memset(m->password, 0, sizeof(m->password));
	free(m);
}

void mqtt_set_config(struct mqtt *m, const struct cfg_mqtt *cfg, const struct cfg_buffer *buf)
{
	m->cfg = cfg;
	m->buf = buf;
}

int mqtt_fd(const struct mqtt *m)
{
	return m->efd;
}

static int mqtt_is_tls(const char *uri)
{
	return strncmp(uri, "ssl://", 6) == 0 || strncmp(uri, "mqtts://", 8) == 0 || strncmp(uri, "wss://", 6) == 0;
}

static void mqtt_connect_now(struct mqtt *m)
{
	const struct cfg_mqtt *c = m->cfg;
	MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
	MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	MQTTProperties props = MQTTProperties_initializer;
	MQTTProperty expiry;
	int rc, i, tls = 0;

	o.keepAliveInterval = c->keepalive;
	o.cleansession = c->clean_session;
	o.connectTimeout = 10;
	o.onSuccess = mqtt_cb_connect_ok;
	o.onFailure = mqtt_cb_connect_fail;
	o.context = m;
	o.automaticReconnect = 0;
	/* one uri per attempt: we rotate, so we know which one answered */
	o.serverURIcount = 1;
	o.serverURIs = &c->uris[m->uri_idx];
	o.MQTTVersion = MQTTVERSION_3_1_1;
	o.maxInflight = 65535;
	if (c->protocol == 5) {
		o.MQTTVersion = MQTTVERSION_5;
		o.cleansession = 0;
		o.cleanstart = c->clean_session;
		o.onSuccess = NULL;
		o.onFailure = NULL;
		o.onSuccess5 = mqtt_cb_connect_ok5;
		o.onFailure5 = mqtt_cb_connect_fail5;
		if (!c->clean_session && c->session_expiry > 0) {
			/* without an expiry an MQTT 5 session ends with the connection */
			expiry.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
			expiry.value.integer4 = (unsigned int)c->session_expiry;
			MQTTProperties_add(&props, &expiry);
			o.connectProperties = &props;
		}
	}
	will.topicName = c->status_topic;
	will.message = "offline";
	will.retained = 1;
	will.qos = 1;
	o.will = &will;
	if (c->username && *c->username) {
		o.username = c->username;
		if (m->password[0])
			o.password = m->password;
	}
	for (i = 0; i < c->n_uris; i++)
		tls |= mqtt_is_tls(c->uris[i]);
	m->attempt_uri = c->uris[m->uri_idx];
	if (tls || c->has_tls) {
		if (c->tls.ca_file && *c->tls.ca_file)
			ssl.trustStore = c->tls.ca_file;
		if (c->tls.cert_file && *c->tls.cert_file)
			ssl.keyStore = c->tls.cert_file;
		if (c->tls.key_file && *c->tls.key_file)
			ssl.privateKey = c->tls.key_file;
		ssl.enableServerCertAuth = c->tls.verify;
		ssl.verify = c->tls.verify;
		ssl.ssl_error_cb = mqtt_cb_ssl_error;
		ssl.ssl_error_context = m;
		o.ssl = &ssl;
	}
	m->connecting = 1;
	m->next_attempt = UINT64_MAX;
	m->stats.connect_attempts++;
	log_msg(LOG_DEBUG, "mqtt: connecting to %s", c->uris[m->uri_idx]);
	rc = MQTTAsync_connect(m->client, &o);
	MQTTProperties_free(&props);
	if (rc != MQTTASYNC_SUCCESS) {
		struct mqtt_event *ev = mqtt_event_new(MQTT_EV_CONNECT_FAILED, MQTTAsync_strerror(rc));

		if (ev) {
			ev->rc = rc;
			mqtt_push(m, ev);
		}
	}
}

void mqtt_start(struct mqtt *m, uint64_t now)
{
	(void)now;
	mqtt_connect_now(m);
}

/*
 * The link died: a new client for the next connection, and everything
 * unacknowledged is sent again from the queue, in order. Keeping the
 * client and letting paho resend what it holds was measured and loses:
 * paho 1.3.12 can resend a half-written PUBLISH whose data it already freed
 * (eclipse-paho #1592; the broker then drops every connection for a
 * malformed packet) and lost frames around a broker kill. The price of a
 * new client: paho leaks the publish commands still queued (not yet
 * written) in a client destroyed after a lost connection (#1474, fixed in
 * 1.3.14), about 140 bytes each, at most MQTT_WINDOW a loss and in practice
 * those of the last few milliseconds. The oldest message in flight gets a
 * strike; at OUTQ_STRIKES_MAX it is dropped. Completions still coming from
 * the old client carry its generation and are ignored.
 */
static void mqtt_link_lost(struct mqtt *m)
{
	struct outq_msg *oldest = outq_oldest_sent(m->q);
	int quick = oldest && m->now - oldest->sent_at < MQTT_STRIKE_MS;
	char err[256];

	MQTTAsync_destroy(&m->client);
	m->client = NULL;
	if (mqtt_client_create(m, err, sizeof(err)) < 0) {
		outq_flush(m->q);
		log_msg(LOG_ERR, "mqtt: %s; exiting so that systemd restarts us", err);
		exit(1);
	}
	/* a strike only for a loss right after the message went out; a link that dies slowly is no verdict */
	if (oldest && !quick)
		oldest->strikes--;
	oldest = outq_unsend_all(m->q);
	if (oldest && oldest->strikes >= OUTQ_STRIKES_MAX) {
		/* AWS IoT, and mosquitto in some set-ups, hang up instead of refusing */
		log_msg(LOG_WARNING,
			"mqtt: the connection died within %d ms of sending a publish to %s, %d times in a row; "
			"dropped (does the broker refuse it? an ACL?)",
			MQTT_STRIKE_MS, oldest->topic, oldest->strikes);
		m->stats.refused_out++;
		outq_remove(m->q, oldest);
	}
}

void mqtt_schedule_reconnect(struct mqtt *m, uint64_t now)
{
	int failed_attempt = m->connecting;

	/* the turn's time may be from before a long poll: a loss now is not "right after a send" */
	m->now = now;
	if (m->connected)
		mqtt_link_lost(m);
	linkcheck_down(&m->lc);

	m->connected = 0;
	m->connecting = 0;
	if (failed_attempt && m->uri_idx + 1 < m->cfg->n_uris) {
		/* failover: the next broker in the list, at once */
		m->uri_idx++;
		m->next_attempt = now;
		return;
	}
	/* the list is exhausted (or the connection was lost): from the first, after the backoff */
	m->uri_idx = 0;
	m->next_attempt = now + (uint64_t)m->backoff_ms;
	m->backoff_ms *= 2;
	if (m->backoff_ms > m->cfg->reconnect_max_ms)
		m->backoff_ms = m->cfg->reconnect_max_ms;
}

void mqtt_connected_ok(struct mqtt *m, uint64_t now, int receive_max)
{
	m->now = m->connected_at = now;
	m->window = receive_max > 0 && receive_max < MQTT_WINDOW ? receive_max : MQTT_WINDOW;
	if (m->q->dropped != m->dropped_seen) {
		log_msg(LOG_WARNING, "mqtt: %llu queued messages were dropped, the oldest first (buffer.max_messages = %d)",
			(unsigned long long)(m->q->dropped - m->dropped_seen), m->buf->max_messages);
		m->dropped_seen = m->q->dropped;
	}
	m->connected = 1;
	m->connecting = 0;
	linkcheck_up(&m->lc, now);
	m->backoff_ms = m->cfg->reconnect_min_ms;
	m->stats.connects++;
	/* no pump here: the caller's birth "online" goes first, then mqtt_send_queued() */
}

void mqtt_send_queued(struct mqtt *m)
{
	mqtt_pump(m);
}

/* mqtt.link_timeout_ms: declare a silent link lost, or send the next probe. */
static void mqtt_link_check(struct mqtt *m, uint64_t now)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	int rc;

	linkcheck_tick(&m->lc, now);
	if (linkcheck_expired(&m->lc, now)) {
		if (m->lc_lost_gen != m->link->gen) {
			char why[200];

			snprintf(why, sizeof(why),
				 "no round trip to the broker for %d ms (link_timeout_ms): a silent loss "
				 "(last answer %llu ms ago, %s)",
				 m->cfg->link_timeout_ms, (unsigned long long)(now - m->lc.proof_at),
				 m->lc.outstanding ? "a probe unanswered" : "no probe out");
			m->lc_lost_gen = m->link->gen;
			mqtt_lost(m->link, why);
		}
		return;
	}
	if (!linkcheck_due(&m->lc, now))
		return;
	if (m->cfg->protocol == 5) {
		ro.onSuccess5 = mqtt_cb_probe_ok5;
		ro.onFailure5 = mqtt_cb_probe_failed5;
	} else {
		ro.onSuccess = mqtt_cb_probe_ok;
		ro.onFailure = mqtt_cb_probe_failed;
	}
	ro.context = m->link;
	rc = MQTTAsync_unsubscribe(m->client, m->cfg->link_check_topic, &ro);
	if (rc != MQTTASYNC_SUCCESS) {
		/* paho's command list full, or the link going: no proof either way, try again later */
		log_msg(LOG_DEBUG, "mqtt: link probe not sent: %s", MQTTAsync_strerror(rc));
		linkcheck_not_sent(&m->lc, now);
		return;
	}
	m->probe_token = ro.token;
	linkcheck_sent(&m->lc, now);
}

uint64_t mqtt_tick(struct mqtt *m, uint64_t now)
{
	struct outq_msg *oldest;
	uint64_t next = m->next_attempt, due;

	m->now = now;
	if (m->next_attempt != UINT64_MAX && now >= m->next_attempt)
		mqtt_connect_now(m);
	if (m->connected && (oldest = outq_oldest_sent(m->q)) != NULL) {
		due = (oldest->sent_at > m->connected_at ? oldest->sent_at : m->connected_at) + (uint64_t)m->cfg->ack_timeout_ms;
		if (now >= due) {
			/*
			 * A safety net: no broker takes this long while the link is
			 * up. Sending it again on this connection would put it
			 * after newer ones (and paho still has the first copy): the
			 * link is replaced instead, and the queue resent in order.
			 */
			if (m->ack_lost_gen != m->link->gen) {
				char why[300];

				snprintf(why, sizeof(why), "no acknowledgement for a publish to %s in %d ms",
					 oldest->topic, m->cfg->ack_timeout_ms);
				m->ack_lost_gen = m->link->gen;
				mqtt_lost(m->link, why);
			}
		} else if (due < next) {
			next = due;
		}
	}
	if (m->connected)
		mqtt_link_check(m, now);
	due = linkcheck_deadline(&m->lc);
	if (due < next)
		next = due;
	/* a send paho refused a moment ago (the link going down) */
	mqtt_pump(m);
	/* serial reading held: look again when the stall check is due */
	if (__atomic_load_n(&m->held, __ATOMIC_SEQ_CST) && m->seen_at + MQTT_BACKLOG_STALL_MS < next)
		return m->seen_at + MQTT_BACKLOG_STALL_MS;
	return next;
}

void mqtt_drain_fd(struct mqtt *m)
{
	uint64_t v;

	while (read(m->efd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		;
}

/* Apply one completion (taken at now) to the queue. */
static void mqtt_done_one(struct mqtt *m, const struct mqtt_done *d, uint64_t now)
{
	struct outq_msg *msg;

	if (d->gen != m->link->gen)
		return;	/* an old client's */
	if (d->probe) {
		if (m->lc.outstanding && d->token == m->probe_token)
			linkcheck_answer(&m->lc, d->code == MQTT_PROBE_ANSWERED, now);
		return;
	}
	/* any answer of the broker's proves the link (a PUBACK, a refusal) */
	if (d->code == 0 || d->code >= 0x80)
		linkcheck_proof(&m->lc, now);
	if (!(msg = outq_find_sent(m->q, d->gen, d->token)))
		return;	/* not ours (the shutdown "offline", the birth) */
	if (d->code == 0) {
		m->progress++;
		outq_remove(m->q, msg);
	} else if (d->code >= 0x80) {
		log_msg(LOG_WARNING, "mqtt: the broker refused a publish to %s: %s (reason code %d); dropped",
			msg->topic, MQTTReasonCode_toString((enum MQTTReasonCodes)d->code), d->code);
		m->stats.refused_out++;
		outq_remove(m->q, msg);
	} else if (d->code == MQTTASYNC_OPERATION_INCOMPLETE || d->code == MQTTASYNC_DISCONNECTED) {
		/*
		 * The link is going (paho fails what is in flight on a clean
		 * session before it reports the loss): the loss handling puts
		 * it back in line, and gives the strike to the right message.
		 */
	} else {
		outq_unsend(m->q, msg);
	}
}

/* Take the completions paho has reported and send what they make room for. */
static void mqtt_take_done(struct mqtt *m)
{
	struct mqtt_done *v;
	size_t n, cap, i;
	uint64_t now;

	pthread_mutex_lock(&m->lock);
	v = m->done_v;
	n = m->done_n;
	cap = m->done_cap;
	m->done_v = m->spare_v;
	m->done_cap = m->spare_cap;
	m->done_n = 0;
	pthread_mutex_unlock(&m->lock);
	now = n ? clock_now_ms() : 0;	/* once per batch, not per message */
	for (i = 0; i < n; i++)
		mqtt_done_one(m, &v[i], now);
	m->spare_v = v;
	m->spare_cap = cap;
	if (n)
		mqtt_pump(m);
}

struct mqtt_event *mqtt_next_event(struct mqtt *m)
{
	struct mqtt_event *ev;

	mqtt_take_done(m);
	for (;;) {
		pthread_mutex_lock(&m->lock);
		ev = m->head;
		if (ev) {
			m->head = ev->next;
			if (!m->head)
				m->tail = NULL;
			m->queued--;
			if (ev->type == MQTT_EV_MESSAGE)
				m->queued_bytes -= ev->len;
		}
		m->stats.dropped_in = m->dropped_in;
		m->stats.oversized_in = m->oversized_in;
		pthread_mutex_unlock(&m->lock);
		/* a second report of a loss already handled (the client is new since) */
		if (ev && ev->type == MQTT_EV_LOST && ev->gen != m->link->gen) {
			mqtt_event_free(ev);
			continue;
		}
		break;
	}
	if (ev && ev->type == MQTT_EV_MESSAGE)
		m->stats.received++;
	return ev;
}

const char *mqtt_attempt_uri(const struct mqtt *m)
{
	return m->cfg->uris[m->uri_idx];
}

int mqtt_is_connected(const struct mqtt *m)
{
	return m->connected;
}

/* Hand one message to paho. 0, or -1 (not now: it stays queued). */
static int mqtt_send(struct mqtt *m, const char *topic, const void *payload, size_t len, int qos, int retain,
		     const void *corr, size_t corr_len, int *token)
{
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	/* paho 1.3 drops a message's properties when no response options are given */
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	MQTTProperty prop;
	int rc;

	msg.payload = (void *)(uintptr_t)payload;
	msg.payloadlen = (int)len;
	msg.qos = qos;
	msg.retained = retain;
	if (corr_len && m->cfg->protocol == 5) {
		prop.identifier = MQTTPROPERTY_CODE_CORRELATION_DATA;
		prop.value.data.data = (char *)(uintptr_t)corr;
		prop.value.data.len = (int)corr_len;
		MQTTProperties_add(&msg.properties, &prop);
	}
	if (m->cfg->protocol == 5) {
		ro.onSuccess5 = qos ? mqtt_cb_published5 : mqtt_cb_sent0_5;
		ro.onFailure5 = qos ? mqtt_cb_publish_failed5 : mqtt_cb_failed0_5;
	} else {
		ro.onSuccess = qos ? mqtt_cb_published : mqtt_cb_sent0;
		ro.onFailure = qos ? mqtt_cb_publish_failed : mqtt_cb_failed0;
	}
	ro.context = m->link;
	/* counted before the send: the completion may come before it returns */
	if (!qos)
		__atomic_add_fetch(&m->sent, 1, __ATOMIC_SEQ_CST);
	rc = MQTTAsync_sendMessage(m->client, topic, &msg, &ro);
	MQTTProperties_free(&msg.properties);
	if (rc != MQTTASYNC_SUCCESS) {
		if (!qos)
			__atomic_sub_fetch(&m->sent, 1, __ATOMIC_SEQ_CST);
		/* disconnected, or paho's command list full: not now, the queue keeps it */
		if (rc != MQTTASYNC_DISCONNECTED && rc != MQTTASYNC_MAX_BUFFERED_MESSAGES)
			log_msg(LOG_WARNING, "mqtt: publish to %s failed: %s", topic, MQTTAsync_strerror(rc));
		return -1;
	}
	*token = ro.token;
	return 0;
}

/* Send queued messages while the window has room. */
static void mqtt_pump(struct mqtt *m)
{
	struct outq_msg *msg;
	int token;

	/*
	 * While a message the link died holding is unacknowledged, nothing new
	 * goes to paho: if it is the broker's poison, the next loss finds
	 * nothing else queued in the client that must then be replaced.
	 */
	if (m->q->head && m->q->head->sent && m->q->head->strikes > 0)
		return;
	while (m->connected && m->q->n_sent < (size_t)m->window && (msg = outq_next_unsent(m->q))) {
		if (mqtt_send(m, msg->topic, msg->payload, msg->len, msg->qos, msg->retain, msg->corr, msg->corr_len,
			      &token) < 0)
			return;
		if (msg->resend)
			m->stats.resent++;
		if (msg->qos == 0) {
			outq_remove(m->q, msg);	/* kept while offline; now gone for good */
			continue;
		}
		outq_mark_sent(m->q, msg, m->link->gen, token);
		msg->sent_at = m->now;
		if (msg->strikes > 0)
			return;	/* alone, as above */
	}
}

static int mqtt_publish_msg(struct mqtt *m, const char *topic, const void *payload, size_t len, int qos,
			    int retain, const void *corr, size_t corr_len)
{
	int token;

	if (m->cfg->protocol != 5)
		corr_len = 0;
	if (!*topic) {
		/* a reply to an MQTT 5 response topic that was empty, or began with a NUL */
		m->stats.publish_failed++;
		return -1;
	}
	if (qos == 0 && m->connected && !outq_next_unsent(m->q) &&
	    mqtt_send(m, topic, payload, len, 0, retain, corr, corr_len, &token) == 0) {
		/* now or never: straight to paho, nothing older is waiting */
		m->stats.published++;
		return 0;
	}
	/* QoS 0 paho would not take while connected waits its turn in the queue, like QoS 1 */
	if (qos == 0 && !m->connected && !m->buf->qos0) {
		m->stats.dropped_offline++;
		return -1;
	}
	if (!outq_add(m->q, topic, payload, len, qos, retain, corr, corr_len)) {
		m->stats.publish_failed++;
		log_msg(LOG_WARNING, "mqtt: publish to %s failed: out of memory", topic);
		return -1;
	}
	m->stats.published++;
	m->stats.buffer_dropped = m->q->dropped;
	mqtt_pump(m);
	return 0;
}

int mqtt_publish_now(struct mqtt *m, const char *topic, const void *payload, size_t len, int qos, int retain)
{
	int token;

	/* its completion matches nothing in the queue and is ignored */
	if (!m->connected || mqtt_send(m, topic, payload, len, qos, retain, NULL, 0, &token) < 0) {
		m->stats.publish_failed++;
		return -1;
	}
	m->stats.published++;
	return 0;
}

int mqtt_publish(struct mqtt *m, const char *topic, const void *payload, size_t len, int qos, int retain)
{
	return mqtt_publish_msg(m, topic, payload, len, qos, retain, NULL, 0);
}

int mqtt_publish_reply(struct mqtt *m, const char *topic, const void *payload, size_t len, int qos,
		       const void *corr, size_t corr_len)
{
	return mqtt_publish_msg(m, topic, payload, len, qos, 0, corr, corr_len);
}

int mqtt_flush(struct mqtt *m)
{
	return outq_flush(m->q);
}

int mqtt_congested(struct mqtt *m, uint64_t now)
{
	uint64_t done = __atomic_load_n(&m->done, __ATOMIC_SEQ_CST);
	int64_t backlog0 = (int64_t)(__atomic_load_n(&m->sent, __ATOMIC_SEQ_CST) - done);
	int64_t backlog = backlog0 + (int64_t)m->q->count;

	m->now = now;
	m->stats.queued = m->q->count;
	if (done + m->progress != m->seen_progress) {
		m->seen_progress = done + m->progress;
		m->seen_at = now;
	}
	if (!m->connected) {
		/* offline, the store-and-forward buffer's own rules apply */
		__atomic_store_n(&m->held, 0, __ATOMIC_SEQ_CST);
		return 0;
	}
	if (__atomic_load_n(&m->held, __ATOMIC_SEQ_CST)) {
		if (backlog > MQTT_BACKLOG_LOW && now - m->seen_at < MQTT_BACKLOG_STALL_MS)
			return 1;
		if (backlog > MQTT_BACKLOG_LOW) {
			/* QoS 0 completions that never come are written off; the queue keeps its own */
			log_msg(LOG_WARNING, "mqtt: nothing acknowledged for %d ms with %lld messages waiting; reading "
				"ports again (the queue keeps the newest buffer.max_messages)",
				MQTT_BACKLOG_STALL_MS, (long long)backlog);
			if (backlog0 > 0) {
				m->stats.backlog_written_off += (uint64_t)backlog0;
				__atomic_sub_fetch(&m->sent, (uint64_t)backlog0, __ATOMIC_SEQ_CST);
			}
		}
		__atomic_store_n(&m->held, 0, __ATOMIC_SEQ_CST);
		return 0;
	}
	if (backlog < MQTT_BACKLOG_HIGH || now - m->seen_at >= MQTT_BACKLOG_STALL_MS)
		return 0;
	__atomic_store_n(&m->held, 1, __ATOMIC_SEQ_CST);
	/* a completion between the loads above and the store may have missed the flag */
	backlog = (int64_t)(__atomic_load_n(&m->sent, __ATOMIC_SEQ_CST) - __atomic_load_n(&m->done, __ATOMIC_SEQ_CST)) +
		  (int64_t)m->q->count;
	if (backlog <= MQTT_BACKLOG_LOW) {
		__atomic_store_n(&m->held, 0, __ATOMIC_SEQ_CST);
		return 0;
	}
	m->seen_at = now;
	m->stats.held++;
	return 1;
}

/*
 * Every paho call gets response options, even when we want no callback:
 * for an MQTT 5 client paho 1.3.12 reads the subscribe options (and the
 * properties) from them, and with two or more filters dereferences a NULL
 * one (issue 22: SIGSEGV on every connect).
 */
/*
 * MQTT 5: one SUBSCRIBE per filter, since a subscription identifier is a
 * property of the packet, not of a filter in it.
 */
static int mqtt_subscribe_v5(struct mqtt *m, char *const *filters, const int *qos, const uint32_t *ids, int n)
{
	int i, rc, failed = 0;

	for (i = 0; i < n; i++) {
		MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
		MQTTProperty p = { .identifier = MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER };

		p.value.integer4 = (int)ids[i];
		rc = MQTTProperties_add(&ro.properties, &p);
		if (rc == 0)
			rc = MQTTAsync_subscribe(m->client, filters[i], qos[i], &ro);
		MQTTProperties_free(&ro.properties);
		if (rc != MQTTASYNC_SUCCESS) {
			log_msg(LOG_ERR, "mqtt: subscribe to %s failed: %s", filters[i], MQTTAsync_strerror(rc));
			failed = 1;
		}
	}
	return failed ? -1 : 0;
}

int mqtt_subscribe(struct mqtt *m, char *const *filters, const int *qos, const uint32_t *ids, int n)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	int rc;

	if (n == 0)
		return 0;
	if (m->cfg->protocol == 5)
		return mqtt_subscribe_v5(m, filters, qos, ids, n);
	rc = MQTTAsync_subscribeMany(m->client, n, filters, (int *)(uintptr_t)qos, &ro);
	if (rc != MQTTASYNC_SUCCESS) {
		log_msg(LOG_ERR, "mqtt: subscribe failed: %s", MQTTAsync_strerror(rc));
		return -1;
	}
	return 0;
}

int mqtt_unsubscribe(struct mqtt *m, char *const *filters, int n)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	int rc;

	if (n == 0)
		return 0;
	rc = MQTTAsync_unsubscribeMany(m->client, n, filters, &ro);
	if (rc != MQTTASYNC_SUCCESS) {
		log_msg(LOG_ERR, "mqtt: unsubscribe failed: %s", MQTTAsync_strerror(rc));
		return -1;
	}
	return 0;
}

int mqtt_publish_sync(struct mqtt *m, const char *topic, const void *payload, size_t len, int qos, int retain,
		      int timeout_ms)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	int rc;

	/* ahead of what still waits in the queue (kept in buffer.dir, or counted as lost at exit) */
	rc = MQTTAsync_send(m->client, topic, (int)len, payload, qos, retain, &ro);
	if (rc == MQTTASYNC_SUCCESS)
		rc = MQTTAsync_waitForCompletion(m->client, ro.token, (unsigned long)timeout_ms);
	if (rc != MQTTASYNC_SUCCESS) {
		log_msg(LOG_WARNING, "mqtt: publish to %s not acknowledged in time: %s", topic, MQTTAsync_strerror(rc));
		return -1;
	}
	return 0;
}

void mqtt_disconnect(struct mqtt *m, int timeout_ms)
{
	MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;

	o.timeout = timeout_ms;
	o.onSuccess = mqtt_cb_disconnected;
	o.onFailure = mqtt_cb_disconnect_fail;
	o.context = m;
	m->next_attempt = UINT64_MAX;
	if (MQTTAsync_disconnect(m->client, &o) != MQTTASYNC_SUCCESS)
		mqtt_cb_disconnected(m, NULL);
}

const struct mqtt_stats *mqtt_get_stats(const struct mqtt *m)
{
	return &m->stats;
}

/*
 * ---- reload (issue 14.2): a new client for new mqtt settings, the buffer's new limits and dir ----
 *
 * Kept together so that it can move as one piece. prepare() does all that
 * can fail (the password file, the new journal) and changes nothing the
 * running client sees; commit() cannot fail (but for the out-of-memory
 * exit every client replacement has, see mqtt_link_lost()).
 *
 * Replacing a connected client: the old one publishes "offline", retained,
 * on its status topic and waits (MQTT_RECONF_WAIT_MS at most) for the
 * broker's acknowledgement, which in MQTT's order means every publish
 * handed over before it is acknowledged too; those acknowledgements are
 * applied, so the new client sends nothing twice. The old client then
 * disconnects cleanly (its will is discarded) and is destroyed; everything
 * still unacknowledged waits again, in order, without a strike, and goes
 * first on the new client, after its "online". "offline" is always sent,
 * even with the same status topic on the same broker: between the two
 * clients the gateway really is away (a command published then misses it
 * unless the session is kept), and a new client that cannot connect (a
 * wrong password) must not leave an "online" behind that nobody refreshes.
 * News of the old client's connection still in the event list (connected,
 * failed, lost) is dropped; messages it received are kept and routed.
 */
#define MQTT_RECONF_WAIT_MS 1000

struct mqtt_reconf {
	const struct cfg_mqtt *cfg;
	const struct cfg_buffer *buf;
	int new_client;
	int move;		/* buffer.dir changed: the journal moves to jpath / jfd */
	int jfd;
	char *jpath;		/* NULL: no journal any more */
	char password[MQTT_PASSWORD_MAX];
};

static void mqtt_reconf_free(struct mqtt_reconf *r)
{
	if (!r)
		return;
	free(r->jpath);
	memset(r->password, 0, sizeof(r->password));
	free(r);
}

struct mqtt_reconf *mqtt_reconf_prepare(struct mqtt *m, const struct cfg_mqtt *cfg, const struct cfg_buffer *buf,
					int new_client, char *err, size_t errlen)
{
	struct mqtt_reconf *r = calloc(1, sizeof(*r));
	struct stat a, b;
	char path[4200];

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->cfg = cfg;
	r->buf = buf;
	r->jfd = -1;
	r->new_client = new_client;
	if (cfg->password_file && *cfg->password_file) {
		if (mqtt_read_password(cfg->password_file, r->password, sizeof(r->password), err, errlen) < 0)
			goto fail;
		/* the same file with a new password in it (rotated credentials) */
		if (strcmp(r->password, m->password) != 0)
			r->new_client = 1;
	}
	if (strcmp(buf->dir, m->buf->dir) == 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s", buf->dir, MQTT_JOURNAL);
	/* the same directory spelled otherwise ("/var/x/", a symlink): the journal stays */
	if (*buf->dir && m->q->fd >= 0 && stat(path, &a) == 0 && fstat(m->q->fd, &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino)
		return r;
	r->move = 1;
	if (!*buf->dir)
		return r;
	r->jpath = strdup(path);
	if (!r->jpath) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* what is queued, in flight or not, is in the new file before anything else changes */
	if (outq_journal_prepare(m->q, path, buf->sync, &r->jfd, err, errlen) < 0)
		goto fail;
	return r;
fail:
	mqtt_reconf_free(r);
	return NULL;
}

void mqtt_reconf_abort(struct mqtt_reconf *r)
{
	if (!r)
		return;
	if (r->jpath)
		outq_journal_abort(r->jfd, r->jpath);
	mqtt_reconf_free(r);
}

/*
 * The old client's clean DISCONNECT is written (ctx: an eventfd to wake the
 * waiting loop thread). Four callbacks for one thing: paho types them by
 * outcome and by MQTT version, and refuses v3 ones on an MQTT 5 client.
 */
static void mqtt_reconf_wake(void *ctx)
{
	uint64_t one = 1;

	if (write(*(int *)ctx, &one, sizeof(one)) < 0 && errno != EAGAIN)
		abort();
}

static void mqtt_cb_reconf_gone(void *ctx, MQTTAsync_successData *resp)
{
	(void)resp;
	mqtt_reconf_wake(ctx);
}

static void mqtt_cb_reconf_gone_fail(void *ctx, MQTTAsync_failureData *resp)
{
	(void)resp;
	mqtt_reconf_wake(ctx);
}

static void mqtt_cb_reconf_gone5(void *ctx, MQTTAsync_successData5 *resp)
{
	(void)resp;
	mqtt_reconf_wake(ctx);
}

static void mqtt_cb_reconf_gone_fail5(void *ctx, MQTTAsync_failureData5 *resp)
{
	(void)resp;
	mqtt_reconf_wake(ctx);
}

/*
 * The connected old client: "offline", the acknowledgements before it, a
 * clean disconnect. Returns the eventfd its callback writes (closed by the
 * caller once the client is destroyed, which ends its callbacks), or -1.
 */
static int mqtt_reconf_leave(struct mqtt *m)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;
	int rc, efd = eventfd(0, EFD_CLOEXEC);

	/* nothing more goes to this client (mqtt_pump looks at connected) */
	m->connected = 0;
	rc = MQTTAsync_send(m->client, m->cfg->status_topic, 7, "offline", 1, 1, &ro);
	if (rc == MQTTASYNC_SUCCESS)
		rc = MQTTAsync_waitForCompletion(m->client, ro.token, MQTT_RECONF_WAIT_MS);
	if (rc != MQTTASYNC_SUCCESS)
		log_msg(LOG_WARNING, "mqtt: \"offline\" to %s not acknowledged before the client was replaced: %s",
			m->cfg->status_topic, MQTTAsync_strerror(rc));
	/* the acknowledgements that came meanwhile: those messages are the broker's, not sent again */
	mqtt_take_done(m);
	if (efd < 0)
		return -1;	/* no way to wait: destroyed at once, the broker may publish the will */
	o.timeout = 100;
	o.context = &efd;
	if (m->cfg->protocol == 5) {
		o.onSuccess5 = mqtt_cb_reconf_gone5;
		o.onFailure5 = mqtt_cb_reconf_gone_fail5;
	} else {
		o.onSuccess = mqtt_cb_reconf_gone;
		o.onFailure = mqtt_cb_reconf_gone_fail;
	}
	if (MQTTAsync_disconnect(m->client, &o) == MQTTASYNC_SUCCESS) {
		struct pollfd p = { efd, POLLIN, 0 };

		if (poll(&p, 1, MQTT_RECONF_WAIT_MS) <= 0)
			log_msg(LOG_WARNING, "mqtt: the replaced client did not disconnect in time");
	}
	return efd;
}

/* Drop the news of the old client's connection; keep the messages it received. */
static void mqtt_reconf_drop_news(struct mqtt *m)
{
	struct mqtt_event *ev, *next, *keep = NULL, *tail = NULL;
	int n = 0;

	pthread_mutex_lock(&m->lock);
	for (ev = m->head; ev; ev = next) {
		next = ev->next;
		if (ev->type != MQTT_EV_MESSAGE) {
			mqtt_event_free(ev);
			continue;
		}
		ev->next = NULL;
		if (tail)
			tail->next = ev;
		else
			keep = ev;
		tail = ev;
		n++;
	}
	m->head = keep;
	m->tail = tail;
	m->queued = n;
	pthread_mutex_unlock(&m->lock);
}

int mqtt_reconf_commit(struct mqtt *m, struct mqtt_reconf *r, uint64_t now)
{
	int replaced = r->new_client;

	if (replaced) {
		struct outq_msg *oldest;
		char err[256];
		int efd = m->connected ? mqtt_reconf_leave(m) : -1;

		MQTTAsync_destroy(&m->client);
		m->client = NULL;
		if (efd >= 0)
			close(efd);
		mqtt_reconf_drop_news(m);
		m->uri_idx = 0;
		m->cfg = r->cfg;
		m->buf = r->buf;
		memcpy(m->password, r->password, sizeof(m->password));
		if (mqtt_client_create(m, err, sizeof(err)) < 0) {
			outq_flush(m->q);
			log_msg(LOG_ERR, "mqtt: %s; exiting so that systemd restarts us", err);
			exit(1);
		}
		/* everything unacknowledged goes again, first, in order; a reload is no verdict on a message */
		if ((oldest = outq_oldest_sent(m->q)) != NULL)
			oldest->strikes--;
		outq_unsend_all(m->q);
		linkcheck_down(&m->lc);
		linkcheck_init(&m->lc, m->cfg->link_timeout_ms, m->cfg->link_check_ms);
		m->connected = 0;
		m->connecting = 0;
		__atomic_store_n(&m->held, 0, __ATOMIC_SEQ_CST);
		m->backoff_ms = m->cfg->reconnect_min_ms;
		m->now = now;
		log_msg(LOG_INFO, "mqtt: settings changed: a new client (%s, MQTT %s)", m->cfg->client_id,
			m->cfg->protocol == 5 ? "5" : "3.1.1");
		mqtt_connect_now(m);
	} else {
		m->cfg = r->cfg;
		m->buf = r->buf;
	}
	outq_set_limits(m->q, (size_t)m->buf->max_messages, m->buf->sync);
	if (r->move) {
		size_t n = m->q->count;

		outq_journal_switch(m->q, r->jfd, r->jpath);
		if (r->jpath)
			log_msg(LOG_INFO, "buffer.dir: the journal moved to %s with %zu queued messages", r->jpath, n);
		else
			log_msg(LOG_INFO, "buffer.dir: off; %zu queued messages are kept in memory only", n);
		r->jpath = NULL;
	}
	mqtt_reconf_free(r);
	return replaced;
}
