/*
 * mqtt.h - the broker connection, on paho.mqtt.c's MQTTAsync API.
 *
 * Paho runs its own threads and calls back on them. Those callbacks only
 * hand over: connection news and messages go onto a locked event list,
 * publish completions onto a locked list of their own (QoS 0 ones just
 * bump atomic counters), and the eventfd is written when both lists were
 * empty. The poll loop watches mqtt_fd() and takes events with
 * mqtt_next_event() until it returns NULL (which also applies the
 * completions), so no gateway state is ever touched by paho's threads.
 *
 * Reconnecting is ours, not paho's: a failed or lost connection schedules
 * the next attempt with exponential backoff (reconnect_min_ms doubling up to
 * reconnect_max_ms), which mqtt_tick() carries out. That covers a broker that
 * is down at start, which paho's automatic reconnect does not.
 *
 * The implementation is split where the threads split (mqtt_int.h):
 * mqtt_cb.c (paho's threads), mqtt.c (the connection's lifecycle),
 * mqtt_pub.c (the publish window and back-pressure), mqtt_password.c.
 */
#ifndef MQTTGW_MQTT_H
#define MQTTGW_MQTT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum mqtt_event_type {
	MQTT_EV_CONNECTED,	/* connected (uri in text) */
	MQTT_EV_CONNECT_FAILED,	/* an attempt failed (reason in text) */
	MQTT_EV_LOST,		/* an established connection dropped, the broker sent MQTT 5 DISCONNECT,
				   or acknowledgements stopped for ack_timeout_ms */
	MQTT_EV_MESSAGE,	/* a message arrived */
	MQTT_EV_DISCONNECTED,	/* our own disconnect finished */
	MQTT_EV_SUB_REFUSED	/* the broker refused a subscription (filter in topic, reason code in rc);
				   already logged and counted */
};

#define MQTT_SUB_IDS_MAX 16	/* identifiers kept per message; more are ignored */

struct mqtt_event {
	enum mqtt_event_type type;
	char *topic;		/* MESSAGE */
	char *payload;		/* MESSAGE: NUL-terminated copy */
	size_t len;
	int qos;
	int retained;
	int rc;			/* CONNECT_FAILED: paho code; CONNECTED: Receive Maximum (MQTT 5, 0: none);
				   LOST: the broker's DISCONNECT reason code (MQTT 5, 0: none);
				   SUB_REFUSED: the SUBACK's code (0x80 on MQTT 3.1.1) */
	char *text;		/* CONNECTED: uri; CONNECT_FAILED / LOST: reason */
	char *response_topic;	/* MESSAGE, MQTT 5: where a reply should go */
	char *correlation;	/* MESSAGE, MQTT 5: correlation data for the reply */
	size_t correlation_len;
	int has_expiry;		/* MESSAGE, MQTT 5: it carried a Message Expiry Interval */
	uint64_t expires_at;	/* ... and must not reach a device from then on (monotonic ms) */
	uint32_t gen;		/* the paho client it came from (a replaced one's news is ignored, its messages kept) */
	uint32_t sub_ids[MQTT_SUB_IDS_MAX];	/* MESSAGE, MQTT 5: the subscriptions it was sent for */
	int n_sub_ids;		/* 0: none given (MQTT 3.1.1): every matching route takes it */
	struct mqtt_event *next;
};

struct mqtt_stats {
	uint64_t published;	/* accepted (queued, or QoS 0 sent) */
	uint64_t publish_failed;	/* refused: out of memory, or paho refused a QoS 0 send */
	uint64_t received;
	uint64_t dropped_in;	/* inbound messages dropped: event queue full or oversized */
	uint64_t oversized_in;	/* inbound messages over MQTT_PAYLOAD_MAX */
	uint64_t connects;
	uint64_t connect_attempts;
	uint64_t dropped_offline;	/* QoS 0 while offline, buffer.qos0 off */
	uint64_t held;		/* times serial reading was held for back-pressure */
	uint64_t backlog_written_off;	/* QoS 0 publishes whose completion never came */
	uint64_t buffer_dropped;	/* oldest queued messages dropped (buffer.max_messages) */
	uint64_t refused_out;	/* publishes the broker refused (reason code, or hanging up) */
	uint64_t sub_refused;	/* subscriptions the broker refused (SUBACK failure) */
	uint64_t resent;	/* sent again on a new connection or after a restart */
	uint64_t queued;	/* waiting or unacknowledged now */
};

struct mqtt;

/* Create the client (no network yet). NULL with a message in err. */
struct mqtt *mqtt_new(const struct cfg_mqtt *cfg, const struct cfg_buffer *buf, char *err, size_t errlen);
void mqtt_free(struct mqtt *m);
/*
 * Reload (issue 14.2): the new config's settings replace the old ones.
 * prepare: everything that can fail, nothing changed yet; new_client when
 * an mqtt setting changed (a new password in the same password_file counts
 * too); new_dir when buffer.dir changed: the queue is written into the new
 * dir's journal. NULL with a message in err: refuse the reload. Then either
 * abort (the new journal goes), or commit: the new settings are in force,
 * the queue carried over in order (see mqtt.c). commit returns 1 when the
 * client was replaced (the link is down; a CONNECTED event follows), else 0.
 */
struct mqtt_reconf;
struct mqtt_reconf *mqtt_reconf_prepare(struct mqtt *m, const struct cfg_mqtt *cfg, const struct cfg_buffer *buf,
					int new_client, int new_dir, char *err, size_t errlen);
void mqtt_reconf_abort(struct mqtt_reconf *r);
int mqtt_reconf_commit(struct mqtt *m, struct mqtt_reconf *r, uint64_t now);

/* Read a password file: refuses one readable by group or others. 0 / -1. */
int mqtt_read_password(const char *file, char *out, size_t outlen, char *err, size_t errlen);

/* The eventfd to poll for POLLIN. */
int mqtt_fd(const struct mqtt *m);
/* Start connecting now. */
void mqtt_start(struct mqtt *m, uint64_t now_ms);
/* Reconnect when due; returns the next deadline or UINT64_MAX. */
uint64_t mqtt_tick(struct mqtt *m, uint64_t now_ms);
/*
 * Clear the eventfd and pop events one by one (NULL: none left). The
 * client has already applied a connection event when it returns it: after
 * CONNECTED it is connected (the caller publishes its birth with
 * mqtt_publish_now(), then mqtt_send_queued()); after CONNECT_FAILED or
 * LOST the next attempt is scheduled (mqtt_tick() makes it).
 */
void mqtt_drain_fd(struct mqtt *m);
struct mqtt_event *mqtt_next_event(struct mqtt *m);
void mqtt_event_free(struct mqtt_event *ev);
/* The broker uri being tried or last tried (a CONNECT_FAILED event's). */
const char *mqtt_attempt_uri(const struct mqtt *m);

int mqtt_is_connected(const struct mqtt *m);
/*
 * Back-pressure: 1 while connected with too many publishes unfinished (not
 * yet written by paho, or for QoS 1/2 not yet acknowledged); the bridge
 * stops reading serial ports meanwhile. Loop thread, every turn; when the
 * backlog drains the loop is woken through mqtt_fd().
 */
int mqtt_congested(struct mqtt *m, uint64_t now_ms);
/*
 * Publish. QoS 1/2 (and QoS 0 with buffer.qos0 while offline) are queued
 * until the broker acknowledges them, across reconnects and, with
 * buffer.dir, restarts. 0 / -1 (QoS 0 offline, out of memory).
 */
int mqtt_publish(struct mqtt *m, const char *topic, const void *payload, size_t len, int qos, int retain);
/*
 * Publish at once, ahead of the queue and not kept by it (connected only):
 * the birth "online", which every connection publishes again anyway, must
 * not wait behind a backlog. 0 / -1.
 */
int mqtt_publish_now(struct mqtt *m, const char *topic, const void *payload, size_t len, int qos, int retain);
/* After the birth: send what waited in the queue (as much as the window takes). */
void mqtt_send_queued(struct mqtt *m);
/* Publish a reply: with MQTT 5, carrying the request's correlation data. */
int mqtt_publish_reply(struct mqtt *m, const char *topic, const void *payload, size_t len, int qos,
		       const void *corr, size_t corr_len);
/* Subscribe; with MQTT 5 each filter carries its subscription identifier ids[i]. */
int mqtt_subscribe(struct mqtt *m, char *const *filters, const int *qos, const uint32_t *ids, int n);
int mqtt_unsubscribe(struct mqtt *m, char *const *filters, int n);
/*
 * Write what was queued since the last call to buffer.dir (before the loop
 * sleeps, and when a device is about to forget input). 0: it is on disk,
 * or there is no buffer.dir; -1: not now (disk full, retried).
 */
int mqtt_flush(struct mqtt *m);
/* Publish and wait (blocking, shutdown only) until the broker has it. 0 / -1. */
int mqtt_publish_sync(struct mqtt *m, const char *topic, const void *payload, size_t len, int qos, int retain,
		      int timeout_ms);
/*
 * Disconnect, giving in-flight messages up to timeout_ms (shutdown): from
 * then on connection events are handed out as they come and change nothing.
 */
void mqtt_disconnect(struct mqtt *m, int timeout_ms);
const struct mqtt_stats *mqtt_get_stats(const struct mqtt *m);
/* A CONNACK return code (or paho error code) in words. */
const char *mqtt_connack_str(int code);

#endif
