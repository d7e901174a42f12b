/*
 * config_ha.c - the Home Assistant settings of a config (issue 16), checked.
 *
 *   homeassistant = { prefix = "homeassistant"; };     (config_schema.c)
 *   a route's  ha = { component = "sensor"; name = "T"; ... };
 *          or  ha = ( { key = "temperature"; ... }, { key = "humidity"; ... } );
 *   and for a topic with captures or wildcards  instances = [ "X", "Y" ];
 *
 * A route's ha is checked here, where its lines are known (FILE:LINE, exit
 * 2): the component fits the route's direction, payload_press, options and
 * a switch's payloads pass the route's accept, a key names a member of the
 * route's json (on a command route: a name telling its entities apart), the keys mqttgw computes are not given, every value is a
 * string, number, boolean or list of strings in valid UTF-8. What is left
 * is kept as a JSON array (r->ha_src) with the defaults filled in (the
 * component, "1"/"0" for GPIO lines, "PRESS"), so that the reload compares
 * it and --check prints it like any setting, and ha_discovery.c builds the
 * payloads from it. Last, with every route in, the whole set is built once
 * to refuse two entities with one unique_id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <libconfig.h>

#include "config_int.h"
#include "ha_discovery.h"
#include "topic.h"

/* Set by mqttgw itself: a route's ha must not give them. */
static const char *const cfg_ha_computed[] = {"unique_id", "default_entity_id", "object_id", "availability",
					       "availability_topic", "availability_mode", "device", "origin",
					       "command_topic", "platform", "~", NULL};

static int cfg_ha_in(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

/* Well-formed UTF-8 (JSON carries nothing else); control bytes are fine, cJSON escapes them. */
static int cfg_ha_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 && *p >= 0xc2 ? 1 : (*p & 0xf0) == 0xe0 ? 2
			: (*p & 0xf8) == 0xf0 && *p <= 0xf4 ? 3 : -1;

		if (n < 0)
			return 0;
		for (p++; n > 0; n--, p++)
			if ((*p & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

/* A string setting as a JSON string, or NULL after the error. */
static cJSON *cfg_ha_string(struct cfg_ctx *c, const config_setting_t *s, const char *name)
{
	const char *v = config_setting_get_string(s);

	if (!cfg_ha_utf8(v)) {
		cfg_fail(c, s, "ha.%s is not valid UTF-8", name);
		return NULL;
	}
	return cJSON_CreateString(v);
}

/* One member of an entity as JSON: a string, number, boolean or list of strings. NULL after the error. */
static cJSON *cfg_ha_value(struct cfg_ctx *c, const config_setting_t *s, const char *name)
{
	cJSON *v = NULL;
	int k, n;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_STRING:
		return cfg_ha_string(c, s, name);
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return cJSON_CreateNumber((double)config_setting_get_int64(s));
	case CONFIG_TYPE_FLOAT:
		return cJSON_CreateNumber(config_setting_get_float(s));
	case CONFIG_TYPE_BOOL:
		return cJSON_CreateBool(config_setting_get_bool(s));
	case CONFIG_TYPE_ARRAY:
	case CONFIG_TYPE_LIST:
		v = cJSON_CreateArray();
		n = config_setting_length(s);
		for (k = 0; v && k < n; k++) {
			const config_setting_t *e = config_setting_get_elem(s, (unsigned)k);
			cJSON *js;

			if (config_setting_type(e) != CONFIG_TYPE_STRING) {
				cfg_fail(c, e, "ha.%s must be a list of strings", name);
				break;
			}
			if (!(js = cfg_ha_string(c, e, name)))
				break;
			cJSON_AddItemToArray(v, js);
		}
		if (v && !c->failed)
			return v;
		cJSON_Delete(v);
		return NULL;
	default:
		cfg_fail(c, s, "ha.%s must be a string, a number, true or false, or a list of strings", name);
		return NULL;
	}
}

/* Does value v (a string) pass the route's accept? Refused with its line when not. */
static void cfg_ha_accepted(struct cfg_ctx *c, const struct cfg_route *r, const config_setting_t *at,
			    const char *what, const char *v)
{
	if (!r->has_accept || pattern_match(&r->accept, v, strlen(v), NULL, 0) == 1)
		return;
	cfg_fail(c, at, "ha.%s \"%s\" is refused by the route's accept \"%s\": Home Assistant would send a "
		 "command that is never written", what, v, r->accept_src);
}

static const char *cfg_ha_default_component(const struct cfg_route *r)
{
	if (r->to_kind == ROUTE_MQTT)
		return r->from_kind == ROUTE_GPIO ? "binary_sensor" : "sensor";
	return r->to_kind == ROUTE_GPIO ? "switch" : NULL;
}

/* The entity group e of route r (g: the route's group), checked and completed into a JSON object. */
static cJSON *cfg_ha_entity(struct cfg_ctx *c, const struct config *cfg, const config_setting_t *g,
			    const config_setting_t *e, const struct cfg_route *r)
{
	static const char *const states[] = {"sensor", "binary_sensor", NULL};
	static const char *const commands[] = {"button", "number", "select", "text", "switch", NULL};
	const config_setting_t *cs = config_setting_get_member(e, "component"), *m;
	const config_setting_t *js = config_setting_get_member(g, "json");
	const char *comp = cfg_ha_default_component(r);
	int to_mqtt = r->to_kind == ROUTE_MQTT, i, n;
	cJSON *o = cJSON_CreateObject(), *v;

	if (!o) {
		cfg_fail(c, e, "out of memory");
		return NULL;
	}
	if (!config_setting_is_group(e)) {
		cfg_fail(c, e, "ha must be a group { component = ...; } or a list of them");
		goto fail;
	}
	if (cs && config_setting_type(cs) != CONFIG_TYPE_STRING) {
		cfg_fail(c, cs, "ha.component must be a string");
		goto fail;
	}
	if (cs)
		comp = config_setting_get_string(cs);
	if (!comp) {
		cfg_fail(c, e, "ha needs a component on a command route to a serial device: button, number, select, "
			 "text or switch");
		goto fail;
	}
	if (!cfg_ha_in(states, comp) && !cfg_ha_in(commands, comp)) {
		cfg_fail(c, cs, "ha.component \"%s\" is not one mqttgw announces: sensor or binary_sensor (routes to "
			 "mqtt); button, number, select, text or switch (routes from mqtt)", comp);
		goto fail;
	}
	if (to_mqtt != cfg_ha_in(states, comp)) {
		cfg_fail(c, cs ? cs : e, "ha.component \"%s\" %s: this route goes from %s to %s (%s)", comp,
			 to_mqtt ? "sends commands, but this route publishes what a device says"
				 : "shows a state, but this route takes commands",
			 r->from_src, r->to_src, to_mqtt ? "use sensor or binary_sensor" : "use button, number, select, "
			 "text or switch");
		goto fail;
	}
	cJSON_AddStringToObject(o, "component", comp);
	n = config_setting_length(e);
	for (i = 0; i < n && !c->failed; i++) {
		const char *name;

		m = config_setting_get_elem(e, (unsigned)i);
		name = config_setting_name(m);
		if (strcmp(name, "component") == 0)
			continue;
		if (cfg_ha_in(cfg_ha_computed, name) ||
		    (strcmp(name, "state_topic") == 0 && (to_mqtt || (strcmp(comp, "switch") == 0 && r->to_kind == ROUTE_GPIO)))) {
			cfg_fail(c, m, "ha.%s is set by mqttgw itself (from the route, its device and the station)", name);
			break;
		}
		if (strcmp(name, "key") == 0 && !to_mqtt) {
			/* on a command route, a name telling its entities apart (a STOP and a HOME button) */
			const char *k = config_setting_type(m) == CONFIG_TYPE_STRING ? config_setting_get_string(m) : "";

			if (!*k || k[strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")]) {
				cfg_fail(c, m, "ha.key on a command route is a name of letters, digits, _ and -");
				break;
			}
		} else if (strcmp(name, "key") == 0) {
			if (config_setting_type(m) != CONFIG_TYPE_STRING || !js ||
			    !config_setting_get_member(js, config_setting_get_string(m))) {
				cfg_fail(c, m, "ha.key names a member of the route's json = { ... } (this route has %s)",
					 js ? "no such member" : "no json");
				break;
			}
		}
		if (!(v = cfg_ha_value(c, m, name)))
			break;
		cJSON_AddItemToObject(o, name, v);
	}
	if (c->failed)
		goto fail;
	/* GPIO lines speak "1" and "0" */
	if ((strcmp(comp, "binary_sensor") == 0 && r->from_kind == ROUTE_GPIO) || strcmp(comp, "switch") == 0) {
		if (!cJSON_GetObjectItemCaseSensitive(o, "payload_on"))
			cJSON_AddStringToObject(o, "payload_on", "1");
		if (!cJSON_GetObjectItemCaseSensitive(o, "payload_off"))
			cJSON_AddStringToObject(o, "payload_off", "0");
	}
	if (strcmp(comp, "button") == 0 && !cJSON_GetObjectItemCaseSensitive(o, "payload_press"))
		cJSON_AddStringToObject(o, "payload_press", "PRESS");
	if (strcmp(comp, "select") == 0 && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(o, "options"))) {
		cfg_fail(c, cfg_member_or(e, "options"), "ha: a select needs options = [ \"A\", \"B\" ] (a list of strings)");
		goto fail;
	}
	/* what Home Assistant will send must pass the route's accept */
	if (!to_mqtt) {
		static const char *const sent[] = {"payload_press", "payload_on", "payload_off", NULL};

		for (i = 0; sent[i] && !c->failed; i++) {
			const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, sent[i]));

			if (s && (strcmp(sent[i], "payload_press") == 0 || strcmp(comp, "switch") == 0))
				cfg_ha_accepted(c, r, cfg_member_or(e, sent[i]), sent[i], s);
		}
		v = cJSON_GetObjectItemCaseSensitive(o, "options");
		if (strcmp(comp, "select") == 0 && !c->failed) {
			cJSON *opt;

			cJSON_ArrayForEach(opt, v)
			{
				cfg_ha_accepted(c, r, cfg_member_or(e, "options"), "options", opt->valuestring);
				if (c->failed)
					break;
			}
		}
	}
	(void)cfg;
	if (!c->failed)
		return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

/* Does route r's topic depend on what arrives (captures in a topic to mqtt, wildcards in a filter)? */
static int cfg_ha_capture_topic(const struct cfg_route *r)
{
	return r->to_kind == ROUTE_MQTT ? r->to_tpl.max_capture >= 0 : strpbrk(r->from, "+#") != NULL;
}

void cfg_route_ha(struct cfg_ctx *c, const struct config *cfg, const config_setting_t *g, struct cfg_route *r)
{
	const config_setting_t *hs = config_setting_get_member(g, "ha");
	const config_setting_t *is = config_setting_get_member(g, "instances");
	cJSON *arr, *o;
	int k, n;

	if (!hs) {
		if (is)
			cfg_fail(c, is, "instances applies to a route with ha");
		return;
	}
	r->ha_line = config_setting_source_line(hs);
	if (cfg_ha_capture_topic(r)) {
		if (!r->n_instances) {
			cfg_fail(c, hs, "ha on a route whose topic \"%s\" depends on %s: list the values to announce, "
				 "one entity each: instances = [ \"X\", \"Y\" ];",
				 r->to_kind == ROUTE_MQTT ? r->to : r->from,
				 r->to_kind == ROUTE_MQTT ? "captures ($1)" : "wildcards (+, #)");
			return;
		}
		if (r->to_kind == ROUTE_MQTT && r->to_tpl.max_capture > 1) {
			cfg_fail(c, is, "instances fill $1 of the topic; this topic \"%s\" uses $%d too", r->to,
				 r->to_tpl.max_capture);
			return;
		}
		for (k = 0; k < r->n_instances; k++)
			if (!*r->instances[k] || strpbrk(r->instances[k], "+#/") || !topic_text_ok(r->instances[k], strlen(r->instances[k]))) {
				cfg_fail(c, is, "instances: \"%s\" is not one topic level (not empty, no + # /, UTF-8)",
					 r->instances[k]);
				return;
			}
	} else if (is) {
		cfg_fail(c, is, "instances applies to a topic with captures ($1) or wildcards (+, #); \"%s\" has none",
			 r->to_kind == ROUTE_MQTT ? r->to : r->from);
		return;
	}
	if (!(arr = cJSON_CreateArray())) {
		cfg_fail(c, hs, "out of memory");
		return;
	}
	if (config_setting_is_group(hs)) {
		if ((o = cfg_ha_entity(c, cfg, g, hs, r)))
			cJSON_AddItemToArray(arr, o);
	} else if (config_setting_is_list(hs) && (n = config_setting_length(hs)) > 0) {
		for (k = 0; k < n && !c->failed; k++)
			if ((o = cfg_ha_entity(c, cfg, g, config_setting_get_elem(hs, (unsigned)k), r)))
				cJSON_AddItemToArray(arr, o);
	} else {
		cfg_fail(c, hs, "ha must be a group { component = ...; } or a list of them ( { ... }, { ... } )");
	}
	if (!c->failed && !(r->ha_src = cJSON_PrintUnformatted(arr)))
		cfg_fail(c, hs, "out of memory");
	cJSON_Delete(arr);
}

/* Where route i's ha is written, for messages. */
static const config_setting_t *cfg_ha_route_at(const config_setting_t *root, int i)
{
	const config_setting_t *list = config_setting_get_member(root, "routes");
	const config_setting_t *g = list ? config_setting_get_elem(list, (unsigned)i) : NULL;

	return g ? cfg_member_or(g, "ha") : root;
}

void cfg_load_ha(struct cfg_ctx *c, struct config *cfg, const config_setting_t *root)
{
	const config_setting_t *hg = config_setting_get_member(root, "homeassistant");
	const char *p = cfg->ha.prefix;
	struct ha_set set;
	char err[CONFIG_ERRLEN];
	int i, j;

	if (!cfg->has_ha)
		return;
	if (!p || !*p || strpbrk(p, "+#") || p[strlen(p) - 1] == '/' || topic_name_valid(p) < 0) {
		cfg_fail(c, cfg_member_or(hg, "prefix"), "homeassistant.prefix \"%s\" must be a topic (not empty, no + "
			 "or #, no trailing /)", p ? p : "");
		return;
	}
	if (ha_discovery_build(cfg, &set, err, sizeof(err)) < 0) {
		cfg_fail(c, hg, "%s", err);
		return;
	}
	for (i = 0; i < set.n && !c->failed; i++)
		for (j = 0; j < i; j++)
			if (strcmp(set.v[i].unique_id, set.v[j].unique_id) == 0) {
				int ri = set.v[i].route >= 0 ? set.v[i].route : set.v[j].route;
				int rj = set.v[j].route >= 0 ? set.v[j].route : set.v[i].route;

				cfg_fail(c, ri >= 0 ? cfg_ha_route_at(root, ri) : hg,
					 "two Home Assistant entities have unique_id \"%s\" (routes at lines %d and %d): "
					 "give them different topics or json keys", set.v[i].unique_id,
					 rj >= 0 ? cfg->routes[rj].line : 0, ri >= 0 ? cfg->routes[ri].line : 0);
				break;
			}
	ha_set_free(&set);
}
