/*
 * test_payload_json.c - unit tests for json = { } payloads (payload_json.c),
 * the route settings of the sensors issue (config_routes.c) and the
 * memory of on_change routes (onchange.c).
 *
 * A config is loaded from text as the daemon loads it, a frame mapped by
 * mapping_uplink, and the payload compared with the JSON a user would see;
 * every payload is also parsed back with cJSON_Parse.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "mapping.h"
#include "onchange.h"
#include "unit.h"

static char topic[256], payload[4096], err[CONFIG_ERRLEN];

static const char head[] = "station = \"S013\";\n"
			   "mqtt = { uri = \"tcp://127.0.0.1:1883\"; };\n"
			   "serial = ( { name = \"TH01\"; port = \"/dev/null\"; },\n"
			   "           { name = \"MB\"; port = \"/dev/zero\"; encoding = \"hex\"; } );\n";

static struct config *load(const char *routes)
{
	char text[4096];

	snprintf(text, sizeof(text), "%sroutes = ( %s );\n", head, routes);
	return config_load_string(text, "t.cfg", err, sizeof(err));
}

/* Map frame from dev through cfg: the payload, or "!" and the verdict. */
static const char *up(struct config *cfg, int dev, const char *frame)
{
	static char res[4200];
	struct mapping_out o;

	if (mapping_uplink(cfg, ROUTE_SERIAL, dev, frame, strlen(frame), topic, sizeof(topic), payload,
			   sizeof(payload), &o) < 0)
		return "!no route";
	if (o.verdict != MAPPING_OK) {
		snprintf(res, sizeof(res), "!%s", mapping_verdict_str(o.verdict));
		return res;
	}
	snprintf(res, sizeof(res), "%.*s", (int)o.payload_len, o.payload);
	return res;
}

/* 1 when s is one JSON text (cJSON_Parse takes it whole). */
static int valid_json(const char *s)
{
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithOpts(s, &end, 1);
	int ok = j != NULL;

	cJSON_Delete(j);
	return ok;
}

TEST(the_contract_example)
{
	struct config *cfg = load("{ from = \"serial:TH01\"; match = \"^T=([-0-9.]+) H=([-0-9.]+)$\";"
				  "  to = \"mqtt:${station}/TH01/state\"; on_change = true; heartbeat_ms = 60000;"
				  "  json = { temperature = \"${1|float|round:1}\"; humidity = \"${2|float}\"; unit = \"C\";"
				  "           ok = true; }; }");

	CHECK(cfg != NULL);
	if (!cfg) {
		printf("# %s\n", err);
		return;
	}
	CHECK_STR(up(cfg, 0, "T=21.45 H=40.2"), "{\"temperature\":21.5,\"humidity\":40.2,\"unit\":\"C\",\"ok\":true}");
	CHECK_STR(topic, "S013/TH01/state");
	CHECK(valid_json(payload));
	CHECK_STR(up(cfg, 0, "T=- H=40.2"), "!not a number");
	CHECK_STR(up(cfg, 0, "T=1e999 H=40.2"), "!no route");	/* the pattern wants digits, dots and minus */
	CHECK_INT(cfg->routes[0].on_change, 1);
	CHECK_INT(cfg->routes[0].heartbeat_ms, 60000);
	CHECK_STR(cfg->routes[0].json_src,
		  "{\"temperature\":${1|float|round:1},\"humidity\":${2|float},\"unit\":\"C\",\"ok\":true}");
	config_free(cfg);
}

TEST(constants_nesting_and_order)
{
	struct config *cfg = load("{ from = \"serial:TH01\"; match = \"^(.*)$\"; to = \"mqtt:x\";"
				  "  json = { z = 1; a = -2.5; big = 9007199254740993L; no = false;"
				  "           sub = { deeper = { v = \"$1\"; }; e = { }; }; list = ( 1, \"two\", { t = \"${1|upper}\"; } );"
				  "           arr = [ 1.5, 2.0 ]; mixed = \"T=${1|float} C\"; dollar = \"$$1\"; st = \"${station}\"; }; }");

	CHECK(cfg != NULL);
	if (!cfg) {
		printf("# %s\n", err);
		return;
	}
	CHECK_STR(up(cfg, 0, "7"),
		  "{\"z\":1,\"a\":-2.5,\"big\":9007199254740993,\"no\":false,\"sub\":{\"deeper\":{\"v\":\"7\"},\"e\":{}},"
		  "\"list\":[1,\"two\",{\"t\":\"7\"}],\"arr\":[1.5,2],\"mixed\":\"T=7 C\",\"dollar\":\"$1\",\"st\":\"S013\"}");
	CHECK(valid_json(payload));
	config_free(cfg);
}

TEST(device_text_cannot_break_the_object)
{
	struct config *cfg = load("{ from = \"serial:TH01\"; match = \"^(.*)$\"; to = \"mqtt:x\";"
				  "  json = { raw = \"$1\"; in = \"<${1|lower}>\"; whole = \"$0\"; }; }");
	static const char *const frames[] = { "a\"b", "back\\slash", "\"}, \"x\": {\"", "tab\there\x01\x1f",
					      "\xff\xfe latin-1 \xb0", "\\u0000", "" };
	size_t i;

	CHECK(cfg != NULL);
	if (!cfg) {
		printf("# %s\n", err);
		return;
	}
	for (i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		cJSON *j;

		up(cfg, 0, frames[i]);
		j = cJSON_Parse(payload);
		CHECK(j != NULL);
		if (!j) {
			printf("# not JSON: %s\n", payload);
			continue;
		}
		CHECK_INT(cJSON_GetArraySize(j), 3);
		if (((const unsigned char *)frames[i])[0] < 0x80)
			CHECK_STR(cJSON_GetObjectItem(j, "raw")->valuestring, frames[i][0] == 't' ? "tab\there\x01\x1f"
												     : frames[i]);
		cJSON_Delete(j);
	}
	up(cfg, 0, "\xb0" "C");
	CHECK_STR(payload, "{\"raw\":\"\\u00b0C\",\"in\":\"<\\u00b0c>\",\"whole\":\"\\u00b0C\"}");
	config_free(cfg);
}

TEST(typed_fields_of_a_modbus_reply)
{
	/* 01 03 08 | 00 D7 (215) | 00 2A (42) | 5678 1234 (0x12345678, CDAB) ; CRC already stripped */
	struct config *cfg = load("{ from = \"serial:MB\"; to = \"mqtt:MB/state\";"
				  "  json = { temperature = \"${s16be@3|scale:0.1}\"; setpoint = \"${u16be@5}\";"
				  "           counter = \"${u32ws@7}\"; text = \"${u16be@3|fmt:%05d}\"; }; }");

	CHECK(cfg != NULL);
	if (!cfg) {
		printf("# %s\n", err);
		return;
	}
	CHECK_STR(up(cfg, 1, "01030800D7002A56781234"),
		  "{\"temperature\":21.5,\"setpoint\":42,\"counter\":305419896,\"text\":\"00215\"}");
	CHECK_STR(up(cfg, 1, "010308FF38002A56781234"),
		  "{\"temperature\":-20,\"setpoint\":42,\"counter\":305419896,\"text\":\"65336\"}");
	CHECK_STR(up(cfg, 1, "01030800D7002A5678"), "!field past the end of the frame");
	config_free(cfg);
}

TEST(commands_convert_too)
{
	struct config *cfg = load("{ from = \"mqtt:${station}/MOT01/Z/set\"; to = \"serial:TH01\";"
				  "  accept = \"^-?[0-9.]{1,8}$\"; payload = \"DRVZ${0|int|fmt:%+d}\"; },"
				  "{ from = \"mqtt:${station}/MOT01/Y/set\"; to = \"serial:TH01\";"
				  "  payload = \"DRVY${0|fmt:%+d}\"; }");
	struct mapping_out o;
	char buf[256];
	int next = 0;

	CHECK(cfg != NULL);
	if (!cfg) {
		printf("# %s\n", err);
		return;
	}
	CHECK_INT(mapping_downlink(cfg, "S013/MOT01/Z/set", NULL, -1, "1000", 4, &next, buf, sizeof(buf), &o), 0);
	CHECK_INT(o.verdict, MAPPING_OK);
	CHECK_STR(o.payload, "DRVZ+1000");
	next = 0;
	CHECK_INT(mapping_downlink(cfg, "S013/MOT01/Z/set", NULL, -1, "-12.9", 5, &next, buf, sizeof(buf), &o), 0);
	CHECK_STR(o.payload, "DRVZ-12");
	next = 0;
	CHECK_INT(mapping_downlink(cfg, "S013/MOT01/Y/set", NULL, -1, "12.5", 4, &next, buf, sizeof(buf), &o), 0);
	CHECK_INT(o.verdict, MAPPING_NOT_INTEGER);
	next = 0;
	CHECK_INT(mapping_downlink(cfg, "S013/MOT01/Y/set", NULL, -1, "ten", 3, &next, buf, sizeof(buf), &o), 0);
	CHECK_INT(o.verdict, MAPPING_NOT_A_NUMBER);
	CHECK_STR(mapping_verdict_str(o.verdict), "not a number");
	config_free(cfg);

	/* a MODBUS "write single register" from an MQTT number, for a hex device: 21.5 -> 215 = 00D7 */
	cfg = load("{ from = \"mqtt:${station}/MB/setpoint/set\"; to = \"serial:MB\"; accept = \"^[0-9]{1,3}([.][0-9])?$\";"
		   "  payload = \"0106000A${0|float|scale:10|round:0|fmt:%04X}\"; }");
	CHECK(cfg != NULL);
	if (!cfg) {
		printf("# %s\n", err);
		return;
	}
	next = 0;
	CHECK_INT(mapping_downlink(cfg, "S013/MB/setpoint/set", NULL, -1, "21.5", 4, &next, buf, sizeof(buf), &o), 0);
	CHECK_INT(o.verdict, MAPPING_OK);
	CHECK_STR(o.payload, "0106000A00D7");
	next = 0;
	CHECK_INT(mapping_downlink(cfg, "S013/MB/setpoint/set", NULL, -1, "999.9", 5, &next, buf, sizeof(buf), &o), 0);
	CHECK_STR(o.payload, "0106000A270F");
	config_free(cfg);
}

static void refused(const char *routes, const char *want)
{
	struct config *cfg = load(routes);

	CHECK(cfg == NULL);
	config_free(cfg);
	if (!strstr(err, want)) {
		printf("# got \"%s\"\n# want \"%s\"\n", err, want);
		unit_cur_failed = 1;
	}
}

TEST(config_errors_name_the_line)
{
	refused("{ from = \"serial:TH01\"; to = \"mqtt:x\"; payload = \"$0\"; json = { a = 1; }; }",
		"t.cfg:5: a route has json or payload, not both");
	refused("{ from = \"mqtt:x\"; to = \"serial:TH01\"; json = { a = 1; }; }",
		"t.cfg:5: json applies to routes to mqtt");
	refused("{ from = \"mqtt:x\"; to = \"serial:TH01\"; on_change = true; }",
		"t.cfg:5: on_change applies to routes to mqtt");
	refused("{ from = \"serial:TH01\"; to = \"mqtt:x\"; heartbeat_ms = 5; }",
		"t.cfg:5: heartbeat_ms applies with on_change = true");
	refused("{ from = \"serial:TH01\"; to = \"mqtt:x\"; on_change = true; heartbeat_ms = -1; }",
		"t.cfg:5: route.heartbeat_ms = -1 is out of range (0..604800000)");
	refused("{ from = \"serial:TH01\"; to = \"mqtt:x\"; on_change = 1; }",
		"t.cfg:5: route.on_change must be true or false");
	refused("{ from = \"serial:TH01\"; to = \"mqtt:x\"; json = 3; }", "t.cfg:5: json must be a group");
	refused("{ from = \"serial:TH01\"; to = \"mqtt:x\"; json = { a = \"$1\"; }; }",
		"t.cfg:5: json uses $1 but the pattern has only 0 capture groups");
	refused("{ from = \"serial:TH01\"; to = \"mqtt:x\"; json = { a = \"${0|json}\"; }; }",
		"no json filter inside json = { }");
	refused("{ from = \"serial:TH01\"; to = \"mqtt:x\"; json = { a = \"${0|fmt:%d %d}\"; }; }",
		"t.cfg:5: json: \"${0|fmt:%d %d}\": fmt:%d %d must have exactly one numeric conversion");
	refused("{ from = \"serial:TH01\"; to = \"mqtt:x\"; payload = \"${u8@0}\"; }",
		"t.cfg:5: typed fields (${u16be@3} ...) read binary frames: only in routes from a serial device "
		"with encoding = \"hex\"");
	refused("{ from = \"mqtt:x\"; to = \"serial:MB\"; payload = \"${u8@0}\"; }", "typed fields");
	refused("{ from = \"serial:TH01\"; to = \"mqtt:x\";\n  payload = \"${0|round:x}\"; }",
		"t.cfg:6: payload: \"${0|round:x}\": round:x: decimals must be 0..10");
}

/* A reload sees a changed json layout as a route change, and an unchanged one as none. */
static unsigned json_change(const char *a, const char *b, char *path, size_t len)
{
	char ra[512], rb[512];
	struct config *ca, *cb;
	unsigned bits = ~0u;

	snprintf(ra, sizeof(ra), "{ from = \"serial:TH01\"; match = \"^(.*)$\"; to = \"mqtt:x\"; json = %s; }", a);
	snprintf(rb, sizeof(rb), "{ from = \"serial:TH01\"; match = \"^(.*)$\"; to = \"mqtt:x\"; json = %s; }", b);
	ca = load(ra);
	cb = load(rb);
	CHECK(ca && cb);
	if (ca && cb)
		bits = config_first_change(ca, cb, ~0u, path, len);
	config_free(ca);
	config_free(cb);
	return bits;
}

TEST(a_changed_json_layout_is_a_route_change)
{
	static const char *const pairs[][2] = {
		{ "{ t = \"${1|float}\"; }", "{ t = \"${1|float|round:1}\"; }" },	/* a filter */
		{ "{ t = \"${1|float}\"; }", "{ t = \"${1|float}\"; unit = \"C\"; }" },	/* a member */
		{ "{ t = \"${1|float}\"; }", "{ t = \"${1|upper}\"; }" },	/* a number, a string */
		{ "{ t = \"$1\"; }", "{ t = \"$$1\"; }" },	/* a capture, a literal $1 */
		{ "{ t = 1; }", "{ t = 1.5; }" },
		{ "{ t = { u = 1; }; }", "{ t = ( 1 ); }" },
	};
	char path[160];

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		CHECK_INT(json_change(pairs[i][0], pairs[i][1], path, sizeof(path)), CFG_CHANGE_ROUTES);
		CHECK_STR(path, "routes[0].json");
		CHECK_INT(json_change(pairs[i][0], pairs[i][0], path, sizeof(path)), 0);
	}
	/* written otherwise, published the same: no change */
	CHECK_INT(json_change("{ t = \"$1\"; }", "{ t = \"${1}\"; }", path, sizeof(path)), 0);
}

TEST(on_change_memory)
{
	struct onchange *oc = NULL;

	CHECK_INT(onchange_pass(&oc, "a", "1", 1, 1000, 0), 1);
	CHECK_INT(onchange_pass(&oc, "a", "1", 1, 1000, 999), 0);
	CHECK_INT(onchange_pass(&oc, "b", "1", 1, 1000, 999), 1);	/* another topic */
	CHECK_INT(onchange_pass(&oc, "a", "2", 1, 1000, 999), 1);	/* changed */
	CHECK_INT(onchange_pass(&oc, "a", "2", 1, 1000, 1998), 0);
	CHECK_INT(onchange_pass(&oc, "a", "2", 1, 1000, 1999), 1);	/* heartbeat since the last publish */
	CHECK_INT(onchange_pass(&oc, "a", "2", 1, 1000, 2500), 0);
	CHECK_INT(onchange_pass(&oc, "a", "20", 2, 1000, 2500), 1);	/* a longer payload is a change */
	CHECK_INT(onchange_pass(&oc, "a", "2", 1, 1000, 2500), 1);
	CHECK_INT(onchange_pass(&oc, "n", "", 0, 0, 0), 1);
	CHECK_INT(onchange_pass(&oc, "n", "", 0, 0, 999999999), 0);	/* 0: never again */
	onchange_free(oc);
}

TEST(on_change_many_topics_stay_bounded)
{
	struct onchange *oc = NULL;
	char t[32];
	int i;

	for (i = 0; i < 3 * ONCHANGE_MAX; i++) {
		snprintf(t, sizeof(t), "t/%d", i);
		CHECK_INT(onchange_pass(&oc, t, "v", 1, 0, 0), 1);
	}
	/* past the bound the oldest were forgotten (they would publish once more); the latest are known */
	CHECK_INT(onchange_pass(&oc, t, "v", 1, 0, 0), 0);
	CHECK_INT(onchange_pass(&oc, "t/0", "v", 1, 0, 0), 1);
	CHECK_INT(onchange_pass(&oc, t, "w", 1, 0, 0), 1);
	onchange_free(oc);
}

int main(void)
{
	RUN(the_contract_example);
	RUN(constants_nesting_and_order);
	RUN(device_text_cannot_break_the_object);
	RUN(typed_fields_of_a_modbus_reply);
	RUN(commands_convert_too);
	RUN(config_errors_name_the_line);
	RUN(a_changed_json_layout_is_a_route_change);
	RUN(on_change_memory);
	RUN(on_change_many_topics_stay_bounded);
	return UNIT_DONE();
}
