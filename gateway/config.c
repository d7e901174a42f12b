/*
 * config.c - load and validate the libconfig file into struct config.
 *
 * Every setting is described once, in config_schema.c: name, type, range,
 * default, where it lands in the struct and what a change of it needs (redis
 * config.c style). Its walker checks each group's scalars against their
 * table with FILE:LINE; what a table cannot say (uri/uris, tls, the station
 * dependent defaults, the link-check arithmetic) is here. Cross-checks
 * (device names, routes, regexes, templates) come last, once every device
 * is known.
 *
 * This file holds error reporting, the top level, mqtt and buffer, loading
 * and the --check summary; the device lists are in config_devices.c, the
 * routes in config_routes.c, freeing and comparing in config_schema.c,
 * what they share in config_int.h.
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
#include "mapping_index.h"
#include "topic.h"

#include "config_int.h"

void cfg_fail(struct cfg_ctx *c, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void cfg_fail(struct cfg_ctx *c, const config_setting_t *s, const char *fmt, ...)
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

char *cfg_subst(struct cfg_ctx *c, const config_setting_t *s, const char *src, const char *station,
		       const char *name)
{
	char err[256];
	char *out = template_subst_vars(src, station, name, err, sizeof(err));

	if (!out)
		cfg_fail(c, s, "%s", err);
	return out;
}

/* The member's line if it is there, else the group's. */
const config_setting_t *cfg_member_or(const config_setting_t *g, const char *name)
{
	const config_setting_t *m = config_setting_get_member(g, name);

	return m ? m : g;
}

/*
 * link_timeout_ms: 0 (off) or at least 200 ms (below that a busy loop or
 * broker would flap the link); the probe period must fit three times in it,
 * so that one late answer is not a loss. Default period: a third of it.
 */
static void cfg_link_timeout(struct cfg_ctx *c, struct cfg_mqtt *m, const config_setting_t *g)
{
	if (c->failed || m->link_timeout_ms == 0)
		return;
	if (m->link_timeout_ms < 200) {
		cfg_fail(c, cfg_member_or(g, "link_timeout_ms"),
			 "mqtt.link_timeout_ms = %d is under 200 ms: too short to tell a lost link from a busy one "
			 "(0 turns the check off)", m->link_timeout_ms);
		return;
	}
	if (m->link_check_ms == 0)
		m->link_check_ms = m->link_timeout_ms / 3;
	else if (m->link_check_ms < 50 || (long)m->link_check_ms * 3 > m->link_timeout_ms)
		cfg_fail(c, cfg_member_or(g, m->link_check_ms < 50 ? "link_check_ms" : "link_timeout_ms"),
			 "mqtt.link_timeout_ms = %d does not fit three round-trip probes of link_check_ms = %d "
			 "(link_check_ms: 50 ms to a third of link_timeout_ms)", m->link_timeout_ms, m->link_check_ms);
}

/*
 * The topic setting mqtt.NAME: ${station} substituted into *field, which
 * must then be a valid topic name ("" too when may_be_empty: off). 0, or
 * -1 once the config has failed.
 */
static int cfg_mqtt_topic(struct cfg_ctx *c, const config_setting_t *g, const char *station, const char *name,
			  char **field, int may_be_empty)
{
	char *tmp = cfg_subst(c, cfg_member_or(g, name), *field, station, NULL);

	free(*field);
	*field = tmp;
	if (tmp && !(may_be_empty && !*tmp) && topic_name_valid(tmp) < 0)
		cfg_fail(c, cfg_member_or(g, name), "mqtt.%s \"%s\" is not a valid topic", name, tmp);
	return c->failed ? -1 : 0;
}

static void cfg_load_mqtt(struct cfg_ctx *c, struct config *cfg, const config_setting_t *g)
{
	struct cfg_mqtt *m = &cfg->mqtt;
	const config_setting_t *uri, *uris, *tls;
	char host[64] = "host", *tmp;

	if (cfg_defaults(cfg_mqtt_opts, m) < 0 || cfg_defaults(cfg_tls_opts, &m->tls) < 0) {
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
	cfg_apply(c, g, cfg_mqtt_opts, m, "mqtt");
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
		cfg_apply(c, tls, cfg_tls_opts, &m->tls, "mqtt.tls");
		/* TLS settings with a plain-text uri would be ignored without a word: refused */
		for (int i = 0; i < m->n_uris && !c->failed; i++)
			if (strncmp(m->uris[i], "ssl://", 6) && strncmp(m->uris[i], "mqtts://", 8) &&
			    strncmp(m->uris[i], "wss://", 6))
				cfg_fail(c, uri ? uri : uris,
					 "mqtt uri \"%s\" is plain text, but mqtt.tls is set: use ssl://, mqtts:// "
					 "or wss://, or remove the tls group",
					 m->uris[i]);
	}
	if (m->reconnect_min_ms > m->reconnect_max_ms)
		cfg_fail(c, g, "mqtt.reconnect_min_ms is larger than reconnect_max_ms");
	cfg_link_timeout(c, m, g);
	if (!c->failed && *m->password_file && !*m->username)
		cfg_fail(c, cfg_member_or(g, "password_file"),
			 "mqtt.password_file is set but mqtt.username is not: no login would be sent");
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
	if (!*tmp) {
		cfg_fail(c, cfg_member_or(g, "client_id"), "mqtt.client_id is empty: the broker would refuse every connect");
		return;
	}
	if (cfg_mqtt_topic(c, g, cfg->station, "status_topic", &m->status_topic, 0) < 0)
		return;
	if (!m->link_check_topic)
		m->link_check_topic = strdup(cfg->station ? "${station}/gateway/link-check" : "mqttgw/gateway/link-check");
	if (cfg_mqtt_topic(c, g, cfg->station, "link_check_topic", &m->link_check_topic, 0) < 0)
		return;
	cfg_mqtt_topic(c, g, cfg->station, "stats_topic", &m->stats_topic, 1);
}

static void cfg_load_buffer(struct cfg_ctx *c, struct config *cfg, const config_setting_t *g)
{
	struct cfg_buffer *bu = &cfg->buffer;

	if (cfg_defaults(cfg_buffer_opts, bu) < 0) {
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
	cfg_apply(c, g, cfg_buffer_opts, bu, "buffer");
}

void cfg_regex(struct cfg_ctx *c, const config_setting_t *s, const char *src, struct pattern *re, int *has,
	       const char *what)
{
	char msg[200];

	if (!src)
		return;
	if (pattern_compile(re, src, msg, sizeof(msg)) < 0) {
		cfg_fail(c, s, "%s \"%s\" is not a valid regex: %s", what, src, msg);
		return;
	}
	*has = 1;
}

static struct config *cfg_build(config_t *lc, struct cfg_ctx *c)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	config_setting_t *root = config_root_setting(lc), *s;

	if (!cfg) {
		snprintf(c->err, c->errlen, "%s: out of memory", c->name);
		return NULL;
	}
	cfg->file = strdup(c->name);
	if (!cfg->file || cfg_defaults(cfg_top_opts, cfg) < 0)
		cfg_fail(c, NULL, "out of memory");
	cfg_apply(c, root, cfg_top_opts, cfg, "");
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
	if (!c->failed)
		cfg_load_ha(c, cfg, root);
	if (!c->failed && !(cfg->index = mapping_index_new(cfg)))
		cfg_fail(c, NULL, "out of memory");
	if (c->failed) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* The whole file, NUL-terminated (for syntax hints), or NULL. */
static char *cfg_slurp(const char *file)
{
	FILE *f = fopen(file, "r");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n < (1L << 22) && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
		}
	}
	fclose(f);
	return buf;
}

/* text: the config's text when at hand (NULL: read name) */
static struct config *cfg_finish(config_t *lc, int rc, const char *name, const char *text, char *err,
				 size_t errlen)
{
	struct cfg_ctx c = {name, err, errlen, 0};
	struct config *cfg;

	if (rc != CONFIG_TRUE) {
		const char *f = config_error_file(lc), *what = config_error_text(lc);
		int line = config_error_line(lc), hline = line;
		char hint[200], *own = NULL;

		/* libconfig says only "syntax error": tell the likely cause when the text shows it */
		if (what && strcmp(what, "syntax error") == 0 && (!f || strcmp(f, name) == 0) &&
		    (text || (text = own = cfg_slurp(name)) != NULL) &&
		    cfg_syntax_hint(text, line, &hline, hint, sizeof(hint)) == 0)
			what = hint;
		snprintf(err, errlen, "%s:%d: %s", f ? f : name, hline, what);
		free(own);
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
		snprintf(err, errlen, "%s: cannot open: %s", file, strerror(errno));
		config_destroy(&lc);
		return NULL;
	}
	/* config_read_file would lose the name in includes; read via the path */
	fclose(fp);
	rc = config_read_file(&lc, file);
	return cfg_finish(&lc, rc, file, NULL, err, errlen);
}

struct config *config_load_string(const char *text, const char *name, char *err, size_t errlen)
{
	config_t lc;
	int rc;

	config_init(&lc);
	rc = config_read_string(&lc, text);
	return cfg_finish(&lc, rc, name, text, err, errlen);
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

/* The worst case from a lost link to a device's fail-safe (SAFETY.md). */
static void config_print_worst_case(const struct config *cfg, const char *what, int grace_ms, int deadman_ms)
{
	printf("    fail-safe %s: silent link loss -> ", what);
	if (cfg->mqtt.link_timeout_ms)
		printf("%d ms worst case (link_timeout_ms %d + failsafe_grace_ms %d)", cfg->mqtt.link_timeout_ms + grace_ms,
		       cfg->mqtt.link_timeout_ms, grace_ms);
	else
		printf("about %d s (3 x keepalive + failsafe_grace_ms %d; set link_timeout_ms)",
		       3 * cfg->mqtt.keepalive + (grace_ms + 999) / 1000, grace_ms);
	printf("; broker gone or link reset -> %d ms", grace_ms);
	if (deadman_ms)
		printf("; no command -> %d ms", deadman_ms);
	printf("\n");
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
	if (cfg->mqtt.link_timeout_ms)
		printf("link check: a round trip every %d ms (UNSUBSCRIBE %s), lost after %d ms without one\n",
		       cfg->mqtt.link_check_ms, cfg->mqtt.link_check_topic, cfg->mqtt.link_timeout_ms);
	else
		printf("link check: off (link_timeout_ms = 0): a silent loss is noticed by the keepalive, "
		       "after up to about 3 x %d s\n", cfg->mqtt.keepalive);
	cfg_print_settings("settings: ", cfg_top_opts, cfg);
	printf("serial devices: %d\n", cfg->n_serial);
	for (i = 0; i < cfg->n_serial; i++) {
		const struct cfg_serial *s = &cfg->serial[i];

		printf("  %s on %s, %d %d%c%d, flow %s, max_frame %d\n", s->name, s->port, s->baud, s->data_bits,
		       "NOEMS"[s->parity], s->stop_bits, cfg_flow_names[s->flow], s->max_frame);
		if (s->n_on_disconnect)
			config_print_worst_case(cfg, s->on_disconnect[0], s->failsafe_grace_ms, s->command_timeout_ms);
		else
			printf("    fail-safe: none (no on_disconnect)\n");
		cfg_print_settings("    settings: ", cfg_serial_opts, s);
		cfg_serial_polls_print(s);
	}
	printf("gpio lines: %d\n", cfg->n_gpio);
	for (i = 0; i < cfg->n_gpio; i++) {
		const struct cfg_gpio *g = &cfg->gpio[i];
		char what[32];

		if (g->line_name)
			printf("  %s: %s %s line \"%s\"\n", g->name, cfg_dir_names[g->direction], g->chip, g->line_name);
		else
			printf("  %s: %s %s line %d\n", g->name, cfg_dir_names[g->direction], g->chip, g->offset);
		if (g->direction == CFG_GPIO_OUTPUT && g->failsafe >= 0) {
			snprintf(what, sizeof(what), "%d", g->failsafe);
			config_print_worst_case(cfg, what, g->failsafe_grace_ms, 0);
		}
		cfg_print_settings("    settings: ", cfg_gpio_opts, g);
	}
	printf("routes: %d\n", cfg->n_routes);
	for (i = 0; i < cfg->n_routes; i++) {
		const struct cfg_route *r = &cfg->routes[i];

		printf("  %d: %s:%s -> %s:%s: ", i + 1, config_end_word(r->from_kind), r->from,
		       config_end_word(r->to_kind), r->to);
		cfg_print_settings("", cfg_route_opts, r);
	}
}
