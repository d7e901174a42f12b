/*
 * config_schema.c - every setting of the config, described once.
 *
 * One table per group (top level, mqtt, mqtt.tls, buffer, a serial entry, a
 * gpio entry; a route's table is in config_routes.c) says for each setting its name, type, range,
 * default, where it lands in the struct (offsetof), and what a change of it
 * needs at reload (CFG_CHANGE_*: nothing, the device made anew, the MQTT
 * client made anew...). Groups and lists are settings too (OPT_GROUP,
 * OPT_LIST), pointing at their members' table, so the whole config is one
 * tree. From that tree, and nowhere else, come:
 *
 *   - parsing and range checks of scalars (cfg_apply) and defaults
 *     (cfg_defaults); what a table cannot say (cross-checks, a uri list,
 *     "line" = 17 or "GPIO17") is the groups' own code in config.c,
 *     config_devices.c and config_routes.c, flagged OPT_OWN here;
 *   - freeing (config_free), comparing (config_changes and friends: the
 *     reload decision), the "settings" lines of the --check summary, and
 *     config_schema_walk for the tests that prove every setting is seen.
 *
 * Adding a setting: one line in its table here, plus the code that uses it.
 * Modelled on redis config.c (a table of standard configs with their
 * defaults and bounds), not on a strcmp chain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "codec.h"
#include "config_int.h"
#include "framing.h"
#include "log.h"
#include "mapping_index.h"

const char *const config_log_level_names[] = {"error", "warning", "info", "debug", NULL};
static const int config_log_levels[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
const char *const cfg_sync_names[] = {"none", "batch", "always", NULL};
const char *const cfg_parity_names[] = {"none", "odd", "even", "mark", "space", NULL};
const char *const cfg_flow_names[] = {"none", "rtscts", "xonxoff", NULL};
const char *const cfg_dir_names[] = {"input", "output", NULL};
const char *const cfg_edge_names[] = {"both", "rising", "falling", "none", NULL};
const char *const cfg_bias_names[] = {"as-is", "disable", "pull-up", "pull-down", NULL};

#define LIVE CFG_CHANGE_LIVE
#define DEV CFG_CHANGE_DEVICE
#define MQTT CFG_CHANGE_MQTT

static void cfg_serial_free_extra(void *elem);

/* clang-format off */
const struct opt cfg_tls_opts[] = {
	O_STR("ca_file", cfg_tls, ca_file, "", MQTT),
	O_STR("cert_file", cfg_tls, cert_file, "", MQTT),
	O_STR("key_file", cfg_tls, key_file, "", MQTT),
	O_BOOL("verify", cfg_tls, verify, 1, MQTT),
	O_END
};
static const struct opt_shape cfg_tls_shape = { cfg_tls_opts, sizeof(struct cfg_tls), NULL };

const struct opt cfg_mqtt_opts[] = {
	O_STRLIST("uri", cfg_mqtt, uris, n_uris, MQTT, OPT_OWN),	/* uri = "..." or uris = [ ... ] */
	O_NAME("uris"),
	O_STR("client_id", cfg_mqtt, client_id, NULL, MQTT),
	O_INT("keepalive", cfg_mqtt, keepalive, 0, 65535, 60, MQTT),
	O_BOOL("clean_session", cfg_mqtt, clean_session, 0, MQTT),
	O_INT("qos", cfg_mqtt, qos, 0, 2, 1, CFG_CHANGE_ROUTES),	/* the routes' default */
	O_STR("username", cfg_mqtt, username, "", MQTT),
	O_STR("password_file", cfg_mqtt, password_file, "", MQTT),
	O_STR("status_topic", cfg_mqtt, status_topic, NULL, MQTT),
	O_INT("reconnect_min_ms", cfg_mqtt, reconnect_min_ms, 100, 3600000, 1000, MQTT),
	O_INT("reconnect_max_ms", cfg_mqtt, reconnect_max_ms, 100, 3600000, 30000, MQTT),
	O_INT("ack_timeout_ms", cfg_mqtt, ack_timeout_ms, 1000, 3600000, 30000, MQTT),
	O_INT("link_timeout_ms", cfg_mqtt, link_timeout_ms, 0, 3600000, 3000, MQTT),
	O_INT("link_check_ms", cfg_mqtt, link_check_ms, 0, 1200000, 0, MQTT),
	O_STR("link_check_topic", cfg_mqtt, link_check_topic, NULL, MQTT),
	O_GROUP("tls", cfg_mqtt, tls, S_(cfg_mqtt, has_tls), &cfg_tls_shape, MQTT, OPT_OWN),
	O_INT("protocol", cfg_mqtt, protocol, 4, 5, 4, MQTT),
	O_INT("session_expiry", cfg_mqtt, session_expiry, 0, 2147483647, 86400, MQTT),
	O_STR("stats_topic", cfg_mqtt, stats_topic, "", CFG_CHANGE_STATS),
	O_INT("stats_interval", cfg_mqtt, stats_interval, 1, 86400, 60, CFG_CHANGE_STATS),
	O_END
};
static const struct opt_shape cfg_mqtt_shape = { cfg_mqtt_opts, sizeof(struct cfg_mqtt), NULL };

const struct opt cfg_buffer_opts[] = {
	O_INT("max_messages", cfg_buffer, max_messages, 0, 10000000, 100000, CFG_CHANGE_BUFFER),
	O_STR("dir", cfg_buffer, dir, "", CFG_CHANGE_BUFFER | CFG_CHANGE_JOURNAL),
	O_BOOL("qos0", cfg_buffer, qos0, 0, CFG_CHANGE_BUFFER),
	O_ENUM("sync", cfg_buffer, sync, cfg_sync_names, CFG_SYNC_BATCH, CFG_CHANGE_BUFFER),
	O_END
};
static const struct opt_shape cfg_buffer_shape = { cfg_buffer_opts, sizeof(struct cfg_buffer), NULL };

/*
 * A serial entry's poll list, parsed by the walker from this table alone;
 * config_poll.c then checks what a table cannot say (offset_ms < every_ms,
 * a command the device's codec can send). A change makes the device anew:
 * its schedule starts over with the port.
 */
static const struct opt cfg_poll_opts[] = {
	O_REQ("command", cfg_poll, command, DEV),
	{ .name = "every_ms", .type = OPT_INT, .min = 10, .max = 86400000, .def = 0, .off = S_(cfg_poll, every_ms),
	  .change = DEV, .flags = OPT_REQUIRED },
	O_INT("offset_ms", cfg_poll, offset_ms, 0, 86400000 - 1, 0, DEV),
	O_END
};
static const struct opt_shape cfg_poll_shape = { cfg_poll_opts, sizeof(struct cfg_poll), NULL };

/* The fail-safe policy and error_topic are read when used (LIVE): a change keeps the port open. */
const struct opt cfg_serial_opts[] = {
	O_REQ("name", cfg_serial, name, DEV),
	O_REQ("port", cfg_serial, port, DEV),
	O_INT("baud", cfg_serial, baud, 50, 4000000, 115200, DEV),
	O_INT("data_bits", cfg_serial, data_bits, 5, 8, 8, DEV),
	O_ENUM("parity", cfg_serial, parity, cfg_parity_names, CFG_PARITY_NONE, DEV),
	O_INT("stop_bits", cfg_serial, stop_bits, 1, 2, 1, DEV),
	O_ENUM("flow", cfg_serial, flow, cfg_flow_names, CFG_FLOW_NONE, DEV),
	O_STR("eol", cfg_serial, eol, "\r\n", DEV),
	O_INT("max_frame", cfg_serial, max_frame, 1, 65536, 256, DEV),
	O_INT("reopen_ms", cfg_serial, reopen_ms, 100, 600000, 2000, DEV),
	O_STR("status_topic", cfg_serial, status_topic, NULL, DEV),
	O_STR("error_topic", cfg_serial, error_topic, "", LIVE),
	O_STR("reply", cfg_serial, reply_src, NULL, DEV),
	O_INT("reply_timeout_ms", cfg_serial, reply_timeout_ms, 1, 600000, 1000, DEV),
	O_INT("queue_max", cfg_serial, queue_max, 1, 4096, 32, DEV),
	O_STRLIST("on_disconnect", cfg_serial, on_disconnect, n_on_disconnect, LIVE, OPT_OWN),
	O_INT("failsafe_grace_ms", cfg_serial, failsafe_grace_ms, 0, 3600000, 5000, LIVE),
	O_INT("command_timeout_ms", cfg_serial, command_timeout_ms, 0, 86400000, 0, LIVE),
	O_INT("rate_limit", cfg_serial, rate_limit, 0, 100000, 0, DEV),
	O_INT("rate_burst", cfg_serial, rate_burst, 0, 100000, 0, DEV),
	O_BOOL("rs485", cfg_serial, rs485, 0, DEV),
	O_INT("rs485_delay_before_ms", cfg_serial, rs485_delay_before_ms, 0, 1000, 0, DEV),
	O_INT("rs485_delay_after_ms", cfg_serial, rs485_delay_after_ms, 0, 1000, 0, DEV),
	O_ENUM("framing", cfg_serial, framing, framing_mode_names, FRAMING_EOL, DEV),
	O_INT("frame_len", cfg_serial, frame_len, 1, 65536, 0, DEV),
	O_INT("idle_ms", cfg_serial, idle_ms, 1, 60000, 50, DEV),
	O_INT("frame_timeout_ms", cfg_serial, frame_timeout_ms, 0, 600000, 0, DEV),
	O_ENUM("encoding", cfg_serial, encoding, codec_encoding_names, CODEC_ENCODING_TEXT, DEV),
	O_ENUM("checksum", cfg_serial, checksum, codec_checksum_names, CODEC_CHECKSUM_NONE, DEV),
	O_ENUM("checksum_format", cfg_serial, checksum_format, codec_format_names, CODEC_FORMAT_BINARY, DEV),
	O_ENUM("checksum_order", cfg_serial, checksum_order, codec_order_names, CODEC_ORDER_LITTLE, DEV),
	O_STR("checksum_prefix", cfg_serial, checksum_prefix, "", DEV),
	O_INT("checksum_skip", cfg_serial, checksum_skip, 0, 65536, 0, DEV),
	O_LIST("poll", cfg_serial, polls, n_polls, &cfg_poll_shape, DEV, 0),
	O_END
};
static const struct opt_shape cfg_serial_shape = { cfg_serial_opts, sizeof(struct cfg_serial), cfg_serial_free_extra };

/* failsafe and its grace are read when used: a change keeps the line, its value and an armed fail-safe. */
const struct opt cfg_gpio_opts[] = {
	O_REQ("name", cfg_gpio, name, DEV),
	O_STR("chip", cfg_gpio, chip, "gpiochip0", DEV),
	{ .name = "line", .type = OPT_INTSTR, .min = 0, .max = 1023, .def = -1, .off = S_(cfg_gpio, offset),
	  .off2 = S_(cfg_gpio, line_name), .change = DEV, .flags = OPT_OWN },	/* 17 or "GPIO17" */
	O_ENUM("direction", cfg_gpio, direction, cfg_dir_names, CFG_GPIO_INPUT, DEV),
	O_ENUM("edge", cfg_gpio, edge, cfg_edge_names, CFG_EDGE_BOTH, DEV),
	O_ENUM("bias", cfg_gpio, bias, cfg_bias_names, CFG_BIAS_AS_IS, DEV),
	O_BOOL("active_low", cfg_gpio, active_low, 0, DEV),
	O_INT("debounce_ms", cfg_gpio, debounce_ms, 0, 60000, 0, DEV),
	O_INT("initial", cfg_gpio, initial, 0, 1, 0, DEV),
	O_INT("failsafe", cfg_gpio, failsafe, -1, 1, -1, LIVE),
	O_INT("failsafe_grace_ms", cfg_gpio, failsafe_grace_ms, 0, 3600000, 5000, LIVE),
	O_END
};
static const struct opt_shape cfg_gpio_shape = { cfg_gpio_opts, sizeof(struct cfg_gpio), NULL };

/* Home Assistant discovery (issue 16): the prefix is checked, the entities built, in config_ha.c */
static const struct opt cfg_ha_opts[] = {
	O_STR("prefix", cfg_ha, prefix, "homeassistant", CFG_CHANGE_ROUTES),
	O_END
};
static const struct opt_shape cfg_ha_shape = { cfg_ha_opts, sizeof(struct cfg_ha), NULL };

const struct opt cfg_top_opts[] = {
	O_STR("station", config, station, NULL, LIVE),
	{ .name = "log_level", .type = OPT_ENUM, .def = -1, .off = S_(config, log_level),
	  .names = config_log_level_names, .change = CFG_CHANGE_LOG, .flags = OPT_MUST_BE },
	O_GROUP("mqtt", config, mqtt, OPT_NO_OFF2, &cfg_mqtt_shape, MQTT, OPT_OWN),
	O_GROUP("buffer", config, buffer, OPT_NO_OFF2, &cfg_buffer_shape, CFG_CHANGE_BUFFER, OPT_OWN),
	O_LIST("serial", config, serial, n_serial, &cfg_serial_shape, DEV, OPT_OWN),
	O_LIST("gpio", config, gpio, n_gpio, &cfg_gpio_shape, DEV, OPT_OWN),
	O_LIST("routes", config, routes, n_routes, &cfg_route_shape, CFG_CHANGE_ROUTES, OPT_OWN),
	O_GROUP("homeassistant", config, ha, S_(config, has_ha), &cfg_ha_shape, CFG_CHANGE_ROUTES, 0),
	O_END
};
/* clang-format on */

/* What the groups' own code compiled beyond their settings. */
static void cfg_serial_free_extra(void *elem)
{
	struct cfg_serial *s = elem;

	if (s->has_reply)
		pattern_free(&s->reply);
}

/* ---- field access ---- */

#define AT(base, off, type) (*(type *)(void *)((char *)(base) + (off)))
#define CAT(base, off, type) (*(const type *)(const void *)((const char *)(base) + (off)))

/* ---- parsing: defaults and the walker ---- */

static const char *cfg_type_word(enum opt_type t)
{
	switch (t) {
	case OPT_STR:
	case OPT_ENUM:
		return "a string";
	case OPT_INT:
		return "an integer";
	case OPT_BOOL:
		return "true or false";
	default:
		return "a group or list";
	}
}

int cfg_defaults(const struct opt *opts, void *base)
{
	const struct opt *o;

	for (o = opts; o->name; o++) {
		switch (o->type) {
		case OPT_STR:
			if (o->def_str && !(AT(base, o->off, char *) = strdup(o->def_str)))
				return -1;
			break;
		case OPT_INT:
		case OPT_BOOL:
		case OPT_ENUM:
		case OPT_INTSTR:
			AT(base, o->off, int) = (int)o->def;
			break;
		case OPT_GROUP:
			/* a group the walker parses has its defaults even when absent */
			if (!(o->flags & OPT_OWN) && cfg_defaults(o->sub->opts, (char *)base + o->off) < 0)
				return -1;
			break;
		default:
			break;
		}
	}
	return 0;
}

static const struct opt *cfg_find_opt(const struct opt *opts, const char *name)
{
	for (; opts->name; opts++)
		if (strcmp(opts->name, name) == 0)
			return opts;
	return NULL;
}

/* An enum's value: its index in o->names, or -1 after the error. */
static int cfg_enum_value(struct cfg_ctx *c, const config_setting_t *s, const struct opt *o, const char *full)
{
	const char *v = config_setting_get_string(s);
	char list[128] = "";
	int k;

	for (k = 0; o->names[k]; k++)
		if (strcmp(o->names[k], v) == 0)
			return k;
	for (k = 0; o->names[k]; k++) {
		strncat(list, k ? ", " : "", sizeof(list) - strlen(list) - 1);
		strncat(list, o->names[k], sizeof(list) - strlen(list) - 1);
	}
	if (o->flags & OPT_MUST_BE)
		cfg_fail(c, s, "%s must be one of: %s", full, list);
	else
		cfg_fail(c, s, "%s = \"%s\" is not one of: %s", full, v, list);
	return -1;
}

/* One scalar member s of a group, checked against o and stored. */
static void cfg_apply_one(struct cfg_ctx *c, const config_setting_t *s, const struct opt *o, void *base,
			  const char *what, const char *full)
{
	int type = config_setting_type(s);
	int want = o->type == OPT_INT	 ? CONFIG_TYPE_INT
		   : o->type == OPT_BOOL ? CONFIG_TYPE_BOOL
					 : CONFIG_TYPE_STRING;

	if (type != want && !(o->type == OPT_INT && type == CONFIG_TYPE_INT64)) {
		cfg_fail(c, s, "%s must be %s", full, cfg_type_word(o->type));
		return;
	}
	switch (o->type) {
	case OPT_STR: {
		char **f = &AT(base, o->off, char *);

		free(*f);
		if (!(*f = strdup(config_setting_get_string(s))))
			cfg_fail(c, s, "out of memory");
		else if ((o->flags & OPT_REQUIRED) && !**f)
			cfg_fail(c, s, "%s.%s must not be empty", what, o->name);
		break;
	}
	case OPT_INT: {
		long long v = config_setting_get_int64(s);

		if (v < o->min || v > o->max)
			cfg_fail(c, s, "%s = %lld is out of range (%ld..%ld)", full, v, o->min, o->max);
		else
			AT(base, o->off, int) = (int)v;
		break;
	}
	case OPT_BOOL:
		AT(base, o->off, int) = config_setting_get_bool(s);
		break;
	case OPT_ENUM: {
		int k = cfg_enum_value(c, s, o, full);

		if (k >= 0)
			AT(base, o->off, int) = k;
		break;
	}
	default:
		break;
	}
}

/* A string or a list of strings (OPT_STRLIST without OPT_OWN). */
static void cfg_apply_strlist(struct cfg_ctx *c, const config_setting_t *s, const struct opt *o, void *base,
			      const char *full)
{
	int one = config_setting_type(s) == CONFIG_TYPE_STRING;
	int k, n = one ? 1 : config_setting_length(s);
	char **v;

	if (!one && !config_setting_is_array(s) && !config_setting_is_list(s)) {
		cfg_fail(c, s, "%s must be a string or a list of strings", full);
		return;
	}
	if (!(v = calloc((size_t)n + 1, sizeof(char *)))) {
		cfg_fail(c, s, "out of memory");
		return;
	}
	AT(base, o->off, char **) = v;
	for (k = 0; k < n && !c->failed; k++) {
		const config_setting_t *e = one ? s : config_setting_get_elem(s, (unsigned)k);

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			cfg_fail(c, e, "%s must be a string or a list of strings", full);
		else if (!(v[k] = strdup(config_setting_get_string(e))))
			cfg_fail(c, e, "out of memory");
		else
			AT(base, o->off2, int) = k + 1;
	}
}

/* A group (OPT_GROUP without OPT_OWN): its defaults, then its members. */
static void cfg_apply_group(struct cfg_ctx *c, const config_setting_t *s, const struct opt *o, void *base,
			    const char *full)
{
	if (!config_setting_is_group(s)) {
		cfg_fail(c, s, "%s must be a group { ... }", full);
		return;
	}
	if (o->off2 != OPT_NO_OFF2)
		AT(base, o->off2, int) = 1;
	cfg_apply(c, s, o->sub->opts, (char *)base + o->off, full);
}

/* A list of groups (OPT_LIST without OPT_OWN): each element from its table. */
static void cfg_apply_list(struct cfg_ctx *c, const config_setting_t *s, const struct opt *o, void *base,
			   const char *full)
{
	int k, n = config_setting_length(s);
	char *v, what[192];

	if (!config_setting_is_list(s) && !config_setting_is_array(s)) {
		cfg_fail(c, s, "%s must be a list: %s = ( { ... } );", full, o->name);
		return;
	}
	if (!(v = calloc((size_t)(n ? n : 1), o->sub->size))) {
		cfg_fail(c, s, "out of memory");
		return;
	}
	AT(base, o->off, char *) = v;
	for (k = 0; k < n && !c->failed; k++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)k);
		char *el = v + (size_t)k * o->sub->size;

		AT(base, o->off2, int) = k + 1; /* freed with the rest, whatever happens next */
		snprintf(what, sizeof(what), "%s[%d]", full, k);
		if (cfg_defaults(o->sub->opts, el) < 0)
			cfg_fail(c, e, "out of memory");
		else if (!config_setting_is_group(e))
			cfg_fail(c, e, "each %s entry must be a group { ... }", full);
		else
			cfg_apply(c, e, o->sub->opts, el, what);
	}
}

/*
 * Walk the members of group g against opts, storing into base. what names
 * the group in messages ("mqtt", "serial[0]"; "" the top level). Members
 * flagged OPT_OWN are left to the group's own code; a group, a list of
 * groups or a list of strings without it is parsed here from its shape
 * (a new list, such as a serial entry's poll list, needs only its table).
 */
void cfg_apply(struct cfg_ctx *c, const config_setting_t *g, const struct opt *opts, void *base, const char *what)
{
	int i, n = config_setting_length(g);

	for (i = 0; i < n && !c->failed; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		const struct opt *o = name ? cfg_find_opt(opts, name) : NULL;
		char full[160];

		if (!o) {
			const char *near = name ? cfg_closest(opts, name) : NULL;

			cfg_fail(c, s, "unknown setting \"%s\"%s%s%s%s%s", name ? name : "?",
				 *what ? " in " : " at the top level", what, near ? " (did you mean " : "",
				 near ? near : "", near ? "?)" : "");
			return;
		}
		if (o->flags & OPT_OWN)
			continue;
		snprintf(full, sizeof(full), "%s%s%s", what, *what ? "." : "", name);
		if (o->type == OPT_STRLIST)
			cfg_apply_strlist(c, s, o, base, full);
		else if (o->type == OPT_GROUP)
			cfg_apply_group(c, s, o, base, full);
		else if (o->type == OPT_LIST)
			cfg_apply_list(c, s, o, base, full);
		else
			cfg_apply_one(c, s, o, base, what, full);
	}
	for (; opts->name && !c->failed; opts++)
		if ((opts->flags & OPT_REQUIRED) && !config_setting_get_member(g, opts->name))
			cfg_fail(c, g, "%s has no \"%s\"", *what ? what : "the file", opts->name);
}

/* ---- freeing ---- */

void cfg_free_settings(const struct opt *opts, void *base)
{
	const struct opt *o;

	for (o = opts; o->name; o++) {
		switch (o->type) {
		case OPT_STR:
			free(AT(base, o->off, char *));
			break;
		case OPT_INTSTR:
			free(AT(base, o->off2, char *));
			break;
		case OPT_STRLIST: {
			char **v = AT(base, o->off, char **);

			for (int k = 0; v && k < AT(base, o->off2, int); k++)
				free(v[k]);
			free(v);
			break;
		}
		case OPT_GROUP:
			cfg_free_settings(o->sub->opts, (char *)base + o->off);
			break;
		case OPT_LIST: {
			char *v = AT(base, o->off, char *);

			for (int k = 0; v && k < AT(base, o->off2, int); k++) {
				cfg_free_settings(o->sub->opts, v + (size_t)k * o->sub->size);
				if (o->sub->free_extra)
					o->sub->free_extra(v + (size_t)k * o->sub->size);
			}
			free(v);
			break;
		}
		default:
			break;
		}
	}
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	mapping_index_free(cfg->index);
	cfg_free_settings(cfg_top_opts, cfg);
	free(cfg->file);
	free(cfg);
}

/* ---- comparing ---- */

static int cfg_str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Where a comparison reports: the bits seen, and the first path with a bit of mask. */
struct cfg_diff {
	unsigned mask, seen, first;
	char *path;
	size_t len;
	int found;
};

static void cfg_diff_note(struct cfg_diff *d, const char *prefix, const char *name, unsigned change)
{
	d->seen |= change;
	if (!d->found && (change & d->mask)) {
		d->found = 1;
		d->first = change;
		if (d->path)
			snprintf(d->path, d->len, "%s%s%s", prefix, *prefix ? "." : "", name);
	}
}

/* Is setting o the same in a and b (groups and lists: the count, the flag)? */
static int cfg_scalar_same(const struct opt *o, const void *a, const void *b)
{
	switch (o->type) {
	case OPT_STR:
		return cfg_str_eq(CAT(a, o->off, char *), CAT(b, o->off, char *));
	case OPT_INT:
	case OPT_BOOL:
	case OPT_ENUM:
		return CAT(a, o->off, int) == CAT(b, o->off, int);
	case OPT_INTSTR:
		return CAT(a, o->off, int) == CAT(b, o->off, int) &&
		       cfg_str_eq(CAT(a, o->off2, char *), CAT(b, o->off2, char *));
	case OPT_STRLIST: {
		int n = CAT(a, o->off2, int);

		if (n != CAT(b, o->off2, int))
			return 0;
		for (int k = 0; k < n; k++)
			if (!cfg_str_eq(CAT(a, o->off, char **)[k], CAT(b, o->off, char **)[k]))
				return 0;
		return 1;
	}
	case OPT_GROUP:
		return o->off2 == OPT_NO_OFF2 || CAT(a, o->off2, int) == CAT(b, o->off2, int);
	case OPT_LIST:
		return CAT(a, o->off2, int) == CAT(b, o->off2, int);
	default:
		return 1;
	}
}

/* Compare the settings of opts in a and b, members of groups and list elements (by position) included. */
static void cfg_diff_walk(struct cfg_diff *d, const struct opt *opts, const void *a, const void *b, const char *prefix)
{
	const struct opt *o;
	char sub[160];

	for (o = opts; o->name; o++) {
		if (o->type == OPT_SPECIAL)
			continue;
		if (!cfg_scalar_same(o, a, b))
			cfg_diff_note(d, prefix, o->name, o->change);
		snprintf(sub, sizeof(sub), "%s%s%s", prefix, *prefix ? "." : "", o->name);
		if (o->type == OPT_GROUP) {
			cfg_diff_walk(d, o->sub->opts, (const char *)a + o->off, (const char *)b + o->off, sub);
		} else if (o->type == OPT_LIST) {
			int n = CAT(a, o->off2, int) < CAT(b, o->off2, int) ? CAT(a, o->off2, int) : CAT(b, o->off2, int);
			char el[176];

			for (int k = 0; k < n; k++) {
				snprintf(el, sizeof(el), "%s[%d]", sub, k);
				cfg_diff_walk(d, o->sub->opts, CAT(a, o->off, char *) + (size_t)k * o->sub->size,
					      CAT(b, o->off, char *) + (size_t)k * o->sub->size, el);
			}
		}
	}
}

unsigned config_changes(const struct config *a, const struct config *b)
{
	struct cfg_diff d = {0, 0, 0, NULL, 0, 0};

	cfg_diff_walk(&d, cfg_top_opts, a, b, "");
	return d.seen;
}

unsigned config_first_change(const struct config *a, const struct config *b, unsigned mask, char *path, size_t len)
{
	struct cfg_diff d = {mask, 0, 0, path, len, 0};

	if (len)
		path[0] = '\0';
	cfg_diff_walk(&d, cfg_top_opts, a, b, "");
	return d.first;
}

/* a and b equal in every setting of opts with a bit of mask. */
static int cfg_equal_in(const struct opt *opts, const void *a, const void *b, unsigned mask)
{
	struct cfg_diff d = {mask, 0, 0, NULL, 0, 0};

	cfg_diff_walk(&d, opts, a, b, "");
	return !(d.seen & mask);
}

int config_serial_equal(const struct cfg_serial *a, const struct cfg_serial *b)
{
	return cfg_equal_in(cfg_serial_opts, a, b, CFG_CHANGE_DEVICE);
}

int config_gpio_equal(const struct cfg_gpio *a, const struct cfg_gpio *b)
{
	return cfg_equal_in(cfg_gpio_opts, a, b, CFG_CHANGE_DEVICE);
}

int config_log_level(const struct config *cfg, int dflt)
{
	return cfg->log_level >= 0 ? config_log_levels[cfg->log_level] : dflt;
}

/* ---- the --check summary and the schema walk ---- */

/* A string for people: C escapes for control bytes, in quotes. */
static void cfg_print_str(FILE *f, const char *v)
{
	fputc('"', f);
	for (; *v; v++) {
		unsigned char ch = (unsigned char)*v;

		if (ch == '\r')
			fputs("\\r", f);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* Print "name = value" for setting o of base unless it is at its default; returns 1 when printed. */
static int cfg_print_one(FILE *f, const struct opt *o, const void *base, const char *sep)
{
	switch (o->type) {
	case OPT_STR: {
		const char *v = CAT(base, o->off, char *);

		if (!v || (o->flags & OPT_REQUIRED) || (o->def_str && strcmp(v, o->def_str) == 0))
			return 0;
		fprintf(f, "%s%s = ", sep, o->name);
		cfg_print_str(f, v);
		return 1;
	}
	case OPT_INT:
	case OPT_BOOL:
	case OPT_ENUM: {
		int v = CAT(base, o->off, int);

		if (v == o->def || (o->type == OPT_ENUM && v < 0))
			return 0;
		fprintf(f, "%s%s = ", sep, o->name);
		if (o->type == OPT_INT)
			fprintf(f, "%d", v);
		else if (o->type == OPT_BOOL)
			fputs(v ? "true" : "false", f);
		else
			fprintf(f, "\"%s\"", o->names[v]);
		return 1;
	}
	case OPT_INTSTR:
		if (CAT(base, o->off2, char *)) {
			fprintf(f, "%s%s = ", sep, o->name);
			cfg_print_str(f, CAT(base, o->off2, char *));
		} else {
			fprintf(f, "%s%s = %d", sep, o->name, CAT(base, o->off, int));
		}
		return 1;
	case OPT_STRLIST: {
		int n = CAT(base, o->off2, int);

		if (!n)
			return 0;
		fprintf(f, "%s%s = [", sep, o->name);
		for (int k = 0; k < n; k++) {
			fputs(k ? ", " : " ", f);
			cfg_print_str(f, CAT(base, o->off, char **)[k]);
		}
		fputs(" ]", f);
		return 1;
	}
	default:
		return 0;
	}
}

/* One line: label, then every scalar setting of opts that is not at its default (groups nested as a.b). */
static int cfg_print_group(FILE *f, const struct opt *opts, const void *base, const char *prefix, int n)
{
	const struct opt *o;
	char sub[96];

	for (o = opts; o->name; o++) {
		char sep[100];

		snprintf(sep, sizeof(sep), "%s%s%s", n ? ", " : "", prefix, *prefix ? "." : "");
		if (o->type == OPT_GROUP && (o->off2 == OPT_NO_OFF2 || CAT(base, o->off2, int))) {
			snprintf(sub, sizeof(sub), "%s%s%s", prefix, *prefix ? "." : "", o->name);
			n = cfg_print_group(f, o->sub->opts, (const char *)base + o->off, sub, n);
		} else {
			n += cfg_print_one(f, o, base, sep);
		}
	}
	return n;
}

void cfg_print_settings(const char *label, const struct opt *opts, const void *base)
{
	printf("%s", label);
	if (!cfg_print_group(stdout, opts, base, "", 0))
		printf("(defaults)");
	printf("\n");
}

static const char *const cfg_kind_words[] = {"string", "integer", "bool", "enum", "strings", "line", "group", "list", NULL};

static int cfg_walk(const struct opt *opts, const char *prefix, void (*fn)(const struct config_schema_item *, void *),
		    void *ctx)
{
	const struct opt *o;
	int n = 0;

	for (o = opts; o->name; o++) {
		struct config_schema_item it;
		char path[160];

		if (o->type == OPT_SPECIAL)
			continue;
		snprintf(path, sizeof(path), "%s%s%s%s", prefix, *prefix ? "." : "", o->name,
			 o->type == OPT_LIST ? "[]" : "");
		memset(&it, 0, sizeof(it));
		it.path = path;
		it.type = cfg_kind_words[o->type];
		it.min = o->min;
		it.max = o->max;
		it.def = o->def;
		it.def_str = o->def_str;
		it.names = o->names;
		it.change = o->change;
		it.required = !!(o->flags & OPT_REQUIRED);
		fn(&it, ctx);
		n++;
		if (o->type == OPT_GROUP || o->type == OPT_LIST)
			n += cfg_walk(o->sub->opts, path, fn, ctx);
	}
	return n;
}

int config_schema_walk(void (*fn)(const struct config_schema_item *it, void *ctx), void *ctx)
{
	return cfg_walk(cfg_top_opts, "", fn, ctx);
}
