/*
 * ha_discovery.c - the Home Assistant discovery messages of a config.
 *
 * Why it is shaped so:
 *  - Pure: config in, (topic, payload) list out (ha_discovery.h). The
 *    config loader checks unique_id with it, --check --ha prints it, the
 *    bridge publishes it; all three see the same bytes.
 *  - cJSON, not string pasting: names, units ("°C"), templates and user
 *    keys carry quotes, backslashes and control bytes, and cJSON escapes
 *    every one of them.
 *  - A route's `ha` entities arrive here already checked and completed by
 *    the loader (config_ha.c): r->ha_src is a JSON array of objects whose
 *    "component" is set and whose other members pass through as they are.
 *    This file adds what mqttgw computes (unique_id, default_entity_id,
 *    state_topic / command_topic, availability, device, origin).
 *  - Identities never depend on a route's position: unique_id comes from
 *    the station, the device and the topic (or the JSON key), so reordering
 *    the file or a reload keeps every entity Home Assistant knows.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ha_discovery.h"

#ifndef MQTTGW_VERSION
#define MQTTGW_VERSION "unknown"
#endif

#define HA_ID_MAX 256
#define HA_TOPIC_MAX 1024

const char *const ha_stats_keys[] = {"up_frames", "up_refused", "down_written", "down_refused", "published",
				     "connects", "queued", "buffer_dropped", NULL};

/* [a-zA-Z0-9_-] kept, anything else (a '/', a space, a byte of UTF-8) becomes '_'. */
static void ha_sanitize(char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			*s = '_';
}

int ha_node_id(const struct config *cfg, char *buf, size_t len)
{
	const char *src = cfg->station ? cfg->station : cfg->mqtt.client_id;
	int w = snprintf(buf, len, "%s", src ? src : "mqttgw");

	if (w < 0 || (size_t)w >= len)
		return -1;
	ha_sanitize(buf);
	return 0;
}

int ha_status_topic(const struct config *cfg, char *buf, size_t len)
{
	int w = snprintf(buf, len, "%s/status", cfg->ha.prefix);

	return w < 0 || (size_t)w >= len ? -1 : 0;
}

int ha_config_filter(const struct config *cfg, char *buf, size_t len)
{
	char node[HA_ID_MAX];
	int w;

	if (ha_node_id(cfg, node, sizeof(node)) < 0)
		return -1;
	w = snprintf(buf, len, "%s/+/%s/+/config", cfg->ha.prefix, node);
	return w < 0 || (size_t)w >= len ? -1 : 0;
}

/* Append s[0..n) to the growing string *out (capacity *cap, length *len). 0 / -1. */
static int ha_put(char **out, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t nc = (*len + n + 1) * 2;
		char *p = realloc(*out, nc);

		if (!p)
			return -1;
		*out = p;
		*cap = nc;
	}
	memcpy(*out + *len, s, n);
	*len += n;
	(*out)[*len] = '\0';
	return 0;
}

/*
 * A route's topic for one instance: to mqtt, the captures of its topic
 * template ($1, ${1}, ${1|filters}) become the instance ($$ stays a '$');
 * from mqtt, each + level and a # become it. Without an instance, the
 * topic as it is.
 */
char *ha_fill_topic(const struct cfg_route *r, const char *inst)
{
	const char *t = r->to_kind == ROUTE_MQTT ? r->to : r->from;
	size_t len = 0, cap = 0, il = inst ? strlen(inst) : 0;
	char *out = NULL;
	int rc = ha_put(&out, &len, &cap, "", 0);

	while (rc == 0 && *t) {
		if (inst && r->to_kind == ROUTE_MQTT && t[0] == '$' && t[1] == '$') {
			rc = ha_put(&out, &len, &cap, "$", 1);
			t += 2;
		} else if (inst && r->to_kind == ROUTE_MQTT && t[0] == '$' && isdigit((unsigned char)t[1])) {
			rc = ha_put(&out, &len, &cap, inst, il);
			t += 2;
		} else if (inst && r->to_kind == ROUTE_MQTT && t[0] == '$' && t[1] == '{' &&
			   isdigit((unsigned char)t[2]) && strchr(t, '}')) {
			rc = ha_put(&out, &len, &cap, inst, il);
			t = strchr(t, '}') + 1;
		} else if (inst && r->to_kind != ROUTE_MQTT && (*t == '+' || *t == '#')) {
			rc = ha_put(&out, &len, &cap, inst, il);
			t++;
		} else {
			rc = ha_put(&out, &len, &cap, t, 1);
			t++;
		}
	}
	if (rc < 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* The device a route serves, and whether it is serial (its own Home Assistant device). */
static const char *ha_route_device(const struct cfg_route *r, int *serial)
{
	int to_mqtt = r->to_kind == ROUTE_MQTT;

	*serial = (to_mqtt ? r->from_kind : r->to_kind) == ROUTE_SERIAL;
	return to_mqtt ? r->from : r->to;
}

/* object_id: device "_" topic without a leading station level and device level ["_" key]. */
static int ha_object_id(const struct config *cfg, const char *dev, const char *topic, const char *key, char *buf,
			size_t len)
{
	const char *tail = topic;
	size_t dl = strlen(dev);
	int w;

	if (cfg->station && strncmp(tail, cfg->station, strlen(cfg->station)) == 0 &&
	    tail[strlen(cfg->station)] == '/')
		tail += strlen(cfg->station) + 1;
	if (strncmp(tail, dev, dl) == 0 && (tail[dl] == '/' || !tail[dl]))
		tail += dl + (tail[dl] == '/');
	w = snprintf(buf, len, "%s%s%s%s%s", dev, *tail ? "_" : "", tail, key ? "_" : "", key ? key : "");
	if (w < 0 || (size_t)w >= len)
		return -1;
	ha_sanitize(buf);
	return 0;
}

/* The gateway's own Home Assistant device, or a serial device's (reached via the gateway). */
static cJSON *ha_device(const struct config *cfg, const char *node, const char *serial_dev)
{
	cJSON *d = cJSON_CreateObject(), *ids = cJSON_AddArrayToObject(d, "identifiers");
	char id[HA_ID_MAX * 2], name[HA_ID_MAX * 2];

	if (!ids)
		return d;
	if (serial_dev) {
		snprintf(id, sizeof(id), "mqttgw_%s_%s", node, serial_dev);
		ha_sanitize(id);
		cJSON_AddItemToArray(ids, cJSON_CreateString(id));
		snprintf(name, sizeof(name), "%s %s", cfg->station ? cfg->station : node, serial_dev);
		cJSON_AddStringToObject(d, "name", name);
		cJSON_AddStringToObject(d, "model", "serial device");
		snprintf(id, sizeof(id), "mqttgw_%s", node);
		cJSON_AddStringToObject(d, "via_device", id);
	} else {
		snprintf(id, sizeof(id), "mqttgw_%s", node);
		cJSON_AddItemToArray(ids, cJSON_CreateString(id));
		snprintf(name, sizeof(name), "mqttgw %s", cfg->station ? cfg->station : node);
		cJSON_AddStringToObject(d, "name", name);
		cJSON_AddStringToObject(d, "manufacturer", "mqttgw");
		cJSON_AddStringToObject(d, "model", "serial and GPIO to MQTT gateway");
		cJSON_AddStringToObject(d, "sw_version", MQTTGW_VERSION);
	}
	return d;
}

static cJSON *ha_origin(void)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", "mqttgw");
	cJSON_AddStringToObject(o, "sw_version", MQTTGW_VERSION);
	return o;
}

/* The gateway's status topic, and the serial device's when it has one; all must say "online". */
static void ha_availability(cJSON *p, const struct config *cfg, const struct cfg_serial *s)
{
	cJSON *a = cJSON_AddArrayToObject(p, "availability"), *e;

	if (!a)
		return;
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "topic", cfg->mqtt.status_topic);
	cJSON_AddItemToArray(a, e);
	if (s && s->status_topic && *s->status_topic) {
		e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "topic", s->status_topic);
		cJSON_AddItemToArray(a, e);
	}
	cJSON_AddStringToObject(p, "availability_mode", "all");
}

/* The state topic of a switch on gpio line `gpio`: the route publishing that line, if any. */
static const char *ha_gpio_state_topic(const struct config *cfg, const char *gpio)
{
	for (int i = 0; i < cfg->n_routes; i++) {
		const struct cfg_route *u = &cfg->routes[i];

		if (u->from_kind == ROUTE_GPIO && u->to_kind == ROUTE_MQTT && strcmp(u->from, gpio) == 0 &&
		    u->to_tpl.max_capture < 0)
			return u->to;
	}
	return NULL;
}

static int ha_is_command(const char *component)
{
	return strcmp(component, "sensor") && strcmp(component, "binary_sensor");
}

/* Add one entity to out (takes p). 0 / -1. */
static int ha_add(struct ha_set *out, const struct config *cfg, const char *component, const char *node,
		  const char *object, cJSON *p, int route)
{
	char uid[HA_ID_MAX * 3], deid[HA_ID_MAX * 3 + 32], topic[HA_TOPIC_MAX];
	struct ha_entity *e;
	cJSON *dev, *org;
	size_t k;
	int w;

	snprintf(uid, sizeof(uid), "mqttgw_%s_%s", node, object);
	snprintf(deid, sizeof(deid), "%s.%s", component, uid);
	for (k = 0; deid[k]; k++)
		deid[k] = deid[k] == '-' ? '_' : (char)tolower((unsigned char)deid[k]);
	w = snprintf(topic, sizeof(topic), "%s/%s/%s/%s/config", cfg->ha.prefix, component, node, object);
	if (w < 0 || (size_t)w >= sizeof(topic)) {
		cJSON_Delete(p);
		return -1;
	}
	/* the computed identity first, for people reading --check --ha */
	cJSON_AddItemToObject(p, "unique_id", cJSON_CreateString(uid));
	cJSON_AddItemToObject(p, "default_entity_id", cJSON_CreateString(deid));
	dev = cJSON_DetachItemFromObjectCaseSensitive(p, "device");
	org = ha_origin();
	if (dev)
		cJSON_AddItemToObject(p, "device", dev);
	cJSON_AddItemToObject(p, "origin", org);
	if (out->n == out->cap) {
		int nc = out->cap ? out->cap * 2 : 16;
		struct ha_entity *v = realloc(out->v, (size_t)nc * sizeof(*v));

		if (!v) {
			cJSON_Delete(p);
			return -1;
		}
		out->v = v;
		out->cap = nc;
	}
	e = &out->v[out->n];
	e->topic = strdup(topic);
	e->unique_id = strdup(uid);
	e->payload = cJSON_PrintUnformatted(p);
	e->route = route;
	cJSON_Delete(p);
	out->n++;
	return e->topic && e->unique_id && e->payload ? 0 : -1;
}

/* One entity of route ri (its `ha` object src) for one instance (or NULL). 0 / -1. */
static int ha_route_entity(struct ha_set *out, const struct config *cfg, int ri, const cJSON *src,
			   const char *inst, const char *node)
{
	const struct cfg_route *r = &cfg->routes[ri];
	const char *component = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(src, "component"));
	const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(src, "key"));
	const cJSON *m;
	int serial, rc;
	const char *dev = ha_route_device(r, &serial);
	char object[HA_ID_MAX * 2], *topic = ha_fill_topic(r, inst), tpl[HA_ID_MAX + 32];
	cJSON *p = cJSON_CreateObject();

	if (!topic || !p || !component || ha_object_id(cfg, dev, topic, key, object, sizeof(object)) < 0) {
		free(topic);
		cJSON_Delete(p);
		return -1;
	}
	/* name: as written ($1 stands for the instance), else the key or the topic's tail */
	m = cJSON_GetObjectItemCaseSensitive(src, "name");
	if (cJSON_IsString(m)) {
		const char *nm = m->valuestring, *at = inst ? strstr(nm, "$1") : NULL;
		char *full = NULL;
		int w = at ? asprintf(&full, "%.*s%s%s", (int)(at - nm), nm, inst, at + 2)
			: inst ? asprintf(&full, "%s %s", nm, inst) : 0;

		if (w < 0)
			full = NULL; /* asprintf leaves it undefined on failure */
		if (full)
			cJSON_AddStringToObject(p, "name", full);
		else
			cJSON_AddItemToObject(p, "name", cJSON_Duplicate(m, 1));
		free(full);
	} else if (!m) {
		const char *tail = object + strlen(dev) + (object[strlen(dev)] == '_');

		cJSON_AddStringToObject(p, "name", key ? key : *tail ? tail : dev);
	} else {
		cJSON_AddItemToObject(p, "name", cJSON_Duplicate(m, 1)); /* null: the device's name alone */
	}
	if (ha_is_command(component)) {
		cJSON_AddStringToObject(p, "command_topic", topic);
		if (strcmp(component, "switch") == 0 && r->to_kind == ROUTE_GPIO &&
		    !cJSON_GetObjectItemCaseSensitive(src, "state_topic")) {
			const char *st = ha_gpio_state_topic(cfg, r->to);

			if (st)
				cJSON_AddStringToObject(p, "state_topic", st);
		}
	} else {
		cJSON_AddStringToObject(p, "state_topic", topic);
		if (key && !cJSON_GetObjectItemCaseSensitive(src, "value_template")) {
			snprintf(tpl, sizeof(tpl), "{{ value_json['%s'] }}", key);
			cJSON_AddStringToObject(p, "value_template", tpl);
		}
	}
	free(topic);
	/* everything else as written: Home Assistant's keys, known to it, not to us */
	cJSON_ArrayForEach(m, src)
	{
		if (strcmp(m->string, "component") && strcmp(m->string, "key") && strcmp(m->string, "name"))
			cJSON_AddItemToObject(p, m->string, cJSON_Duplicate(m, 1));
	}
	ha_availability(p, cfg, serial ? &cfg->serial[r->from_kind == ROUTE_SERIAL ? r->from_dev : r->to_dev] : NULL);
	cJSON_AddItemToObject(p, "device", ha_device(cfg, node, serial ? dev : NULL));
	rc = ha_add(out, cfg, component, node, object, p, ri);
	return rc;
}

/* The gateway's own: its connectivity, and its counters when a stats topic is set. */
static int ha_gateway_entities(struct ha_set *out, const struct config *cfg, const char *node)
{
	char tpl[128], object[128];
	cJSON *p = cJSON_CreateObject();

	cJSON_AddStringToObject(p, "name", "Connectivity");
	cJSON_AddStringToObject(p, "state_topic", cfg->mqtt.status_topic);
	cJSON_AddStringToObject(p, "payload_on", "online");
	cJSON_AddStringToObject(p, "payload_off", "offline");
	cJSON_AddStringToObject(p, "device_class", "connectivity");
	cJSON_AddStringToObject(p, "entity_category", "diagnostic");
	cJSON_AddItemToObject(p, "device", ha_device(cfg, node, NULL));
	if (ha_add(out, cfg, "binary_sensor", node, "gateway_connectivity", p, -1) < 0)
		return -1;
	if (!cfg->mqtt.stats_topic || !*cfg->mqtt.stats_topic)
		return 0;
	for (int k = 0; ha_stats_keys[k]; k++) {
		p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "name", ha_stats_keys[k]);
		cJSON_AddStringToObject(p, "state_topic", cfg->mqtt.stats_topic);
		snprintf(tpl, sizeof(tpl), "{{ value_json['%s'] }}", ha_stats_keys[k]);
		cJSON_AddStringToObject(p, "value_template", tpl);
		cJSON_AddStringToObject(p, "state_class",
					strcmp(ha_stats_keys[k], "queued") ? "total_increasing" : "measurement");
		cJSON_AddStringToObject(p, "entity_category", "diagnostic");
		ha_availability(p, cfg, NULL);
		cJSON_AddItemToObject(p, "device", ha_device(cfg, node, NULL));
		snprintf(object, sizeof(object), "gateway_%s", ha_stats_keys[k]);
		if (ha_add(out, cfg, "sensor", node, object, p, -1) < 0)
			return -1;
	}
	return 0;
}

int ha_discovery_build(const struct config *cfg, struct ha_set *out, char *err, size_t errlen)
{
	char node[HA_ID_MAX];
	int i, rc = 0;

	memset(out, 0, sizeof(*out));
	if (!cfg->has_ha)
		return 0;
	if (ha_node_id(cfg, node, sizeof(node)) < 0 || ha_gateway_entities(out, cfg, node) < 0) {
		snprintf(err, errlen, "Home Assistant discovery: out of memory or a name too long");
		ha_set_free(out);
		return -1;
	}
	for (i = 0; i < cfg->n_routes && rc == 0; i++) {
		const struct cfg_route *r = &cfg->routes[i];
		cJSON *arr, *e;

		if (!r->ha_src)
			continue;
		if (!(arr = cJSON_Parse(r->ha_src))) {
			rc = -1;
			break;
		}
		cJSON_ArrayForEach(e, arr)
		{
			if (r->n_instances == 0)
				rc = ha_route_entity(out, cfg, i, e, NULL, node);
			for (int k = 0; k < r->n_instances && rc == 0; k++)
				rc = ha_route_entity(out, cfg, i, e, r->instances[k], node);
			if (rc)
				break;
		}
		cJSON_Delete(arr);
		if (rc)
			snprintf(err, errlen, "%s:%d: Home Assistant discovery: out of memory or a topic too long",
				 cfg->file, r->ha_line);
	}
	if (rc)
		ha_set_free(out);
	return rc;
}

void ha_set_free(struct ha_set *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->n; i++) {
		free(s->v[i].topic);
		free(s->v[i].payload);
		free(s->v[i].unique_id);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

int ha_set_find(const struct ha_set *s, const char *topic)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->v[i].topic, topic) == 0)
			return i;
	return -1;
}
