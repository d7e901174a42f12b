/*
 * test_ha.c - unit tests for Home Assistant discovery: the route `ha`
 * settings (config_ha.c) and the messages built from them (ha_discovery.c).
 *
 * Each payload is parsed back with cJSON and checked where Home Assistant
 * reads it: topics, unique_id, default_entity_id, availability (gateway and
 * device status, mode all), device and via_device, origin. Odd text
 * (quotes, backslashes, "°C", control bytes) must come out as valid JSON
 * carrying the same bytes. unique_id must not depend on where a route
 * stands in the file. Every bad input the issue lists is refused with
 * FILE:LINE naming the line of the mistake. (The component schema check is
 * in tests/integration/ha_schema.py, shared with the end-to-end test.)
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "ha_discovery.h"
#include "unit.h"
#include "unit_config.h"


/* The payload announced on topic, parsed (NULL: none). */
static cJSON *payload_of(const struct ha_set *s, const char *topic)
{
	int i = ha_set_find(s, topic);

	return i < 0 ? NULL : cJSON_Parse(s->v[i].payload);
}

#define HEAD                                                                                            \
	"station = \"S013\";\n"                                                                         \
	"mqtt = { uri = \"tcp://127.0.0.1:1883\"; };\n"                                                 \
	"homeassistant = { };\n"                                                                        \
	"serial = ( { name = \"MOT01\"; port = \"/dev/ttyUSB0\"; }, { name = \"TH01\"; port = \"/dev/ttyUSB1\"; } );\n" \
	"gpio = ( { name = \"LIMZ\"; line = 17; }, { name = \"BRAKE\"; line = 27; direction = \"output\"; } );\n"

static const char *const routes_a[] = {
	"{ from = \"mqtt:${station}/MOT01/RECM\"; to = \"serial:MOT01\"; accept = \"^(DRVZ[+-][0-9]+|STOP)$\";\n"
	"  ha = { component = \"button\"; name = \"Stop\"; payload_press = \"STOP\"; }; }",
	"{ from = \"serial:TH01\"; match = \"^T=([-0-9.]+) H=([-0-9.]+)$\"; to = \"mqtt:${station}/TH01/state\";\n"
	"  json = { temperature = \"${1|float}\"; humidity = \"${2|float}\"; };\n"
	"  ha = ( { key = \"temperature\"; name = \"Temp \\\"inside\\\" \\\\ x\"; unit_of_measurement = \"\xc2\xb0" "C\";"
	" device_class = \"temperature\"; }, { key = \"humidity\"; unit_of_measurement = \"%\"; } ); }",
	"{ from = \"serial:MOT01\"; match = \"^POS([XYZ])([+-][0-9]+)$\"; to = \"mqtt:${station}/MOT01/POS/$1\";\n"
	"  payload = \"$2\"; ha = { name = \"Pos $1\"; }; instances = [ \"X\", \"Z\" ]; }",
	"{ from = \"gpio:LIMZ\"; to = \"mqtt:${station}/MOT01/LIMZ\"; ha = { name = \"Limit\\x01\\tZ\"; }; }",
	"{ from = \"mqtt:${station}/BRAKE/set\"; to = \"gpio:BRAKE\"; ha = { name = \"Brake\"; }; }",
	"{ from = \"gpio:BRAKE\"; to = \"mqtt:${station}/BRAKE\"; }",
};

static char *config_text(const int *order)
{
	size_t n = strlen(HEAD) + 64;
	char *t;
	int k;

	for (k = 0; k < 6; k++)
		n += strlen(routes_a[k]) + 4;
	t = malloc(n);
	strcpy(t, HEAD "routes = (\n");
	for (k = 0; k < 6; k++) {
		strcat(t, routes_a[order[k]]);
		strcat(t, k < 5 ? ",\n" : "\n");
	}
	strcat(t, ");\n");
	return t;
}

TEST(test_ha_payloads)
{
	static const int order[] = {0, 1, 2, 3, 4, 5};
	char *text = config_text(order);
	struct config *cfg = unit_config_load(text);
	struct ha_set s;
	cJSON *p, *a;

	free(text);
	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK_INT(ha_discovery_build(cfg, &s, unit_config_err, sizeof(unit_config_err)), 0);
	CHECK_INT(s.n, 8); /* connectivity, button, 2 json keys, 2 instances, binary_sensor, switch (no stats topic) */
	for (int i = 0; i < s.n; i++) {
		cJSON *j = cJSON_Parse(s.v[i].payload);

		CHECK(j != NULL);
		CHECK_STR(unit_json_str(j, "unique_id"), s.v[i].unique_id);
		CHECK(unit_json_str(j, "default_entity_id") != NULL);
		CHECK_STR(unit_json_str(cJSON_GetObjectItemCaseSensitive(j, "origin"), "name"), "mqttgw");
		cJSON_Delete(j);
	}
	p = payload_of(&s, "homeassistant/button/S013/MOT01_RECM/config");
	CHECK(p != NULL);
	CHECK_STR(unit_json_str(p, "command_topic"), "S013/MOT01/RECM");
	CHECK_STR(unit_json_str(p, "payload_press"), "STOP");
	CHECK_STR(unit_json_str(p, "unique_id"), "mqttgw_S013_MOT01_RECM");
	CHECK_STR(unit_json_str(p, "default_entity_id"), "button.mqttgw_s013_mot01_recm");
	CHECK_STR(unit_json_str(p, "availability_mode"), "all");
	a = cJSON_GetObjectItemCaseSensitive(p, "availability");
	CHECK_INT(cJSON_GetArraySize(a), 2);
	CHECK_STR(unit_json_str(cJSON_GetArrayItem(a, 0), "topic"), "S013/gateway/status");
	CHECK_STR(unit_json_str(cJSON_GetArrayItem(a, 1), "topic"), "S013/MOT01/status");
	a = cJSON_GetObjectItemCaseSensitive(p, "device");
	CHECK_STR(unit_json_str(a, "via_device"), "mqttgw_S013");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(a, "identifiers"), 0)),
		  "mqttgw_S013_MOT01");
	cJSON_Delete(p);

	p = payload_of(&s, "homeassistant/sensor/S013/TH01_state_temperature/config");
	CHECK(p != NULL);
	CHECK_STR(unit_json_str(p, "name"), "Temp \"inside\" \\ x");
	CHECK_STR(unit_json_str(p, "unit_of_measurement"), "\xc2\xb0" "C");
	CHECK_STR(unit_json_str(p, "state_topic"), "S013/TH01/state");
	CHECK_STR(unit_json_str(p, "value_template"), "{{ value_json['temperature'] }}");
	cJSON_Delete(p);
	CHECK(ha_set_find(&s, "homeassistant/sensor/S013/TH01_state_humidity/config") >= 0);

	p = payload_of(&s, "homeassistant/sensor/S013/MOT01_POS_Z/config");
	CHECK(p != NULL);
	CHECK_STR(unit_json_str(p, "name"), "Pos Z");
	CHECK_STR(unit_json_str(p, "state_topic"), "S013/MOT01/POS/Z");
	cJSON_Delete(p);
	CHECK(ha_set_find(&s, "homeassistant/sensor/S013/MOT01_POS_X/config") >= 0);
	CHECK(ha_set_find(&s, "homeassistant/sensor/S013/MOT01_POS_Y/config") < 0);

	/* GPIO: the gateway's device, its status alone, "1"/"0"; control bytes escaped */
	p = payload_of(&s, "homeassistant/binary_sensor/S013/LIMZ_MOT01_LIMZ/config");
	CHECK(p != NULL);
	CHECK_STR(unit_json_str(p, "name"), "Limit\x01\tZ");
	CHECK_STR(unit_json_str(p, "payload_on"), "1");
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(p, "availability")), 1);
	CHECK(unit_json_str(cJSON_GetObjectItemCaseSensitive(p, "device"), "via_device") == NULL);
	CHECK_STR(unit_json_str(cJSON_GetObjectItemCaseSensitive(p, "device"), "sw_version"), MQTTGW_VERSION);
	cJSON_Delete(p);
	CHECK(strstr(s.v[ha_set_find(&s, "homeassistant/binary_sensor/S013/LIMZ_MOT01_LIMZ/config")].payload,
		     "\\u0001") != NULL);

	p = payload_of(&s, "homeassistant/switch/S013/BRAKE_set/config");
	CHECK(p != NULL);
	CHECK_STR(unit_json_str(p, "command_topic"), "S013/BRAKE/set");
	CHECK_STR(unit_json_str(p, "state_topic"), "S013/BRAKE");
	CHECK_STR(unit_json_str(p, "payload_off"), "0");
	cJSON_Delete(p);

	p = payload_of(&s, "homeassistant/binary_sensor/S013/gateway_connectivity/config");
	CHECK(p != NULL);
	CHECK_STR(unit_json_str(p, "state_topic"), "S013/gateway/status");
	CHECK_STR(unit_json_str(p, "device_class"), "connectivity");
	cJSON_Delete(p);
	ha_set_free(&s);
	config_free(cfg);
}

/* Reordering the routes changes no topic, no unique_id and no payload. */
TEST(test_ha_ids_do_not_depend_on_order)
{
	static const int o1[] = {0, 1, 2, 3, 4, 5}, o2[] = {5, 4, 3, 2, 1, 0};
	char *t1 = config_text(o1), *t2 = config_text(o2);
	struct config *c1 = unit_config_load(t1), *c2 = unit_config_load(t2);
	struct ha_set s1, s2;

	CHECK(c1 && c2);
	if (c1 && c2) {
		CHECK_INT(ha_discovery_build(c1, &s1, unit_config_err, sizeof(unit_config_err)), 0);
		CHECK_INT(ha_discovery_build(c2, &s2, unit_config_err, sizeof(unit_config_err)), 0);
		CHECK_INT(s1.n, s2.n);
		for (int i = 0; i < s1.n; i++) {
			int j = ha_set_find(&s2, s1.v[i].topic);

			CHECK(j >= 0);
			if (j >= 0)
				CHECK_STR(s1.v[i].payload, s2.v[j].payload);
		}
		ha_set_free(&s1);
		ha_set_free(&s2);
	}
	config_free(c1);
	config_free(c2);
	free(t1);
	free(t2);
}

TEST(test_ha_off_without_group_and_stats_sensors)
{
	struct config *cfg = unit_config_load("mqtt = { uri = \"tcp://127.0.0.1:1883\"; client_id = \"gw 1/x\"; };\n"
				  "serial = ( { name = \"A\"; port = \"/dev/null\"; } );\n"
				  "routes = ( { from = \"serial:A\"; to = \"mqtt:a\"; ha = { name = \"A\"; }; } );\n");
	struct ha_set s;
	char buf[256];

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK_INT(ha_discovery_build(cfg, &s, unit_config_err, sizeof(unit_config_err)), 0);
	CHECK_INT(s.n, 0);
	config_free(cfg);
	cfg = unit_config_load("mqtt = { uri = \"tcp://127.0.0.1:1883\"; client_id = \"gw 1/x\"; stats_topic = \"gw/stats\"; };\n"
		   "homeassistant = { prefix = \"ha\"; };\n");
	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK_INT(ha_node_id(cfg, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "gw_1_x");
	CHECK_INT(ha_config_filter(cfg, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "ha/+/gw_1_x/+/config");
	CHECK_INT(ha_status_topic(cfg, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "ha/status");
	CHECK_INT(ha_discovery_build(cfg, &s, unit_config_err, sizeof(unit_config_err)), 0);
	CHECK(s.n > 5);
	CHECK(ha_set_find(&s, "ha/sensor/gw_1_x/gateway_queued/config") >= 0);
	ha_set_free(&s);
	config_free(cfg);
}

/* A config that must be refused at line `line` with words in the message. */
static void refused(const char *routes, int line, const char *words)
{
	char text[4096], at[32];
	struct config *cfg;

	snprintf(text, sizeof(text), HEAD "routes = (\n%s\n);\n", routes);
	cfg = config_load_string(text, "test.cfg", unit_config_err, sizeof(unit_config_err));
	CHECK(cfg == NULL);
	config_free(cfg);
	snprintf(at, sizeof(at), "test.cfg:%d: ", line);
	if (strncmp(unit_config_err, at, strlen(at)) != 0 || !strstr(unit_config_err, words)) {
		printf("# wanted %s...%s, got: %s\n", at, words, unit_config_err);
		unit_cur_failed = 1;
	}
}

/* Two buttons on one command route, told apart by key. */
TEST(test_ha_two_buttons_one_route)
{
	struct config *cfg = unit_config_load(HEAD "routes = ( { from = \"mqtt:${station}/MOT01/RECM\"; to = \"serial:MOT01\";\n"
				  "  accept = \"^(STOP|HOME)$\"; ha = ( { component = \"button\"; key = \"stop\"; payload_press = \"STOP\"; },\n"
				  "  { component = \"button\"; key = \"home\"; payload_press = \"HOME\"; } ); } );\n");
	struct ha_set s;
	cJSON *p;

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK_INT(ha_discovery_build(cfg, &s, unit_config_err, sizeof(unit_config_err)), 0);
	p = payload_of(&s, "homeassistant/button/S013/MOT01_RECM_home/config");
	CHECK(p != NULL);
	CHECK_STR(unit_json_str(p, "payload_press"), "HOME");
	CHECK_STR(unit_json_str(p, "command_topic"), "S013/MOT01/RECM");
	CHECK(unit_json_str(p, "value_template") == NULL);
	cJSON_Delete(p);
	CHECK(ha_set_find(&s, "homeassistant/button/S013/MOT01_RECM_stop/config") >= 0);
	ha_set_free(&s);
	config_free(cfg);
}

TEST(test_ha_bad_input)
{
	/* HEAD is 5 lines, "routes = (" the 6th: the first route is on line 7 */
	refused("{ from = \"mqtt:x/RECM\"; to = \"serial:MOT01\";\n  ha = { component = \"sensor\"; }; }", 8,
		"shows a state");
	refused("{ from = \"serial:MOT01\"; to = \"mqtt:x/SEND\";\n  ha = { component = \"button\"; }; }", 8,
		"sends commands");
	refused("{ from = \"mqtt:x/RECM\"; to = \"serial:MOT01\"; accept = \"^STOP$\";\n"
		"  ha = { component = \"button\";\n  payload_press = \"GO\"; }; }", 9, "refused by the route's accept");
	refused("{ from = \"mqtt:x/RECM\"; to = \"serial:MOT01\"; accept = \"^(A|B)$\";\n"
		"  ha = { component = \"select\";\n  options = [ \"A\", \"C\" ]; }; }", 9, "\"C\" is refused");
	refused("{ from = \"mqtt:x/RECM\"; to = \"serial:MOT01\"; accept = \"^STOP$\";\n"
		"  ha = { component = \"button\"; }; }", 8, "\"PRESS\" is refused");
	refused("{ from = \"serial:MOT01\"; match = \"^P([XZ])(.*)$\"; to = \"mqtt:x/P/$1\"; payload = \"$2\";\n"
		"  ha = { name = \"P\"; }; }", 8, "instances = [");
	refused("{ from = \"mqtt:x/+/set\"; to = \"serial:MOT01\";\n  ha = { component = \"text\"; }; }", 8,
		"wildcards");
	refused("{ from = \"serial:MOT01\"; match = \"^A\"; to = \"mqtt:x/a\"; ha = { name = \"A\"; }; },\n"
		"{ from = \"mqtt:z\"; to = \"serial:TH01\"; },\n"
		"{ from = \"serial:MOT01\"; to = \"mqtt:x/a\";\n  ha = { name = \"B\"; }; }", 10, "unique_id");
	refused("{ from = \"serial:MOT01\"; to = \"mqtt:x/a\";\n  ha = { name = \"A\"; unique_id = \"u\"; }; }", 8,
		"set by mqttgw");
	refused("{ from = \"mqtt:x/RECM\"; to = \"serial:MOT01\";\n  ha = { name = \"A\"; }; }", 8,
		"needs a component");
	refused("{ from = \"serial:MOT01\"; to = \"mqtt:x/a\";\n  ha = { name = \"A\"; extra = { a = 1; }; }; }", 8,
		"must be a string, a number");
	refused("{ from = \"serial:MOT01\"; to = \"mqtt:x/a\";\n  ha = { name = \"\\xff\"; }; }", 8, "UTF-8");
	refused("{ from = \"serial:TH01\"; to = \"mqtt:x/a\"; json = { t = \"$0\"; };\n  ha = { key = \"h\"; }; }", 8,
		"no such member");
	refused("{ from = \"serial:MOT01\"; to = \"mqtt:x/a\";\n  instances = [ \"X\" ]; }", 8, "instances");
	refused("{ from = \"mqtt:x/RECM\"; to = \"serial:MOT01\";\n  ha = { component = \"select\"; }; }", 8,
		"needs options");
	refused("{ from = \"mqtt:x/RECM\"; to = \"serial:MOT01\";\n  ha = ( { component = \"button\"; },\n"
		"  { component = \"button\"; payload_press = \"HOME\"; } ); }", 8, "unique_id");
	refused("{ from = \"mqtt:x/RECM\"; to = \"serial:MOT01\";\n  ha = { component = \"button\"; key = \"a b\"; }; }",
		8, "letters, digits");
}

int main(void)
{
	RUN(test_ha_payloads);
	RUN(test_ha_ids_do_not_depend_on_order);
	RUN(test_ha_off_without_group_and_stats_sensors);
	RUN(test_ha_two_buttons_one_route);
	RUN(test_ha_bad_input);
	return UNIT_DONE();
}
