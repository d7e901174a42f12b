/*
 * bridge_replies.c - where a device's replies and errors go.
 *
 * A device that owes replies (device_reply_slots: a serial device with a
 * reply pattern) reports every command it accepted exactly once (REPLY,
 * TIMEOUT or DROPPED), in order, so a ring per device of "who asked" is
 * enough: the MQTT 5 response topic and correlation data,
 * or .../res/ID for a command that came on .../req/ID (MQTT 3.1.1), or
 * nobody. Errors (refusals, timeouts, drops) go to the device's error topic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_int.h"
#include "log.h"

/* Where a device's reply goes: one per command accepted by a device with a reply pattern. */
struct bridge_target {
	char *topic;			/* NULL: nobody asked for the reply */
	char *corr;			/* MQTT 5 correlation data */
	size_t corr_len;
};

struct bridge_replies {
	struct bridge_target *ring;
	int cap, head, count;
};

void bridge_replies_error(struct bridge *b, struct device *dev, const char *reason, const char *data, size_t len)
{
	const char *topic = device_error_topic(dev);
	char msg[320];
	int n;

	if (!topic || !*topic)
		return;
	n = snprintf(msg, sizeof(msg), "%s: %.*s", reason, (int)(len > 256 ? 256 : len), data);
	if (n > 0)
		mqtt_publish(b->mqtt, topic, msg, strlen(msg), 1, 0);
}

void bridge_replies_sub_refused(struct bridge *b, const char *filter, int code)
{
	char reason[160];
	int i, j, seen;

	snprintf(reason, sizeof(reason),
		 "the broker refused the subscription (reason code 0x%02x), no command will arrive; "
		 "allow the gateway to subscribe (broker ACL) to", code);
	for (i = 0; i < b->cfg->n_routes; i++) {
		const struct cfg_route *r = &b->cfg->routes[i];

		if (r->from_kind != ROUTE_MQTT || r->to_kind == ROUTE_MQTT || strcmp(r->from, filter) != 0)
			continue;
		/* once per device, however many routes it has from this filter */
		for (j = 0, seen = 0; j < i && !seen; j++)
			seen = b->cfg->routes[j].from_kind == ROUTE_MQTT && b->cfg->routes[j].to_kind == r->to_kind &&
			       b->cfg->routes[j].to_dev == r->to_dev && strcmp(b->cfg->routes[j].from, filter) == 0;
		if (!seen)
			bridge_replies_error(b, b->devs[bridge_device_pos(b->cfg, r->to_kind, r->to_dev)], reason,
					     filter, strlen(filter));
	}
}

static void bridge_target_free(struct bridge_target *t)
{
	free(t->topic);
	free(t->corr);
	memset(t, 0, sizeof(*t));
}

/*
 * The reply target of a command: MQTT 5 response topic, or .../req/ID ->
 * .../res/ID. -1: the device owes no replies (or its ring is full).
 */
int bridge_replies_push(struct device *dev, const struct mqtt_event *ev)
{
	struct bridge_replies *bd = ((struct bridge_dev *)dev->owner)->replies;
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

void bridge_replies_unpush(struct device *dev)
{
	struct bridge_replies *bd = ((struct bridge_dev *)dev->owner)->replies;

	if (!bd || bd->count == 0)
		return;
	bd->count--;
	bridge_target_free(&bd->ring[(bd->head + bd->count) % bd->cap]);
}

void bridge_replies_event(struct device *dev, enum device_event what, const char *data, size_t len, void *ctx)
{
	struct bridge *b = ctx;
	struct bridge_replies *bd = ((struct bridge_dev *)dev->owner)->replies;
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
		bridge_replies_error(b, dev, "timeout", data, len);
		break;
	case DEVICE_EV_DROPPED:
		b->stats.down_dropped++;
		bridge_replies_error(b, dev, "dropped", data, len);
		break;
	case DEVICE_EV_EXPIRED:
		b->stats.down_dropped++;
		log_msg(LOG_WARNING, "%s: \"%.*s\" expired while it waited for the port (MQTT 5 message expiry): "
			"not written", dev->name, (int)(len > 80 ? 80 : len), data);
		bridge_replies_error(b, dev, "expired", data, len);
		break;
	}
	bridge_target_free(&t);
}

struct bridge_replies *bridge_replies_new(int cap)
{
	struct bridge_replies *bd = calloc(1, sizeof(*bd));

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

void bridge_replies_free(struct bridge_replies *bd)
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
