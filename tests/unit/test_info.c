/*
 * test_info.c - unit tests for gateway/info.c, the retained self-description
 * a dashboard reads from ${station}/gateway/info.
 *
 * Every document built here is parsed back with cJSON and checked member by
 * member: what a dashboard relies on (devices with their status topics, the
 * command routes with their accept patterns), that odd config text (quotes,
 * backslashes, UTF-8, control bytes in an eol) comes back byte for byte, and
 * that no secret leaks: the password_file path, the TLS key, cert and CA
 * paths, the username and the broker URIs are nowhere in the text.
 * The runs of CHECK_STR(unit_json_str(...)) are that member-by-member check
 * written out: one line a member, so a failure names the member's line.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "info.h"
#include "unit.h"
#include "unit_config.h"


static double num_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : -12345;
}

static const char *const demo_cfg =
	"station = \"S013\";\n"
	"mqtt = { uri = \"ssl://10.1.2.3:8883\"; username = \"gwuser\";\n"
	"  password_file = \"/etc/mqttgw/SECRET-password\";\n"
	"  stats_topic = \"${station}/gateway/stats\"; stats_interval = 5;\n"
	"  tls = { ca_file = \"/etc/mqttgw/SECRET-ca.crt\"; cert_file = \"/etc/mqttgw/SECRET-client.crt\";\n"
	"          key_file = \"/etc/mqttgw/SECRET-client.key\"; }; };\n"
	"serial = ( { name = \"MOT01\"; port = \"/dev/ttyUSB0\"; baud = 9600;\n"
	"             error_topic = \"${station}/${name}/error\"; } );\n"
	"gpio = ( { name = \"LIMZ\"; chip = \"gpiochip0\"; line = 17; direction = \"input\"; active_low = true; },\n"
	"         { name = \"BRAKE\"; chip = \"gpiochip0\"; line = \"GPIO27\"; direction = \"output\"; } );\n"
	"routes = (\n"
	"  { from = \"mqtt:${station}/MOT01/RECM\"; to = \"serial:MOT01\";\n"
	"    accept = \"^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME)$\"; },\n"
	"  { from = \"serial:MOT01\"; match = \"^POS([XYZ])([+-][0-9]+)$\";\n"
	"    to = \"mqtt:${station}/MOT01/POS/$1\"; payload = \"$2\"; retain = true; qos = 0; },\n"
	"  { from = \"gpio:LIMZ\"; to = \"mqtt:${station}/MOT01/LIMZ\"; retain = true; },\n"
	"  { from = \"mqtt:${station}/BRAKE/set\"; to = \"gpio:BRAKE\"; } );\n";

TEST(test_info_topic_from_status_topic)
{
	struct config *cfg = unit_config_load(demo_cfg);
	char buf[64];

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK_INT(info_topic(cfg, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "S013/gateway/info");
	CHECK_INT(info_topic(cfg, buf, 8), -1);
	free(cfg->mqtt.status_topic);
	cfg->mqtt.status_topic = strdup("plant/gw7");
	CHECK_INT(info_topic(cfg, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "plant/gw7/info");
	config_free(cfg);
}

TEST(test_info_describes_devices_and_routes)
{
	struct config *cfg = unit_config_load(demo_cfg);
	char *text;
	cJSON *doc, *devs, *routes, *d, *r;

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	text = info_build(cfg);
	CHECK(text != NULL);
	doc = cJSON_Parse(text);
	CHECK(doc != NULL);
	if (!doc) {
		free(text);
		config_free(cfg);
		return;
	}
	CHECK_INT(num_of(doc, "schema"), INFO_SCHEMA);
	CHECK_STR(unit_json_str(doc, "version"), MQTTGW_VERSION);
	CHECK_STR(unit_json_str(doc, "station"), "S013");
	CHECK_STR(unit_json_str(doc, "status_topic"), "S013/gateway/status");
	CHECK_STR(unit_json_str(doc, "info_topic"), "S013/gateway/info");
	CHECK_STR(unit_json_str(doc, "stats_topic"), "S013/gateway/stats");
	CHECK_INT(num_of(doc, "stats_interval"), 5);

	devs = cJSON_GetObjectItemCaseSensitive(doc, "devices");
	CHECK_INT(cJSON_GetArraySize(devs), 3);
	d = cJSON_GetArrayItem(devs, 0);
	CHECK_STR(unit_json_str(d, "name"), "MOT01");
	CHECK_STR(unit_json_str(d, "kind"), "serial");
	CHECK_STR(unit_json_str(d, "port"), "/dev/ttyUSB0");
	CHECK_STR(unit_json_str(d, "status_topic"), "S013/MOT01/status");
	CHECK_STR(unit_json_str(d, "error_topic"), "S013/MOT01/error");
	CHECK_STR(unit_json_str(d, "settings"), "9600 8N1, flow none, eol framing \\r\\n, text");
	d = cJSON_GetArrayItem(devs, 1);
	CHECK_STR(unit_json_str(d, "name"), "LIMZ");
	CHECK_STR(unit_json_str(d, "kind"), "gpio");
	CHECK_STR(unit_json_str(d, "chip"), "gpiochip0");
	CHECK_INT(num_of(d, "line"), 17);
	CHECK_STR(unit_json_str(d, "direction"), "input");
	CHECK(unit_json_str(d, "status_topic") == NULL);
	d = cJSON_GetArrayItem(devs, 2);
	CHECK_STR(unit_json_str(d, "line"), "GPIO27");
	CHECK_STR(unit_json_str(d, "direction"), "output");

	routes = cJSON_GetObjectItemCaseSensitive(doc, "routes");
	CHECK_INT(cJSON_GetArraySize(routes), 4);
	r = cJSON_GetArrayItem(routes, 0);
	CHECK_STR(unit_json_str(r, "direction"), "command");
	CHECK_STR(unit_json_str(r, "from"), "mqtt:S013/MOT01/RECM");
	CHECK_STR(unit_json_str(r, "to"), "serial:MOT01");
	CHECK_STR(unit_json_str(r, "topic"), "S013/MOT01/RECM");
	CHECK_STR(unit_json_str(r, "device"), "MOT01");
	CHECK_STR(unit_json_str(r, "accept"), "^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME)$");
	CHECK_STR(unit_json_str(r, "payload"), "$0");
	CHECK(cJSON_GetObjectItemCaseSensitive(r, "retain") == NULL);
	r = cJSON_GetArrayItem(routes, 1);
	CHECK_STR(unit_json_str(r, "direction"), "up");
	CHECK_STR(unit_json_str(r, "topic"), "S013/MOT01/POS/$1");
	CHECK_STR(unit_json_str(r, "match"), "^POS([XYZ])([+-][0-9]+)$");
	CHECK_STR(unit_json_str(r, "payload"), "$2");
	CHECK_INT(num_of(r, "qos"), 0);
	CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "retain")));
	r = cJSON_GetArrayItem(routes, 3);
	CHECK_STR(unit_json_str(r, "device_kind"), "gpio");
	CHECK_STR(unit_json_str(r, "topic"), "S013/BRAKE/set");

	/* no secrets, no way in */
	CHECK(strstr(text, "SECRET") == NULL);
	CHECK(strstr(text, "gwuser") == NULL);
	CHECK(strstr(text, "10.1.2.3") == NULL);
	CHECK(strstr(text, "password") == NULL);
	cJSON_Delete(doc);
	free(text);
	config_free(cfg);
}

/* Quotes, backslashes, UTF-8 and control bytes in the config come back exactly. */
TEST(test_info_odd_text_stays_valid_json)
{
	static const char *const odd_cfg =
		"station = \"St\\\"a\\\\tion-\xc3\xa4\xe2\x82\xac\";\n"
		"mqtt = { uri = \"tcp://127.0.0.1:1883\"; };\n"
		"serial = ( { name = \"M_1\"; port = \"/tmp/we\\\"ird\\\\p\xc3\xb6rt\"; eol = \"\\x01\\r\"; } );\n"
		"routes = (\n"
		"  { from = \"mqtt:${station}/M\xc3\xb6t\\\"or/cmd\"; to = \"serial:M_1\";\n"
		"    accept = \"^(\\\"[a-z]+\\\"|\\\\\\\\|\xc2\xb0" "C|\\\\[x\\\\])$\"; payload = \"say $$ $0\"; },\n"
		"  { from = \"serial:M_1\"; to = \"mqtt:${station}/out\"; } );\n";
	struct config *cfg = unit_config_load(odd_cfg);
	char *text;
	cJSON *doc, *r, *d;

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	text = info_build(cfg);
	CHECK(text != NULL);
	doc = text ? cJSON_Parse(text) : NULL;
	CHECK(doc != NULL);
	if (doc) {
		CHECK_STR(unit_json_str(doc, "station"), "St\"a\\tion-\xc3\xa4\xe2\x82\xac");
		d = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "devices"), 0);
		CHECK_STR(unit_json_str(d, "port"), "/tmp/we\"ird\\p\xc3\xb6rt");
		CHECK_STR(unit_json_str(d, "settings"), "115200 8N1, flow none, eol framing \\x01\\r, text");
		r = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "routes"), 0);
		CHECK_STR(unit_json_str(r, "topic"), "St\"a\\tion-\xc3\xa4\xe2\x82\xac/M\xc3\xb6t\"or/cmd");
		CHECK_STR(unit_json_str(r, "accept"), "^(\"[a-z]+\"|\\\\|\xc2\xb0" "C|\\[x\\])$");
		CHECK_STR(unit_json_str(r, "payload"), "say $$ $0");
		cJSON_Delete(doc);
	}
	/* raw control bytes never appear in the JSON text (RFC 8259 forbids them) */
	for (const char *p = text; p && *p; p++)
		CHECK((unsigned char)*p >= 0x20);
	free(text);
	config_free(cfg);
}

TEST(test_info_minimal_config)
{
	struct config *cfg = unit_config_load("mqtt = { uri = \"tcp://127.0.0.1:1883\"; };\n");
	char *text;
	cJSON *doc;

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	text = info_build(cfg);
	doc = text ? cJSON_Parse(text) : NULL;
	CHECK(doc != NULL);
	CHECK(unit_json_str(doc, "station") == NULL);
	CHECK(unit_json_str(doc, "stats_topic") == NULL);
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "devices")), 0);
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "routes")), 0);
	cJSON_Delete(doc);
	free(text);
	config_free(cfg);
}

int main(void)
{
	RUN(test_info_topic_from_status_topic);
	RUN(test_info_describes_devices_and_routes);
	RUN(test_info_odd_text_stays_valid_json);
	RUN(test_info_minimal_config);
	return UNIT_DONE();
}
