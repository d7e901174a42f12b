/*
 * bridge_ha.c - Home Assistant discovery, live (issue 16).
 *
 * What the config announces comes from ha_discovery.c (pure); this file
 * decides when, on the loop thread, from the bridge's own events:
 *
 *  - on every connect, before the retained states are republished, each
 *    discovery config is published retained with QoS 1, and two filters are
 *    subscribed: <prefix>/status (Home Assistant says "online" there when it
 *    starts) and <prefix>/+/<node_id>/+/config (what this gateway announced
 *    before, as the broker keeps it);
 *  - "online" on <prefix>/status announces everything again after a short
 *    random delay (a restarted Home Assistant has forgotten the entities; the
 *    delay spreads many gateways out), through the loop's deadline;
 *  - a retained config under our node_id that the config no longer has
 *    (the broker hands those out on subscribe, so a restart with a smaller
 *    config finds them, as Zigbee2MQTT does) is removed: an empty retained
 *    message on its topic;
 *  - after a reload, what the old config announced and the new one does
 *    not is removed at once, the rest announced again.
 */
#include <stdlib.h>
#include <string.h>

#include "bridge_int.h"
#include "log.h"
#include "subs.h"
#include "topic.h"

/* Home Assistant is back: announce again after 0.5 .. 2.5 s. */
#define BRIDGE_HA_DELAY_MIN_MS 500u
#define BRIDGE_HA_DELAY_SPAN_MS 2000u
/* Our subscription identifiers (MQTT 5): the top of the range, which subs.c reaches last. */
#define BRIDGE_HA_SUB_ID_STATUS (SUBS_ID_MAX)
#define BRIDGE_HA_SUB_ID_CONFIGS (SUBS_ID_MAX - 1u)

/* The set and filters of b->cfg into h (h emptied first). */
static void bridge_ha_build(const struct config *cfg, struct bridge_ha *h)
{
	char err[CONFIG_ERRLEN];

	ha_set_free(&h->set);
	h->status[0] = h->filter[0] = '\0';
	if (!cfg->has_ha)
		return;
	if (ha_discovery_build(cfg, &h->set, err, sizeof(err)) < 0 ||
	    ha_status_topic(cfg, h->status, sizeof(h->status)) < 0 ||
	    ha_config_filter(cfg, h->filter, sizeof(h->filter)) < 0) {
		log_msg(LOG_ERR, "homeassistant: nothing announced: %s", err);
		ha_set_free(&h->set);
		h->status[0] = h->filter[0] = '\0';
	}
}

void bridge_ha_init(struct bridge *b)
{
	memset(&b->ha, 0, sizeof(b->ha));
	bridge_ha_build(b->cfg, &b->ha);
}

void bridge_ha_free(struct bridge *b)
{
	ha_set_free(&b->ha.set);
}

static void bridge_ha_subscribe(struct bridge *b)
{
	char *f[2] = {b->ha.status, b->ha.filter};
	int qos[2] = {1, 1};
	uint32_t ids[2] = {BRIDGE_HA_SUB_ID_STATUS, BRIDGE_HA_SUB_ID_CONFIGS};

	if (b->ha.status[0])
		mqtt_subscribe(b->mqtt, f, qos, ids, 2);
}

static void bridge_ha_announce(struct bridge *b)
{
	const struct ha_set *s = &b->ha.set;

	for (int i = 0; i < s->n; i++)
		mqtt_publish(b->mqtt, s->v[i].topic, s->v[i].payload, strlen(s->v[i].payload), 1, 1);
	if (s->n)
		log_msg(LOG_INFO, "homeassistant: announced %d entities", s->n);
	b->ha.announce_at = 0;
}

void bridge_ha_connected(struct bridge *b)
{
	if (!b->ha.status[0])
		return;
	bridge_ha_announce(b);
	bridge_ha_subscribe(b);
}

static void bridge_ha_remove(struct bridge *b, const char *topic)
{
	log_msg(LOG_INFO, "homeassistant: removing %s (no longer in the config)", topic);
	mqtt_publish(b->mqtt, topic, "", 0, 1, 1);
}

int bridge_ha_message(struct bridge *b, const struct mqtt_event *ev, uint64_t now)
{
	if (!b->ha.status[0])
		return 0;
	if (strcmp(ev->topic, b->ha.status) == 0) {
		if (ev->len == 6 && memcmp(ev->payload, "online", 6) == 0) {
			/* a cheap spread; Knuth's multiplier mixes the clock's low bits */
			uint64_t delay = BRIDGE_HA_DELAY_MIN_MS + (uint32_t)(now * 2654435761u) % BRIDGE_HA_DELAY_SPAN_MS;

			log_msg(LOG_INFO, "homeassistant: Home Assistant is online; announcing in %llu ms",
				(unsigned long long)delay);
			b->ha.announce_at = now + delay;
		}
		return 1;
	}
	if (!topic_matches(b->ha.filter, ev->topic))
		return 0;
	/* what the broker kept from an earlier run: removed unless the config still has it */
	if (ev->retained && ev->len > 0 && ha_set_find(&b->ha.set, ev->topic) < 0)
		bridge_ha_remove(b, ev->topic);
	return 1;
}

uint64_t bridge_ha_tick(struct bridge *b, uint64_t now)
{
	if (!b->ha.announce_at)
		return UINT64_MAX;
	if (now < b->ha.announce_at)
		return b->ha.announce_at;
	if (mqtt_is_connected(b->mqtt))
		bridge_ha_announce(b);
	b->ha.announce_at = 0;
	return UINT64_MAX;
}

void bridge_ha_reload(struct bridge *b)
{
	struct bridge_ha old = b->ha;
	int up = mqtt_is_connected(b->mqtt);

	memset(&b->ha.set, 0, sizeof(b->ha.set));
	bridge_ha_build(b->cfg, &b->ha);
	b->ha.announce_at = old.announce_at;
	if (up) {
		for (int i = 0; i < old.set.n; i++)
			if (ha_set_find(&b->ha.set, old.set.v[i].topic) < 0)
				bridge_ha_remove(b, old.set.v[i].topic);
		if (old.status[0] && (strcmp(old.status, b->ha.status) || strcmp(old.filter, b->ha.filter))) {
			char *f[2] = {old.status, old.filter};

			mqtt_unsubscribe(b->mqtt, f, 2);
		}
		if (b->ha.status[0]) {
			bridge_ha_announce(b);
			bridge_ha_subscribe(b);
		}
	}
	ha_set_free(&old.set);
}
