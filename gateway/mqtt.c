/*
 * mqtt.c - the broker connection's lifecycle, on the loop thread: the paho
 * client and its TLS, connecting, failover across mqtt.uris, replacing a
 * dead link, the reconnect backoff, and proving the link alive.
 *
 * mqtt.h is the whole client's story; mqtt_int.h says which file holds
 * what. This file owns the connection state: the events it hands the
 * bridge (mqtt_next_event) have already been applied here, so a CONNECTED
 * opens the publish window and a CONNECT_FAILED or LOST schedules the next
 * attempt before the bridge sees it; the bridge only reacts (the birth,
 * subscriptions, fail-safes).
 *
 * Reconnecting is ours, not paho's: a failed attempt goes on at once with
 * the next uri of the list; when the list is exhausted, or a connection
 * was lost, the first uri is tried again after the backoff
 * (reconnect_min_ms doubling up to reconnect_max_ms). That covers a broker
 * that is down at start, which paho's automatic reconnect does not.
 *
 * A lost link is never reused: the client is destroyed and a new one made,
 * with a new struct mqtt_link (the next generation, see mqtt_link_lost for
 * why), and the queue sends everything unacknowledged again in order. A
 * client that cannot be made is no reason to exit: the failure is logged
 * and the next attempt tries again (a CONNECT_FAILED event, backoff).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "mqtt_int.h"

/* Once, before the first client. */
static void mqtt_paho_init(void)
{
	static int done;
	/*
	 * paho's own OpenSSL set-up (its default) costs 1.4 MB of RSS even
	 * with no TLS uri; OpenSSL 1.1 and later initialise themselves on
	 * first use instead.
	 */
	MQTTAsync_init_options io = MQTTAsync_init_options_initializer;

	if (done)
		return;
	io.do_openssl_init = 0;
	MQTTAsync_global_init(&io);
	/*
	 * paho formats protocol-level trace lines into an in-memory ring by
	 * default: two vsnprintf() a message, 11% of its sending thread
	 * (callgrind). Nobody reads them.
	 */
	MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
	done = 1;
}

/* A new identity for the next client: what the previous one still reports is ignored. */
static int mqtt_link_next(struct mqtt *m)
{
	struct mqtt_link *link = calloc(1, sizeof(*link));

	if (!link)
		return -1;
	link->m = m;
	link->gen = m->link ? m->link->gen + 1 : 1;
	link->gone_efd = -1;
	if (m->link)
		free(m->link->uri);
	free(m->link);
	m->link = link;
	return 0;
}

/* The paho client itself; at start, and to replace a broken one. 0, or -1 (m->client NULL). */
static int mqtt_client_create(struct mqtt *m, char *err, size_t errlen)
{
	const struct cfg_mqtt *cfg = m->cfg;
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	int rc;

	mqtt_paho_init();
	m->client = NULL;
	if (mqtt_link_next(m) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* nothing is sent while disconnected: the queue keeps it (mqtt_pub.c) */
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
	rc = mqtt_cb_client(m);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(err, errlen, "cannot set MQTT callbacks: %s", MQTTAsync_strerror(rc));
		MQTTAsync_destroy(&m->client);
		m->client = NULL;
		return -1;
	}
	mqtt_pub_restart_count(m);
	return 0;
}

/* buffer.dir: what an earlier run left unacknowledged goes first. */
static int mqtt_open_journal(struct mqtt *m, char *err, size_t errlen)
{
	char path[4200];
	size_t restored;

	snprintf(path, sizeof(path), "%s/%s", m->buf->dir, MQTT_JOURNAL);
	outq_set_sync(m->q, m->buf->sync);
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
	if (m->q && outq_count(m->q))
		log_msg(outq_has_journal(m->q) ? LOG_INFO : LOG_WARNING, "mqtt: %zu messages not acknowledged at exit %s",
			outq_count(m->q),
			outq_has_journal(m->q) ? "are kept in buffer.dir" : "are lost (buffer.dir keeps them)");
	outq_free(m->q);
	mqtt_pub_free(m);
	if (m->link)
		free(m->link->uri);
	free(m->link);
	free(m->done_v);
	free(m->spare_v);
	while ((ev = mqtt_pop(m)) != NULL)
		mqtt_event_free(ev);
	if (m->efd >= 0)
		close(m->efd);
	pthread_mutex_destroy(&m->lock);
	memset(m->password, 0, sizeof(m->password));
	free(m);
}

/* ---- connecting ---- */

static int mqtt_is_tls(const char *uri)
{
	return strncmp(uri, "ssl://", 6) == 0 || strncmp(uri, "mqtts://", 8) == 0 || strncmp(uri, "wss://", 6) == 0;
}

/* TLS options when any uri is TLS or a tls group is given (else NULL). */
static MQTTAsync_SSLOptions *mqtt_tls_opts(const struct cfg_mqtt *c, MQTTAsync_SSLOptions *ssl)
{
	int i, tls = c->has_tls;

	for (i = 0; i < c->n_uris; i++)
		tls |= mqtt_is_tls(c->uris[i]);
	if (!tls)
		return NULL;
	if (c->tls.ca_file && *c->tls.ca_file)
		ssl->trustStore = c->tls.ca_file;
	if (c->tls.cert_file && *c->tls.cert_file)
		ssl->keyStore = c->tls.cert_file;
	if (c->tls.key_file && *c->tls.key_file)
		ssl->privateKey = c->tls.key_file;
	ssl->enableServerCertAuth = c->tls.verify;
	ssl->verify = c->tls.verify;
	return ssl;
}

/* The CONNECT options of this attempt, but for callbacks and TLS. */
static void mqtt_connect_opts(struct mqtt *m, MQTTAsync_connectOptions *o, MQTTAsync_willOptions *will,
			      MQTTProperties *props, MQTTProperty *expiry)
{
	const struct cfg_mqtt *c = m->cfg;

	o->keepAliveInterval = c->keepalive;
	/* m->clean_next: the broker must forget QoS 2 flows a new client cannot finish (mqtt_pub_link_lost) */
	o->cleansession = c->clean_session || m->clean_next;
	o->connectTimeout = 10;
	o->automaticReconnect = 0;
	/* one uri per attempt: we rotate, so we know which one answered */
	o->serverURIcount = 1;
	o->serverURIs = &c->uris[m->uri_idx];
	o->MQTTVersion = MQTTVERSION_3_1_1;
	o->maxInflight = 65535;
	if (c->protocol == 5) {
		o->MQTTVersion = MQTTVERSION_5;
		o->cleansession = 0;
		o->cleanstart = c->clean_session || m->clean_next;
		if (!c->clean_session && c->session_expiry > 0) {
			/* without an expiry an MQTT 5 session ends with the connection */
			expiry->identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
			expiry->value.integer4 = (unsigned int)c->session_expiry;
			MQTTProperties_add(props, expiry);
			o->connectProperties = props;
		}
	}
	will->topicName = c->status_topic;
	will->message = "offline";
	will->retained = 1;
	will->qos = 1;
	o->will = will;
	if (c->username && *c->username) {
		o->username = c->username;
		if (m->password[0])
			o->password = m->password;
	}
}

/* An attempt that failed before paho took it: the same event as paho's refusal. */
static void mqtt_attempt_failed(struct mqtt *m, const char *why, int rc)
{
	struct mqtt_event *ev = mqtt_event_new(MQTT_EV_CONNECT_FAILED, why);

	if (ev) {
		ev->gen = m->link->gen;
		ev->rc = rc;
		mqtt_push(m, ev);
	}
}

static void mqtt_connect_now(struct mqtt *m)
{
	MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
	MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	MQTTProperties props = MQTTProperties_initializer;
	MQTTProperty expiry;
	const char *uri = m->cfg->uris[m->uri_idx];
	char err[256];
	int rc;

	m->connecting = 1;
	m->next_attempt = UINT64_MAX;
	m->stats.connect_attempts++;
	if (!m->client && mqtt_client_create(m, err, sizeof(err)) < 0) {
		mqtt_attempt_failed(m, err, -1);
		return;
	}
	free(m->link->uri);
	m->link->uri = strdup(uri);
	mqtt_connect_opts(m, &o, &will, &props, &expiry);
	o.ssl = mqtt_tls_opts(m->cfg, &ssl);
	mqtt_cb_connect_opts(m, &o, o.ssl);
	log_msg(LOG_DEBUG, "mqtt: connecting to %s", uri);
	rc = MQTTAsync_connect(m->client, &o);
	MQTTProperties_free(&props);
	if (rc != MQTTASYNC_SUCCESS)
		mqtt_attempt_failed(m, MQTTAsync_strerror(rc), rc);
}

void mqtt_start(struct mqtt *m, uint64_t now)
{
	(void)now;
	mqtt_connect_now(m);
}

/* ---- losing and regaining the link ---- */

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
 * those of the last few milliseconds. Whether the loss was about one
 * message is mqtt_pub_link_lost's to judge. Completions still coming from
 * the old client carry its generation and are ignored.
 */
static void mqtt_link_lost(struct mqtt *m)
{
	char err[256];

	MQTTAsync_destroy(&m->client);
	if (mqtt_client_create(m, err, sizeof(err)) < 0)
		log_msg(LOG_ERR, "mqtt: %s; trying again at the next attempt", err);
	mqtt_pub_link_lost(m);
}

/* After a CONNECT_FAILED or LOST: the next attempt, the next uri or after the backoff. */
static void mqtt_down(struct mqtt *m, uint64_t now)
{
	int failed_attempt = m->connecting;

	/* a loss now is not "right after a send" of an earlier turn */
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

/* After CONNECTED. receive_max: the broker's MQTT 5 Receive Maximum (0: none). */
static void mqtt_up(struct mqtt *m, uint64_t now, int receive_max)
{
	m->now = m->connected_at = now;
	m->window = receive_max > 0 && receive_max < MQTT_WINDOW ? receive_max : MQTT_WINDOW;
	if (outq_dropped(m->q) != m->dropped_seen) {
		log_msg(LOG_WARNING, "mqtt: %llu queued messages were dropped, the oldest first (buffer.max_messages = %d)",
			(unsigned long long)(outq_dropped(m->q) - m->dropped_seen), m->buf->max_messages);
		m->dropped_seen = outq_dropped(m->q);
	}
	if (m->clean_next) {
		log_msg(LOG_WARNING, "mqtt: connected with a clean session: the last connection ended with QoS 2 "
			"publishes unfinished, which the broker would hold for ever (a new client cannot send their "
			"PUBREL); commands published while the gateway was away are lost, those publishes go again "
			"(possibly twice)");
		m->clean_next = 0;
	}
	m->connected = 1;
	m->connecting = 0;
	linkcheck_up(&m->lc, now);
	m->backoff_ms = m->cfg->reconnect_min_ms;
	m->stats.connects++;
	/* no pump here: the bridge's birth "online" goes first, then mqtt_send_queued() */
}

struct mqtt_event *mqtt_next_event(struct mqtt *m)
{
	const struct mqtt_done *done;
	struct mqtt_event *ev;
	size_t n;

	for (;;) {
		ev = mqtt_take(m, &done, &n);
		mqtt_pub_completions(m, done, n);
		if (!ev)
			return NULL;
		if (ev->type == MQTT_EV_MESSAGE || ev->type == MQTT_EV_DISCONNECTED || ev->gen == m->link->gen)
			break;
		/* news of a client replaced since: a second report of a loss, a reload's old client (mqtt_reconf_*) */
		mqtt_event_free(ev);
	}
	if (ev->type == MQTT_EV_MESSAGE) {
		m->stats.received++;
		/* a delivery on this link proves it, as an answer does: a flood's backlog ahead of the probe's UNSUBACK is no silence */
		if (ev->gen == m->link->gen)
			linkcheck_proof(&m->lc, clock_now_ms());
	}
	if (m->stopping)
		return ev;	/* our own disconnect: the link is not replaced, nothing is retried */
	switch (ev->type) {
	case MQTT_EV_MESSAGE:
		break;
	case MQTT_EV_CONNECTED:
		mqtt_up(m, clock_now_ms(), ev->rc);
		break;
	case MQTT_EV_CONNECT_FAILED:
	case MQTT_EV_LOST:
		mqtt_down(m, clock_now_ms());
		break;
	case MQTT_EV_DISCONNECTED:
	case MQTT_EV_SUB_REFUSED:
		break;
	}
	return ev;
}

/* ---- the loop's turn ---- */

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
			mqtt_lost(m->link, why, 0);
		}
		return;
	}
	if (!linkcheck_due(&m->lc, now))
		return;
	mqtt_cb_probe_opts(m, &ro);
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
	uint64_t next = m->next_attempt, due;

	m->now = now;
	if (m->next_attempt != UINT64_MAX && now >= m->next_attempt)
		mqtt_connect_now(m);
	mqtt_pub_ack_check(m, now, &next);
	if (m->connected)
		mqtt_link_check(m, now);
	due = linkcheck_deadline(&m->lc);
	if (due < next)
		next = due;
	/* a suspect message's round trip first (the bridge has subscribed by now) */
	mqtt_pub_settle(m);
	/* a send paho refused a moment ago (the link going down) */
	mqtt_pump(m);
	mqtt_pub_stall_deadline(m, &next);
	return next;
}

const char *mqtt_attempt_uri(const struct mqtt *m)
{
	return m->link->uri ? m->link->uri : m->cfg->uris[m->uri_idx];
}

int mqtt_is_connected(const struct mqtt *m)
{
	return m->connected;
}

void mqtt_disconnect(struct mqtt *m, int timeout_ms)
{
	MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;

	o.timeout = timeout_ms;
	mqtt_cb_disconnect_opts(m, &o);
	m->next_attempt = UINT64_MAX;
	m->stopping = 1;
	if (!m->client || MQTTAsync_disconnect(m->client, &o) != MQTTASYNC_SUCCESS)
		mqtt_cb_disconnected_now(m);
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
 * running client sees; commit() cannot fail: a new client that cannot be
 * made is a failed attempt, retried after the backoff like any other.
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
 * failed, lost) carries its generation and is dropped (mqtt_next_event);
 * messages it received are kept and routed.
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

/* A new buffer.dir: what is queued, in flight or not, is in its journal before anything else changes. */
static int mqtt_reconf_dir(struct mqtt *m, struct mqtt_reconf *r, char *err, size_t errlen)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s", r->buf->dir, MQTT_JOURNAL);
	/* the same directory spelled otherwise ("/var/x/", a symlink): the journal stays */
	if (*r->buf->dir && outq_journal_is(m->q, path))
		return 0;
	r->move = 1;
	if (!*r->buf->dir)
		return 0;
	r->jpath = strdup(path);
	if (!r->jpath) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return outq_journal_prepare(m->q, path, r->buf->sync, &r->jfd, err, errlen);
}

/* mqtt.password_file, read again: a new password in the same file (rotated credentials) needs a new client too. */
static int mqtt_reconf_password(const struct mqtt *m, struct mqtt_reconf *r, char *err, size_t errlen)
{
	if (!r->cfg->password_file || !*r->cfg->password_file)
		return 0;
	if (mqtt_read_password(r->cfg->password_file, r->password, sizeof(r->password), err, errlen) < 0)
		return -1;
	if (strcmp(r->password, m->password) != 0)
		r->new_client = 1;
	return 0;
}

struct mqtt_reconf *mqtt_reconf_prepare(struct mqtt *m, const struct cfg_mqtt *cfg, const struct cfg_buffer *buf,
					int new_client, int new_dir, char *err, size_t errlen)
{
	struct mqtt_reconf *r = calloc(1, sizeof(*r));

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	*r = (struct mqtt_reconf){ .cfg = cfg, .buf = buf, .new_client = new_client, .jfd = -1 };
	if (mqtt_reconf_password(m, r, err, errlen) < 0 || (new_dir && mqtt_reconf_dir(m, r, err, errlen) < 0)) {
		mqtt_reconf_free(r);
		return NULL;
	}
	return r;
}

void mqtt_reconf_abort(struct mqtt_reconf *r)
{
	if (r && r->jpath)
		outq_journal_abort(r->jfd, r->jpath);
	mqtt_reconf_free(r);
}

/*
 * The connected old client: "offline", the acknowledgements before it, a
 * clean disconnect. Returns the eventfd its disconnect callback writes
 * (mqtt_cb.c; closed by the caller once the client is destroyed, which
 * ends its callbacks), or -1.
 */
static int mqtt_reconf_leave(struct mqtt *m)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;
	const struct mqtt_done *done;
	size_t n;
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
	mqtt_take_done(m, &done, &n);
	mqtt_pub_completions(m, done, n);
	if (efd < 0)
		return -1;	/* no way to wait: destroyed at once, the broker may publish the will */
	o.timeout = 100;
	mqtt_cb_disconnect_opts(m, &o);
	m->link->gone_efd = efd;	/* its disconnect wakes us, not the bridge */
	rc = MQTTAsync_disconnect(m->client, &o);
	if (rc == MQTTASYNC_SUCCESS) {
		struct pollfd p = { efd, POLLIN, 0 };

		if (poll(&p, 1, MQTT_RECONF_WAIT_MS) <= 0)
			log_msg(LOG_WARNING, "mqtt: the replaced client did not disconnect in time");
	} else {
		log_msg(LOG_WARNING, "mqtt: the replaced client cannot disconnect: %s", MQTTAsync_strerror(rc));
	}
	return efd;
}

/* The old client goes, a new one connects with the new settings; the queue goes again, in order. */
static void mqtt_reconf_replace(struct mqtt *m, struct mqtt_reconf *r, uint64_t now)
{
	struct outq_msg *oldest;
	int efd = m->connected ? mqtt_reconf_leave(m) : -1;

	if (m->client)
		MQTTAsync_destroy(&m->client);
	m->client = NULL;
	if (efd >= 0)
		close(efd);
	m->link->gone_efd = -1;	/* until the new client's link replaces it */
	m->cfg = r->cfg;
	m->buf = r->buf;
	memcpy(m->password, r->password, sizeof(m->password));
	/* everything unacknowledged goes again, first, in order; a reload is no verdict on a message */
	if ((oldest = outq_oldest_sent(m->q)) != NULL)
		oldest->strikes--;
	outq_unsend_all(m->q);
	linkcheck_down(&m->lc);
	linkcheck_init(&m->lc, m->cfg->link_timeout_ms, m->cfg->link_check_ms);
	m->connected = 0;
	m->connecting = 0;
	m->uri_idx = 0;
	__atomic_store_n(&m->held, 0, __ATOMIC_SEQ_CST);
	m->backoff_ms = m->cfg->reconnect_min_ms;
	m->now = now;
	log_msg(LOG_INFO, "mqtt: settings changed: a new client (%s, MQTT %s)", m->cfg->client_id,
		m->cfg->protocol == 5 ? "5" : "3.1.1");
	/* makes the client: one that cannot be made is a failed attempt, retried after the backoff */
	mqtt_connect_now(m);
}

int mqtt_reconf_commit(struct mqtt *m, struct mqtt_reconf *r, uint64_t now)
{
	int replaced = r->new_client;

	if (replaced) {
		mqtt_reconf_replace(m, r, now);
	} else {
		m->cfg = r->cfg;
		m->buf = r->buf;
	}
	outq_set_limits(m->q, (size_t)m->buf->max_messages, m->buf->sync);
	if (r->move) {
		size_t n = outq_count(m->q);

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
