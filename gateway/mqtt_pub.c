/*
 * mqtt_pub.c - the outbound side of the client: the publish window over
 * our own queue, completions, back-pressure, subscriptions. Loop thread.
 *
 * Paho is only the pipe. Every QoS 1/2 publish goes into our own queue
 * (outq.c), which hands paho at most MQTT_WINDOW of them at a time (or the
 * broker's MQTT 5 Receive Maximum, beyond which paho would hold them
 * unwoken; on MQTT 3.1.1 at most MQTT_WINDOW_QOS2_V311 QoS 2 ones, see
 * mqtt_room) and forgets each when its completion says the broker
 * acknowledged it. Whether a lost link was about one message (the broker
 * refusing it by hanging up) is judged in mqtt_pub_link_lost. When the link dies (mqtt.c) everything unacknowledged
 * is sent again on the next connection, in order. Measured reasons for
 * not leaving this to paho (1.3.12): it lost publishes that failed on a
 * dead socket (about 1,000 of 10,000 frames around a broker kill), could
 * resend a half-written PUBLISH for ever (eclipse-paho #1592, #1310),
 * resent a publish the broker hangs up on after every reconnect, with no
 * way to give up on it, and its file store costs a file a message (3,647
 * frames/s). buffer.dir is instead one append-only journal written in
 * batches (before the loop sleeps, and before a serial port forgets the
 * bytes it framed). Completions travel like every other event: a locked
 * list and the eventfd (mqtt_cb.c). QoS 2 is exactly-once within a
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "mqtt_int.h"

static void mqtt_pub_suback(struct mqtt *m, const struct mqtt_done *d);

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
	mqtt_cb_publish_opts(m, &ro, qos);
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

/*
 * Room for msg in the window? On MQTT 5 the window is the broker's Receive
 * Maximum (mqtt_up); MQTT 3.1.1 has no way to say how many QoS 2 publishes
 * the broker takes unfinished, and mosquitto drops the connection beyond its
 * max_inflight_messages (20): a backlog of QoS 2 used to cost every
 * reconnection, and through the strikes the messages themselves.
 */
static int mqtt_room(const struct mqtt *m, const struct outq_msg *msg)
{
	if (outq_in_flight(m->q) >= (size_t)m->window)
		return 0;
	return msg->qos != 2 || m->cfg->protocol == 5 || outq_in_flight_qos2(m->q) < MQTT_WINDOW_QOS2_V311;
}

void mqtt_pump(struct mqtt *m)
{
	struct outq_msg *msg;
	int token;

	/*
	 * A suspect (a link died right after it went out, mqtt_pub_link_lost)
	 * goes alone, once the link has answered a round trip sent after the
	 * subscriptions (mqtt_pub_settle), and nothing goes after it until it
	 * is acknowledged: if it is the broker's poison, the next loss is its
	 * verdict; if the broker hangs up for a reason of its own, the suspect
	 * was never sent and nothing is blamed.
	 */
	if (!m->connected || !outq_next_unsent(m->q))
		return;	/* nothing to send (most turns) */
	if ((msg = outq_first(m->q)) && msg->sent && msg->suspect)
		return;
	while (m->connected && (msg = outq_next_unsent(m->q)) && mqtt_room(m, msg)) {
		if (msg->suspect && (outq_in_flight(m->q) > 0 || m->settled_gen != m->link->gen))
			return;
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
		if (msg->suspect)
			return;	/* alone, as above */
	}
}

void mqtt_pub_settle(struct mqtt *m)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	struct outq_msg *msg = outq_next_unsent(m->q);

	if (!m->connected || !msg || !msg->suspect || m->settle_gen == m->link->gen)
		return;
	/* the link check's probe (an UNSUBSCRIBE nobody minds): the broker answers in order */
	mqtt_cb_probe_opts(m, &ro);
	if (MQTTAsync_unsubscribe(m->client, m->cfg->link_check_topic, &ro) != MQTTASYNC_SUCCESS)
		return;	/* paho's list full, or the link going: the next turn tries again */
	m->settle_gen = m->link->gen;
	m->settle_token = ro.token;
}

/*
 * Was the loss about one message? Brokers that refuse a publish by
 * hanging up (AWS IoT, mosquitto for a packet over max_packet_size, an ACL
 * in some set-ups) would otherwise have the gateway resend it for ever. But
 * a broker hangs up for reasons of its own too (RabbitMQ, its session's
 * queue on a dead cluster node, closed every new connection shortly after
 * it opened; a quota), and that must never cost a message. So:
 *   - a loss long after the oldest unacknowledged message went out (>=
 *     MQTT_STRIKE_MS) is no verdict on it;
 *   - a loss right after it went out with others makes it a suspect: it is
 *     sent again alone, and only once the new link answered a round trip
 *     sent after the subscriptions (a broker that closes connections it
 *     cannot serve does so before);
 *   - a loss right after a suspect went out alone is a strike, and
 *     OUTQ_STRIKES_MAX of them drop it as refused (logged, counted).
 * A connection closed with nothing in flight blames nobody. MQTT 5 says a
 * refusal in words (a PUBACK / PUBREC reason code >= 0x80, mqtt_done_one).
 */
void mqtt_pub_link_lost(struct mqtt *m)
{
	struct outq_msg *oldest = outq_oldest_sent(m->q);
	int strikes = oldest ? oldest->strikes : 0;
	int quick = oldest && m->now - oldest->sent_at < MQTT_STRIKE_MS;
	/* a suspect in flight went out alone on a settled link: mqtt_pump sees to it */
	int alone = oldest && oldest->suspect;

	/*
	 * QoS 2 publishes between PUBLISH and PUBCOMP: a persistent session at
	 * the broker keeps them awaiting a PUBREL, counted against its quota
	 * (mosquitto's max_inflight_messages / Receive Maximum) for ever, since
	 * packet ids belong to the paho client we replace. With the quota full
	 * every later connection died at its first publish. The next CONNECT
	 * starts a clean session instead (mqtt.c).
	 */
	if (outq_in_flight_qos2(m->q) > 0 && !m->cfg->clean_session)
		m->clean_next = 1;
	outq_unsend_all(m->q);	/* (it strikes the oldest itself; the verdict is made here) */
	if (!oldest)
		return;
	oldest->strikes = strikes;
	if (!quick)
		return;
	oldest->suspect = 1;
	if (!alone || ++oldest->strikes < OUTQ_STRIKES_MAX)
		return;
	log_msg(LOG_WARNING,
		"mqtt: the connection died within %d ms of sending a publish to %s, %d times in a row; dropped "
		"(sent alone each time, on a link that had answered: does the broker refuse it? an ACL? "
		"max_packet_size?)",
		MQTT_STRIKE_MS, oldest->topic, oldest->strikes);
	m->stats.refused_out++;
	outq_remove(m->q, oldest);
}

void mqtt_send_queued(struct mqtt *m)
{
	mqtt_pump(m);
}

void mqtt_pub_restart_count(struct mqtt *m)
{
	__atomic_store_n(&m->sent, __atomic_load_n(&m->done, __ATOMIC_SEQ_CST), __ATOMIC_SEQ_CST);
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
	m->stats.buffer_dropped = outq_dropped(m->q);
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

int mqtt_publish_sync(struct mqtt *m, const char *topic, const void *payload, size_t len, int qos, int retain,
		      int timeout_ms)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	int rc = MQTTASYNC_DISCONNECTED;

	/* ahead of what still waits in the queue (kept in buffer.dir, or counted as lost at exit) */
	if (m->client)
		rc = MQTTAsync_send(m->client, topic, (int)len, payload, qos, retain, &ro);
	if (rc == MQTTASYNC_SUCCESS)
		rc = MQTTAsync_waitForCompletion(m->client, ro.token, (unsigned long)timeout_ms);
	if (rc != MQTTASYNC_SUCCESS) {
		log_msg(LOG_WARNING, "mqtt: publish to %s not acknowledged in time: %s", topic, MQTTAsync_strerror(rc));
		return -1;
	}
	return 0;
}

int mqtt_flush(struct mqtt *m)
{
	return outq_flush(m->q);
}

/* ---- completions ---- */

/* Apply one completion (taken at now) to the queue, or to the link check for a probe's. */
static void mqtt_done_one(struct mqtt *m, const struct mqtt_done *d, uint64_t now)
{
	struct outq_msg *msg;

	if (d->gen != m->link->gen)
		return;	/* an old client's */
	if (d->sub) {
		if (d->code >= 0)
			linkcheck_proof(&m->lc, now);
		mqtt_pub_suback(m, d);
		return;
	}
	if (d->probe) {
		if (m->lc.outstanding && d->token == m->probe_token)
			linkcheck_answer(&m->lc, d->code == MQTT_PROBE_ANSWERED, now);
		if (m->settle_gen == d->gen && d->token == m->settle_token) {
			if (d->code == MQTT_PROBE_ANSWERED)
				m->settled_gen = d->gen;
			else
				m->settle_gen = 0;	/* paho gave up on it: again at the next turn */
		}
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

void mqtt_pub_completions(struct mqtt *m, const struct mqtt_done *v, size_t n)
{
	uint64_t now;
	size_t i;

	if (n == 0)
		return;
	now = clock_now_ms();	/* once per batch, not per message */
	for (i = 0; i < n; i++)
		mqtt_done_one(m, &v[i], now);
	mqtt_pump(m);
}

void mqtt_pub_ack_check(struct mqtt *m, uint64_t now, uint64_t *next)
{
	struct outq_msg *oldest;
	uint64_t due;

	if (!m->connected || (oldest = outq_oldest_sent(m->q)) == NULL)
		return;
	due = (oldest->sent_at > m->connected_at ? oldest->sent_at : m->connected_at) + (uint64_t)m->cfg->ack_timeout_ms;
	if (now < due) {
		if (due < *next)
			*next = due;
		return;
	}
	/*
	 * A safety net: no broker takes this long while the link is up.
	 * Sending it again on this connection would put it after newer ones
	 * (and paho still has the first copy): the link is replaced instead,
	 * and the queue resent in order.
	 */
	if (m->ack_lost_gen != m->link->gen) {
		char why[300];

		snprintf(why, sizeof(why), "no acknowledgement for a publish to %s in %d ms", oldest->topic,
			 m->cfg->ack_timeout_ms);
		m->ack_lost_gen = m->link->gen;
		mqtt_lost(m->link, why, 0);
	}
}

/* ---- back-pressure ---- */

void mqtt_pub_stall_deadline(struct mqtt *m, uint64_t *next)
{
	/* serial reading held: look again when the stall check is due */
	if (__atomic_load_n(&m->held, __ATOMIC_SEQ_CST) && m->seen_at + MQTT_BACKLOG_STALL_MS < *next)
		*next = m->seen_at + MQTT_BACKLOG_STALL_MS;
}

/* Held, and the backlog is down to MQTT_BACKLOG_LOW or stalled: read again. backlog0: QoS 0's part. */
static int mqtt_release(struct mqtt *m, uint64_t now, int64_t backlog, int64_t backlog0)
{
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

int mqtt_congested(struct mqtt *m, uint64_t now)
{
	uint64_t done = __atomic_load_n(&m->done, __ATOMIC_SEQ_CST);
	int64_t backlog0 = (int64_t)(__atomic_load_n(&m->sent, __ATOMIC_SEQ_CST) - done);
	size_t queued = outq_count(m->q);
	int64_t backlog = backlog0 + (int64_t)queued;

	m->now = now;
	m->stats.queued = queued;
	if (done + m->progress != m->seen_progress) {
		m->seen_progress = done + m->progress;
		m->seen_at = now;
	}
	if (!m->connected) {
		/* offline, the store-and-forward buffer's own rules apply */
		__atomic_store_n(&m->held, 0, __ATOMIC_SEQ_CST);
		return 0;
	}
	if (__atomic_load_n(&m->held, __ATOMIC_SEQ_CST))
		return mqtt_release(m, now, backlog, backlog0);
	if (backlog < MQTT_BACKLOG_HIGH || now - m->seen_at >= MQTT_BACKLOG_STALL_MS)
		return 0;
	__atomic_store_n(&m->held, 1, __ATOMIC_SEQ_CST);
	/* a completion between the loads above and the store may have missed the flag */
	backlog = (int64_t)(__atomic_load_n(&m->sent, __ATOMIC_SEQ_CST) - __atomic_load_n(&m->done, __ATOMIC_SEQ_CST)) +
		  (int64_t)outq_count(m->q);
	if (backlog <= MQTT_BACKLOG_LOW) {
		__atomic_store_n(&m->held, 0, __ATOMIC_SEQ_CST);
		return 0;
	}
	m->seen_at = now;
	m->stats.held++;
	return 1;
}

/* ---- subscriptions ---- */

/*
 * Every paho call gets response options, even when we want no callback:
 * for an MQTT 5 client paho 1.3.12 reads the subscribe options (and the
 * properties) from them, and with two or more filters dereferences a NULL
 * one (issue 22: SIGSEGV on every connect).
 *
 * One SUBSCRIBE per filter, on both protocols: MQTT 5's subscription
 * identifier is a property of the packet, not of a filter in it; and a
 * SUBACK of one filter is one answer paho reports plainly (for several,
 * MQTT 3.1.1 gets a list whose length the callback cannot know). Each
 * SUBSCRIBE's token is kept with its filter (m->subreq) until the SUBACK
 * says granted or refused (mqtt_pub_suback).
 */

/* Forget the SUBSCRIBEs of earlier links (their SUBACKs will never come, or are ignored). */
static void mqtt_subreq_prune(struct mqtt *m)
{
	size_t i, k = 0;

	for (i = 0; i < m->n_subreq; i++) {
		if (m->subreq[i].gen == m->link->gen)
			m->subreq[k++] = m->subreq[i];
		else
			free(m->subreq[i].filter);
	}
	m->n_subreq = k;
}

/* Keep token -> filter; without memory a refusal is still logged, with the token only. */
static void mqtt_subreq_add(struct mqtt *m, int token, const char *filter, int qos)
{
	char *f;

	if (m->n_subreq == m->cap_subreq) {
		size_t cap = m->cap_subreq ? 2 * m->cap_subreq : 8;
		struct mqtt_subreq *v = realloc(m->subreq, cap * sizeof(*v));

		if (!v)
			return;
		m->subreq = v;
		m->cap_subreq = cap;
	}
	if (!(f = strdup(filter)))
		return;
	m->subreq[m->n_subreq++] = (struct mqtt_subreq){ m->link->gen, token, qos, f };
}

void mqtt_pub_free(struct mqtt *m)
{
	size_t i;

	for (i = 0; i < m->n_subreq; i++)
		free(m->subreq[i].filter);
	free(m->subreq);
	m->subreq = NULL;
	m->n_subreq = m->cap_subreq = 0;
}

/*
 * A SUBACK (d->code: granted QoS / reason code, or paho's negative code).
 * A refusal means commands on that filter will never arrive while the
 * gateway looks healthy: logged at error level with the filter and what to
 * do, counted (sub_refused), and handed to the bridge (MQTT_EV_SUB_REFUSED),
 * which says it on the error topics of the devices the filter feeds.
 */
static void mqtt_pub_suback(struct mqtt *m, const struct mqtt_done *d)
{
	struct mqtt_subreq *r = NULL;
	struct mqtt_event *ev;
	size_t i;

	for (i = 0; i < m->n_subreq && !r; i++)
		if (m->subreq[i].gen == d->gen && m->subreq[i].token == d->token)
			r = &m->subreq[i];
	if (d->code >= 0 && d->code < 0x80) {
		if (r && d->code < r->qos)
			log_msg(LOG_INFO, "mqtt: subscribed to %s with qos %d (asked for %d: the broker's maximum)",
				r->filter, d->code, r->qos);
	} else if (d->code >= 0x80) {
		const char *filter = r ? r->filter : "?";

		m->stats.sub_refused++;
		log_msg(LOG_ERR,
			"mqtt: the broker refused the subscription to %s (%s, reason code 0x%02x): commands on it "
			"will not arrive. Let the gateway's MQTT user (client id %s) subscribe to it in the broker's "
			"ACL (mosquitto: a role of the dynamic security plugin; RabbitMQ: topic permissions), or "
			"change the route",
			filter, d->code == 0x80 ? "failure" : MQTTReasonCode_toString((enum MQTTReasonCodes)d->code),
			d->code, m->cfg->client_id);
		if ((ev = mqtt_event_new(MQTT_EV_SUB_REFUSED, NULL)) != NULL) {
			ev->topic = strdup(filter);
			ev->rc = d->code;
			ev->gen = d->gen;
			mqtt_push(m, ev);
		}
	}
	if (r) {
		free(r->filter);
		*r = m->subreq[--m->n_subreq];
	}
}

int mqtt_subscribe(struct mqtt *m, char *const *filters, const int *qos, const uint32_t *ids, int n)
{
	int i, rc, failed = 0;

	mqtt_subreq_prune(m);
	for (i = 0; i < n; i++) {
		MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
		MQTTProperty p = { .identifier = MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER };

		mqtt_cb_subscribe_opts(m, &ro);
		rc = 0;
		if (m->cfg->protocol == 5) {
			p.value.integer4 = (int)ids[i];
			rc = MQTTProperties_add(&ro.properties, &p);
		}
		if (rc == 0)
			rc = MQTTAsync_subscribe(m->client, filters[i], qos[i], &ro);
		MQTTProperties_free(&ro.properties);
		if (rc != MQTTASYNC_SUCCESS) {
			log_msg(LOG_ERR, "mqtt: subscribe to %s failed: %s", filters[i], MQTTAsync_strerror(rc));
			failed = 1;
			continue;
		}
		mqtt_subreq_add(m, ro.token, filters[i], qos[i]);
	}
	return failed ? -1 : 0;
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
