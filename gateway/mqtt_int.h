/*
 * mqtt_int.h - what the files of the MQTT client share, and nobody else.
 *
 * The client is split where the threads split (mqtt.h tells the whole
 * story once):
 *   mqtt_cb.c        runs on paho's threads: the callbacks, and the locked
 *                    hand-off (events, completions, the eventfd) whose
 *                    other end the loop thread takes.
 *   mqtt.c           the connection's lifecycle, loop thread: the client,
 *                    TLS, connecting, failover across the uris, replacing
 *                    a dead link, the reconnect backoff, the link checks.
 *   mqtt_pub.c       the outbound side, loop thread: the publish window
 *                    over the queue (outq.c), completions, back-pressure,
 *                    subscriptions.
 *   mqtt_password.c  mqtt.password_file.
 * The callback files see paho's callbacks only through the option fillers
 * below (mqtt_cb_*_opts): which function answers what stays in mqtt_cb.c.
 */
#ifndef MQTTGW_MQTT_INT_H
#define MQTTGW_MQTT_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <MQTTAsync.h>

#include "config.h"
#include "linkcheck.h"
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
/*
 * QoS 1/2 messages handed to paho and not yet acknowledged, at most. paho
 * looks for a free message id by walking what it holds, so each send costs
 * more the more are in flight, and each costs ~1.4 KiB of paho's heap:
 * 1,000 -> 250 took a QoS 1 frame from 76,155 to 67,215 instructions and
 * the peak RSS from 7.8 to 6.4 MiB at the same throughput (BENCHMARKS.md);
 * 250 in flight still carries 12,500 messages/s over a 20 ms link.
 */
#define MQTT_WINDOW 250
/*
 * ... and of them QoS 2 on MQTT 3.1.1, which cannot tell us the broker's
 * limit: mosquitto takes max_inflight_messages (default 20) publishes
 * from a client at a time, counting each QoS 2 one until its PUBREL and a
 * QoS 1 one while it is handled, and beyond answers 0x97 (quota exceeded,
 * which ends a 3.1.1 connection). 19: one place stays free for the QoS 1
 * publishes between them (a device status, the birth).
 */
#define MQTT_WINDOW_QOS2_V311 19
#define MQTT_JOURNAL "outq.journal"
/* A loss this soon after the oldest unacknowledged message went out makes it suspect, or a strike (mqtt_pub_link_lost). */
#define MQTT_STRIKE_MS 2000
/* A link probe's completion code when the broker answered it (whatever it said). */
#define MQTT_PROBE_ANSWERED (-1000)

/*
 * The one context paho's callbacks get: a paho client's identity. Each
 * new client (a replaced link) gets a new one with the next generation, so
 * what a destroyed client still reports is told apart and ignored.
 */
struct mqtt_link {
	struct mqtt *m;
	uint32_t gen;
	char *uri;	/* the uri of its current / last attempt (the loop writes it before connecting) */
	int gone_efd;	/* -1; a reload replacing the client: the eventfd its clean disconnect writes */
};

/* A publish completion: code 0 acknowledged, else paho's code or an MQTT 5 reason code. */
struct mqtt_done {
	uint32_t gen;
	int token;
	int code;
	int probe;	/* the link probe's (tokens of a probe and a publish may meet in one batch) */
	int sub;	/* a SUBACK's: code is its reason code (0..2 granted, >= 0x80 refused) or paho's (< 0) */
};

/* A SUBSCRIBE awaiting its SUBACK (loop thread): which filter a token was. */
struct mqtt_subreq {
	uint32_t gen;
	int token;
	int qos;
	char *filter;
};

struct mqtt {
	const struct cfg_mqtt *cfg;
	const struct cfg_buffer *buf;
	MQTTAsync client;		/* NULL after a replacement that failed (retried at the next attempt) */
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
	int stopping;			/* loop thread: mqtt_disconnect() was called, no more attempts */
	int backoff_ms;
	int uri_idx;			/* the uri of the current / next attempt */
	struct mqtt_link *link;		/* the current client's */
	uint32_t ack_lost_gen;		/* loop thread: the link an ack timeout has already declared lost */
	struct mqtt_done *done_v;	/* locked: completions for the loop */
	size_t done_n, done_cap;
	struct mqtt_done *spare_v;	/* loop thread: the other half of the swap */
	size_t spare_cap;
	struct outq *q;			/* loop thread */
	uint64_t dropped_seen;		/* outq_dropped() when last logged */
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
	uint32_t settle_gen;		/* the link a settle probe went out on (mqtt_pub_settle) */
	int settle_token;
	uint32_t settled_gen;		/* the link that answered it: a suspect may go out alone */
	int clean_next;			/* QoS 2 unfinished when the link died: the next CONNECT starts clean */
	uint32_t lc_lost_gen;		/* the link the link check has already declared lost */
	struct mqtt_subreq *subreq;	/* loop thread: SUBSCRIBEs of the current link awaiting their SUBACK */
	size_t n_subreq, cap_subreq;
	char password[MQTT_PASSWORD_MAX];
	struct mqtt_stats stats;
};

/* ---- mqtt_cb.c: the hand-off (any thread pushes, the loop thread takes) ---- */

struct mqtt_event *mqtt_event_new(enum mqtt_event_type type, const char *text);
/* Queue an event for the loop and wake it (drops, counted, a MESSAGE beyond the bounds). */
void mqtt_push(struct mqtt *m, struct mqtt_event *ev);
/* The link is gone (rc: an MQTT 5 DISCONNECT's reason code, or 0): a LOST event of its generation. */
void mqtt_lost(struct mqtt_link *l, const char *why, int rc);
/* Loop thread: the oldest event, or NULL; the inbound drop counters into stats. */
struct mqtt_event *mqtt_pop(struct mqtt *m);
/* Loop thread: as mqtt_pop, and the completions reported so far (*v, *n: valid until the next call). */
struct mqtt_event *mqtt_take(struct mqtt *m, const struct mqtt_done **v, size_t *n);
/* Loop thread: the completions alone (a reload applies them before it replaces the client). */
void mqtt_take_done(struct mqtt *m, const struct mqtt_done **v, size_t *n);
/* Paho's callbacks for each kind of request, into its options (ctx: the current link). */
int mqtt_cb_client(struct mqtt *m);	/* connection lost, messages, MQTT 5 DISCONNECT: paho's rc */
void mqtt_cb_connect_opts(struct mqtt *m, MQTTAsync_connectOptions *o, MQTTAsync_SSLOptions *ssl);
void mqtt_cb_publish_opts(struct mqtt *m, MQTTAsync_responseOptions *ro, int qos);
void mqtt_cb_probe_opts(struct mqtt *m, MQTTAsync_responseOptions *ro);
void mqtt_cb_subscribe_opts(struct mqtt *m, MQTTAsync_responseOptions *ro);
void mqtt_cb_disconnect_opts(struct mqtt *m, MQTTAsync_disconnectOptions *o);
/* Our own disconnect is over (also when paho would not start one). */
void mqtt_cb_disconnected_now(struct mqtt *m);

/* ---- mqtt_pub.c: the publish window (loop thread) ---- */

/* Apply completions (mqtt_take's), and send what they make room for. */
void mqtt_pub_completions(struct mqtt *m, const struct mqtt_done *v, size_t n);
/* Send queued messages while the window has room. */
void mqtt_pump(struct mqtt *m);
/* The oldest unacknowledged publish waited ack_timeout_ms: declare the link lost. Lowers *next to its deadline. */
void mqtt_pub_ack_check(struct mqtt *m, uint64_t now, uint64_t *next);
/* Serial reading held: when the stall check is due (lowers *next). */
void mqtt_pub_stall_deadline(struct mqtt *m, uint64_t *next);
/*
 * The link died (mqtt.c then makes a new client): everything unacknowledged
 * waits again, in order; the oldest in flight becomes suspect, or gets a
 * strike, or is dropped as refused (see the function).
 */
void mqtt_pub_link_lost(struct mqtt *m);
/* Loop turn, after the bridge's subscriptions: a suspect waits for a round trip on this link. */
void mqtt_pub_settle(struct mqtt *m);
/* At mqtt_free(): what mqtt_pub.c holds (SUBSCRIBEs awaiting their SUBACK). */
void mqtt_pub_free(struct mqtt *m);
/* A new client: its QoS 0 publishes are counted afresh (a replaced one's never finish). */
void mqtt_pub_restart_count(struct mqtt *m);

#endif
