/*
 * config_routes.c - the routes of the config, checked and compiled.
 *
 * Once every device is known, each route's ends are resolved to a device
 * index or a topic filter, its regexes compiled and its templates compiled
 * against the number of capture groups they may use, so that every mistake
 * is a FILE:LINE error and the hot path compiles nothing. A route's plain
 * settings (from, to, match, qos, retain, ...) are described in
 * config_schema.c and land in struct cfg_route as written (from_src,
 * to_src, payload_src); this file compiles them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "codec.h"
#include "config_int.h"
#include "info.h"
#include "payload_json.h"
#include "topic.h"

static void cfg_route_free_extra(void *elem);

/* clang-format off */
/* A route's settings as written (moved here from config_schema.c to keep that file under ~800 lines);
   the code below compiles them (ends, regexes, templates). */
const struct opt cfg_route_opts[] = {
	O_REQ("from", cfg_route, from_src, CFG_CHANGE_ROUTES),
	O_REQ("to", cfg_route, to_src, CFG_CHANGE_ROUTES),
	O_STR("match", cfg_route, match_src, NULL, CFG_CHANGE_ROUTES),
	O_STR("accept", cfg_route, accept_src, NULL, CFG_CHANGE_ROUTES),
	O_STR("payload", cfg_route, payload_src, "$0", CFG_CHANGE_ROUTES),
	O_BOOL("retain", cfg_route, retain, 0, CFG_CHANGE_ROUTES),
	O_INT("qos", cfg_route, qos, -1, 2, -1, CFG_CHANGE_ROUTES),	/* -1: mqtt.qos */
	O_BOOL("require_expiry", cfg_route, require_expiry, 0, CFG_CHANGE_ROUTES),
	/* sensors (issue 15): heartbeat_ms needs on_change; json is a group config_routes.c compiles, kept
	   (compared, printed) as its compiled layout: {"t":${1|float},"unit":"C"} */
	O_BOOL("on_change", cfg_route, on_change, 0, CFG_CHANGE_ROUTES),
	O_INT("heartbeat_ms", cfg_route, heartbeat_ms, 0, 604800000, 0, CFG_CHANGE_ROUTES),	/* a week */
	{ .name = "json", .type = OPT_STR, .off = S_(cfg_route, json_src), .change = CFG_CHANGE_ROUTES, .flags = OPT_OWN },
	/* Home Assistant (issue 16): ha is a group or list config_ha.c checks, kept as a JSON array */
	{ .name = "ha", .type = OPT_STR, .off = S_(cfg_route, ha_src), .change = CFG_CHANGE_ROUTES, .flags = OPT_OWN },
	O_STRLIST("instances", cfg_route, instances, n_instances, CFG_CHANGE_ROUTES, 0),
	O_END
};
const struct opt_shape cfg_route_shape = { cfg_route_opts, sizeof(struct cfg_route), cfg_route_free_extra };
/* clang-format on */

static void cfg_route_free_extra(void *elem)
{
	struct cfg_route *r = elem;

	free(r->from);
	free(r->to);
	if (r->has_match)
		pattern_free(&r->match);
	if (r->has_accept)
		pattern_free(&r->accept);
	template_free(&r->to_tpl);
	template_free(&r->payload_tpl);
}

/* Parse "kind:rest" of a route end. */
static int cfg_route_end(const char *s, enum route_end *kind, const char **rest)
{
	if (strncmp(s, "mqtt:", 5) == 0) {
		*kind = ROUTE_MQTT;
		*rest = s + 5;
	} else if (strncmp(s, "serial:", 7) == 0) {
		*kind = ROUTE_SERIAL;
		*rest = s + 7;
	} else if (strncmp(s, "gpio:", 5) == 0) {
		*kind = ROUTE_GPIO;
		*rest = s + 5;
	} else {
		return -1;
	}
	return **rest ? 0 : -1;
}

static int cfg_find_dev(const struct config *cfg, enum route_end kind, const char *name)
{
	return kind == ROUTE_SERIAL ? config_find_serial(cfg, name) : config_find_gpio(cfg, name);
}

static void cfg_template(struct cfg_ctx *c, const config_setting_t *s, struct template *t, const char *src,
			 const char *station, const char *name, int ncaps, const char *what)
{
	char err[256];

	if (template_compile(t, src, station, name, err, sizeof(err)) < 0) {
		cfg_fail(c, s, "%s: %s", what, err);
		return;
	}
	if (t->max_capture > ncaps)
		cfg_fail(c, s, "%s \"%s\" uses $%d but the pattern has only %d capture group%s", what, src,
			 t->max_capture, ncaps, ncaps == 1 ? "" : "s");
}

/*
 * ---- sensors (issue 15): json, on_change, heartbeat_ms, and where typed values may go ----
 * on_change and heartbeat_ms are plain settings of the route table
 * (config_schema.c); json is compiled here and kept as its layout
 * (json_src), which config_changes compares and --check prints.
 */
static void cfg_route_sensor(struct cfg_ctx *c, struct config *cfg, const config_setting_t *g, struct cfg_route *r,
			     const char *dev_name, int ncaps)
{
	const config_setting_t *js = config_setting_get_member(g, "json");
	const config_setting_t *oc = config_setting_get_member(g, "on_change");
	const config_setting_t *hb = config_setting_get_member(g, "heartbeat_ms");
	const config_setting_t *where = NULL;
	int to_mqtt = r->to_kind == ROUTE_MQTT;
	char err[512];

	if (!to_mqtt && (js || oc || hb)) {
		cfg_fail(c, js ? js : oc ? oc : hb, "%s applies to routes to mqtt", js ? "json" : oc ? "on_change" : "heartbeat_ms");
		return;
	}
	if (hb && !r->on_change) {
		cfg_fail(c, hb, "heartbeat_ms applies with on_change = true");
		return;
	}
	if (js) {
		if (config_setting_get_member(g, "payload")) {
			cfg_fail(c, js, "a route has json or payload, not both");
			return;
		}
		template_free(&r->payload_tpl);
		if (payload_json_compile(&r->payload_tpl, js, cfg->station, dev_name, err, sizeof(err), &where) < 0) {
			cfg_fail(c, where, "%s", err);
			return;
		}
		if (!(r->json_src = payload_json_layout(&r->payload_tpl))) {
			cfg_fail(c, js, "out of memory");
			return;
		}
		if (r->payload_tpl.max_capture > ncaps) {
			cfg_fail(c, js, "json uses $%d but the pattern has only %d capture group%s",
				 r->payload_tpl.max_capture, ncaps, ncaps == 1 ? "" : "s");
			return;
		}
	}
	/* typed fields read the bytes of a binary frame: its hex text, from a hex device */
	if (r->payload_tpl.has_fields || r->to_tpl.has_fields) {
		const config_setting_t *at = js ? js : cfg_member_or(g, r->to_tpl.has_fields ? "to" : "payload");

		if (to_mqtt && r->from_kind == ROUTE_SERIAL && cfg->serial[r->from_dev].encoding == CODEC_ENCODING_HEX)
			return;
		cfg_fail(c, at, "typed fields (${u16be@3} ...) read binary frames: only in routes from a serial "
			 "device with encoding = \"hex\"");
	}
}

static void cfg_load_route(struct cfg_ctx *c, struct config *cfg, const config_setting_t *g, struct cfg_route *r)
{
	const char *from_rest, *to_rest, *dev_name;
	const config_setting_t *fs, *ts, *ps;
	int ncaps = 0;

	r->line = config_setting_source_line(g);
	r->from_dev = r->to_dev = -1;
	if (cfg_defaults(cfg_route_opts, r) < 0) {
		cfg_fail(c, g, "out of memory");
		return;
	}
	if (!config_setting_is_group(g)) {
		cfg_fail(c, g, "each route must be a group { from = ...; to = ...; }");
		return;
	}
	cfg_apply(c, g, cfg_route_opts, r, "route");
	if (c->failed)
		return;
	fs = config_setting_get_member(g, "from");
	ts = config_setting_get_member(g, "to");
	ps = config_setting_get_member(g, "payload");
	if (cfg_route_end(r->from_src, &r->from_kind, &from_rest) < 0) {
		cfg_fail(c, fs, "route from \"%s\" must be mqtt:TOPIC, serial:NAME or gpio:NAME", r->from_src);
		return;
	}
	if (cfg_route_end(r->to_src, &r->to_kind, &to_rest) < 0) {
		cfg_fail(c, ts, "route to \"%s\" must be mqtt:TOPIC, serial:NAME or gpio:NAME", r->to_src);
		return;
	}
	if ((r->from_kind == ROUTE_MQTT) == (r->to_kind == ROUTE_MQTT)) {
		cfg_fail(c, g, "a route goes from mqtt to a device or from a device to mqtt (from \"%s\" to \"%s\")",
			 r->from_src, r->to_src);
		return;
	}
	if (r->qos < 0)
		r->qos = cfg->mqtt.qos;
	if (r->from_kind != ROUTE_MQTT) {
		/* device -> mqtt */
		dev_name = from_rest;
		r->from_dev = cfg_find_dev(cfg, r->from_kind, dev_name);
		if (r->from_dev < 0) {
			cfg_fail(c, fs, "route from \"%s\": no %s device named \"%s\"", r->from_src,
				 r->from_kind == ROUTE_SERIAL ? "serial" : "gpio", dev_name);
			return;
		}
		if (r->require_expiry) {
			cfg_fail(c, config_setting_get_member(g, "require_expiry"),
				 "require_expiry applies to commands from mqtt");
			return;
		}
		if (r->accept_src) {
			cfg_fail(c, config_setting_get_member(g, "accept"),
				 "accept applies to commands from mqtt; use match for frames from a device");
			return;
		}
		cfg_regex(c, config_setting_get_member(g, "match"), r->match_src, &r->match, &r->has_match, "match");
		ncaps = r->has_match ? r->match.ngroups : 0;
		r->from = strdup(dev_name);
		r->to = cfg_subst(c, ts, to_rest, cfg->station, dev_name);
		if (c->failed)
			return;
		cfg_template(c, ts, &r->to_tpl, to_rest, cfg->station, dev_name, ncaps, "to");
		/* a fixed topic is checked whole; one with captures ($1 in it) for its text and length */
		if (!c->failed && (r->to_tpl.max_capture < 0 ? topic_name_valid(r->to) < 0
							     : !topic_text_ok(r->to, strlen(r->to)) ||
								       strlen(r->to) > TOPIC_LEN_MAX))
			cfg_fail(c, ts,
				 "route to \"%.100s%s\": not a topic to publish to (no + or #, no leading $, valid "
				 "UTF-8 without control characters, at most %d bytes)",
				 r->to_src, strlen(r->to_src) > 100 ? "..." : "", TOPIC_LEN_MAX);
		if (!c->failed && (strstr(r->to, "//") || r->to[0] == '/' || r->to[strlen(r->to) - 1] == '/'))
			cfg_fail(c, ts, "route to \"%s\": empty topic level", r->to_src);
		if (!c->failed && strpbrk(r->to_tpl.text, "+#"))
			cfg_fail(c, ts, "route to \"%s\": not a valid topic to publish to (no + or #)", r->to_src);
		cfg_template(c, ps ? ps : g, &r->payload_tpl, r->payload_src, cfg->station, dev_name, ncaps, "payload");
		if (!c->failed)
			cfg_route_sensor(c, cfg, g, r, dev_name, ncaps);
	} else {
		/* mqtt -> device */
		dev_name = to_rest;
		r->to_dev = cfg_find_dev(cfg, r->to_kind, dev_name);
		if (r->to_dev < 0) {
			cfg_fail(c, ts, "route to \"%s\": no %s device named \"%s\"", r->to_src,
				 r->to_kind == ROUTE_SERIAL ? "serial" : "gpio", dev_name);
			return;
		}
		if (r->match_src) {
			cfg_fail(c, config_setting_get_member(g, "match"),
				 "match applies to frames from a device; use accept for commands from mqtt");
			return;
		}
		if (r->retain) {
			cfg_fail(c, config_setting_get_member(g, "retain"), "retain applies to routes to mqtt");
			return;
		}
		if (r->require_expiry && cfg->mqtt.protocol != 5) {
			cfg_fail(c, config_setting_get_member(g, "require_expiry"),
				 "require_expiry needs mqtt.protocol = 5: MQTT 3.1.1 messages carry no expiry, "
				 "every command would be refused");
			return;
		}
		r->to = strdup(dev_name);
		r->from = cfg_subst(c, fs, from_rest, cfg->station, dev_name);
		if (c->failed)
			return;
		if (topic_filter_valid(r->from) < 0) {
			cfg_fail(c, fs, "route from \"%s\": not a valid topic filter", r->from_src);
			return;
		}
		cfg_regex(c, config_setting_get_member(g, "accept"), r->accept_src, &r->accept, &r->has_accept, "accept");
		ncaps = r->has_accept ? r->accept.ngroups : 0;
		cfg_template(c, ps ? ps : g, &r->payload_tpl, r->payload_src, cfg->station, dev_name, ncaps, "payload");
		if (!c->failed)
			cfg_route_sensor(c, cfg, g, r, dev_name, ncaps);
	}
	if (!c->failed)
		cfg_route_ha(c, cfg, g, r);
}

/* A command filter that also matches a topic the gateway publishes would feed its own messages to a device. */
static void cfg_route_not_own(struct cfg_ctx *c, const struct config *cfg, const struct cfg_route *r,
			      const config_setting_t *where)
{
	const char *own = NULL;
	char info[1100];
	int i;

	if (topic_matches(r->from, cfg->mqtt.status_topic))
		own = cfg->mqtt.status_topic;
	else if (info_topic(cfg, info, sizeof(info)) == 0 && topic_matches(r->from, info))
		own = info;
	else if (*cfg->mqtt.stats_topic && topic_matches(r->from, cfg->mqtt.stats_topic))
		own = cfg->mqtt.stats_topic;
	for (i = 0; !own && i < cfg->n_serial; i++) {
		const struct cfg_serial *s = &cfg->serial[i];

		if (*s->status_topic && topic_matches(r->from, s->status_topic))
			own = s->status_topic;
		else if (*s->error_topic && topic_matches(r->from, s->error_topic))
			own = s->error_topic;
	}
	/*
	 * the device's own frames coming back to it: a loop with a device that
	 * answers what it does not know (routes with a fixed topic; one with
	 * captures cannot be known here). Another device's topics are fine:
	 * that is how two devices talk through the broker.
	 */
	for (i = 0; !own && i < cfg->n_routes; i++) {
		const struct cfg_route *u = &cfg->routes[i];

		if (u->to_kind == ROUTE_MQTT && u->from_kind == r->to_kind && strcmp(u->from, r->to) == 0 &&
		    u->to_tpl.max_capture < 0 && topic_matches(r->from, u->to))
			own = u->to;
	}
	/* the link check unsubscribes that exact filter every link_check_ms */
	if (!own && strcmp(r->from, cfg->mqtt.link_check_topic) == 0) {
		cfg_fail(c, where, "route from \"%s\" is mqtt.link_check_topic, which the gateway unsubscribes to "
			 "test the link: choose another topic for one or the other", r->from);
		return;
	}
	if (own)
		cfg_fail(c, where,
			 "route from \"%s\" also matches \"%s\", a topic the gateway publishes itself: "
			 "its own messages would be sent to %s",
			 r->from, own, r->to);
}

void cfg_load_routes(struct cfg_ctx *c, struct config *cfg, const config_setting_t *list)
{
	int i, n = config_setting_length(list);

	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		cfg_fail(c, list, "routes must be a list: routes = ( { from = ...; to = ...; } );");
		return;
	}
	cfg->routes = calloc((size_t)(n ? n : 1), sizeof(*cfg->routes));
	if (!cfg->routes) {
		cfg_fail(c, list, "out of memory");
		return;
	}
	for (i = 0; i < n && !c->failed; i++) {
		cfg->n_routes = i + 1;
		cfg_load_route(c, cfg, config_setting_get_elem(list, (unsigned)i), &cfg->routes[i]);
	}
	/*
	 * Uplink takes the first route that matches: one without match before
	 * another from the same device leaves the later one dead, which is
	 * always a mistake (the catch-all belongs last).
	 */
	for (i = 0; i < cfg->n_routes && !c->failed; i++) {
		const struct cfg_route *r = &cfg->routes[i];

		if (r->from_kind == ROUTE_MQTT)
			continue;
		for (int j = 0; j < i; j++) {
			const struct cfg_route *e = &cfg->routes[j];

			if (e->from_kind == r->from_kind && !e->has_match && strcmp(e->from, r->from) == 0) {
				cfg_fail(c, config_setting_get_elem(list, (unsigned)i),
					 "route from %s:%s can never be used: the route at line %d takes every frame "
					 "from %s first (put the route without match last)",
					 r->from_kind == ROUTE_SERIAL ? "serial" : "gpio", r->from, e->line, r->from);
				break;
			}
		}
	}
	for (i = 0; i < cfg->n_routes && !c->failed; i++)
		if (cfg->routes[i].from_kind == ROUTE_MQTT)
			cfg_route_not_own(c, cfg, &cfg->routes[i], config_setting_get_elem(list, (unsigned)i));
}
