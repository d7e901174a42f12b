/*
 * config.c - load and validate the libconfig file into struct config.
 *
 * Every scalar setting is described once, in a table per group: name, type,
 * range, default and where it lands in the struct (redis config.c style).
 * One walker applies a table to a group: it fills defaults, rejects unknown
 * names, wrong types and out-of-range values with FILE:LINE, and leaves the
 * few structured settings (uri/uris, gpio line, tls, the lists) to small
 * dedicated functions. Cross-checks (device names, routes, regexes,
 * templates) come last, once every device is known.
 *
 * Nothing here does I/O beyond reading the file, so --check, reload and the
 * fuzzer can call it freely.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libconfig.h>

#include "codec.h"
#include "config.h"
#include "framing.h"
#include "topic.h"

enum opt_type { OPT_STR, OPT_INT, OPT_BOOL, OPT_ENUM, OPT_SPECIAL };

struct opt {
	const char *name;
	enum opt_type type;
	long min, max;		  /* OPT_INT range; OPT_STR: min 1 = required */
	long def;		  /* OPT_INT / OPT_BOOL / OPT_ENUM default */
	const char *def_str;	  /* OPT_STR default (NULL: none) */
	size_t off;		  /* offset in the target struct */
	const char *const *names; /* OPT_ENUM names, NULL-terminated */
};

struct cfg_ctx {
	const char *name; /* file name for messages */
	char *err;
	size_t errlen;
	int failed;
};

static const char *const parity_names[] = {"none", "odd", "even", "mark", "space", NULL};
static const char *const flow_names[] = {"none", "rtscts", "xonxoff", NULL};
static const char *const dir_names[] = {"input", "output", NULL};
static const char *const edge_names[] = {"both", "rising", "falling", "none", NULL};
static const char *const bias_names[] = {"as-is", "disable", "pull-up", "pull-down", NULL};
static const char *const level_names[] = {"error", "warning", "info", "debug", NULL};

#define S_(st, f) offsetof(struct st, f)

/* clang-format off */
static const struct opt top_opts[] = {
	{ "station", OPT_STR, 0, 0, 0, NULL, S_(config, station), NULL },
	{ "log_level", OPT_SPECIAL, 0, 0, 0, NULL, 0, NULL },
	{ "mqtt", OPT_SPECIAL, 0, 0, 0, NULL, 0, NULL },
	{ "buffer", OPT_SPECIAL, 0, 0, 0, NULL, 0, NULL },
	{ "serial", OPT_SPECIAL, 0, 0, 0, NULL, 0, NULL },
	{ "gpio", OPT_SPECIAL, 0, 0, 0, NULL, 0, NULL },
	{ "routes", OPT_SPECIAL, 0, 0, 0, NULL, 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL, 0, NULL }
};

static const struct opt mqtt_opts[] = {
	{ "uri", OPT_SPECIAL, 0, 0, 0, NULL, 0, NULL },
	{ "uris", OPT_SPECIAL, 0, 0, 0, NULL, 0, NULL },
	{ "client_id", OPT_STR, 0, 0, 0, NULL, S_(cfg_mqtt, client_id), NULL },
	{ "keepalive", OPT_INT, 0, 65535, 60, NULL, S_(cfg_mqtt, keepalive), NULL },
	{ "clean_session", OPT_BOOL, 0, 1, 0, NULL, S_(cfg_mqtt, clean_session), NULL },
	{ "qos", OPT_INT, 0, 2, 1, NULL, S_(cfg_mqtt, qos), NULL },
	{ "username", OPT_STR, 0, 0, 0, "", S_(cfg_mqtt, username), NULL },
	{ "password_file", OPT_STR, 0, 0, 0, "", S_(cfg_mqtt, password_file), NULL },
	{ "status_topic", OPT_STR, 0, 0, 0, NULL, S_(cfg_mqtt, status_topic), NULL },
	{ "reconnect_min_ms", OPT_INT, 100, 3600000, 1000, NULL, S_(cfg_mqtt, reconnect_min_ms), NULL },
	{ "reconnect_max_ms", OPT_INT, 100, 3600000, 30000, NULL, S_(cfg_mqtt, reconnect_max_ms), NULL },
	{ "tls", OPT_SPECIAL, 0, 0, 0, NULL, 0, NULL },
	{ "protocol", OPT_INT, 4, 5, 4, NULL, S_(cfg_mqtt, protocol), NULL },
	{ "session_expiry", OPT_INT, 0, 2147483647, 86400, NULL, S_(cfg_mqtt, session_expiry), NULL },
	{ "stats_topic", OPT_STR, 0, 0, 0, "", S_(cfg_mqtt, stats_topic), NULL },
	{ "stats_interval", OPT_INT, 1, 86400, 60, NULL, S_(cfg_mqtt, stats_interval), NULL },
	{ NULL, 0, 0, 0, 0, NULL, 0, NULL }
};

static const struct opt tls_opts[] = {
	{ "ca_file", OPT_STR, 0, 0, 0, "", S_(cfg_tls, ca_file), NULL },
	{ "cert_file", OPT_STR, 0, 0, 0, "", S_(cfg_tls, cert_file), NULL },
	{ "key_file", OPT_STR, 0, 0, 0, "", S_(cfg_tls, key_file), NULL },
	{ "verify", OPT_BOOL, 0, 1, 1, NULL, S_(cfg_tls, verify), NULL },
	{ NULL, 0, 0, 0, 0, NULL, 0, NULL }
};

static const struct opt buffer_opts[] = {
	{ "max_messages", OPT_INT, 0, 10000000, 100000, NULL, S_(cfg_buffer, max_messages), NULL },
	{ "dir", OPT_STR, 0, 0, 0, "", S_(cfg_buffer, dir), NULL },
	{ "qos0", OPT_BOOL, 0, 1, 0, NULL, S_(cfg_buffer, qos0), NULL },
	{ NULL, 0, 0, 0, 0, NULL, 0, NULL }
};

static const struct opt serial_opts[] = {
	{ "name", OPT_STR, 1, 0, 0, NULL, S_(cfg_serial, name), NULL },
	{ "port", OPT_STR, 1, 0, 0, NULL, S_(cfg_serial, port), NULL },
	{ "baud", OPT_INT, 50, 4000000, 115200, NULL, S_(cfg_serial, baud), NULL },
	{ "data_bits", OPT_INT, 5, 8, 8, NULL, S_(cfg_serial, data_bits), NULL },
	{ "parity", OPT_ENUM, 0, 0, CFG_PARITY_NONE, NULL, S_(cfg_serial, parity), parity_names },
	{ "stop_bits", OPT_INT, 1, 2, 1, NULL, S_(cfg_serial, stop_bits), NULL },
	{ "flow", OPT_ENUM, 0, 0, CFG_FLOW_NONE, NULL, S_(cfg_serial, flow), flow_names },
	{ "eol", OPT_STR, 0, 0, 0, "\r\n", S_(cfg_serial, eol), NULL },
	{ "max_frame", OPT_INT, 1, 65536, 256, NULL, S_(cfg_serial, max_frame), NULL },
	{ "reopen_ms", OPT_INT, 100, 600000, 2000, NULL, S_(cfg_serial, reopen_ms), NULL },
	{ "status_topic", OPT_STR, 0, 0, 0, NULL, S_(cfg_serial, status_topic), NULL },
	{ "error_topic", OPT_STR, 0, 0, 0, "", S_(cfg_serial, error_topic), NULL },
	{ "reply", OPT_STR, 0, 0, 0, NULL, S_(cfg_serial, reply_src), NULL },
	{ "reply_timeout_ms", OPT_INT, 1, 600000, 1000, NULL, S_(cfg_serial, reply_timeout_ms), NULL },
	{ "queue_max", OPT_INT, 1, 4096, 32, NULL, S_(cfg_serial, queue_max), NULL },
	{ "on_disconnect", OPT_SPECIAL, 0, 0, 0, NULL, 0, NULL },
	{ "failsafe_grace_ms", OPT_INT, 0, 3600000, 5000, NULL, S_(cfg_serial, failsafe_grace_ms), NULL },
	{ "command_timeout_ms", OPT_INT, 0, 86400000, 0, NULL, S_(cfg_serial, command_timeout_ms), NULL },
	{ "rate_limit", OPT_INT, 0, 100000, 0, NULL, S_(cfg_serial, rate_limit), NULL },
	{ "rate_burst", OPT_INT, 0, 100000, 0, NULL, S_(cfg_serial, rate_burst), NULL },
	{ "rs485", OPT_BOOL, 0, 1, 0, NULL, S_(cfg_serial, rs485), NULL },
	{ "rs485_delay_before_ms", OPT_INT, 0, 1000, 0, NULL, S_(cfg_serial, rs485_delay_before_ms), NULL },
	{ "rs485_delay_after_ms", OPT_INT, 0, 1000, 0, NULL, S_(cfg_serial, rs485_delay_after_ms), NULL },
	{ "framing", OPT_ENUM, 0, 0, FRAMING_EOL, NULL, S_(cfg_serial, framing), framing_mode_names },
	{ "frame_len", OPT_INT, 1, 65536, 0, NULL, S_(cfg_serial, frame_len), NULL },
	{ "idle_ms", OPT_INT, 1, 60000, 50, NULL, S_(cfg_serial, idle_ms), NULL },
	{ "frame_timeout_ms", OPT_INT, 0, 600000, 0, NULL, S_(cfg_serial, frame_timeout_ms), NULL },
	{ "encoding", OPT_ENUM, 0, 0, CODEC_ENCODING_TEXT, NULL, S_(cfg_serial, encoding), codec_encoding_names },
	{ "checksum", OPT_ENUM, 0, 0, CODEC_CHECKSUM_NONE, NULL, S_(cfg_serial, checksum), codec_checksum_names },
	{ "checksum_format", OPT_ENUM, 0, 0, CODEC_FORMAT_BINARY, NULL, S_(cfg_serial, checksum_format), codec_format_names },
	{ "checksum_order", OPT_ENUM, 0, 0, CODEC_ORDER_LITTLE, NULL, S_(cfg_serial, checksum_order), codec_order_names },
	{ "checksum_prefix", OPT_STR, 0, 0, 0, "", S_(cfg_serial, checksum_prefix), NULL },
	{ "checksum_skip", OPT_INT, 0, 65536, 0, NULL, S_(cfg_serial, checksum_skip), NULL },
	{ NULL, 0, 0, 0, 0, NULL, 0, NULL }
};

static const struct opt gpio_opts[] = {
	{ "name", OPT_STR, 1, 0, 0, NULL, S_(cfg_gpio, name), NULL },
	{ "chip", OPT_STR, 0, 0, 0, "gpiochip0", S_(cfg_gpio, chip), NULL },
	{ "line", OPT_SPECIAL, 0, 0, 0, NULL, 0, NULL },
	{ "direction", OPT_ENUM, 0, 0, CFG_GPIO_INPUT, NULL, S_(cfg_gpio, direction), dir_names },
	{ "edge", OPT_ENUM, 0, 0, CFG_EDGE_BOTH, NULL, S_(cfg_gpio, edge), edge_names },
	{ "bias", OPT_ENUM, 0, 0, CFG_BIAS_AS_IS, NULL, S_(cfg_gpio, bias), bias_names },
	{ "active_low", OPT_BOOL, 0, 1, 0, NULL, S_(cfg_gpio, active_low), NULL },
	{ "debounce_ms", OPT_INT, 0, 60000, 0, NULL, S_(cfg_gpio, debounce_ms), NULL },
	{ "initial", OPT_INT, 0, 1, 0, NULL, S_(cfg_gpio, initial), NULL },
	{ "failsafe", OPT_INT, -1, 1, -1, NULL, S_(cfg_gpio, failsafe), NULL },
	{ "failsafe_grace_ms", OPT_INT, 0, 3600000, 5000, NULL, S_(cfg_gpio, failsafe_grace_ms), NULL },
	{ NULL, 0, 0, 0, 0, NULL, 0, NULL }
};

/* Route scalars are parsed into this scratch struct, then compiled. */
struct route_raw {
	char *from, *to, *match, *accept, *payload;
	int retain, qos;
};

static const struct opt route_opts[] = {
	{ "from", OPT_STR, 1, 0, 0, NULL, S_(route_raw, from), NULL },
	{ "to", OPT_STR, 1, 0, 0, NULL, S_(route_raw, to), NULL },
	{ "match", OPT_STR, 0, 0, 0, NULL, S_(route_raw, match), NULL },
	{ "accept", OPT_STR, 0, 0, 0, NULL, S_(route_raw, accept), NULL },
	{ "payload", OPT_STR, 0, 0, 0, "$0", S_(route_raw, payload), NULL },
	{ "retain", OPT_BOOL, 0, 1, 0, NULL, S_(route_raw, retain), NULL },
	{ "qos", OPT_INT, -1, 2, -1, NULL, S_(route_raw, qos), NULL },
	{ NULL, 0, 0, 0, 0, NULL, 0, NULL }
};
/* clang-format on */

static void cfg_fail(struct cfg_ctx *c, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void cfg_fail(struct cfg_ctx *c, const config_setting_t *s, const char *fmt, ...)
{
	char msg[CONFIG_ERRLEN];
	const char *file = NULL;
	int line = 0;
	va_list ap;

	if (c->failed)
		return; /* report the first error only */
	c->failed = 1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s) {
		file = config_setting_source_file(s);
		line = config_setting_source_line(s);
	}
	snprintf(c->err, c->errlen, "%s:%d: %s", file ? file : c->name, line, msg);
}

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

/* Apply defaults of a table to a struct. */
static int cfg_defaults(const struct opt *opts, void *base)
{
	const struct opt *o;

	for (o = opts; o->name; o++) {
		char *b = (char *)base + o->off;

		switch (o->type) {
		case OPT_STR:
			if (o->def_str) {
				char *d = strdup(o->def_str);

				if (!d)
					return -1;
				*(char **)(void *)b = d;
			}
			break;
		case OPT_INT:
		case OPT_BOOL:
		case OPT_ENUM:
			*(int *)(void *)b = (int)o->def;
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

/*
 * Walk the members of group g against opts, storing into base. what names
 * the group in messages ("mqtt", "serial MOT01"). The log_level member of
 * the top level stores nowhere (off 0 and base NULL are skipped).
 */
static void cfg_apply(struct cfg_ctx *c, const config_setting_t *g, const struct opt *opts, void *base,
		      const char *what)
{
	int i, n = config_setting_length(g);

	for (i = 0; i < n && !c->failed; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		const struct opt *o = name ? cfg_find_opt(opts, name) : NULL;
		int type = config_setting_type(s);
		char full[160];
		char *b;

		if (!o) {
			cfg_fail(c, s, "unknown setting \"%s\"%s%s", name ? name : "?", *what ? " in " : " at the top level", what);
			return;
		}
		if (o->type == OPT_SPECIAL || !base)
			continue;
		b = (char *)base + o->off;
		snprintf(full, sizeof(full), "%s%s%s", what, *what ? "." : "", name);
		switch (o->type) {
		case OPT_STR:
			if (type != CONFIG_TYPE_STRING) {
				cfg_fail(c, s, "%s must be %s", full, cfg_type_word(o->type));
				return;
			}
			free(*(char **)(void *)b);
			*(char **)(void *)b = strdup(config_setting_get_string(s));
			if (!*(char **)(void *)b) {
				cfg_fail(c, s, "out of memory");
				return;
			}
			if (o->min == 1 && !**(char **)(void *)b)
				cfg_fail(c, s, "%s.%s must not be empty", what, name);
			break;
		case OPT_INT: {
			long long v;

			if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
				cfg_fail(c, s, "%s must be %s", full, cfg_type_word(o->type));
				return;
			}
			v = config_setting_get_int64(s);
			if (v < o->min || v > o->max) {
				cfg_fail(c, s, "%s = %lld is out of range (%ld..%ld)", full, v, o->min,
					 o->max);
				return;
			}
			*(int *)(void *)b = (int)v;
			break;
		}
		case OPT_BOOL:
			if (type != CONFIG_TYPE_BOOL) {
				cfg_fail(c, s, "%s must be %s", full, cfg_type_word(o->type));
				return;
			}
			*(int *)(void *)b = config_setting_get_bool(s);
			break;
		case OPT_ENUM: {
			const char *v;
			int k;

			if (type != CONFIG_TYPE_STRING) {
				cfg_fail(c, s, "%s must be %s", full, cfg_type_word(o->type));
				return;
			}
			v = config_setting_get_string(s);
			for (k = 0; o->names[k]; k++)
				if (strcmp(o->names[k], v) == 0)
					break;
			if (!o->names[k]) {
				char list[128] = "";

				for (k = 0; o->names[k]; k++) {
					strncat(list, k ? ", " : "", sizeof(list) - strlen(list) - 1);
					strncat(list, o->names[k], sizeof(list) - strlen(list) - 1);
				}
				cfg_fail(c, s, "%s = \"%s\" is not one of: %s", full, v, list);
				return;
			}
			*(int *)(void *)b = k;
			break;
		}
		default:
			break;
		}
	}
	/* required settings */
	for (; opts->name && !c->failed; opts++)
		if (opts->type == OPT_STR && opts->min == 1 && base && !config_setting_get_member(g, opts->name))
			cfg_fail(c, g, "%s has no \"%s\"", *what ? what : "the file", opts->name);
}

static char *cfg_subst(struct cfg_ctx *c, const config_setting_t *s, const char *src, const char *station,
		       const char *name)
{
	char err[256];
	char *out = template_subst_vars(src, station, name, err, sizeof(err));

	if (!out)
		cfg_fail(c, s, "%s", err);
	return out;
}

/* The member's line if it is there, else the group's. */
static const config_setting_t *cfg_member_or(const config_setting_t *g, const char *name)
{
	const config_setting_t *m = config_setting_get_member(g, name);

	return m ? m : g;
}

static void cfg_load_mqtt(struct cfg_ctx *c, struct config *cfg, const config_setting_t *g)
{
	struct cfg_mqtt *m = &cfg->mqtt;
	const config_setting_t *uri, *uris, *tls;
	char host[64] = "host", *tmp;

	if (cfg_defaults(mqtt_opts, m) < 0 || cfg_defaults(tls_opts, &m->tls) < 0) {
		cfg_fail(c, g, "out of memory");
		return;
	}
	if (!g) {
		cfg_fail(c, NULL, "no \"mqtt\" group: the broker's uri is needed");
		return;
	}
	m->line = config_setting_source_line(g);
	if (!config_setting_is_group(g)) {
		cfg_fail(c, g, "mqtt must be a group: mqtt = { uri = \"tcp://...\"; };");
		return;
	}
	cfg_apply(c, g, mqtt_opts, m, "mqtt");
	if (c->failed)
		return;
	uri = config_setting_get_member(g, "uri");
	uris = config_setting_get_member(g, "uris");
	if (uri && uris) {
		cfg_fail(c, uris, "mqtt: give either uri or uris, not both");
		return;
	}
	if (!uri && !uris) {
		cfg_fail(c, g, "mqtt has no \"uri\" (e.g. uri = \"tcp://127.0.0.1:1883\";)");
		return;
	}
	if (uri) {
		if (config_setting_type(uri) != CONFIG_TYPE_STRING) {
			cfg_fail(c, uri, "mqtt.uri must be a string");
			return;
		}
		m->uris = calloc(1, sizeof(char *));
		if (!m->uris) {
			cfg_fail(c, uri, "out of memory");
			return;
		}
		m->n_uris = 1;
		m->uris[0] = strdup(config_setting_get_string(uri));
	} else {
		int i, n = config_setting_length(uris);

		if ((config_setting_type(uris) != CONFIG_TYPE_ARRAY && config_setting_type(uris) != CONFIG_TYPE_LIST) ||
		    n < 1) {
			cfg_fail(c, uris, "mqtt.uris must be a non-empty list of strings");
			return;
		}
		m->uris = calloc((size_t)n, sizeof(char *));
		if (!m->uris) {
			cfg_fail(c, uris, "out of memory");
			return;
		}
		for (i = 0; i < n; i++) {
			const config_setting_t *e = config_setting_get_elem(uris, (unsigned)i);

			if (config_setting_type(e) != CONFIG_TYPE_STRING) {
				cfg_fail(c, e, "mqtt.uris must be a non-empty list of strings");
				return;
			}
			m->uris[i] = strdup(config_setting_get_string(e));
			m->n_uris = i + 1;
		}
	}
	for (int i = 0; i < m->n_uris; i++) {
		const char *u = m->uris[i];

		if (strncmp(u, "tcp://", 6) && strncmp(u, "mqtt://", 7) && strncmp(u, "ssl://", 6) &&
		    strncmp(u, "mqtts://", 8) && strncmp(u, "ws://", 5) && strncmp(u, "wss://", 6)) {
			cfg_fail(c, uri ? uri : uris,
				 "mqtt uri \"%s\" must start with tcp://, mqtt://, ssl://, mqtts://, ws:// or wss://",
				 u);
			return;
		}
	}
	tls = config_setting_get_member(g, "tls");
	if (tls) {
		if (!config_setting_is_group(tls)) {
			cfg_fail(c, tls, "mqtt.tls must be a group");
			return;
		}
		m->has_tls = 1;
		cfg_apply(c, tls, tls_opts, &m->tls, "mqtt.tls");
	}
	if (m->reconnect_min_ms > m->reconnect_max_ms)
		cfg_fail(c, g, "mqtt.reconnect_min_ms is larger than reconnect_max_ms");
	if (c->failed)
		return;
	/* defaults that depend on the station */
	if (!m->client_id) {
		if (cfg->station) {
			m->client_id = strdup("mqttgw-${station}");
		} else {
			gethostname(host, sizeof(host) - 1);
			host[sizeof(host) - 1] = '\0';
			if (asprintf(&m->client_id, "mqttgw-%s", host) < 0)
				m->client_id = NULL;
		}
	}
	if (!m->status_topic)
		m->status_topic = strdup(cfg->station ? "${station}/gateway/status" : "mqttgw/gateway/status");
	tmp = cfg_subst(c, cfg_member_or(g, "client_id"), m->client_id, cfg->station, NULL);
	free(m->client_id);
	m->client_id = tmp;
	if (!tmp)
		return;
	tmp = cfg_subst(c, cfg_member_or(g, "status_topic"), m->status_topic, cfg->station, NULL);
	free(m->status_topic);
	m->status_topic = tmp;
	if (tmp && topic_name_valid(tmp) < 0)
		cfg_fail(c, cfg_member_or(g, "status_topic"), "mqtt.status_topic \"%s\" is not a valid topic", tmp);
	if (c->failed)
		return;
	tmp = cfg_subst(c, cfg_member_or(g, "stats_topic"), m->stats_topic, cfg->station, NULL);
	free(m->stats_topic);
	m->stats_topic = tmp;
	if (tmp && *tmp && topic_name_valid(tmp) < 0)
		cfg_fail(c, cfg_member_or(g, "stats_topic"), "mqtt.stats_topic \"%s\" is not a valid topic", tmp);
}

static void cfg_load_buffer(struct cfg_ctx *c, struct config *cfg, const config_setting_t *g)
{
	struct cfg_buffer *bu = &cfg->buffer;

	if (cfg_defaults(buffer_opts, bu) < 0) {
		cfg_fail(c, g, "out of memory");
		return;
	}
	if (!g)
		return;
	bu->line = config_setting_source_line(g);
	if (!config_setting_is_group(g)) {
		cfg_fail(c, g, "buffer must be a group: buffer = { max_messages = 10000; };");
		return;
	}
	cfg_apply(c, g, buffer_opts, bu, "buffer");
	if (!c->failed && *bu->dir && cfg->mqtt.clean_session)
		cfg_fail(c, config_setting_get_member(g, "dir"),
			 "buffer.dir needs mqtt.clean_session = false (a clean session discards what was stored)");
}

static int cfg_name_ok(const char *n)
{
	const char *p;

	for (p = n; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		      *p == '-'))
			return 0;
	return p != n;
}

static int cfg_name_taken(const struct config *cfg, const char *name)
{
	return config_find_serial(cfg, name) >= 0 || config_find_gpio(cfg, name) >= 0;
}

static void cfg_regex(struct cfg_ctx *c, const config_setting_t *s, const char *src, regex_t *re, int *has,
		      const char *what);

/* A string or a list of strings, as frames for a device (no CR, LF, NUL). */
static void cfg_frames(struct cfg_ctx *c, const config_setting_t *s, const struct cfg_serial *ser, char ***out,
		       int *n_out)
{
	int i, n = config_setting_type(s) == CONFIG_TYPE_STRING ? 1 : config_setting_length(s);

	if (config_setting_type(s) != CONFIG_TYPE_STRING && !config_setting_is_array(s) &&
	    !config_setting_is_list(s)) {
		cfg_fail(c, s, "serial %s: %s must be a string or a list of strings", ser->name,
			 config_setting_name(s));
		return;
	}
	*out = calloc((size_t)n + 1, sizeof(char *));
	if (!*out) {
		cfg_fail(c, s, "out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_type(s) == CONFIG_TYPE_STRING
						    ? s
						    : config_setting_get_elem(s, (unsigned)i);
		const char *v;

		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			cfg_fail(c, e, "serial %s: %s must be a string or a list of strings", ser->name,
				 config_setting_name(s));
			return;
		}
		v = config_setting_get_string(e);
		if (!*v || strpbrk(v, "\r\n") || strlen(v) > (size_t)ser->max_frame ||
		    (ser->eol_len && strstr(v, ser->eol))) {
			cfg_fail(c, e, "serial %s: frame \"%s\" is empty, holds CR/LF/eol or exceeds max_frame",
				 ser->name, v);
			return;
		}
		(*out)[i] = strdup(v);
		*n_out = i + 1;
	}
}

/* A setting that only means something in some modes is an error elsewhere. */
static int cfg_only(struct cfg_ctx *c, const config_setting_t *g, const char *key, int allowed, const char *why)
{
	const config_setting_t *s = config_setting_get_member(g, key);

	if (s && !allowed) {
		cfg_fail(c, s, "%s applies only %s", key, why);
		return -1;
	}
	return 0;
}

/* Framing mode, eol and the payload codec of a serial entry. */
static void cfg_serial_framing(struct cfg_ctx *c, const config_setting_t *g, struct cfg_serial *s)
{
	const config_setting_t *eol = config_setting_get_member(g, "eol");

	if (cfg_only(c, g, "frame_len", s->framing == FRAMING_FIXED, "with framing = \"fixed\"") < 0 ||
	    cfg_only(c, g, "idle_ms", s->framing == FRAMING_IDLE, "with framing = \"idle\"") < 0 ||
	    cfg_only(c, g, "frame_timeout_ms", s->framing != FRAMING_IDLE, "with framing = \"eol\" or \"fixed\"") < 0)
		return;
	if (s->framing == FRAMING_FIXED && !s->frame_len) {
		cfg_fail(c, g, "serial %s: framing = \"fixed\" needs frame_len", s->name);
		return;
	}
	if (s->framing != FRAMING_EOL && !eol) {
		/* binary framings end frames by length or silence: no eol unless asked for */
		s->eol[0] = '\0';
	}
	s->eol_len = strlen(s->eol);
	if (s->framing == FRAMING_EOL && (s->eol_len < 1 || s->eol_len > 8)) {
		cfg_fail(c, eol ? eol : g, "serial %s: eol must be 1 to 8 bytes", s->name);
		return;
	}
	if (s->eol_len > 8) {
		cfg_fail(c, eol, "serial %s: eol must be at most 8 bytes", s->name);
		return;
	}
	if (s->checksum == CODEC_CHECKSUM_NONE &&
	    (cfg_only(c, g, "checksum_format", 0, "with a checksum") < 0 ||
	     cfg_only(c, g, "checksum_order", 0, "with a checksum") < 0 ||
	     cfg_only(c, g, "checksum_prefix", 0, "with a checksum") < 0 ||
	     cfg_only(c, g, "checksum_skip", 0, "with a checksum") < 0))
		return;
	if (strlen(s->checksum_prefix) > CODEC_PREFIX_MAX) {
		cfg_fail(c, config_setting_get_member(g, "checksum_prefix"),
			 "serial %s: checksum_prefix is at most %d bytes", s->name, CODEC_PREFIX_MAX);
		return;
	}
	if (s->framing == FRAMING_FIXED && s->frame_len > s->max_frame &&
	    config_setting_get_member(g, "max_frame")) {
		cfg_fail(c, config_setting_get_member(g, "frame_len"), "serial %s: frame_len is larger than max_frame",
			 s->name);
		return;
	}
	if (s->framing == FRAMING_FIXED && s->frame_len > s->max_frame)
		s->max_frame = s->frame_len;	/* max_frame also caps commands: at least a frame */
}

/* The real-world settings of a serial entry: availability, replies, fail-safe. */
static void cfg_serial_extras(struct cfg_ctx *c, const struct config *cfg, const config_setting_t *g,
			      struct cfg_serial *s)
{
	const config_setting_t *m;
	char *t;

	if (!s->status_topic)
		s->status_topic = strdup(cfg->station ? "${station}/${name}/status" : "${name}/status");
	t = cfg_subst(c, config_setting_get_member(g, "status_topic") ? config_setting_get_member(g, "status_topic")
								       : g,
		      s->status_topic, cfg->station, s->name);
	free(s->status_topic);
	s->status_topic = t;
	if (c->failed)
		return;
	if (*s->status_topic && topic_name_valid(s->status_topic) < 0) {
		cfg_fail(c, config_setting_get_member(g, "status_topic"), "serial %s: status_topic \"%s\" is not a valid topic",
			 s->name, s->status_topic);
		return;
	}
	m = config_setting_get_member(g, "error_topic");
	t = cfg_subst(c, m ? m : g, s->error_topic, cfg->station, s->name);
	free(s->error_topic);
	s->error_topic = t;
	if (c->failed)
		return;
	if (*s->error_topic && topic_name_valid(s->error_topic) < 0) {
		cfg_fail(c, m, "serial %s: error_topic \"%s\" is not a valid topic", s->name, s->error_topic);
		return;
	}
	cfg_regex(c, config_setting_get_member(g, "reply"), s->reply_src, &s->reply, &s->has_reply, "reply");
	m = config_setting_get_member(g, "on_disconnect");
	if (m && !c->failed)
		cfg_frames(c, m, s, &s->on_disconnect, &s->n_on_disconnect);
	if (!c->failed && s->command_timeout_ms && !s->n_on_disconnect)
		cfg_fail(c, config_setting_get_member(g, "command_timeout_ms"),
			 "serial %s: command_timeout_ms needs on_disconnect frames to send", s->name);
	if (s->rate_limit && !s->rate_burst)
		s->rate_burst = s->rate_limit;
}

static void cfg_load_serial(struct cfg_ctx *c, struct config *cfg, const config_setting_t *list)
{
	int i, n = config_setting_length(list);

	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		cfg_fail(c, list, "serial must be a list: serial = ( { name = ...; port = ...; } );");
		return;
	}
	cfg->serial = calloc((size_t)(n ? n : 1), sizeof(*cfg->serial));
	if (!cfg->serial) {
		cfg_fail(c, list, "out of memory");
		return;
	}
	for (i = 0; i < n && !c->failed; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct cfg_serial *s = &cfg->serial[i];
		char what[96];

		cfg->n_serial = i + 1;
		s->line = config_setting_source_line(g);
		if (cfg_defaults(serial_opts, s) < 0) {
			cfg_fail(c, g, "out of memory");
			return;
		}
		if (!config_setting_is_group(g)) {
			cfg_fail(c, g, "each serial entry must be a group { name = ...; port = ...; }");
			return;
		}
		snprintf(what, sizeof(what), "serial[%d]", i);
		cfg_apply(c, g, serial_opts, s, what);
		if (c->failed)
			return;
		if (!cfg_name_ok(s->name)) {
			cfg_fail(c, config_setting_get_member(g, "name"),
				 "device name \"%s\" may only use A-Z a-z 0-9 _ -", s->name);
			return;
		}
		cfg->n_serial = i; /* do not find ourselves */
		if (cfg_name_taken(cfg, s->name))
			cfg_fail(c, config_setting_get_member(g, "name"), "device name \"%s\" is used twice", s->name);
		cfg->n_serial = i + 1; /* config_free frees this entry too */
		if (c->failed)
			return;
		cfg_serial_framing(c, g, s);
		if (!c->failed)
			cfg_serial_extras(c, cfg, g, s);
	}
}

static void cfg_load_gpio(struct cfg_ctx *c, struct config *cfg, const config_setting_t *list)
{
	int i, n = config_setting_length(list);

	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		cfg_fail(c, list, "gpio must be a list: gpio = ( { name = ...; line = ...; } );");
		return;
	}
	cfg->gpio = calloc((size_t)(n ? n : 1), sizeof(*cfg->gpio));
	if (!cfg->gpio) {
		cfg_fail(c, list, "out of memory");
		return;
	}
	for (i = 0; i < n && !c->failed; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		const config_setting_t *line;
		struct cfg_gpio *p = &cfg->gpio[i];
		char what[96];

		cfg->n_gpio = i + 1;
		p->line_no = config_setting_source_line(g);
		p->line = -1;
		if (cfg_defaults(gpio_opts, p) < 0) {
			cfg_fail(c, g, "out of memory");
			return;
		}
		if (!config_setting_is_group(g)) {
			cfg_fail(c, g, "each gpio entry must be a group { name = ...; line = ...; }");
			return;
		}
		snprintf(what, sizeof(what), "gpio[%d]", i);
		cfg_apply(c, g, gpio_opts, p, what);
		if (c->failed)
			return;
		if (!cfg_name_ok(p->name)) {
			cfg_fail(c, config_setting_get_member(g, "name"),
				 "device name \"%s\" may only use A-Z a-z 0-9 _ -", p->name);
			return;
		}
		cfg->n_gpio = i;
		if (cfg_name_taken(cfg, p->name))
			cfg_fail(c, config_setting_get_member(g, "name"), "device name \"%s\" is used twice", p->name);
		cfg->n_gpio = i + 1; /* config_free frees this entry too */
		if (c->failed)
			return;
		line = config_setting_get_member(g, "line");
		if (!line) {
			cfg_fail(c, g, "gpio %s has no \"line\" (an offset like 17 or a name like \"GPIO17\")",
				 p->name);
			return;
		}
		if (config_setting_type(line) == CONFIG_TYPE_INT) {
			int v = config_setting_get_int(line);

			if (v < 0 || v > 1023) {
				cfg_fail(c, line, "gpio %s: line = %d is out of range (0..1023)", p->name, v);
				return;
			}
			p->line = v;
		} else if (config_setting_type(line) == CONFIG_TYPE_STRING && *config_setting_get_string(line)) {
			p->line_name = strdup(config_setting_get_string(line));
		} else {
			{
				cfg_fail(c, line, "gpio %s: line must be an offset (17) or a line name (\"GPIO17\")",
					 p->name);
				return;
			}
		}
		if (!*p->chip) {
			cfg_fail(c, config_setting_get_member(g, "chip"), "gpio %s: chip must not be empty", p->name);
			return;
		}
	}
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

static void cfg_regex(struct cfg_ctx *c, const config_setting_t *s, const char *src, regex_t *re, int *has,
		      const char *what)
{
	char msg[200];
	int rc;

	if (!src)
		return;
	rc = regcomp(re, src, REG_EXTENDED);
	if (rc != 0) {
		regerror(rc, re, msg, sizeof(msg));
		cfg_fail(c, s, "%s \"%s\" is not a valid POSIX extended regex: %s", what, src, msg);
		return;
	}
	*has = 1;
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

static void cfg_load_route(struct cfg_ctx *c, struct config *cfg, const config_setting_t *g, struct cfg_route *r)
{
	struct route_raw raw;
	const char *from_rest, *to_rest, *dev_name;
	const config_setting_t *fs, *ts, *ps;
	int ncaps = 0;

	memset(&raw, 0, sizeof(raw));
	r->line = config_setting_source_line(g);
	r->from_dev = r->to_dev = -1;
	if (cfg_defaults(route_opts, &raw) < 0) {
		cfg_fail(c, g, "out of memory");
		return;
	}
	if (!config_setting_is_group(g)) {
		cfg_fail(c, g, "each route must be a group { from = ...; to = ...; }");
		goto out;
	}
	cfg_apply(c, g, route_opts, &raw, "route");
	if (c->failed)
		goto out;
	fs = config_setting_get_member(g, "from");
	ts = config_setting_get_member(g, "to");
	ps = config_setting_get_member(g, "payload");
	if (cfg_route_end(raw.from, &r->from_kind, &from_rest) < 0) {
		cfg_fail(c, fs, "route from \"%s\" must be mqtt:TOPIC, serial:NAME or gpio:NAME", raw.from);
		goto out;
	}
	if (cfg_route_end(raw.to, &r->to_kind, &to_rest) < 0) {
		cfg_fail(c, ts, "route to \"%s\" must be mqtt:TOPIC, serial:NAME or gpio:NAME", raw.to);
		goto out;
	}
	if ((r->from_kind == ROUTE_MQTT) == (r->to_kind == ROUTE_MQTT)) {
		cfg_fail(c, g, "a route goes from mqtt to a device or from a device to mqtt (from \"%s\" to \"%s\")",
			 raw.from, raw.to);
		goto out;
	}
	r->qos = raw.qos >= 0 ? raw.qos : cfg->mqtt.qos;
	r->retain = raw.retain;
	if (r->from_kind != ROUTE_MQTT) {
		/* device -> mqtt */
		dev_name = from_rest;
		r->from_dev = cfg_find_dev(cfg, r->from_kind, dev_name);
		if (r->from_dev < 0) {
			cfg_fail(c, fs, "route from \"%s\": no %s device named \"%s\"", raw.from,
				 r->from_kind == ROUTE_SERIAL ? "serial" : "gpio", dev_name);
			goto out;
		}
		if (raw.accept) {
			cfg_fail(c, config_setting_get_member(g, "accept"),
				 "accept applies to commands from mqtt; use match for frames from a device");
			goto out;
		}
		r->match_src = raw.match ? strdup(raw.match) : NULL;
		cfg_regex(c, config_setting_get_member(g, "match"), raw.match, &r->match, &r->has_match, "match");
		ncaps = r->has_match ? (int)r->match.re_nsub : 0;
		r->from = strdup(dev_name);
		r->to = cfg_subst(c, ts, to_rest, cfg->station, dev_name);
		if (c->failed)
			goto out;
		cfg_template(c, ts, &r->to_tpl, to_rest, cfg->station, dev_name, ncaps, "to");
		if (!c->failed && r->to_tpl.max_capture < 0 && topic_name_valid(r->to) < 0)
			cfg_fail(c, ts, "route to \"%s\": not a valid topic to publish to (no + or #)", raw.to);
		if (!c->failed && (strstr(r->to, "//") || r->to[0] == '/' || r->to[strlen(r->to) - 1] == '/'))
			cfg_fail(c, ts, "route to \"%s\": empty topic level", raw.to);
		if (!c->failed && strpbrk(r->to_tpl.text, "+#"))
			cfg_fail(c, ts, "route to \"%s\": not a valid topic to publish to (no + or #)", raw.to);
		cfg_template(c, ps ? ps : g, &r->payload_tpl, raw.payload, cfg->station, dev_name, ncaps, "payload");
	} else {
		/* mqtt -> device */
		dev_name = to_rest;
		r->to_dev = cfg_find_dev(cfg, r->to_kind, dev_name);
		if (r->to_dev < 0) {
			cfg_fail(c, ts, "route to \"%s\": no %s device named \"%s\"", raw.to,
				 r->to_kind == ROUTE_SERIAL ? "serial" : "gpio", dev_name);
			goto out;
		}
		if (raw.match) {
			cfg_fail(c, config_setting_get_member(g, "match"),
				 "match applies to frames from a device; use accept for commands from mqtt");
			goto out;
		}
		if (raw.retain) {
			cfg_fail(c, config_setting_get_member(g, "retain"), "retain applies to routes to mqtt");
			goto out;
		}
		r->to = strdup(dev_name);
		r->from = cfg_subst(c, fs, from_rest, cfg->station, dev_name);
		if (c->failed)
			goto out;
		if (topic_filter_valid(r->from) < 0) {
			cfg_fail(c, fs, "route from \"%s\": not a valid topic filter", raw.from);
			goto out;
		}
		r->accept_src = raw.accept ? strdup(raw.accept) : NULL;
		cfg_regex(c, config_setting_get_member(g, "accept"), raw.accept, &r->accept, &r->has_accept, "accept");
		ncaps = r->has_accept ? (int)r->accept.re_nsub : 0;
		cfg_template(c, ps ? ps : g, &r->payload_tpl, raw.payload, cfg->station, dev_name, ncaps, "payload");
	}
out:
	free(raw.from);
	free(raw.to);
	free(raw.match);
	free(raw.accept);
	free(raw.payload);
}

static void cfg_load_routes(struct cfg_ctx *c, struct config *cfg, const config_setting_t *list)
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
}

static struct config *cfg_build(config_t *lc, struct cfg_ctx *c)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	config_setting_t *root = config_root_setting(lc), *s;
	int level = 2;

	if (!cfg) {
		snprintf(c->err, c->errlen, "%s: out of memory", c->name);
		return NULL;
	}
	cfg->file = strdup(c->name);
	cfg_apply(c, root, top_opts, cfg, "");
	s = config_setting_get_member(root, "log_level");
	if (s && !c->failed) {
		if (config_setting_type(s) != CONFIG_TYPE_STRING)
			cfg_fail(c, s, "log_level must be a string");
		for (level = 0; !c->failed && level_names[level]; level++)
			if (strcmp(level_names[level], config_setting_get_string(s)) == 0)
				break;
		if (!c->failed && !level_names[level])
			cfg_fail(c, s, "log_level must be one of: error, warning, info, debug");
		if (!c->failed)
			cfg->log_level = strdup(level_names[level]);
	}
	if (!c->failed && cfg->station && (!*cfg->station || strpbrk(cfg->station, "+#/$")))
		cfg_fail(c, config_setting_get_member(root, "station"),
			 "station \"%s\" must be non-empty and hold no + # / $", cfg->station);
	if (!c->failed)
		cfg_load_mqtt(c, cfg, config_setting_get_member(root, "mqtt"));
	s = config_setting_get_member(root, "buffer");
	if (!c->failed)
		cfg_load_buffer(c, cfg, s);
	s = config_setting_get_member(root, "serial");
	if (!c->failed && s)
		cfg_load_serial(c, cfg, s);
	s = config_setting_get_member(root, "gpio");
	if (!c->failed && s)
		cfg_load_gpio(c, cfg, s);
	s = config_setting_get_member(root, "routes");
	if (!c->failed && s)
		cfg_load_routes(c, cfg, s);
	if (c->failed) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

static struct config *cfg_finish(config_t *lc, int rc, const char *name, char *err, size_t errlen)
{
	struct cfg_ctx c = {name, err, errlen, 0};
	struct config *cfg;

	if (rc != CONFIG_TRUE) {
		const char *f = config_error_file(lc);

		snprintf(err, errlen, "%s:%d: %s", f ? f : name, config_error_line(lc), config_error_text(lc));
		config_destroy(lc);
		return NULL;
	}
	cfg = cfg_build(lc, &c);
	config_destroy(lc);
	return cfg;
}

struct config *config_load(const char *file, char *err, size_t errlen)
{
	config_t lc;
	FILE *fp;
	int rc;

	config_init(&lc);
	fp = fopen(file, "r");
	if (!fp) {
		snprintf(err, errlen, "%s:0: cannot open: %s", file, strerror(errno));
		config_destroy(&lc);
		return NULL;
	}
	/* config_read_file would lose the name in includes; read via the path */
	fclose(fp);
	rc = config_read_file(&lc, file);
	return cfg_finish(&lc, rc, file, err, errlen);
}

struct config *config_load_string(const char *text, const char *name, char *err, size_t errlen)
{
	config_t lc;
	int rc;

	config_init(&lc);
	rc = config_read_string(&lc, text);
	return cfg_finish(&lc, rc, name, err, errlen);
}

void config_free(struct config *cfg)
{
	int i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->mqtt.n_uris; i++)
		free(cfg->mqtt.uris[i]);
	free(cfg->mqtt.uris);
	free(cfg->mqtt.client_id);
	free(cfg->mqtt.username);
	free(cfg->mqtt.password_file);
	free(cfg->mqtt.status_topic);
	free(cfg->mqtt.stats_topic);
	free(cfg->mqtt.tls.ca_file);
	free(cfg->mqtt.tls.cert_file);
	free(cfg->mqtt.tls.key_file);
	free(cfg->buffer.dir);
	for (i = 0; i < cfg->n_serial; i++) {
		free(cfg->serial[i].name);
		free(cfg->serial[i].port);
		free(cfg->serial[i].eol);
		free(cfg->serial[i].status_topic);
		free(cfg->serial[i].checksum_prefix);
		free(cfg->serial[i].error_topic);
		free(cfg->serial[i].reply_src);
		if (cfg->serial[i].has_reply)
			regfree(&cfg->serial[i].reply);
		for (int k = 0; k < cfg->serial[i].n_on_disconnect; k++)
			free(cfg->serial[i].on_disconnect[k]);
		free(cfg->serial[i].on_disconnect);
	}
	free(cfg->serial);
	for (i = 0; i < cfg->n_gpio; i++) {
		free(cfg->gpio[i].name);
		free(cfg->gpio[i].chip);
		free(cfg->gpio[i].line_name);
	}
	free(cfg->gpio);
	for (i = 0; i < cfg->n_routes; i++) {
		struct cfg_route *r = &cfg->routes[i];

		free(r->from);
		free(r->to);
		free(r->match_src);
		free(r->accept_src);
		if (r->has_match)
			regfree(&r->match);
		if (r->has_accept)
			regfree(&r->accept);
		template_free(&r->to_tpl);
		template_free(&r->payload_tpl);
	}
	free(cfg->routes);
	free(cfg->station);
	free(cfg->log_level);
	free(cfg->file);
	free(cfg);
}

int config_find_serial(const struct config *cfg, const char *name)
{
	int i;

	for (i = 0; i < cfg->n_serial; i++)
		if (cfg->serial[i].name && strcmp(cfg->serial[i].name, name) == 0)
			return i;
	return -1;
}

int config_find_gpio(const struct config *cfg, const char *name)
{
	int i;

	for (i = 0; i < cfg->n_gpio; i++)
		if (cfg->gpio[i].name && strcmp(cfg->gpio[i].name, name) == 0)
			return i;
	return -1;
}

static const char *config_end_word(enum route_end k)
{
	return k == ROUTE_MQTT ? "mqtt" : k == ROUTE_SERIAL ? "serial" : "gpio";
}

void config_print_summary(const struct config *cfg)
{
	int i;

	printf("%s: ok\n", cfg->file);
	printf("station: %s\n", cfg->station ? cfg->station : "(none)");
	printf("broker: %s", cfg->mqtt.uris[0]);
	for (i = 1; i < cfg->mqtt.n_uris; i++)
		printf(", %s", cfg->mqtt.uris[i]);
	printf(" as \"%s\", keepalive %d s, qos %d, status on %s\n", cfg->mqtt.client_id, cfg->mqtt.keepalive,
	       cfg->mqtt.qos, cfg->mqtt.status_topic);
	printf("serial devices: %d\n", cfg->n_serial);
	for (i = 0; i < cfg->n_serial; i++) {
		const struct cfg_serial *s = &cfg->serial[i];

		printf("  %s on %s, %d %d%c%d, flow %s, max_frame %d\n", s->name, s->port, s->baud, s->data_bits,
		       "NOEMS"[s->parity], s -> stop_bits, flow_names[s->flow], s -> max_frame);
	}
	printf("gpio lines: %d\n", cfg->n_gpio);
	for (i = 0; i < cfg->n_gpio; i++) {
		const struct cfg_gpio *g = &cfg->gpio[i];

		if (g->line_name)
			printf("  %s: %s %s line \"%s\"\n", g->name, dir_names[g->direction], g->chip, g->line_name);
		else
			printf("  %s: %s %s line %d\n", g->name, dir_names[g->direction], g->chip, g->line);
	}
	printf("routes: %d\n", cfg->n_routes);
	for (i = 0; i < cfg->n_routes; i++) {
		const struct cfg_route *r = &cfg->routes[i];

		printf("  %d: %s:%s -> %s:%s", i + 1, config_end_word(r->from_kind), r->from,
		       config_end_word(r->to_kind), r->to);
		if (r->match_src)
			printf(" match %s", r->match_src);
		if (r->accept_src)
			printf(" accept %s", r->accept_src);
		if (r->to_kind == ROUTE_MQTT)
			printf(" qos %d%s", r->qos, r->retain ? " retained" : "");
		printf("\n");
	}
}
