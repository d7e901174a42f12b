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
 * Reload is in bridge_reload.c, counters in bridge_stats.c, where replies
 * go in bridge_replies.c, Home Assistant discovery in bridge_ha.c;
 * bridge_int.h is what they share.
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
#include "bridge_int.h"
#include "clock.h"
#include "device.h"
#include "info.h"
#include "log.h"
#include "mapping.h"
#include "mqtt.h"
#include "retained.h"
#include "sdnotify.h"
#include "subs.h"

#define BRIDGE_SHUTDOWN_FLUSH_MS 500
#define BRIDGE_DISCONNECT_MS 1000
/* At SIGTERM, the outbound queue gets this long to reach the broker. */
#define BRIDGE_QUEUE_DRAIN_MS 2000
/* Links lost this soon after connecting, this many times in a row: someone else has our client_id. */
#define BRIDGE_QUICK_LOSS_MS 5000
#define BRIDGE_QUICK_LOSSES 3
/* MQTT 5 DISCONNECT reason code: another client connected with our client_id */
#define BRIDGE_SESSION_TAKEN_OVER 0x8E

uint64_t bridge_now_ms(void)
{
	return clock_now_ms();
}

/* The bridge is about to call dev's driver: its next tick must not wait for its old deadline. */
static void bridge_touch(struct device *dev)
{
	((struct bridge_dev *)dev->owner)->touched = 1;
}

/* ---- uplink ---- */

static void bridge_emit(struct device *dev, const char *frame, size_t len, void *ctx)
{
	struct bridge *b = ctx;
	const struct bridge_dev *bd = dev->owner;
	struct mapping_out out;

	b->stats.up_frames++;
	if (mapping_uplink(b->cfg, bd->end, dev->index, frame, len, b->topic, sizeof(b->topic), b->payload,
			   sizeof(b->payload), &out) < 0) {
		b->stats.up_unrouted++;
		log_msg(LOG_DEBUG, "%s: frame matches no route: %.*s", dev->name, (int)(len > 80 ? 80 : len), frame);
		return;
	}
	if (out.verdict != MAPPING_OK) {
		b->stats.up_refused++;
		log_msg(LOG_WARNING, "%s: frame refused by route %d (line %d): %s", dev->name, out.route + 1,
			b->cfg->routes[out.route].line, mapping_verdict_str(out.verdict));
		bridge_replies_error(b, dev, mapping_verdict_str(out.verdict), frame, len);
		return;
	}
	if (b->cfg->routes[out.route].on_change && !onchange_pass(&b->onchange, out.topic, out.payload, out.payload_len,
								  b->cfg->routes[out.route].heartbeat_ms, bridge_now_ms())) {
		b->stats.unchanged_suppressed++;
		return;
	}
	log_msg(LOG_DEBUG, "%s -> %s %.*s (route %d, line %d)", dev->name, out.topic,
		(int)(out.payload_len > 200 ? 200 : out.payload_len), out.payload, out.route + 1,
		b->cfg->routes[out.route].line);
	mqtt_publish(b->mqtt, out.topic, out.payload, out.payload_len, out.qos, out.retain);
	/* a driver that re-emits its state on connect needs no copy kept */
	if (out.retain && !device_has(dev, DEVICE_CAP_REEMITS))
		retained_set(b->retained, out.topic, out.payload, out.payload_len, out.qos);
}

static void bridge_republish(const char *topic, const void *payload, size_t len, int qos, void *ctx)
{
	struct bridge *b = ctx;

	mqtt_publish(b->mqtt, topic, payload, len, qos, 1);
}

/* The self-description (info.c), retained: on connect and after a reload. */
static void bridge_info(struct bridge *b)
{
	char topic[BRIDGE_TOPIC_MAX];
	char *doc = info_build(b->cfg);

	if (doc && info_topic(b->cfg, topic, sizeof(topic)) == 0)
		mqtt_publish(b->mqtt, topic, doc, strlen(doc), 1, 1);
	else
		log_msg(LOG_WARNING, "info: document not built (out of memory or topic too long)");
	free(doc);
}

/*
 * Availability: "online"/"offline" retained on the device's status topic.
 * Published once per change: while the broker is away only the cache of
 * retained values learns it, and the connect republishes that cache (the
 * queue as well would say "online" twice at every start). A device status
 * means something only while the gateway's own status is "online": the
 * will covers the gateway, so after a crash a device may still read
 * "online"; a clean stop says "offline" for each device first (bridge_shutdown).
 */
static void bridge_state(struct device *dev, int online, void *ctx)
{
	struct bridge *b = ctx;
	const char *word = online ? "online" : "offline";
	const char *topic = device_status_topic(dev);

	log_msg(online ? LOG_DEBUG : LOG_INFO, "%s: %s", dev->name, word);
	if (!topic || !*topic)
		return;
	retained_set(b->retained, topic, word, strlen(word), 1);
	/* stopping: bridge_shutdown says "offline" for every device, in order */
	if (!b->stop && mqtt_is_connected(b->mqtt))
		mqtt_publish(b->mqtt, topic, word, strlen(word), 1, 1);
}

/* ---- downlink ---- */

static struct device *bridge_target(struct bridge *b, const struct mapping_out *o)
{
	return b->devs[bridge_device_pos(b->cfg, o->kind, o->dev)];
}

static void bridge_message(struct bridge *b, const struct mqtt_event *ev, uint64_t now)
{
	struct mapping_out out;
	const char *via[MQTT_SUB_IDS_MAX];
	int next = 0, routed = 0, pushed, n_via = -1, i, rc;
	const char *why;

	b->stats.down_messages++;
	if (ev->retained) {
		/* a retained command would re-run on every reconnect: never */
		b->stats.down_retained++;
		log_msg(LOG_WARNING, "mqtt: retained message on %s ignored (commands must not be retained)",
			ev->topic);
		return;
	}
	/* MQTT 5: only the routes of the subscriptions this copy was sent for (subs.h) */
	if (ev->n_sub_ids > 0) {
		n_via = 0;
		for (i = 0; i < ev->n_sub_ids; i++) {
			const char *f = subs_filter_of(b->subs, ev->sub_ids[i]);

			if (f)
				via[n_via++] = f;
		}
	}
	while (mapping_downlink(b->cfg, ev->topic, via, n_via, ev->payload, ev->len, &next, b->payload,
				sizeof(b->payload), &out) == 0) {
		struct device *dev = bridge_target(b, &out);

		routed = 1;
		bridge_touch(dev);
		if (out.verdict != MAPPING_OK) {
			b->stats.down_refused++;
			log_msg(LOG_WARNING, "command on %s for %s refused (route %d, line %d): %s", ev->topic,
				dev->name, out.route + 1, b->cfg->routes[out.route].line,
				mapping_verdict_str(out.verdict));
			bridge_replies_error(b, dev, mapping_verdict_str(out.verdict), ev->payload, ev->len);
			continue;
		}
		/* stale commands (issue 20): an expired one never reaches a device */
		why = ev->has_expiry && now >= ev->expires_at ? "expired (MQTT 5 message expiry)"
		      : !ev->has_expiry && b->cfg->routes[out.route].require_expiry ? "no message expiry (require_expiry)"
											  : NULL;
		if (why) {
			b->stats.down_refused++;
			log_msg(LOG_WARNING, "command on %s for %s refused (route %d, line %d): %s", ev->topic,
				dev->name, out.route + 1, b->cfg->routes[out.route].line, why);
			bridge_replies_error(b, dev, ev->has_expiry ? "expired" : "no expiry", ev->payload, ev->len);
			continue;
		}
		dev->last_error = NULL;
		/*
		 * The reply target goes in line first: the write may already
		 * report on this command (a port lost while writing drops it,
		 * and the drop takes its target out of line).
		 */
		pushed = bridge_replies_push(dev, ev) == 0;
		dev->write_expires_at = ev->has_expiry ? ev->expires_at : UINT64_MAX;
		rc = dev->drv->write(dev, out.payload, out.payload_len, now);
		dev->write_expires_at = UINT64_MAX;
		if (rc < 0) {
			if (pushed)
				bridge_replies_unpush(dev);
			b->stats.down_refused++;
			log_msg(LOG_WARNING, "command on %s for %s refused: %s", ev->topic, dev->name,
				dev->last_error ? dev->last_error : "device refused it");
			bridge_replies_error(b, dev, dev->last_error ? dev->last_error : "refused", out.payload,
				     out.payload_len);
			continue;
		}
		b->stats.down_written++;
		log_msg(LOG_DEBUG, "%s <- %.*s (from %s, route %d, line %d)", dev->name, (int)out.payload_len,
			out.payload, ev->topic, out.route + 1, b->cfg->routes[out.route].line);
	}
	if (!routed)
		b->stats.down_unrouted++;
}

/* ---- subscriptions ---- */

void bridge_subscribe_all(struct bridge *b)
{
	int i;

	mqtt_subscribe(b->mqtt, b->subs->filter, b->subs->qos, b->subs->id, b->subs->n);
	for (i = 0; i < b->subs->n; i++)
		log_msg(LOG_DEBUG, "mqtt: subscribed to %s (qos %d)", b->subs->filter[i], b->subs->qos[i]);
}

/* ---- broker events ---- */

void bridge_link(struct bridge *b, int up, uint64_t now)
{
	int i;

	for (i = 0; i < b->n_devs; i++) {
		bridge_touch(b->devs[i]);
		if (b->devs[i]->drv->link)
			b->devs[i]->drv->link(b->devs[i], up, now);
	}
}

/* Tell systemd (Type=notify) that start-up is over, and how things stand. */
static void bridge_ready(struct bridge *b, const char *what, const char *detail)
{
	sdnotify_status("%s%s", what, detail);
	if (!b->ready_sent)
		sdnotify_ready();
	b->ready_sent = 1;
}

/*
 * Two gateways on one config (or any two clients with one client_id)
 * take the session from each other on every connect, and all either
 * log says is "connection lost". MQTT 5 names it (reason code 0x8E);
 * MQTT 3.1.1 only shows links that die right after connecting.
 */
static void bridge_lost_why(struct bridge *b, int reason, uint64_t now)
{
	const char *id = b->cfg->mqtt.client_id;

	if (reason == BRIDGE_SESSION_TAKEN_OVER) {
		log_msg(LOG_ERR,
			"mqtt: session taken over: another client connected with our client_id \"%s\" "
			"(a second mqttgw with this config?); each client needs its own mqtt.client_id", id);
		return;
	}
	if (b->connected_at && now - b->connected_at < BRIDGE_QUICK_LOSS_MS)
		b->quick_losses++;
	else
		b->quick_losses = 0;
	b->connected_at = 0;
	if (b->quick_losses == BRIDGE_QUICK_LOSSES)
		log_msg(LOG_ERR,
			"mqtt: the broker closed the connection right after connecting %d times in a row: another "
			"client probably uses the same client_id \"%s\" (a second mqttgw with this config?); each "
			"client needs its own mqtt.client_id. Or the broker cannot serve our session (a RabbitMQ "
			"cluster node holding it is down: see docs/INTEROP.md)",
			BRIDGE_QUICK_LOSSES, id);
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
			b->connected_at = now;
			log_msg(LOG_INFO, "mqtt: connected to %s", ev->text && *ev->text ? ev->text : "broker");
			bridge_ready(b, "connected to ", ev->text && *ev->text ? ev->text : b->cfg->mqtt.uris[0]);
			/* ahead of any backlog the queue sends now: dashboards see "online" at once */
			mqtt_publish_now(b->mqtt, b->cfg->mqtt.status_topic, "online", 6, 1, 1);
			/* the backlog before anything new (a republished state must not push it out) */
			mqtt_send_queued(b->mqtt);
			bridge_subscribe_all(b);
			/* Home Assistant learns the entities before their states come */
			bridge_ha_connected(b);
			retained_each(b->retained, bridge_republish, b);
			bridge_info(b);
			bridge_link(b, 1, now);
			break;
		case MQTT_EV_CONNECT_FAILED:
			log_msg(LOG_WARNING, "mqtt: cannot connect to %s: %s", mqtt_attempt_uri(b->mqtt),
				ev->text ? ev->text : "?");
			/* ready all the same: a down broker is retried, not a failed start */
			bridge_ready(b, "broker unreachable, retrying: ", ev->text ? ev->text : "?");
			break;
		case MQTT_EV_LOST:
			log_msg(LOG_WARNING, "mqtt: connection lost: %s; reconnecting", ev->text ? ev->text : "?");
			bridge_lost_why(b, ev->rc, now);
			sdnotify_status("connection lost (%s), reconnecting", ev->text ? ev->text : "?");
			bridge_link(b, 0, now);
			break;
		case MQTT_EV_MESSAGE:
			if (!bridge_ha_message(b, ev, now))
				bridge_message(b, ev, now);
			break;
		case MQTT_EV_DISCONNECTED:
			break;
		case MQTT_EV_SUB_REFUSED:
			bridge_replies_sub_refused(b, ev->topic, ev->rc);
			break;
		}
		mqtt_event_free(ev);
	}
}

/* ---- devices ---- */

/* A device is about to forget input it emitted: the queue's journal first. */
static int bridge_sync(struct device *dev, void *ctx)
{
	struct bridge *b = ctx;

	(void)dev;
	return mqtt_flush(b->mqtt);
}

/*
 * The config keeps its devices in a list per kind; this is the one place
 * that knows it: every other walk goes over b->devs[], in this order (the
 * serial entries, then the gpio ones, each in file order).
 */
int bridge_device_count(const struct config *cfg)
{
	return cfg->n_serial + cfg->n_gpio;
}

void bridge_device_entry(const struct config *cfg, int i, struct bridge_entry *e)
{
	if (i < cfg->n_serial) {
		*e = (struct bridge_entry){ "serial", ROUTE_SERIAL, i, cfg->serial[i].name, &cfg->serial[i] };
		return;
	}
	i -= cfg->n_serial;
	*e = (struct bridge_entry){ "gpio", ROUTE_GPIO, i, cfg->gpio[i].name, &cfg->gpio[i] };
}

int bridge_device_pos(const struct config *cfg, enum route_end end, int index)
{
	return end == ROUTE_SERIAL ? index : cfg->n_serial + index;
}

struct device *bridge_device_new(struct bridge *b, const struct bridge_entry *e)
{
	const struct device_driver *drv = device_driver_find(e->kind);
	struct bridge_dev *bd = calloc(1, sizeof(*bd));
	struct device *dev = drv && bd ? device_new(drv, e->name, e->cfg, bridge_emit, bridge_state, b) : NULL;
	int slots;

	if (!dev) {
		if (!drv)
			log_msg(LOG_ERR, "%s: no driver for devices of kind \"%s\"", e->name, e->kind);
		free(bd);
		return NULL;
	}
	bd->end = e->end;
	dev->owner = bd;
	dev->index = e->index;
	dev->event = bridge_replies_event;
	dev->sync = bridge_sync;
	dev->spool_dir = b->spool_dir;
	dev->spool_sync = b->cfg->buffer.sync;
	/* room for every command the device can hold, and one in flight */
	slots = device_reply_slots(dev);
	if (slots > 0 && !(bd->replies = bridge_replies_new(slots))) {
		bridge_device_free(dev);
		return NULL;
	}
	return dev;
}

static struct device **bridge_devices_new(struct bridge *b, const struct config *cfg)
{
	int i, n = bridge_device_count(cfg);
	struct device **devs = calloc((size_t)n + 1, sizeof(*devs));
	struct bridge_entry e;

	for (i = 0; devs && i < n; i++) {
		bridge_device_entry(cfg, i, &e);
		if (!(devs[i] = bridge_device_new(b, &e))) {
			while (i-- > 0)
				bridge_device_free(devs[i]);
			free(devs);
			return NULL;
		}
	}
	return devs;
}

void bridge_device_free(struct device *dev)
{
	struct bridge_dev *bd;

	if (!dev)
		return;
	bd = dev->owner;
	device_free(dev);	/* closing reports dropped commands: owner still there */
	if (bd)
		bridge_replies_free(bd->replies);
	free(bd);
}

static void bridge_open_all(struct bridge *b, uint64_t now)
{
	int i;

	for (i = 0; i < b->n_devs; i++)
		b->devs[i]->drv->open(b->devs[i], now);
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
			if (mqtt_is_connected(b->mqtt))
				bridge_info(b);
			sdnotify_ready();
			break;
		case SIGUSR1:
			bridge_stats_log(b);
			break;
		default:
			break;
		}
	}
	return 0;
}

static int bridge_build_pollfds(struct bridge *b)
{
	int need = 2 + b->n_devs, n = 0, i;
	/* back-pressure: while the broker lags, serial bytes wait in the kernel (mqtt.c) */
	int hold = mqtt_congested(b->mqtt, bridge_now_ms());

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
	for (i = 0; i < b->n_devs; i++) {
		struct device *dev = b->devs[i];
		int fd = dev->drv->fd(dev);

		if (fd < 0)
			continue;
		b->pfds[n].fd = fd;
		b->pfds[n].events = dev->drv->events(dev);
		if (hold && device_has(dev, DEVICE_CAP_HOLD_INPUT))
			b->pfds[n].events &= (short)~POLLIN;
		b->pdev[n++] = dev;
	}
	return n;
}

static uint64_t bridge_deadline(struct bridge *b, uint64_t now)
{
	uint64_t d = mqtt_tick(b->mqtt, now), t;
	int i, all;

	if (b->stats_next != UINT64_MAX) {
		if (now >= b->stats_next) {
			if (mqtt_is_connected(b->mqtt))
				bridge_stats_publish(b);
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
	/*
	 * A device is ticked when its own deadline has come or the bridge
	 * called it since its last tick (a read, a write, a link change, a
	 * reload); the others cannot have timed work yet. Ticking every
	 * device every turn made each frame cost ~400 instructions per
	 * configured port (make bench-scale: 43,810 on the loop at 64 ports
	 * against 14,462 at one).
	 */
	all = b->ticked_reloads != b->reloads;
	b->ticked_reloads = b->reloads;
	for (i = 0; i < b->n_devs; i++) {
		struct bridge_dev *bd = b->devs[i]->owner;

		if (all || bd->touched || now >= bd->next_tick) {
			bd->touched = 0;
			bd->next_tick = b->devs[i]->drv->tick(b->devs[i], now);
		}
		t = bd->next_tick;
		d = t < d ? t : d;
	}
	t = bridge_ha_tick(b, now);
	return t < d ? t : d;
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
		bridge_touch(dev);
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

	for (i = 0; i < b->n_devs; i++)
		if (b->devs[i]->drv->failsafe)
			b->devs[i]->drv->failsafe(b->devs[i], start);
	for (now = start; now - start < BRIDGE_SHUTDOWN_FLUSH_MS; now = bridge_now_ms()) {
		n = bridge_build_pollfds(b);
		if (n < 0)
			break;
		pending = 0;
		/* output only: signals and broker events wait (they would wake poll at once) */
		b->pfds[0].events = b->pfds[1].events = 0;
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

		/* the queue first, for a while: a restart (an upgrade) should not cost a backlog */
		start = bridge_now_ms();
		while (!done && mqtt_get_stats(b->mqtt)->queued > 0 &&
		       (now = bridge_now_ms()) - start < BRIDGE_QUEUE_DRAIN_MS) {
			if (poll(&p, 1, (int)(BRIDGE_QUEUE_DRAIN_MS - (now - start))) <= 0)
				break;
			mqtt_drain_fd(b->mqtt);
			while ((ev = mqtt_next_event(b->mqtt)) != NULL) {
				done |= ev->type == MQTT_EV_LOST;
				mqtt_event_free(ev);
			}
			mqtt_congested(b->mqtt, bridge_now_ms());	/* updates the queued count */
		}
		done = 0;
		/* each device "offline" before the gateway's own: nothing reads "online" after a clean stop */
		for (i = 0; i < b->n_devs; i++) {
			const char *topic = device_status_topic(b->devs[i]);

			if (b->devs[i]->online && topic && *topic)
				mqtt_publish_now(b->mqtt, topic, "offline", 7, 1, 1);
		}
		/* once "offline" is acknowledged, everything paho was given before it is too (in order) */
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
	/* a device that reports availability and is missing at start is "offline" from the start, not unknown */
	for (int i = 0; i < b->n_devs; i++)
		if (!b->devs[i]->online && device_status_topic(b->devs[i]))
			bridge_state(b->devs[i], 0, b);
	/* not connected yet: fail-safe timers run until the broker answers */
	bridge_link(b, 0, now);
	mqtt_start(b->mqtt, now);
	while (!b->stop) {
		unsigned reloads;
		int n, rc;

		now = bridge_now_ms();
		rc = bridge_timeout(bridge_deadline(b, now), now);
		n = bridge_build_pollfds(b);
		if (n < 0) {
			log_msg(LOG_ERR, "out of memory");
			return 1;
		}
		/* buffer.dir: what this turn queued is on disk before we sleep */
		mqtt_flush(b->mqtt);
		rc = poll(b->pfds, (nfds_t)n, rc);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERR, "poll: %s", strerror(errno));
			return 1;
		}
		now = bridge_now_ms();
		reloads = b->reloads;
		if (b->pfds[0].revents)
			bridge_signals(b, now);
		if (b->pfds[1].revents)
			bridge_mqtt_events(b, now);
		/* after a reload pdev[] may name freed devices: their fds are polled again next turn */
		if (rc > 0 && !b->stop && b->reloads == reloads)
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
	/* the devices keep a pointer: a reload that changes buffer.dir swaps them all (bridge_reload.c) */
	b->spool_dir = *cfg->buffer.dir ? strdup(cfg->buffer.dir) : NULL;
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
	b->next_sub_id = 1;
	b->n_devs = bridge_device_count(cfg);
	b->subs = subs_new(cfg, NULL, &b->next_sub_id);
	if (!b->cfg_path || (*cfg->buffer.dir && !b->spool_dir) || !b->subs || !(b->devs = bridge_devices_new(b, cfg))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	bridge_ha_init(b);
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
	/* closing devices must not call back into a half-freed bridge */
	for (int i = 0; b->devs && i < b->n_devs; i++)
		b->devs[i]->state = NULL, b->devs[i]->event = NULL;
	for (int i = 0; b->devs && i < b->n_devs; i++)
		bridge_device_free(b->devs[i]);
	free(b->devs);
	subs_free(b->subs);
	if (b->sfd >= 0)
		close(b->sfd);
	retained_free(b->retained);
	onchange_free(b->onchange);
	bridge_ha_free(b);
	free(b->pfds);
	free(b->pdev);
	free(b->cfg_path);
	free(b->spool_dir);
	config_free(b->cfg);
	free(b);
}
