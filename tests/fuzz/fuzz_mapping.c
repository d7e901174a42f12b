/*
 * fuzz_mapping.c - libFuzzer target for gateway/mapping.c, fed the way the
 * daemon feeds it.
 *
 * A fixed config (below) is loaded once with config_load_string(), like a
 * file at startup. It has a route of every shape: match and catch-all
 * uplinks with captures in topics, accept and accept-less downlinks, +
 * and # filters that fan out, payload templates that lengthen the command
 * or put a CR or the device's printable eol ("END") into it.
 *
 * Input: byte 0 picks the operation, the rest is its data.
 *   0 uplink: the rest is a byte stream from device (byte 1 % 3: MOT01,
 *     SENS, gpio LIMZ); serial streams go through framing with the
 *     device's eol and max_frame, and every frame is mapped.
 *   1 downlink: "TOPIC\0PAYLOAD"; topics that are not valid names are
 *     skipped (the broker never delivers them).
 *   2 downlink: byte 1 picks a topic the routes know, the rest is the payload.
 *
 * Payloads and gpio frames are handed over NUL-terminated (after their
 * length), as gateway/mqtt.c and framing do (PCRE2 matches on the length;
 * the terminator keeps the seed behaviour of the ERE days).
 *
 * Properties, each an abort when broken:
 *  - uplink picks the first route, in file order, of that device whose
 *    match (if any) matches the frame, and -1 only when there is none; an
 *    OK topic is a valid name under "S013/" with no empty level;
 *  - downlink yields exactly the routes whose filter matches, in order;
 *    an OK payload never holds CR, LF, NUL or the device's eol, is never
 *    longer than max_frame (64 for gpio), is printable when the route has
 *    no accept, and its input matched the accept when there is one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "framing.h"
#include "mapping.h"
#include "topic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char cfg_text[] =
    "station = \"S013\";\n"
    /* status topics where the wide command filters below do not reach (--check refuses that) */
    "mqtt = { uri = \"tcp://127.0.0.1:1883\"; status_topic = \"gw/S013/status\"; };\n"
    "serial = ( { name = \"MOT01\"; port = \"/dev/null\"; max_frame = 24; status_topic = \"\"; },\n"
    "           { name = \"SENS\"; port = \"/dev/zero\"; eol = \"END\"; max_frame = 40; status_topic = \"\"; } );\n"
    "gpio = ( { name = \"LIMZ\"; line = 17; },\n"
    "         { name = \"BRAKE\"; line = 27; direction = \"output\"; } );\n"
    "routes = (\n"
    "  { from = \"mqtt:${station}/MOT01/RECM\"; to = \"serial:MOT01\";\n"
    "    accept = \"^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME)$\"; },\n"
    "  { from = \"serial:MOT01\"; match = \"^POS([XYZ])([+-][0-9]+)$\";\n"
    "    to = \"mqtt:${station}/MOT01/POS/$1\"; payload = \"$2\"; retain = true; qos = 0; },\n"
    "  { from = \"serial:MOT01\"; match = \"^([^=]*)=(.*)$\"; to = \"mqtt:${station}/${name}/$1/v\";\n"
    "    payload = \"[$2|$0]\"; },\n"
    "  { from = \"serial:MOT01\"; to = \"mqtt:${station}/MOT01/SEND\"; },\n"
    "  { from = \"serial:SENS\"; match = \"^(a|b)?x(.*)\"; to = \"mqtt:${station}/SENS$1/$2\"; },\n"
    "  { from = \"gpio:LIMZ\"; to = \"mqtt:${station}/MOT01/LIMZ\"; retain = true; },\n"
    "  { from = \"mqtt:${station}/MOT01/BRAKE/set\"; to = \"gpio:BRAKE\"; },\n"
    "  { from = \"mqtt:${station}/+/raw\"; to = \"serial:MOT01\"; },\n"
    "  { from = \"mqtt:${station}/#\"; to = \"serial:SENS\"; },\n"
    "  { from = \"mqtt:+/bin\"; to = \"serial:MOT01\"; accept = \"^B\"; },\n"
    "  { from = \"mqtt:e/#\"; to = \"serial:SENS\"; accept = \"^(.*)$\"; payload = \"E$1\"; },\n"
    "  { from = \"mqtt:tpl/cmd\"; to = \"serial:MOT01\"; accept = \"^SET ([0-9]+)$\"; payload = \"S$1,$1,$1\"; },\n"
    "  { from = \"mqtt:tpl/cr\"; to = \"serial:MOT01\"; accept = \"^(.*)$\"; payload = \"$1\\r\"; },\n"
    "  { from = \"mqtt:tpl/gpio\"; to = \"gpio:BRAKE\"; accept = \"(.*)\"; payload = \"$1$1$1$1\"; } );\n";

static const char *const known_topics[] = {
    "S013/MOT01/RECM", "S013/MOT01/BRAKE/set", "S013/MOT01/raw", "S013/x/raw", "S013", "a/bin",
    "tpl/cmd",	       "tpl/cr",	       "tpl/gpio",	 "$SYS/bin", "other", "e", "e/x"};

static struct config *cfg;

static void fail(const char *what, int route)
{
	fprintf(stderr, "mapping property broken: %s (route %d)\n", what, route);
	abort();
}

static int re_matches(const struct pattern *re, const char *s, size_t len)
{
	return pattern_match(re, s, len, NULL, 0);
}

struct up_ctx {
	enum route_end kind;
	int dev;
};

static void map_frame(const char *frame, size_t len, void *ctx)
{
	const struct up_ctx *u = ctx;
	static char topic[256], payload[256];
	struct mapping_out o;
	int rc, i, first = -1;

	for (i = 0; i < cfg->n_routes && first < 0; i++) {
		const struct cfg_route *r = &cfg->routes[i];

		if (r->from_kind == u->kind && r->from_dev == u->dev &&
		    (!r->has_match || re_matches(&r->match, frame, len)))
			first = i;
	}
	rc = mapping_uplink(cfg, u->kind, u->dev, frame, len, topic, sizeof(topic), payload, sizeof(payload), &o);
	if (rc < 0) {
		if (first >= 0)
			fail("uplink found no route but one matches", first);
		return;
	}
	if (rc != 0 || o.route != first)
		fail("uplink did not pick the first matching route", o.route);
	if (o.verdict == MAPPING_OK) {
		size_t tl = strlen(o.topic);

		if (topic_name_valid(o.topic) != 0 || strncmp(o.topic, "S013/", 5) != 0 || o.topic[tl - 1] == '/' ||
		    strstr(o.topic, "//"))
			fail("uplink published to a bad topic", o.route);
		if (o.payload_len > 0 && !o.payload)
			fail("uplink payload missing", o.route);
		if (template_is_whole(&cfg->routes[o.route].payload_tpl) &&
		    (o.payload != frame || o.payload_len != len))
			fail("whole-frame payload is not the frame", o.route);
	} else if (o.verdict != MAPPING_BAD_TOPIC && o.verdict != MAPPING_TOO_LONG) {
		fail("unexpected uplink verdict", o.route);
	}
}

static void uplink(const uint8_t *data, size_t size)
{
	struct up_ctx u;
	struct framer f;
	int which;

	if (size < 1)
		return;
	which = data[0] % 3;
	data++;
	size--;
	if (which == 2) {
		char *frame = malloc(size + 1);

		if (!frame)
			return;
		memcpy(frame, data, size);
		frame[size] = '\0';
		u.kind = ROUTE_GPIO;
		u.dev = 0;
		map_frame(frame, size, &u);
		free(frame);
		return;
	}
	u.kind = ROUTE_SERIAL;
	u.dev = which;
	if (framing_init(&f, cfg->serial[which].eol, cfg->serial[which].eol_len,
			 (size_t)cfg->serial[which].max_frame) < 0)
		abort();
	framing_feed(&f, (const char *)data, size, map_frame, &u);
	framing_free(&f);
}

static void check_ok_payload(const struct cfg_route *r, const char *p, size_t len, int route)
{
	size_t i, max;

	if (r->to_kind == ROUTE_SERIAL) {
		const struct cfg_serial *s = &cfg->serial[r->to_dev];

		max = (size_t)s->max_frame;
		if (memmem(p, len, s->eol, s->eol_len))
			fail("OK downlink payload holds the device's eol", route);
	} else {
		max = 64;
	}
	if (len > max)
		fail("OK downlink payload longer than max_frame", route);
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch == '\r' || ch == '\n' || ch == '\0')
			fail("OK downlink payload holds CR, LF or NUL", route);
		if (!r->has_accept && (ch < 0x20 || ch > 0x7e))
			fail("OK downlink payload non-printable without accept", route);
	}
}

static void downlink(const char *topic, const char *payload, size_t len)
{
	static char buf[256];
	struct mapping_out o;
	int next = 0, expect = 0, guard = 0;

	if (topic_name_valid(topic) != 0)
		return;
	while (mapping_downlink(cfg, topic, NULL, -1, payload, len, &next, buf, sizeof(buf), &o) == 0) {
		const struct cfg_route *r;

		/* the routes skipped must not have matched */
		for (; expect < o.route; expect++)
			if (cfg->routes[expect].from_kind == ROUTE_MQTT &&
			    topic_matches(cfg->routes[expect].from, topic))
				fail("downlink skipped a matching route", expect);
		if (o.route < expect || o.route >= cfg->n_routes || next != o.route + 1 || guard++ > cfg->n_routes)
			fail("downlink route order", o.route);
		expect = o.route + 1;
		r = &cfg->routes[o.route];
		if (r->from_kind != ROUTE_MQTT || !topic_matches(r->from, topic))
			fail("downlink route does not match the topic", o.route);
		if (o.kind != r->to_kind || o.dev != r->to_dev)
			fail("downlink target differs from the route", o.route);
		if (o.verdict == MAPPING_OK) {
			check_ok_payload(r, o.payload, o.payload_len, o.route);
			if (r->has_accept && !re_matches(&r->accept, payload, len))
				fail("OK downlink payload refused by accept", o.route);
		} else if (o.verdict == MAPPING_NOT_ACCEPTED) {
			if (!r->has_accept || re_matches(&r->accept, payload, len))
				fail("NOT_ACCEPTED but accept matches", o.route);
		}
	}
	for (; expect < cfg->n_routes; expect++)
		if (cfg->routes[expect].from_kind == ROUTE_MQTT && topic_matches(cfg->routes[expect].from, topic))
			fail("downlink ended before a matching route", expect);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy;
	const char *nul;

	if (!cfg) {
		char err[CONFIG_ERRLEN];

		cfg = config_load_string(cfg_text, "fuzz_mapping.cfg", err, sizeof(err));
		if (!cfg) {
			fprintf(stderr, "fuzz_mapping: the built-in config is refused: %s\n", err);
			abort();
		}
	}
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		uplink(data + 1, size - 1);
		break;
	case 1:
		copy = malloc(size);
		if (!copy)
			return 0;
		memcpy(copy, data + 1, size - 1);
		copy[size - 1] = '\0';
		nul = memchr(copy, '\0', size - 1);
		if (nul)
			downlink(copy, nul + 1, (size_t)(copy + size - 1 - (nul + 1)));
		free(copy);
		break;
	default:
		if (size < 2)
			return 0;
		copy = malloc(size - 1);
		if (!copy)
			return 0;
		memcpy(copy, data + 2, size - 2);
		copy[size - 2] = '\0';
		downlink(known_topics[data[1] % (sizeof(known_topics) / sizeof(known_topics[0]))], copy, size - 2);
		free(copy);
		break;
	}
	return 0;
}
