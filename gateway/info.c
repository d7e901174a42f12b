/*
 * info.c - the gateway's self-description, a retained JSON document on the
 * info topic, so a dashboard (web/) needs no copy of the config: which
 * devices there are, where their availability and errors go, which topics
 * take commands and what the accept pattern allows.
 *
 * Why it is shaped so:
 *  - Built from the config alone (pure, no I/O): the bridge publishes the
 *    result on connect and after a reload, the unit test checks it.
 *  - cJSON, not snprintf: config text (names, ports, regexes with quotes
 *    and backslashes, UTF-8) goes into the document, and cJSON escapes
 *    every string and always emits valid JSON.
 *  - What is left out on purpose: the broker URIs, the username, the
 *    password_file and every TLS path. The document is readable by anyone
 *    allowed to see the station; it says what the station does, not how
 *    the gateway logs in.
 *  - Members are only added, never renamed (schema in "schema"); later
 *    route members (json, ha) go beside the ones here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "codec.h"
#include "config.h"
#include "config_int.h"
#include "framing.h"
#include "info.h"

int info_topic(const struct config *cfg, char *buf, size_t len)
{
	const char *st = cfg->mqtt.status_topic;
	size_t n = strlen(st);
	int w;

	if (n >= 7 && strcmp(st + n - 7, "/status") == 0)
		w = snprintf(buf, len, "%.*s/info", (int)(n - 7), st);
	else
		w = snprintf(buf, len, "%s/info", st);
	return w < 0 || (size_t)w >= len ? -1 : 0;
}

/* A compiled template back as its source: literals ($ doubled), $N for captures. */
static char *info_template_src(const struct template *t)
{
	size_t cap = 1, n = 0;
	char *out;
	int i;

	for (i = 0; i < t->n_parts; i++)
		cap += t->parts[i].expr && t->parts[i].expr->src ? strlen(t->parts[i].expr->src) + 3
		       : t->parts[i].capture >= 0 ? 2 : 2 * t->parts[i].len;
	out = malloc(cap);
	if (!out)
		return NULL;
	for (i = 0; i < t->n_parts; i++) {
		const struct template_part *p = &t->parts[i];

		if (p->expr && p->expr->src) {	/* a typed value: ${1|float} as written */
			n += (size_t)sprintf(out + n, "${%s}", p->expr->src);
			continue;
		}
		if (p->capture >= 0) {
			out[n++] = '$';
			out[n++] = (char)('0' + p->capture);
			continue;
		}
		for (size_t k = 0; k < p->len; k++) {
			char ch = t->text[p->off + k];

			if (ch == '$')
				out[n++] = '$';
			out[n++] = ch;
		}
	}
	out[n] = '\0';
	return out;
}

/* Escapes visible: "\r\n" -> "\\r\\n" (for the settings summary). */
static void info_visible(const char *s, size_t len, char *out, size_t outlen)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n + 5 < outlen; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '\r' || ch == '\n' || ch == '\t') {
			out[n++] = '\\';
			out[n++] = ch == '\r' ? 'r' : ch == '\n' ? 'n' : 't';
		} else if (ch < 0x20 || ch == 0x7f) {
			n += (size_t)snprintf(out + n, outlen - n, "\\x%02x", ch);
		} else {
			out[n++] = (char)ch;
		}
	}
	out[n] = '\0';
}

/* str or nothing: an empty topic means "off" and is left out. */
static int info_add_str(cJSON *o, const char *key, const char *val)
{
	if (!val || !*val)
		return 0;
	return cJSON_AddStringToObject(o, key, val) ? 0 : -1;
}

static int info_add_num(cJSON *o, const char *key, double v)
{
	return cJSON_AddNumberToObject(o, key, v) ? 0 : -1;
}

static cJSON *info_serial(const struct cfg_serial *s)
{
	static const char *const framings[] = { "eol", "fixed", "idle" };
	cJSON *o = cJSON_CreateObject();
	char eol[64], settings[256];
	int rc = 0;

	if (!o)
		return NULL;
	info_visible(s->eol, s->eol_len, eol, sizeof(eol));
	snprintf(settings, sizeof(settings), "%d %d%c%d, flow %s, %s framing%s%s, %s%s%s", s->baud, s->data_bits,
		 "NOEMS"[s->parity], s->stop_bits, cfg_flow_names[s->flow],
		 s->framing >= 0 && s->framing <= 2 ? framings[s->framing] : "?", s->framing == FRAMING_EOL ? " " : "",
		 s->framing == FRAMING_EOL ? eol : "", codec_encoding_names[s->encoding],
		 s->checksum ? ", checksum " : "", s->checksum ? codec_checksum_names[s->checksum] : "");
	rc |= info_add_str(o, "name", s->name);
	rc |= info_add_str(o, "kind", "serial");
	rc |= info_add_str(o, "port", s->port);
	rc |= info_add_str(o, "settings", settings);
	rc |= info_add_num(o, "baud", s->baud);
	rc |= info_add_num(o, "max_frame", s->max_frame);
	rc |= info_add_str(o, "encoding", codec_encoding_names[s->encoding]);
	rc |= info_add_str(o, "status_topic", s->status_topic);
	rc |= info_add_str(o, "error_topic", s->error_topic);
	rc |= info_add_str(o, "reply", s->has_reply ? s->reply_src : NULL);
	if (s->rate_limit)
		rc |= info_add_num(o, "rate_limit", s->rate_limit);
	if (rc < 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static cJSON *info_gpio(const struct cfg_gpio *g)
{
	cJSON *o = cJSON_CreateObject();
	char settings[160];
	int rc = 0;

	if (!o)
		return NULL;
	if (g->direction == CFG_GPIO_INPUT)
		snprintf(settings, sizeof(settings), "input, edge %s, bias %s%s, debounce %d ms",
			 cfg_edge_names[g->edge], cfg_bias_names[g->bias], g->active_low ? ", active low" : "",
			 g->debounce_ms);
	else
		snprintf(settings, sizeof(settings), "output, initial %d%s%s%s", g->initial,
			 g->active_low ? ", active low" : "", g->failsafe >= 0 ? ", failsafe " : "",
			 g->failsafe == 0 ? "0" : g->failsafe > 0 ? "1" : "");
	rc |= info_add_str(o, "name", g->name);
	rc |= info_add_str(o, "kind", "gpio");
	rc |= info_add_str(o, "chip", g->chip);
	if (g->line_name)
		rc |= info_add_str(o, "line", g->line_name);
	else
		rc |= info_add_num(o, "line", g->offset);
	rc |= info_add_str(o, "direction", cfg_dir_names[g->direction]);
	rc |= info_add_str(o, "settings", settings);
	if (rc < 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static const char *info_end(enum route_end k)
{
	return k == ROUTE_MQTT ? "mqtt" : k == ROUTE_SERIAL ? "serial" : "gpio";
}

static cJSON *info_route(const struct cfg_route *r, int index)
{
	cJSON *o = cJSON_CreateObject();
	char end[1100];
	char *payload = NULL;
	int rc = 0, up = r->from_kind != ROUTE_MQTT;

	if (!o)
		return NULL;
	rc |= info_add_num(o, "index", index);
	rc |= info_add_num(o, "line", r->line);
	snprintf(end, sizeof(end), "%s:%s", info_end(r->from_kind), r->from);
	rc |= info_add_str(o, "from", end);
	snprintf(end, sizeof(end), "%s:%s", info_end(r->to_kind), r->to);
	rc |= info_add_str(o, "to", end);
	/* what a dashboard needs without parsing from/to: */
	rc |= info_add_str(o, "direction", up ? "up" : "command");
	rc |= info_add_str(o, "device", up ? r->from : r->to);
	rc |= info_add_str(o, "device_kind", info_end(up ? r->from_kind : r->to_kind));
	rc |= info_add_str(o, "topic", up ? r->to : r->from);
	if (r->has_match)
		rc |= info_add_str(o, "match", r->match_src);
	if (r->has_accept)
		rc |= info_add_str(o, "accept", r->accept_src);
	if (r->payload_tpl.n_parts > 0) {
		payload = info_template_src(&r->payload_tpl);
		if (!payload || !cJSON_AddStringToObject(o, "payload", payload))
			rc = -1;
		free(payload);
	}
	if (up) {
		rc |= info_add_num(o, "qos", r->qos);
		if (!cJSON_AddBoolToObject(o, "retain", r->retain))
			rc = -1;
	}
	if (rc < 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

char *info_build(const struct config *cfg)
{
	cJSON *doc = cJSON_CreateObject(), *devs, *routes, *item;
	char topic[1100];
	char *out = NULL;
	int rc = 0, i;

	if (!doc)
		return NULL;
	rc |= info_add_num(doc, "schema", INFO_SCHEMA);
	rc |= info_add_str(doc, "version", MQTTGW_VERSION);
	rc |= info_add_str(doc, "station", cfg->station);
	rc |= info_add_str(doc, "client_id", cfg->mqtt.client_id);
	rc |= info_add_num(doc, "protocol", cfg->mqtt.protocol);
	rc |= info_add_str(doc, "status_topic", cfg->mqtt.status_topic);
	if (info_topic(cfg, topic, sizeof(topic)) == 0)
		rc |= info_add_str(doc, "info_topic", topic);
	rc |= info_add_str(doc, "stats_topic", cfg->mqtt.stats_topic);
	if (*cfg->mqtt.stats_topic)
		rc |= info_add_num(doc, "stats_interval", cfg->mqtt.stats_interval);
	devs = cJSON_AddArrayToObject(doc, "devices");
	routes = cJSON_AddArrayToObject(doc, "routes");
	if (!devs || !routes || rc < 0)
		goto out;
	for (i = 0; i < cfg->n_serial; i++) {
		if (!(item = info_serial(&cfg->serial[i])))
			goto out;
		cJSON_AddItemToArray(devs, item);
	}
	for (i = 0; i < cfg->n_gpio; i++) {
		if (!(item = info_gpio(&cfg->gpio[i])))
			goto out;
		cJSON_AddItemToArray(devs, item);
	}
	for (i = 0; i < cfg->n_routes; i++) {
		if (!(item = info_route(&cfg->routes[i], i + 1)))
			goto out;
		cJSON_AddItemToArray(routes, item);
	}
	out = cJSON_PrintUnformatted(doc);
out:
	cJSON_Delete(doc);
	return out;
}
