/*
 * mqtt_cb.c - everything that runs on paho's threads, and the hand-off
 * that brings it to the loop thread.
 *
 * Paho calls back on its own threads (or, from inside MQTTAsync_destroy,
 * on the loop thread). A callback here touches no gateway state: it copies
 * what paho handed it into an event and pushes it onto a locked list
 * (mqtt_push), or a publish completion onto a locked array
 * (mqtt_completed), or bumps an atomic counter (QoS 0); the eventfd is
 * written when both lists were empty, since the loop takes until none is
 * left. The loop's end of the same lists is here too (mqtt_take: the
 * completions and the next event under one lock), so the lock has one
 * file. The inbound queue is
 * bounded (MQTT_QUEUE_MAX, MQTT_QUEUE_BYTES): a flood on a command topic
 * costs counted drops, not unbounded memory.
 *
 * Every callback gets the same context, the struct mqtt_link of the client
 * that made the request (mqtt_int.h). Paho wants distinct functions for
 * MQTT 3.1.1 and MQTT 5 (it refuses v3 callbacks on a v5 client, "Options
 * for wrong MQTT version"), so each pair below is two one-line adapters
 * around one helper that holds the logic.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "mqtt_int.h"

/* ---- the hand-off ---- */

/* Make the loop look (the eventfd counter only says "look"; a failed write means it is full). */
static void mqtt_wake_fd(int efd)
{
	uint64_t one = 1;

	if (write(efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		abort();
}

static void mqtt_wake(struct mqtt *m)
{
	mqtt_wake_fd(m->efd);
}

struct mqtt_event *mqtt_event_new(enum mqtt_event_type type, const char *text)
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

void mqtt_push(struct mqtt *m, struct mqtt_event *ev)
{
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
	if (wake)
		mqtt_wake(m);
}

void mqtt_lost(struct mqtt_link *l, const char *why, int rc)
{
	struct mqtt_event *ev = mqtt_event_new(MQTT_EV_LOST, why);

	if (ev) {
		ev->gen = l->gen;
		ev->rc = rc;
		mqtt_push(l->m, ev);
	}
}

/* The oldest event, or NULL; the inbound drop counters into stats. Under m->lock. */
static struct mqtt_event *mqtt_pop_locked(struct mqtt *m)
{
	struct mqtt_event *ev = m->head;

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
	return ev;
}

struct mqtt_event *mqtt_pop(struct mqtt *m)
{
	struct mqtt_event *ev;

	pthread_mutex_lock(&m->lock);
	ev = mqtt_pop_locked(m);
	pthread_mutex_unlock(&m->lock);
	return ev;
}

/* A QoS 1/2 publish or a link probe is finished: to the loop, which owns the queue. */
static void mqtt_completed(struct mqtt_link *l, int token, int code, int probe, int sub)
{
	struct mqtt *m = l->m;
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
		m->done_v[m->done_n++] = (struct mqtt_done){ l->gen, token, code, probe, sub };
	}
	pthread_mutex_unlock(&m->lock);
	if (wake)
		mqtt_wake(m);
}

/* The completions so far into *v, *n. Under m->lock. */
static void mqtt_take_done_locked(struct mqtt *m, const struct mqtt_done **v, size_t *n)
{
	/* the batch handed out last time is done with: it becomes the list paho fills */
	struct mqtt_done *spare = m->spare_v;
	size_t cap = m->spare_cap;

	*n = m->done_n;
	m->spare_v = m->done_v;
	m->spare_cap = m->done_cap;
	m->done_v = spare;
	m->done_cap = cap;
	m->done_n = 0;
	*v = m->spare_v;
}

struct mqtt_event *mqtt_take(struct mqtt *m, const struct mqtt_done **v, size_t *n)
{
	struct mqtt_event *ev;

	pthread_mutex_lock(&m->lock);
	mqtt_take_done_locked(m, v, n);
	ev = mqtt_pop_locked(m);
	pthread_mutex_unlock(&m->lock);
	return ev;
}

void mqtt_take_done(struct mqtt *m, const struct mqtt_done **v, size_t *n)
{
	pthread_mutex_lock(&m->lock);
	mqtt_take_done_locked(m, v, n);
	pthread_mutex_unlock(&m->lock);
}

void mqtt_drain_fd(struct mqtt *m)
{
	uint64_t v;

	while (read(m->efd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		;
}

int mqtt_fd(const struct mqtt *m)
{
	return m->efd;
}

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

/* ---- the client's callbacks: messages, losses ---- */

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

static void mqtt_cb_lost(void *ctx, char *cause)
{
	mqtt_lost(ctx, cause ? cause : "connection lost", 0);
}

/* A copy of the message for the loop (the caller frees paho's). */
static void mqtt_message(struct mqtt_link *l, const char *topic, size_t tlen, MQTTAsync_message *msg)
{
	struct mqtt *m = l->m;
	struct mqtt_event *ev = mqtt_event_new(MQTT_EV_MESSAGE, NULL);

	if (!ev)
		return;
	ev->gen = l->gen;	/* a delivery proves its own link only (mqtt_next_event) */
	ev->topic = strndup(topic, tlen);
	ev->payload = malloc((size_t)msg->payloadlen + 1);
	if (!ev->topic || !ev->payload) {
		mqtt_event_free(ev);
		return;
	}
	memcpy(ev->payload, msg->payload, (size_t)msg->payloadlen);
	ev->payload[msg->payloadlen] = '\0';
	ev->len = (size_t)msg->payloadlen;
	ev->qos = msg->qos;
	ev->retained = msg->retained;
	mqtt_copy_props(ev, &msg->properties);
	mqtt_push(m, ev);
}

static int mqtt_cb_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *msg)
{
	struct mqtt *m = ((struct mqtt_link *)ctx)->m;

	if (msg->payloadlen > MQTT_PAYLOAD_MAX) {
		/* no copy of an oversized payload: counted, like a full queue */
		pthread_mutex_lock(&m->lock);
		m->dropped_in++;
		m->oversized_in++;
		pthread_mutex_unlock(&m->lock);
	} else {
		mqtt_message(ctx, topic, topic_len > 0 ? (size_t)topic_len : strlen(topic), msg);
	}
	MQTTAsync_freeMessage(&msg);
	MQTTAsync_free(topic);
	return 1;
}

/*
 * MQTT 5: the broker sent DISCONNECT (packet too large, session taken
 * over, shutting down, a kick). paho 1.3.12 does not report the lost
 * connection after it (eclipse-paho #1619): this is the loss, or the
 * gateway would believe itself connected for ever, fail-safes unarmed.
 */
static void mqtt_cb_server_disconnect(void *ctx, MQTTProperties *props, enum MQTTReasonCodes rc)
{
	char why[200];

	(void)props;
	snprintf(why, sizeof(why), "broker disconnected us: %s (reason code %d)", MQTTReasonCode_toString(rc),
		 (int)rc);
	/* with the reason code: the bridge names a session taken over */
	mqtt_lost(ctx, why, (int)rc);
}

int mqtt_cb_client(struct mqtt *m)
{
	int rc = MQTTAsync_setCallbacks(m->client, m->link, mqtt_cb_lost, mqtt_cb_message, NULL);

	if (rc == MQTTASYNC_SUCCESS && m->cfg->protocol == 5)
		MQTTAsync_setDisconnected(m->client, m->link, mqtt_cb_server_disconnect);
	return rc;
}

/* ---- connecting ---- */

/* OpenSSL's words for a failed handshake ("certificate verify failed"), kept for the failure. */
static int mqtt_cb_ssl_error(const char *str, size_t len, void *ctx)
{
	struct mqtt *m = ((struct mqtt_link *)ctx)->m;
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

/* paho names the first uri of an earlier attempt: the link knows which we tried. */
static void mqtt_connected(struct mqtt_link *l, int receive_max)
{
	struct mqtt_event *ev = mqtt_event_new(MQTT_EV_CONNECTED, l->uri);

	if (ev) {
		ev->gen = l->gen;	/* a replaced client's is dropped (mqtt_next_event) */
		ev->rc = receive_max;
		mqtt_push(l->m, ev);
	}
}

static void mqtt_cb_connect_ok(void *ctx, MQTTAsync_successData *resp)
{
	(void)resp;
	mqtt_connected(ctx, 0);
}

static void mqtt_cb_connect_ok5(void *ctx, MQTTAsync_successData5 *resp)
{
	MQTTProperty *p = resp ? MQTTProperties_getProperty(&resp->properties, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM)
			       : NULL;

	/* the broker's Receive Maximum: more in flight would wait inside paho, unwoken */
	mqtt_connected(ctx, p ? (int)p->value.integer2 : 0);
}

/* A failed attempt, in words, with OpenSSL's reason if it gave one. code: paho's (-1 without an answer). */
static void mqtt_connect_failed(struct mqtt_link *l, char *why, size_t size, int code)
{
	struct mqtt *m = l->m;
	struct mqtt_event *ev;
	size_t n = strlen(why);

	pthread_mutex_lock(&m->lock);
	if (m->tls_err[0] && n < size)
		snprintf(why + n, size - n, " (TLS: %s)", m->tls_err);
	m->tls_err[0] = '\0';
	pthread_mutex_unlock(&m->lock);
	ev = mqtt_event_new(MQTT_EV_CONNECT_FAILED, why);
	if (ev) {
		ev->gen = l->gen;
		ev->rc = code;
		mqtt_push(m, ev);
	}
}

/* A CONNACK refusal comes as code 1..5 with the unhelpful text "CONNACK return code". 0: not one. */
static int mqtt_connack_refusal(char *why, size_t size, int code)
{
	if (code < 1 || code > 5)
		return 0;
	snprintf(why, size, "broker refused: %s (CONNACK %d)", mqtt_connack_str(code), code);
	return 1;
}

static void mqtt_cb_connect_fail(void *ctx, MQTTAsync_failureData *resp)
{
	char why[256];

	if (!resp)
		snprintf(why, sizeof(why), "connect failed");
	else if (mqtt_connack_refusal(why, sizeof(why), resp->code))
		;
	else if (resp->message)
		snprintf(why, sizeof(why), "%s", resp->message);
	else
		snprintf(why, sizeof(why), "%s (code %d)", mqtt_connack_str(resp->code), resp->code);
	mqtt_connect_failed(ctx, why, sizeof(why), resp ? resp->code : -1);
}

static void mqtt_cb_connect_fail5(void *ctx, MQTTAsync_failureData5 *resp)
{
	char why[256];

	if (resp && (resp->reasonCode || resp->code >= 0x80)) {
		/* paho 1.3 leaves reasonCode 0 and puts a CONNACK's reason in code */
		int rcode = resp->reasonCode ? (int)resp->reasonCode : resp->code;

		snprintf(why, sizeof(why), "broker refused: %s (reason code %d)",
			 MQTTReasonCode_toString((enum MQTTReasonCodes)rcode), rcode);
	} else if (!resp || !mqtt_connack_refusal(why, sizeof(why), resp->code)) {
		snprintf(why, sizeof(why), "%s",
			 resp && resp->message ? resp->message : MQTTAsync_strerror(resp ? resp->code : MQTTASYNC_FAILURE));
	}
	mqtt_connect_failed(ctx, why, sizeof(why), resp ? resp->code : -1);
}

void mqtt_cb_connect_opts(struct mqtt *m, MQTTAsync_connectOptions *o, MQTTAsync_SSLOptions *ssl)
{
	o->context = m->link;
	if (m->cfg->protocol == 5) {
		o->onSuccess5 = mqtt_cb_connect_ok5;
		o->onFailure5 = mqtt_cb_connect_fail5;
	} else {
		o->onSuccess = mqtt_cb_connect_ok;
		o->onFailure = mqtt_cb_connect_fail;
	}
	if (ssl) {
		ssl->ssl_error_cb = mqtt_cb_ssl_error;
		ssl->ssl_error_context = m->link;
	}
}

/* ---- our own disconnect ---- */

void mqtt_cb_disconnected_now(struct mqtt *m)
{
	struct mqtt_event *ev = mqtt_event_new(MQTT_EV_DISCONNECTED, NULL);

	if (ev)
		mqtt_push(m, ev);
}

/* The shutdown's: an event for the loop; a client a reload replaces: its waiting loop woken (mqtt.c). */
static void mqtt_disconnect_over(struct mqtt_link *l)
{
	if (l->gone_efd >= 0)
		mqtt_wake_fd(l->gone_efd);
	else
		mqtt_cb_disconnected_now(l->m);
}

static void mqtt_cb_disconnected(void *ctx, MQTTAsync_successData *resp)
{
	(void)resp;
	mqtt_disconnect_over(ctx);
}

static void mqtt_cb_disconnect_fail(void *ctx, MQTTAsync_failureData *resp)
{
	(void)resp;
	mqtt_disconnect_over(ctx);
}

void mqtt_cb_disconnect_opts(struct mqtt *m, MQTTAsync_disconnectOptions *o)
{
	o->onSuccess = mqtt_cb_disconnected;
	o->onFailure = mqtt_cb_disconnect_fail;
	o->context = m->link;
}

/* ---- publish completions ---- */

/* A QoS 0 publish is finished: wake the loop if that frees the ports. */
static void mqtt_finished(struct mqtt_link *l)
{
	struct mqtt *m = l->m;
	uint64_t done = __atomic_add_fetch(&m->done, 1, __ATOMIC_SEQ_CST);
	int64_t backlog = (int64_t)(__atomic_load_n(&m->sent, __ATOMIC_SEQ_CST) - done);

	if (backlog <= MQTT_BACKLOG_LOW && __atomic_load_n(&m->held, __ATOMIC_SEQ_CST) &&
	    __atomic_exchange_n(&m->held, 0, __ATOMIC_SEQ_CST))
		mqtt_wake(m);
}

/*
 * The adapters below repeat one shape on purpose (duplicates lists them):
 * paho has four callback signatures (v3 / v5, success / failure) and no
 * way to tell one kind of request from another but the function it calls,
 * so each kind (QoS 0, QoS 1/2, probe) needs its four; each is one line
 * around the helper that holds the logic.
 */
static void mqtt_cb_sent0(void *ctx, MQTTAsync_successData *resp)
{
	(void)resp;
	mqtt_finished(ctx);
}

static void mqtt_cb_failed0(void *ctx, MQTTAsync_failureData *resp)
{
	(void)resp;
	mqtt_finished(ctx);
}

static void mqtt_cb_sent0_5(void *ctx, MQTTAsync_successData5 *resp)
{
	(void)resp;
	mqtt_finished(ctx);
}

static void mqtt_cb_failed0_5(void *ctx, MQTTAsync_failureData5 *resp)
{
	(void)resp;
	mqtt_finished(ctx);
}

/* paho's code of a failure (MQTTASYNC_FAILURE when it gave none) */
static int mqtt_fail_code(const MQTTAsync_failureData *resp)
{
	return resp && resp->code ? resp->code : MQTTASYNC_FAILURE;
}

/* ... and MQTT 5's: a PUBACK / PUBREC with a reason code of 0x80 or more is the broker refusing */
static int mqtt_fail_code5(const MQTTAsync_failureData5 *resp)
{
	if (resp && resp->reasonCode >= 0x80)
		return (int)resp->reasonCode;
	return resp && resp->code ? resp->code : MQTTASYNC_FAILURE;
}

static void mqtt_cb_published(void *ctx, MQTTAsync_successData *resp)
{
	mqtt_completed(ctx, resp ? resp->token : 0, 0, 0, 0);
}

static void mqtt_cb_publish_failed(void *ctx, MQTTAsync_failureData *resp)
{
	mqtt_completed(ctx, resp ? resp->token : 0, mqtt_fail_code(resp), 0, 0);
}

static void mqtt_cb_published5(void *ctx, MQTTAsync_successData5 *resp)
{
	mqtt_completed(ctx, resp ? resp->token : 0, 0, 0, 0);
}

static void mqtt_cb_publish_failed5(void *ctx, MQTTAsync_failureData5 *resp)
{
	mqtt_completed(ctx, resp ? resp->token : 0, mqtt_fail_code5(resp), 0, 0);
}

void mqtt_cb_publish_opts(struct mqtt *m, MQTTAsync_responseOptions *ro, int qos)
{
	if (m->cfg->protocol == 5) {
		ro->onSuccess5 = qos ? mqtt_cb_published5 : mqtt_cb_sent0_5;
		ro->onFailure5 = qos ? mqtt_cb_publish_failed5 : mqtt_cb_failed0_5;
	} else {
		ro->onSuccess = qos ? mqtt_cb_published : mqtt_cb_sent0;
		ro->onFailure = qos ? mqtt_cb_publish_failed : mqtt_cb_failed0;
	}
	ro->context = m->link;
}

/*
 * The link probe (an UNSUBSCRIBE, see linkcheck.h) came back. Its answer
 * travels like a publish completion: MQTT_PROBE_ANSWERED when the broker
 * answered (an UNSUBACK, whatever its reason codes), else paho's code.
 */
static void mqtt_cb_probe_ok(void *ctx, MQTTAsync_successData *resp)
{
	mqtt_completed(ctx, resp ? resp->token : 0, MQTT_PROBE_ANSWERED, 1, 0);
}

static void mqtt_cb_probe_failed(void *ctx, MQTTAsync_failureData *resp)
{
	mqtt_completed(ctx, resp ? resp->token : 0, mqtt_fail_code(resp), 1, 0);
}

static void mqtt_cb_probe_ok5(void *ctx, MQTTAsync_successData5 *resp)
{
	mqtt_completed(ctx, resp ? resp->token : 0, MQTT_PROBE_ANSWERED, 1, 0);
}

static void mqtt_cb_probe_failed5(void *ctx, MQTTAsync_failureData5 *resp)
{
	/* an UNSUBACK with a refusal is an answer all the same */
	int answered = resp && (resp->reasonCode >= 0x80 || resp->packet_type == 11);

	mqtt_completed(ctx, resp ? resp->token : 0,
		       answered ? MQTT_PROBE_ANSWERED : resp && resp->code ? resp->code : MQTTASYNC_FAILURE, 1, 0);
}

void mqtt_cb_probe_opts(struct mqtt *m, MQTTAsync_responseOptions *ro)
{
	if (m->cfg->protocol == 5) {
		ro->onSuccess5 = mqtt_cb_probe_ok5;
		ro->onFailure5 = mqtt_cb_probe_failed5;
	} else {
		ro->onSuccess = mqtt_cb_probe_ok;
		ro->onFailure = mqtt_cb_probe_failed;
	}
	ro->context = m->link;
}

/*
 * A SUBACK came (one filter a SUBSCRIBE, mqtt_subscribe): its code travels
 * like a publish completion, and the loop names the filter. MQTT 3.1.1: a
 * granted QoS, or 0x80 (paho calls onFailure with code 0x80 for a SUBACK of
 * one filter); MQTT 5: the reason code, >= 0x80 a refusal. Any other
 * failure is paho's (the link going): a negative code, nothing refused.
 */
static void mqtt_cb_subscribed(void *ctx, MQTTAsync_successData *resp)
{
	mqtt_completed(ctx, resp ? resp->token : 0, resp ? resp->alt.qos : 0, 0, 1);
}

static void mqtt_cb_subscribe_failed(void *ctx, MQTTAsync_failureData *resp)
{
	int code = resp && resp->code == MQTT_BAD_SUBSCRIBE ? MQTT_BAD_SUBSCRIBE : MQTTASYNC_FAILURE;

	mqtt_completed(ctx, resp ? resp->token : 0, code, 0, 1);
}

static void mqtt_cb_subscribed5(void *ctx, MQTTAsync_successData5 *resp)
{
	/* one filter: reasonCode (paho 1.3.12 leaves alt.sub.reasonCodes uninitialised then) */
	mqtt_completed(ctx, resp ? resp->token : 0, resp ? (int)resp->reasonCode : 0, 0, 1);
}

static void mqtt_cb_subscribe_failed5(void *ctx, MQTTAsync_failureData5 *resp)
{
	int code = resp && resp->reasonCode >= 0x80 ? (int)resp->reasonCode : MQTTASYNC_FAILURE;

	mqtt_completed(ctx, resp ? resp->token : 0, code, 0, 1);
}

void mqtt_cb_subscribe_opts(struct mqtt *m, MQTTAsync_responseOptions *ro)
{
	if (m->cfg->protocol == 5) {
		ro->onSuccess5 = mqtt_cb_subscribed5;
		ro->onFailure5 = mqtt_cb_subscribe_failed5;
	} else {
		ro->onSuccess = mqtt_cb_subscribed;
		ro->onFailure = mqtt_cb_subscribe_failed;
	}
	ro->context = m->link;
}
