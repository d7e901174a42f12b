/*
 * ha_discovery.h - Home Assistant MQTT discovery: what the config announces.
 *
 * Pure (no I/O): from a config, the list of discovery messages, each a
 * topic <prefix>/<component>/<node_id>/<object_id>/config and a JSON
 * payload built with cJSON. The config loader uses it to refuse two
 * entities with one unique_id (FILE:LINE), --check --ha prints it, and the
 * bridge (bridge_ha.c) publishes it on connect and removes what a new
 * config no longer has.
 *
 * Names (the contract of issue 16, mqttgw.cfg(5)):
 *   node_id     the station (or the client id), limited to [a-zA-Z0-9_-]
 *   object_id   device "_" topic without its station and device levels
 *               ["_" key], limited the same way (key: the json member, or
 *               the name that tells a command route's entities apart)
 *   unique_id   "mqttgw_" node_id "_" object_id: from station, device and
 *               topic or key, never from a route's position
 *   default_entity_id  component "." unique_id in lower case
 */
#ifndef MQTTGW_HA_DISCOVERY_H
#define MQTTGW_HA_DISCOVERY_H

#include <stddef.h>

#include "config.h"

struct ha_entity {
	char *topic;		/* the discovery topic */
	char *payload;		/* its JSON (a NUL-terminated string) */
	char *unique_id;
	int route;		/* index into cfg->routes; -1: the gateway's own entity */
};

struct ha_set {
	struct ha_entity *v;
	int n, cap;
};

/*
 * Every entity cfg announces (none without a homeassistant group) into a
 * zeroed *out. 0, or -1 with the reason in err (out of memory, a topic too
 * long); *out is then empty.
 */
int ha_discovery_build(const struct config *cfg, struct ha_set *out, char *err, size_t errlen);
void ha_set_free(struct ha_set *s);
/* The index of the entity announced on topic, or -1. */
int ha_set_find(const struct ha_set *s, const char *topic);

/* node_id (station or client id, sanitized) into buf. 0 / -1 (too small). */
int ha_node_id(const struct config *cfg, char *buf, size_t len);
/* <prefix>/status, where Home Assistant says "online" when it (re)starts. 0 / -1. */
int ha_status_topic(const struct config *cfg, char *buf, size_t len);
/* <prefix>/+/<node_id>/+/config: every config this gateway may have announced. 0 / -1. */
int ha_config_filter(const struct config *cfg, char *buf, size_t len);

/* The value of "$1" in a route's topic for one instance (capture topics, wildcards). New string or NULL. */
char *ha_fill_topic(const struct cfg_route *r, const char *instance);

/* The counters of the stats document announced as diagnostic sensors (NULL-terminated). */
extern const char *const ha_stats_keys[];

#endif
