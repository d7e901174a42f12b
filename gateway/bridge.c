/*
 * bridge.c - the poll loop and the glue between devices and the broker.
 *
 * One thread, one poll(). The pollfd array is rebuilt every turn from the
 * signalfd, the MQTT eventfd and whatever fds the devices have open right
 * now: a handful of fds, and no registration bookkeeping to get wrong when a
 * port is unplugged and reopened on another fd. Frames from devices go
 * through mapping_uplink() to mqtt_publish(); messages from the broker go
 * through mapping_downlink() to the device's write().
 *
 * Reload (SIGHUP) parses into a scratch config and swaps only when it is
 * valid; devices whose settings did not change are carried over open, so
 * they lose no frames.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "bridge.h"
#include "device.h"
#include "log.h"
#include "mapping.h"
#include "mqtt.h"
#include "retained.h"
#include "sdnotify.h"

#define BRIDGE_TOPIC_MAX 1024
#define BRIDGE_PAYLOAD_MAX (128 * 1024)
#define BRIDGE_SHUTDOWN_FLUSH_MS 500
#define BRIDGE_DISCONNECT_MS 1000

struct bridge {
	struct config *cfg;
	char *cfg_path;
	struct mqtt *mqtt;
	struct device **serial;		/* cfg->n_serial */
	struct device **gpio;		/* cfg->n_gpio */
	int sfd;
	int stop;
	int ready_sent;			/* systemd READY=1 */
	uint64_t wd_interval;		/* systemd watchdog period, 0: none */
	uint64_t stats_next;		/* next stats publish; UINT64_MAX: off */
	uint64_t dropped_in_seen;	/* inbound drops already logged */
	uint64_t drop_log_at;
	uint64_t wd_next;
	char **subs;			/* current subscriptions */
	int *sub_qos;
	int n_subs;
	struct pollfd *pfds;
	struct device **pdev;
	int pcap;
	struct retained *retained;	/* serial states to republish on connect */
	struct bridge_stats stats;
	char topic[BRIDGE_TOPIC_MAX];
	char payload[BRIDGE_PAYLOAD_MAX];
};

/* Where a device's reply goes: one per command accepted by a device with a reply pattern. */
struct bridge_target {
	char *topic;			/* NULL: nobody asked for the reply */
	char *corr;			/* MQTT 5 correlation data */
	size_t corr_len;
};

struct bridge_dev {
	struct bridge_target *ring;
	int cap, head, count;
};

uint64_t bridge_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- uplink ---- */

static void bridge_emit(struct device *dev, const char *frame, size_t len, void *ctx)
{
	struct bridge *b = ctx;
	enum route_end kind = dev->drv == &serial_driver ? ROUTE_SERIAL : ROUTE_GPIO;
	struct mapping_out out;

	b->stats.up_frames++;
	if (mapping_uplink(b->cfg, kind, dev->index, frame, len, b->topic, sizeof(b->topic), b->payload,
			   sizeof(b->payload), &out) < 0) {
		b->stats.up_unrouted++;
		log_msg(LOG_DEBUG, "%s: frame matches no route: %.*s", dev->name, (int)(len > 80 ? 80 : len), frame);
		return;
	}
	if (out.verdict != MAPPING_OK) {
		b->stats.up_refused++;
		log_msg(LOG_WARNING, "%s: frame refused by route %d (line %d): %s", dev->name, out.route + 1,
			b->cfg->routes[out.route].line, mapping_verdict_str(out.verdict));
		return;
	}
	mqtt_publish(b->mqtt, out.topic, out.payload, out.payload_len, out.qos, out.retain);
	/* gpio drivers re-emit their state on connect themselves */
	if (out.retain && kind == ROUTE_SERIAL)
		retained_set(b->retained, out.topic, out.payload, out.payload_len, out.qos);
}

static void bridge_republish(const char *topic, const void *payload, size_t len, int qos, void *ctx)
{
	struct bridge *b = ctx;

	mqtt_publish(b->mqtt, topic, payload, len, qos, 1);
}

/* Availability: "online"/"offline" retained on the device's status topic. */
static void bridge_state(struct device *dev, int online, void *ctx)
{
	struct bridge *b = ctx;
	const char *word = online ? "online" : "offline";

	log_msg(online ? LOG_DEBUG : LOG_INFO, "%s: %s", dev->name, word);
	if (dev->drv == &serial_driver) {
		const struct cfg_serial *c = dev->cfg;

		if (!*c->status_topic)
			return;
		mqtt_publish(b->mqtt, c->status_topic, word, strlen(word), 1, 1);
		retained_set(b->retained, c->status_topic, word, strlen(word), 1);
	}
}

/* "reason: command" on the device's error topic, if it has one. */
static void bridge_error(struct bridge *b, struct device *dev, const char *reason, const char *data, size_t len)
{
	const struct cfg_serial *c = dev->cfg;
	char msg[320];
	int n;

	if (dev->drv != &serial_driver || !*c->error_topic)
		return;
	n = snprintf(msg, sizeof(msg), "%s: %.*s", reason, (int)(len > 256 ? 256 : len), data);
	if (n > 0)
		mqtt_publish(b->mqtt, c->error_topic, msg, strlen(msg), 1, 0);
}

static void bridge_target_free(struct bridge_target *t)
{
	free(t->topic);
	free(t->corr);
	memset(t, 0, sizeof(*t));
}

/* The reply target of a command: MQTT 5 response topic, or .../req/ID -> .../res/ID. */
static int bridge_push_target(struct device *dev, const struct mqtt_event *ev)
{
	struct bridge_dev *bd = dev->owner;
	struct bridge_target *t;
	const char *req;

	if (!bd || bd->count >= bd->cap)
		return -1;
	t = &bd->ring[(bd->head + bd->count) % bd->cap];
	memset(t, 0, sizeof(*t));
	if (ev->response_topic) {
		t->topic = strdup(ev->response_topic);
		if (ev->correlation && (t->corr = malloc(ev->correlation_len)) != NULL) {
			memcpy(t->corr, ev->correlation, ev->correlation_len);
			t->corr_len = ev->correlation_len;
		}
	} else if ((req = strstr(ev->topic, "/req/")) != NULL && !strchr(req + 5, '/') && req[5]) {
		t->topic = strdup(ev->topic);
		if (t->topic)
			memcpy(t->topic + (req - ev->topic), "/res/", 5);
	}
	bd->count++;
	return 0;
}

static void bridge_event(struct device *dev, enum device_event what, const char *data, size_t len, void *ctx)
{
	struct bridge *b = ctx;
	struct bridge_dev *bd = dev->owner;
	struct bridge_target t = { NULL, NULL, 0 };

	if (bd && bd->count > 0) {
		t = bd->ring[bd->head];
		bd->head = (bd->head + 1) % bd->cap;
		bd->count--;
	}
	switch (what) {
	case DEVICE_EV_REPLY:
		if (t.topic)
			mqtt_publish_reply(b->mqtt, t.topic, data, len, 1, t.corr, t.corr_len);
		break;
	case DEVICE_EV_TIMEOUT:
		b->stats.timeouts++;
		log_msg(LOG_WARNING, "%s: no reply to \"%.*s\" in time", dev->name, (int)(len > 80 ? 80 : len), data);
		bridge_error(b, dev, "timeout", data, len);
		break;
	case DEVICE_EV_DROPPED:
		b->stats.down_dropped++;
		bridge_error(b, dev, "dropped", data, len);
		break;
	}
	bridge_target_free(&t);
}

static struct bridge_dev *bridge_dev_new(int cap)
{
	struct bridge_dev *bd = calloc(1, sizeof(*bd));

	if (!bd)
		return NULL;
	bd->ring = calloc((size_t)cap, sizeof(*bd->ring));
	if (!bd->ring) {
		free(bd);
		return NULL;
	}
	bd->cap = cap;
	return bd;
}

static void bridge_dev_free(struct bridge_dev *bd)
{
	if (!bd)
		return;
	while (bd->count > 0) {
		bridge_target_free(&bd->ring[bd->head]);
		bd->head = (bd->head + 1) % bd->cap;
		bd->count--;
	}
	free(bd->ring);
	free(bd);
}

/* ---- downlink ---- */

static struct device *bridge_target(struct bridge *b, const struct mapping_out *o)
{
	return o->kind == ROUTE_SERIAL ? b->serial[o->dev] : b->gpio[o->dev];
}

static void bridge_message(struct bridge *b, const struct mqtt_event *ev, uint64_t now)
{
	struct mapping_out out;
	int next = 0, routed = 0;

	b->stats.down_messages++;
	if (ev->retained) {
		/* a retained command would re-run on every reconnect: never */
		b->stats.down_retained++;
		log_msg(LOG_WARNING, "mqtt: retained message on %s ignored (commands must not be retained)",
			ev->topic);
		return;
	}
	while (mapping_downlink(b->cfg, ev->topic, ev->payload, ev->len, &next, b->payload, sizeof(b->payload),
				&out) == 0) {
		struct device *dev = bridge_target(b, &out);

		routed = 1;
		if (out.verdict != MAPPING_OK) {
			b->stats.down_refused++;
			log_msg(LOG_WARNING, "command on %s for %s refused (route %d, line %d): %s", ev->topic,
				dev->name, out.route + 1, b->cfg->routes[out.route].line,
				mapping_verdict_str(out.verdict));
			bridge_error(b, dev, mapping_verdict_str(out.verdict), ev->payload, ev->len);
			continue;
		}
		dev->last_error = NULL;
		if (dev->drv->write(dev, out.payload, out.payload_len, now) < 0) {
			b->stats.down_refused++;
			log_msg(LOG_WARNING, "command on %s for %s refused: %s", ev->topic, dev->name,
				dev->last_error ? dev->last_error : "device refused it");
			bridge_error(b, dev, dev->last_error ? dev->last_error : "refused", out.payload,
				     out.payload_len);
			continue;
		}
		if (dev->drv == &serial_driver && ((const struct cfg_serial *)dev->cfg)->has_reply)
			bridge_push_target(dev, ev);
		b->stats.down_written++;
		log_msg(LOG_DEBUG, "%s <- %.*s", dev->name, (int)out.payload_len, out.payload);
	}
	if (!routed)
		b->stats.down_unrouted++;
}

/* ---- subscriptions ---- */

static void bridge_free_subs(char **subs, int *qos, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(subs[i]);
	free(subs);
	free(qos);
}

/* The distinct mqtt filters of cfg's routes, each at its highest qos. */
static int bridge_collect_subs(const struct config *cfg, char ***subs_out, int **qos_out)
{
	char **subs = calloc((size_t)cfg->n_routes + 1, sizeof(char *));
	int *qos = calloc((size_t)cfg->n_routes + 1, sizeof(int));
	int i, j, n = 0;

	if (!subs || !qos) {
		free(subs);
		free(qos);
		return -1;
	}
	for (i = 0; i < cfg->n_routes; i++) {
		const struct cfg_route *r = &cfg->routes[i];

		if (r->from_kind != ROUTE_MQTT)
			continue;
		for (j = 0; j < n; j++)
			if (strcmp(subs[j], r->from) == 0)
				break;
		if (j == n) {
			subs[n] = strdup(r->from);
			qos[n++] = r->qos;
		} else if (r->qos > qos[j]) {
			qos[j] = r->qos;
		}
	}
	*subs_out = subs;
	*qos_out = qos;
	return n;
}

static void bridge_subscribe_all(struct bridge *b)
{
	int i;

	mqtt_subscribe(b->mqtt, b->subs, b->sub_qos, b->n_subs);
	for (i = 0; i < b->n_subs; i++)
		log_msg(LOG_DEBUG, "mqtt: subscribed to %s (qos %d)", b->subs[i], b->sub_qos[i]);
}

/* ---- broker events ---- */

static void bridge_link(struct bridge *b, int up, uint64_t now)
{
	int i;

	for (i = 0; i < b->cfg->n_serial; i++)
		if (b->serial[i]->drv->link)
			b->serial[i]->drv->link(b->serial[i], up, now);
	for (i = 0; i < b->cfg->n_gpio; i++)
		if (b->gpio[i]->drv->link)
			b->gpio[i]->drv->link(b->gpio[i], up, now);
}

/* Tell systemd (Type=notify) that start-up is over, and how things stand. */
static void bridge_ready(struct bridge *b, const char *what, const char *detail)
{
	sdnotify_status("%s%s", what, detail);
	if (!b->ready_sent)
		sdnotify_ready();
	b->ready_sent = 1;
}

static void bridge_mqtt_events(struct bridge *b, uint64_t now)
{
	struct mqtt_event *ev;

	mqtt_drain_fd(b->mqtt);
	while ((ev = mqtt_next_event(b->mqtt)) != NULL) {
		if (mqtt_get_stats(b->mqtt)->dropped_in != b->dropped_in_seen && now >= b->drop_log_at) {
			const struct mqtt_stats *ms = mqtt_get_stats(b->mqtt);

			log_msg(LOG_WARNING, "mqtt: %llu inbound messages dropped so far (flood or oversized: %llu)",
				(unsigned long long)ms->dropped_in, (unsigned long long)ms->oversized_in);
			b->dropped_in_seen = ms->dropped_in;
			b->drop_log_at = now + 1000;	/* a flood logs once a second */
		}
		switch (ev->type) {
		case MQTT_EV_CONNECTED:
			mqtt_connected_ok(b->mqtt);
			log_msg(LOG_INFO, "mqtt: connected to %s", ev->text && *ev->text ? ev->text : "broker");
			bridge_ready(b, "connected to ", ev->text && *ev->text ? ev->text : b->cfg->mqtt.uris[0]);
			mqtt_publish(b->mqtt, b->cfg->mqtt.status_topic, "online", 6, 1, 1);
			bridge_subscribe_all(b);
			retained_each(b->retained, bridge_republish, b);
			bridge_link(b, 1, now);
			break;
		case MQTT_EV_CONNECT_FAILED:
			mqtt_schedule_reconnect(b->mqtt, now);
			log_msg(LOG_WARNING, "mqtt: cannot connect to %s: %s; retrying with backoff",
				b->cfg->mqtt.uris[0], ev->text ? ev->text : "?");
			/* ready all the same: a down broker is retried, not a failed start */
			bridge_ready(b, "broker unreachable, retrying: ", ev->text ? ev->text : "?");
			break;
		case MQTT_EV_LOST:
			mqtt_schedule_reconnect(b->mqtt, now);
			log_msg(LOG_WARNING, "mqtt: connection lost: %s; reconnecting", ev->text ? ev->text : "?");
			sdnotify_status("connection lost (%s), reconnecting", ev->text ? ev->text : "?");
			bridge_link(b, 0, now);
			break;
		case MQTT_EV_MESSAGE:
			bridge_message(b, ev, now);
			break;
		case MQTT_EV_NOTE:
			log_msg(LOG_WARNING, "mqtt: %s", ev->text ? ev->text : "?");
			break;
		case MQTT_EV_DISCONNECTED:
			break;
		}
		mqtt_event_free(ev);
	}
}

/* ---- devices ---- */

static struct device *bridge_device_new(struct bridge *b, const struct device_driver *drv, const char *name,
					const void *cfg, int index)
{
	struct device *dev = device_new(drv, name, cfg, bridge_emit, bridge_state, b);

	if (!dev)
		return NULL;
	dev->index = index;
	dev->event = bridge_event;
	if (drv == &serial_driver) {
		/* room for every command the device can hold, and one in flight */
		dev->owner = bridge_dev_new(cfg ? ((const struct cfg_serial *)cfg)->queue_max + 1 : 4097);
		if (!dev->owner) {
			device_free(dev);
			return NULL;
		}
	}
	return dev;
}

static int bridge_devices_new(struct bridge *b, const struct config *cfg, struct device ***serial,
			      struct device ***gpio)
{
	int i;

	*serial = calloc((size_t)cfg->n_serial + 1, sizeof(struct device *));
	*gpio = calloc((size_t)cfg->n_gpio + 1, sizeof(struct device *));
	if (!*serial || !*gpio)
		return -1;
	for (i = 0; i < cfg->n_serial; i++)
		if (!((*serial)[i] = bridge_device_new(b, &serial_driver, cfg->serial[i].name, &cfg->serial[i], i)))
			return -1;
	for (i = 0; i < cfg->n_gpio; i++)
		if (!((*gpio)[i] = bridge_device_new(b, &gpio_driver, cfg->gpio[i].name, &cfg->gpio[i], i)))
			return -1;
	return 0;
}

static void bridge_device_free(struct device *dev)
{
	struct bridge_dev *bd;

	if (!dev)
		return;
	bd = dev->owner;
	device_free(dev);	/* closing reports dropped commands: owner still there */
	bridge_dev_free(bd);
}

static void bridge_devices_free(struct device **devs, int n)
{
	int i;

	if (!devs)
		return;
	for (i = 0; i < n; i++)
		bridge_device_free(devs[i]);
	free(devs);
}

static void bridge_open_all(struct bridge *b, uint64_t now)
{
	int i;

	for (i = 0; i < b->cfg->n_serial; i++)
		b->serial[i]->drv->open(b->serial[i], now);
	for (i = 0; i < b->cfg->n_gpio; i++)
		b->gpio[i]->drv->open(b->gpio[i], now);
}

/* ---- reload ---- */

static int bridge_str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int bridge_serial_same(const struct cfg_serial *a, const struct cfg_serial *b)
{
	int i;

	if (a->n_on_disconnect != b->n_on_disconnect)
		return 0;
	for (i = 0; i < a->n_on_disconnect; i++)
		if (strcmp(a->on_disconnect[i], b->on_disconnect[i]) != 0)
			return 0;
	return bridge_str_eq(a->name, b->name) && bridge_str_eq(a->port, b->port) && a->baud == b->baud &&
	       a->data_bits == b->data_bits && a->parity == b->parity && a->stop_bits == b->stop_bits &&
	       a->flow == b->flow && bridge_str_eq(a->eol, b->eol) && a->max_frame == b->max_frame &&
	       a->reopen_ms == b->reopen_ms && bridge_str_eq(a->status_topic, b->status_topic) &&
	       bridge_str_eq(a->error_topic, b->error_topic) && bridge_str_eq(a->reply_src, b->reply_src) &&
	       a->reply_timeout_ms == b->reply_timeout_ms && a->queue_max == b->queue_max &&
	       a->failsafe_grace_ms == b->failsafe_grace_ms && a->command_timeout_ms == b->command_timeout_ms &&
	       a->rate_limit == b->rate_limit && a->rate_burst == b->rate_burst && a->rs485 == b->rs485 &&
	       a->rs485_delay_before_ms == b->rs485_delay_before_ms &&
	       a->rs485_delay_after_ms == b->rs485_delay_after_ms;
}

static int bridge_gpio_same(const struct cfg_gpio *a, const struct cfg_gpio *b)
{
	return bridge_str_eq(a->name, b->name) && bridge_str_eq(a->chip, b->chip) && a->line == b->line &&
	       bridge_str_eq(a->line_name, b->line_name) && a->direction == b->direction && a->edge == b->edge &&
	       a->bias == b->bias && a->active_low == b->active_low && a->debounce_ms == b->debounce_ms &&
	       a->initial == b->initial && a->failsafe == b->failsafe &&
	       a->failsafe_grace_ms == b->failsafe_grace_ms;
}

static int bridge_mqtt_same(const struct cfg_mqtt *a, const struct cfg_mqtt *b)
{
	int i;

	if (a->n_uris != b->n_uris)
		return 0;
	for (i = 0; i < a->n_uris; i++)
		if (strcmp(a->uris[i], b->uris[i]) != 0)
			return 0;
	return bridge_str_eq(a->client_id, b->client_id) && a->keepalive == b->keepalive &&
	       a->clean_session == b->clean_session && bridge_str_eq(a->username, b->username) &&
	       bridge_str_eq(a->password_file, b->password_file) && bridge_str_eq(a->status_topic, b->status_topic) &&
	       a->reconnect_min_ms == b->reconnect_min_ms && a->reconnect_max_ms == b->reconnect_max_ms &&
	       a->has_tls == b->has_tls && bridge_str_eq(a->tls.ca_file, b->tls.ca_file) &&
	       bridge_str_eq(a->tls.cert_file, b->tls.cert_file) && bridge_str_eq(a->tls.key_file, b->tls.key_file) &&
	       a->tls.verify == b->tls.verify;
}

/*
 * Carry over every old device whose settings are unchanged (it stays open),
 * make new ones for the rest, close what is gone or changed.
 */
static int bridge_swap_devices(struct bridge *b, const struct config *nc, uint64_t now)
{
	struct device **ns = calloc((size_t)nc->n_serial + 1, sizeof(*ns));
	struct device **ng = calloc((size_t)nc->n_gpio + 1, sizeof(*ng));
	int *keep_s = calloc((size_t)b->cfg->n_serial + 1, sizeof(int));
	int *keep_g = calloc((size_t)b->cfg->n_gpio + 1, sizeof(int));
	int i, j, ok = ns && ng && keep_s && keep_g;

	/* first make everything new, so that running out of memory changes nothing */
	for (i = 0; ok && i < nc->n_serial; i++) {
		for (j = 0; j < b->cfg->n_serial; j++)
			if (!keep_s[j] && bridge_serial_same(&nc->serial[i], &b->cfg->serial[j]))
				break;
		if (j < b->cfg->n_serial)
			keep_s[j] = i + 1;
		else if (!(ns[i] = bridge_device_new(b, &serial_driver, nc->serial[i].name, &nc->serial[i], i)))
			ok = 0;
	}
	for (i = 0; ok && i < nc->n_gpio; i++) {
		for (j = 0; j < b->cfg->n_gpio; j++)
			if (!keep_g[j] && bridge_gpio_same(&nc->gpio[i], &b->cfg->gpio[j]))
				break;
		if (j < b->cfg->n_gpio)
			keep_g[j] = i + 1;
		else if (!(ng[i] = bridge_device_new(b, &gpio_driver, nc->gpio[i].name, &nc->gpio[i], i)))
			ok = 0;
	}
	if (!ok) {
		for (i = 0; ns && i < nc->n_serial; i++)
			bridge_device_free(ns[i]);
		for (i = 0; ng && i < nc->n_gpio; i++)
			bridge_device_free(ng[i]);
		free(ns);
		free(ng);
		free(keep_s);
		free(keep_g);
		return -1;
	}
	/* then move the kept ones over and close the rest */
	for (j = 0; j < b->cfg->n_serial; j++) {
		struct device *d = b->serial[j];

		if (keep_s[j]) {
			i = keep_s[j] - 1;
			ns[i] = d;
			d->cfg = &nc->serial[i];
			d->name = nc->serial[i].name;
			d->index = i;
		} else {
			log_msg(LOG_INFO, "reload: serial %s closed", d->name);
			bridge_device_free(d);
		}
	}
	for (j = 0; j < b->cfg->n_gpio; j++) {
		struct device *d = b->gpio[j];

		if (keep_g[j]) {
			i = keep_g[j] - 1;
			ng[i] = d;
			d->cfg = &nc->gpio[i];
			d->name = nc->gpio[i].name;
			d->index = i;
		} else {
			log_msg(LOG_INFO, "reload: gpio %s released", d->name);
			bridge_device_free(d);
		}
	}
	free(b->serial);
	free(b->gpio);
	free(keep_s);
	free(keep_g);
	b->serial = ns;
	b->gpio = ng;
	for (i = 0; i < nc->n_serial; i++)
		if (ns[i]->drv->fd(ns[i]) < 0)
			ns[i]->drv->open(ns[i], now);
	for (i = 0; i < nc->n_gpio; i++)
		if (ng[i]->drv->fd(ng[i]) < 0)
			ng[i]->drv->open(ng[i], now);
	return 0;
}

static void bridge_reload(struct bridge *b, uint64_t now)
{
	char err[CONFIG_ERRLEN];
	struct config *nc = config_load(b->cfg_path, err, sizeof(err));
	char **subs;
	int *qos, n, i, j;

	if (!nc) {
		log_msg(LOG_ERR, "reload refused, the running config stays: %s", err);
		return;
	}
	if (!bridge_mqtt_same(&nc->mqtt, &b->cfg->mqtt)) {
		log_msg(LOG_ERR, "reload refused: mqtt settings changed; restart the service to apply them");
		config_free(nc);
		return;
	}
	n = bridge_collect_subs(nc, &subs, &qos);
	if (n < 0 || bridge_swap_devices(b, nc, now) < 0) {
		log_msg(LOG_ERR, "reload failed: out of memory");
		if (n >= 0)
			bridge_free_subs(subs, qos, n);
		config_free(nc);
		return;
	}
	/* subscriptions: drop the ones gone, add the new ones */
	for (i = 0; i < b->n_subs; i++) {
		for (j = 0; j < n; j++)
			if (strcmp(b->subs[i], subs[j]) == 0)
				break;
		if (j == n && mqtt_is_connected(b->mqtt))
			mqtt_unsubscribe(b->mqtt, &b->subs[i], 1);
	}
	bridge_free_subs(b->subs, b->sub_qos, b->n_subs);
	b->subs = subs;
	b->sub_qos = qos;
	b->n_subs = n;
	if (mqtt_is_connected(b->mqtt))
		bridge_subscribe_all(b);
	/* everything that points into the old config moves first */
	mqtt_set_config(b->mqtt, &nc->mqtt, &nc->buffer);
	config_free(b->cfg);
	b->cfg = nc;
	if (nc->log_level)
		log_set_level(strcmp(nc->log_level, "debug") == 0	? LOG_DEBUG
			      : strcmp(nc->log_level, "warning") == 0 ? LOG_WARNING
			      : strcmp(nc->log_level, "error") == 0   ? LOG_ERR
								      : LOG_INFO);
	log_msg(LOG_INFO, "reloaded %s: %d serial, %d gpio, %d routes", b->cfg_path, nc->n_serial, nc->n_gpio,
		nc->n_routes);
}

/* ---- stats ---- */

static void bridge_log_stats(struct bridge *b)
{
	const struct mqtt_stats *ms = mqtt_get_stats(b->mqtt);
	int i;

	log_msg(LOG_NOTICE,
		"stats: up %llu frames (%llu unrouted, %llu refused); down %llu messages (%llu written, %llu refused, "
		"%llu unrouted, %llu retained ignored); mqtt %llu published, %llu failed, %llu dropped in, %llu connects",
		(unsigned long long)b->stats.up_frames, (unsigned long long)b->stats.up_unrouted,
		(unsigned long long)b->stats.up_refused, (unsigned long long)b->stats.down_messages,
		(unsigned long long)b->stats.down_written, (unsigned long long)b->stats.down_refused,
		(unsigned long long)b->stats.down_unrouted, (unsigned long long)b->stats.down_retained,
		(unsigned long long)ms->published, (unsigned long long)ms->publish_failed,
		(unsigned long long)ms->dropped_in, (unsigned long long)ms->connects);
	for (i = 0; i < b->cfg->n_serial; i++) {
		const struct device_stats *s = &b->serial[i]->stats;

		log_msg(LOG_NOTICE, "stats: %s %s: in %llu frames, out %llu, over-long %llu, refused %llu",
			b->serial[i]->name, b->serial[i]->online ? "online" : "offline",
			(unsigned long long)s->frames_in, (unsigned long long)s->frames_out,
			(unsigned long long)s->dropped_overlong, (unsigned long long)s->refused);
	}
	for (i = 0; i < b->cfg->n_gpio; i++) {
		const struct device_stats *s = &b->gpio[i]->stats;

		log_msg(LOG_NOTICE, "stats: %s %s: in %llu, out %llu, refused %llu", b->gpio[i]->name,
			b->gpio[i]->online ? "online" : "offline", (unsigned long long)s->frames_in,
			(unsigned long long)s->frames_out, (unsigned long long)s->refused);
	}
}

/* Counters as one JSON object, for dashboards (mqtt.stats_topic). */
static void bridge_publish_stats(struct bridge *b)
{
	const struct mqtt_stats *ms = mqtt_get_stats(b->mqtt);
	char buf[8192];
	size_t n = 0;
	int i;

#define J(...) (n += (size_t)snprintf(buf + n, n < sizeof(buf) ? sizeof(buf) - n : 0, __VA_ARGS__))
	J("{\"up_frames\":%llu,\"up_unrouted\":%llu,\"up_refused\":%llu,\"down_messages\":%llu,"
	  "\"down_written\":%llu,\"down_refused\":%llu,\"down_unrouted\":%llu,\"down_retained\":%llu,"
	  "\"down_dropped\":%llu,\"timeouts\":%llu,\"published\":%llu,\"publish_failed\":%llu,"
	  "\"dropped_in\":%llu,\"buffer_dropped\":%llu,\"connects\":%llu,\"devices\":{",
	  (unsigned long long)b->stats.up_frames, (unsigned long long)b->stats.up_unrouted,
	  (unsigned long long)b->stats.up_refused, (unsigned long long)b->stats.down_messages,
	  (unsigned long long)b->stats.down_written, (unsigned long long)b->stats.down_refused,
	  (unsigned long long)b->stats.down_unrouted, (unsigned long long)b->stats.down_retained,
	  (unsigned long long)b->stats.down_dropped, (unsigned long long)b->stats.timeouts,
	  (unsigned long long)ms->published, (unsigned long long)ms->publish_failed,
	  (unsigned long long)ms->dropped_in, (unsigned long long)ms->buffer_dropped,
	  (unsigned long long)ms->connects);
	for (i = 0; i < b->cfg->n_serial + b->cfg->n_gpio; i++) {
		const struct device *d = i < b->cfg->n_serial ? b->serial[i] : b->gpio[i - b->cfg->n_serial];

		J("%s\"%s\":{\"online\":%d,\"in\":%llu,\"out\":%llu,\"overlong\":%llu,\"bad\":%llu,"
		  "\"refused\":%llu}",
		  i ? "," : "", d->name, d->online, (unsigned long long)d->stats.frames_in,
		  (unsigned long long)d->stats.frames_out, (unsigned long long)d->stats.dropped_overlong,
		  (unsigned long long)d->stats.bad_frames, (unsigned long long)d->stats.refused);
	}
	J("}}");
#undef J
	if (n < sizeof(buf))
		mqtt_publish(b->mqtt, b->cfg->mqtt.stats_topic, buf, n, 0, 1);
}

/* ---- the loop ---- */

static int bridge_signals(struct bridge *b, uint64_t now)
{
	struct signalfd_siginfo si;

	while (read(b->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_msg(LOG_INFO, "signal %d: shutting down", (int)si.ssi_signo);
			b->stop = 1;
			break;
		case SIGHUP:
			sdnotify_reloading();
			bridge_reload(b, now);
			sdnotify_ready();
			break;
		case SIGUSR1:
			bridge_log_stats(b);
			break;
		default:
			break;
		}
	}
	return 0;
}

static int bridge_build_pollfds(struct bridge *b)
{
	int need = 2 + b->cfg->n_serial + b->cfg->n_gpio, n = 0, i;

	if (need > b->pcap) {
		struct pollfd *p = realloc(b->pfds, sizeof(*p) * (size_t)need);
		struct device **d;

		if (!p)
			return -1;
		b->pfds = p;
		d = realloc(b->pdev, sizeof(*d) * (size_t)need);
		if (!d)
			return -1;
		b->pdev = d;
		b->pcap = need;
	}
	b->pfds[n].fd = b->sfd;
	b->pfds[n].events = POLLIN;
	b->pdev[n++] = NULL;
	b->pfds[n].fd = mqtt_fd(b->mqtt);
	b->pfds[n].events = POLLIN;
	b->pdev[n++] = NULL;
	for (i = 0; i < b->cfg->n_serial + b->cfg->n_gpio; i++) {
		struct device *dev = i < b->cfg->n_serial ? b->serial[i] : b->gpio[i - b->cfg->n_serial];
		int fd = dev->drv->fd(dev);

		if (fd < 0)
			continue;
		b->pfds[n].fd = fd;
		b->pfds[n].events = dev->drv->events(dev);
		b->pdev[n++] = dev;
	}
	return n;
}

static uint64_t bridge_deadline(struct bridge *b, uint64_t now)
{
	uint64_t d = mqtt_tick(b->mqtt, now), t;
	int i;

	if (b->stats_next != UINT64_MAX) {
		if (now >= b->stats_next) {
			if (mqtt_is_connected(b->mqtt))
				bridge_publish_stats(b);
			b->stats_next = now + (uint64_t)b->cfg->mqtt.stats_interval * 1000u;
		}
		d = b->stats_next < d ? b->stats_next : d;
	}
	if (b->wd_interval) {
		if (now >= b->wd_next) {
			sdnotify_watchdog();
			b->wd_next = now + b->wd_interval;
		}
		d = b->wd_next < d ? b->wd_next : d;
	}
	for (i = 0; i < b->cfg->n_serial; i++) {
		t = b->serial[i]->drv->tick(b->serial[i], now);
		d = t < d ? t : d;
	}
	for (i = 0; i < b->cfg->n_gpio; i++) {
		t = b->gpio[i]->drv->tick(b->gpio[i], now);
		d = t < d ? t : d;
	}
	return d;
}

static int bridge_timeout(uint64_t deadline, uint64_t now)
{
	if (deadline == UINT64_MAX)
		return -1;
	if (deadline <= now)
		return 0;
	return deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
}

static void bridge_dispatch(struct bridge *b, int n, uint64_t now)
{
	int i;

	for (i = 2; i < n; i++) {
		struct device *dev = b->pdev[i];
		short re = b->pfds[i].revents;

		if (!re)
			continue;
		/* an earlier handler (reload, a lost port) may have closed it */
		if (dev->drv->fd(dev) != b->pfds[i].fd)
			continue;
		if (re & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
			dev->drv->on_readable(dev, now);
		if ((re & POLLOUT) && dev->drv->fd(dev) == b->pfds[i].fd)
			dev->drv->on_writable(dev, now);
	}
}

/* Fail-safe outputs, flush queued serial output, "offline", disconnect. */
static void bridge_shutdown(struct bridge *b)
{
	uint64_t start = bridge_now_ms(), now;
	int i, n, pending;

	for (i = 0; i < b->cfg->n_serial; i++)
		if (b->serial[i]->drv->failsafe)
			b->serial[i]->drv->failsafe(b->serial[i]);
	for (i = 0; i < b->cfg->n_gpio; i++)
		if (b->gpio[i]->drv->failsafe)
			b->gpio[i]->drv->failsafe(b->gpio[i]);
	for (now = start; now - start < BRIDGE_SHUTDOWN_FLUSH_MS; now = bridge_now_ms()) {
		n = bridge_build_pollfds(b);
		pending = 0;
		for (i = 2; i < n; i++) {
			b->pfds[i].events &= POLLOUT;
			pending |= b->pfds[i].events != 0;
		}
		if (!pending || poll(b->pfds, (nfds_t)n, (int)(BRIDGE_SHUTDOWN_FLUSH_MS - (now - start))) <= 0)
			break;
		bridge_dispatch(b, n, bridge_now_ms());
	}
	if (mqtt_is_connected(b->mqtt)) {
		struct pollfd p = { mqtt_fd(b->mqtt), POLLIN, 0 };
		struct mqtt_event *ev;
		int done = 0;

		/* once "offline" is acknowledged, everything before it is too (in order) */
		if (mqtt_publish_sync(b->mqtt, b->cfg->mqtt.status_topic, "offline", 7, 1, 1, BRIDGE_DISCONNECT_MS) < 0)
			log_msg(LOG_WARNING, "mqtt: \"offline\" not acknowledged in time");
		mqtt_disconnect(b->mqtt, 100);
		start = bridge_now_ms();
		while (!done && (now = bridge_now_ms()) - start < BRIDGE_DISCONNECT_MS + 200) {
			if (poll(&p, 1, (int)(BRIDGE_DISCONNECT_MS + 200 - (now - start))) <= 0)
				break;
			mqtt_drain_fd(b->mqtt);
			while ((ev = mqtt_next_event(b->mqtt)) != NULL) {
				done |= ev->type == MQTT_EV_DISCONNECTED || ev->type == MQTT_EV_LOST;
				mqtt_event_free(ev);
			}
		}
	}
	log_msg(LOG_INFO, "stopped");
}

int bridge_run(struct bridge *b)
{
	uint64_t now = bridge_now_ms();

	log_msg(LOG_INFO, "mqttgw %s starting: %d serial, %d gpio, %d routes, broker %s", MQTTGW_VERSION,
		b->cfg->n_serial, b->cfg->n_gpio, b->cfg->n_routes, b->cfg->mqtt.uris[0]);
	b->wd_interval = sdnotify_watchdog_interval_ms();
	b->wd_next = now;
	b->stats_next = *b->cfg->mqtt.stats_topic ? now + (uint64_t)b->cfg->mqtt.stats_interval * 1000u : UINT64_MAX;
	bridge_open_all(b, now);
	/* a port missing at start is "offline" from the start, not unknown */
	for (int i = 0; i < b->cfg->n_serial; i++)
		if (!b->serial[i]->online)
			bridge_state(b->serial[i], 0, b);
	/* not connected yet: fail-safe timers run until the broker answers */
	bridge_link(b, 0, now);
	mqtt_start(b->mqtt, now);
	while (!b->stop) {
		int n, rc;

		now = bridge_now_ms();
		rc = bridge_timeout(bridge_deadline(b, now), now);
		n = bridge_build_pollfds(b);
		if (n < 0) {
			log_msg(LOG_ERR, "out of memory");
			return 1;
		}
		rc = poll(b->pfds, (nfds_t)n, rc);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERR, "poll: %s", strerror(errno));
			return 1;
		}
		now = bridge_now_ms();
		if (b->pfds[0].revents)
			bridge_signals(b, now);
		if (b->pfds[1].revents)
			bridge_mqtt_events(b, now);
		if (rc > 0 && !b->stop)
			bridge_dispatch(b, n, now);
	}
	sdnotify_stopping();
	bridge_shutdown(b);
	return 0;
}

struct bridge *bridge_new(struct config *cfg, const char *cfg_path, char *err, size_t errlen)
{
	struct bridge *b = calloc(1, sizeof(*b));
	sigset_t mask;

	if (!b) {
		snprintf(err, errlen, "out of memory");
		config_free(cfg);
		return NULL;
	}
	b->cfg = cfg;
	b->sfd = -1;
	b->cfg_path = strdup(cfg_path);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	b->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (b->sfd < 0) {
		snprintf(err, errlen, "signalfd: %s", strerror(errno));
		goto fail;
	}
	b->n_subs = bridge_collect_subs(cfg, &b->subs, &b->sub_qos);
	if (!b->cfg_path || b->n_subs < 0 || bridge_devices_new(b, cfg, &b->serial, &b->gpio) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	b->retained = retained_new();
	if (!b->retained) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	b->mqtt = mqtt_new(&cfg->mqtt, &cfg->buffer, err, errlen);
	if (!b->mqtt)
		goto fail;
	return b;
fail:
	bridge_free(b);
	return NULL;
}

void bridge_free(struct bridge *b)
{
	if (!b)
		return;
	/* the client first: its threads must not push events anymore */
	mqtt_free(b->mqtt);
	b->mqtt = NULL;
	if (b->cfg) {
		/* closing devices must not call back into a half-freed bridge */
		for (int i = 0; b->serial && i < b->cfg->n_serial; i++)
			if (b->serial[i])
				b->serial[i]->state = NULL, b->serial[i]->event = NULL;
		for (int i = 0; b->gpio && i < b->cfg->n_gpio; i++)
			if (b->gpio[i])
				b->gpio[i]->state = NULL, b->gpio[i]->event = NULL;
		bridge_devices_free(b->serial, b->cfg->n_serial);
		bridge_devices_free(b->gpio, b->cfg->n_gpio);
	}
	if (b->n_subs > 0 || b->subs)
		bridge_free_subs(b->subs, b->sub_qos, b->n_subs > 0 ? b->n_subs : 0);
	if (b->sfd >= 0)
		close(b->sfd);
	retained_free(b->retained);
	free(b->pfds);
	free(b->pdev);
	free(b->cfg_path);
	config_free(b->cfg);
	free(b);
}
