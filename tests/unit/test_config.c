/*
 * test_config.c - unit tests for gateway/config.c (load and validate): the
 * configs that must load. The example from DESIGN.md (from memory and from a
 * file) is checked value by value against what the contract and the defaults
 * table promise, then the defaults of a minimal config and the other valid
 * settings. The refusals, one test per class of mistake a user can make, are
 * in test_config_errors.c (split to keep each file readable); what both
 * share is in config_fixture.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_fixture.h"
#include "unit.h"

/* The example from DESIGN.md, verbatim. */
static const char design_example[] =
    "station = \"S013\";                     # optional, ${station} in templates\n"
    "mqtt = {\n"
    "  uri  = \"tcp://127.0.0.1:1883\";      # or uris = [ ... ] tried in order (failover)\n"
    "  client_id = \"mqttgw-${station}\";\n"
    "  keepalive = 60;  clean_session = false;  qos = 1;\n"
    "  username = \"\";  password_file = \"\";  # TLS: tls = { ca_file; cert_file; key_file; }\n"
    "  status_topic = \"${station}/gateway/status\";   # LWT: retained \"offline\"; \"online\" on connect\n"
    "};\n"
    "serial = ( { name = \"MOT01\"; port = \"/dev/ttyUSB0\"; baud = 115200;\n"
    "             data_bits = 8; parity = \"none\"; stop_bits = 1; flow = \"none\";\n"
    "             eol = \"\\r\\n\"; max_frame = 256; } );\n"
    "gpio = ( { name = \"LIMZ\"; chip = \"gpiochip0\"; line = 17; direction = \"input\";\n"
    "           edge = \"both\"; bias = \"pull-up\"; active_low = true; debounce_ms = 20; },\n"
    "         { name = \"BRAKE\"; chip = \"gpiochip0\"; line = 27; direction = \"output\"; initial = 0; } );\n"
    "routes = (\n"
    "  { from = \"mqtt:${station}/MOT01/RECM\"; to = \"serial:MOT01\";\n"
    "    accept = \"^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME)$\"; },\n"
    "  { from = \"serial:MOT01\"; match = \"^POS([XYZ])([+-][0-9]+)$\";\n"
    "    to = \"mqtt:${station}/MOT01/POS/$1\"; payload = \"$2\"; retain = true; qos = 0; },\n"
    "  { from = \"serial:MOT01\"; to = \"mqtt:${station}/MOT01/SEND\"; },\n"
    "  { from = \"gpio:LIMZ\";  to = \"mqtt:${station}/MOT01/LIMZ\"; retain = true; },\n"
    "  { from = \"mqtt:${station}/MOT01/BRAKE/set\"; to = \"gpio:BRAKE\"; } );\n";

static void check_design_example(const struct config *cfg)
{
	const struct cfg_serial *s;
	const struct cfg_gpio *g;
	const struct cfg_route *r;

	CHECK_STR(cfg->station, "S013");
	CHECK_INT(cfg->log_level, -1);
	/* mqtt */
	CHECK_INT(cfg->mqtt.n_uris, 1);
	CHECK_STR(cfg->mqtt.uris[0], "tcp://127.0.0.1:1883");
	CHECK_STR(cfg->mqtt.client_id, "mqttgw-S013");
	CHECK_INT(cfg->mqtt.keepalive, 60);
	CHECK_INT(cfg->mqtt.clean_session, 0);
	CHECK_INT(cfg->mqtt.qos, 1);
	CHECK_STR(cfg->mqtt.username, "");
	CHECK_STR(cfg->mqtt.password_file, "");
	CHECK_STR(cfg->mqtt.status_topic, "S013/gateway/status");
	CHECK_INT(cfg->mqtt.reconnect_min_ms, 1000);
	CHECK_INT(cfg->mqtt.reconnect_max_ms, 30000);
	CHECK_INT(cfg->mqtt.has_tls, 0);
	CHECK_INT(cfg->mqtt.line, 2);
	/* serial */
	CHECK_INT(cfg->n_serial, 1);
	s = &cfg->serial[0];
	CHECK_STR(s->name, "MOT01");
	CHECK_STR(s->port, "/dev/ttyUSB0");
	CHECK_INT(s->baud, 115200);
	CHECK_INT(s->data_bits, 8);
	CHECK_INT(s->parity, CFG_PARITY_NONE);
	CHECK_INT(s->stop_bits, 1);
	CHECK_INT(s->flow, CFG_FLOW_NONE);
	CHECK_STR(s->eol, "\r\n");
	CHECK_INT(s->eol_len, 2);
	CHECK_INT(s->max_frame, 256);
	CHECK_INT(s->reopen_ms, 2000);
	CHECK_INT(s->line, 9);
	CHECK_INT(config_find_serial(cfg, "MOT01"), 0);
	CHECK_INT(config_find_serial(cfg, "LIMZ"), -1);
	/* gpio */
	CHECK_INT(cfg->n_gpio, 2);
	g = &cfg->gpio[0];
	CHECK_STR(g->name, "LIMZ");
	CHECK_STR(g->chip, "gpiochip0");
	CHECK_INT(g->offset, 17);
	CHECK(g->line_name == NULL);
	CHECK_INT(g->direction, CFG_GPIO_INPUT);
	CHECK_INT(g->edge, CFG_EDGE_BOTH);
	CHECK_INT(g->bias, CFG_BIAS_PULL_UP);
	CHECK_INT(g->active_low, 1);
	CHECK_INT(g->debounce_ms, 20);
	CHECK_INT(g->failsafe, -1);
	CHECK_INT(g->line, 12);
	g = &cfg->gpio[1];
	CHECK_STR(g->name, "BRAKE");
	CHECK_INT(g->offset, 27);
	CHECK_INT(g->direction, CFG_GPIO_OUTPUT);
	CHECK_INT(g->initial, 0);
	CHECK_INT(g->active_low, 0);
	CHECK_INT(g->bias, CFG_BIAS_AS_IS);
	CHECK_INT(g->debounce_ms, 0);
	CHECK_INT(g->failsafe, -1);
	CHECK_INT(g->failsafe_grace_ms, 5000);
	CHECK_INT(g->line, 14);
	CHECK_INT(config_find_gpio(cfg, "BRAKE"), 1);
	CHECK_INT(config_find_gpio(cfg, "MOT01"), -1);
	/* routes, in file order */
	CHECK_INT(cfg->n_routes, 5);
	if (cfg->n_routes != 5)
		return;
	r = &cfg->routes[0];
	CHECK_INT(r->from_kind, ROUTE_MQTT);
	CHECK_STR(r->from, "S013/MOT01/RECM");
	CHECK_INT(r->to_kind, ROUTE_SERIAL);
	CHECK_STR(r->to, "MOT01");
	CHECK_INT(r->to_dev, 0);
	CHECK_INT(r->has_accept, 1);
	CHECK_STR(r->accept_src, "^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME)$");
	CHECK_INT(r->has_accept ? pattern_match(&r->accept, "DRVZ+1000", 9, NULL, 0) : -1, 1);
	CHECK(r->has_accept && !pattern_match(&r->accept, "DRVZ+1000000", 12, NULL, 0));
	CHECK_INT(r->has_match, 0);
	CHECK_INT(template_is_whole(&r->payload_tpl), 1);
	CHECK_INT(r->line, 16);
	r = &cfg->routes[1];
	CHECK_INT(r->from_kind, ROUTE_SERIAL);
	CHECK_STR(r->from, "MOT01");
	CHECK_INT(r->from_dev, 0);
	CHECK_INT(r->to_kind, ROUTE_MQTT);
	CHECK_STR(r->to, "S013/MOT01/POS/$1");
	CHECK_INT(r->has_match, 1);
	CHECK_STR(r->match_src, "^POS([XYZ])([+-][0-9]+)$");
	CHECK_INT(r->to_tpl.max_capture, 1);
	CHECK_INT(r->payload_tpl.max_capture, 2);
	CHECK_INT(r->qos, 0);
	CHECK_INT(r->retain, 1);
	CHECK_INT(r->line, 18);
	r = &cfg->routes[2];
	CHECK_STR(r->to, "S013/MOT01/SEND");
	CHECK_INT(r->has_match, 0);
	CHECK_INT(r->qos, 1); /* mqtt.qos */
	CHECK_INT(r->retain, 0);
	CHECK_INT(r->line, 20);
	r = &cfg->routes[3];
	CHECK_INT(r->from_kind, ROUTE_GPIO);
	CHECK_STR(r->from, "LIMZ");
	CHECK_INT(r->from_dev, 0);
	CHECK_STR(r->to, "S013/MOT01/LIMZ");
	CHECK_INT(r->retain, 1);
	CHECK_INT(r->line, 21);
	r = &cfg->routes[4];
	CHECK_INT(r->from_kind, ROUTE_MQTT);
	CHECK_STR(r->from, "S013/MOT01/BRAKE/set");
	CHECK_INT(r->to_kind, ROUTE_GPIO);
	CHECK_STR(r->to, "BRAKE");
	CHECK_INT(r->to_dev, 1);
	CHECK_INT(r->line, 22);
}

TEST(design_example_loads_with_its_values)
{
	struct config *cfg = load(design_example);

	CHECK(cfg != NULL);
	if (!cfg) {
		printf("# %s\n", err);
		return;
	}
	CHECK_STR(cfg->file, NAME);
	check_design_example(cfg);
	config_free(cfg);
}

TEST(design_example_loads_from_a_file)
{
	char path[] = "/tmp/mqttgw-test-XXXXXX";
	int fd = mkstemp(path);
	struct config *cfg;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_INT(write(fd, design_example, sizeof(design_example) - 1), (long long)sizeof(design_example) - 1);
	close(fd);
	cfg = config_load(path, err, sizeof(err));
	CHECK(cfg != NULL);
	if (cfg) {
		CHECK_STR(cfg->file, path);
		check_design_example(cfg);
		config_free(cfg);
	} else {
		printf("# %s\n", err);
	}
	unlink(path);
}

TEST(file_errors_carry_the_path)
{
	char path[] = "/tmp/mqttgw-test-XXXXXX";
	char want[128];
	int fd = mkstemp(path);
	static const char text[] = MQTT "serial = ( { name = \"A\";\n port = \"p\"; baud = 1; } );\n";

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_INT(write(fd, text, sizeof(text) - 1), (long long)sizeof(text) - 1);
	close(fd);
	CHECK(config_load(path, err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), "%s:3: serial[0].baud = 1 is out of range (50..4000000)", path);
	CHECK_STR(err, want);
	unlink(path);
	CHECK(config_load(path, err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
	CHECK_STR(err, want);
}

TEST(minimal_config_defaults)
{
	struct config *cfg = load(MQTT);
	char host[64] = "", want[80];

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	gethostname(host, sizeof(host) - 1);
	snprintf(want, sizeof(want), "mqttgw-%s", host);
	CHECK(cfg->station == NULL);
	CHECK_STR(cfg->mqtt.client_id, want);
	CHECK_STR(cfg->mqtt.status_topic, "mqttgw/gateway/status");
	CHECK_INT(cfg->mqtt.keepalive, 60);
	CHECK_INT(cfg->mqtt.qos, 1);
	CHECK_INT(cfg->mqtt.clean_session, 0);
	CHECK_INT(cfg->n_serial, 0);
	CHECK_INT(cfg->n_gpio, 0);
	CHECK_INT(cfg->n_routes, 0);
	CHECK_INT(cfg->buffer.sync, CFG_SYNC_BATCH);
	config_free(cfg);
	config_free(NULL);
}

TEST(serial_and_gpio_defaults)
{
	struct config *cfg = load(MQTT SERIAL "gpio = ( { name = \"IN1\"; line = \"GPIO17\"; } );\n");

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK_INT(cfg->serial[0].baud, 115200);
	CHECK_INT(cfg->serial[0].data_bits, 8);
	CHECK_INT(cfg->serial[0].stop_bits, 1);
	CHECK_INT(cfg->serial[0].parity, CFG_PARITY_NONE);
	CHECK_INT(cfg->serial[0].flow, CFG_FLOW_NONE);
	CHECK_STR(cfg->serial[0].eol, "\r\n");
	CHECK_INT(cfg->serial[0].eol_len, 2);
	CHECK_INT(cfg->serial[0].max_frame, 256);
	CHECK_STR(cfg->gpio[0].chip, "gpiochip0");
	CHECK_INT(cfg->gpio[0].offset, -1);
	CHECK_STR(cfg->gpio[0].line_name, "GPIO17");
	CHECK_INT(cfg->gpio[0].direction, CFG_GPIO_INPUT);
	CHECK_INT(cfg->gpio[0].edge, CFG_EDGE_BOTH);
	config_free(cfg);
}

TEST(other_valid_settings)
{
	struct config *cfg = load("station = \"S1\";\n"
				  "log_level = \"debug\";\n"
				  "mqtt = { uris = [ \"mqtts://a:8883\", \"ssl://b:8883\", \"wss://c\" ];\n"
				  "  qos = 2; keepalive = 0; clean_session = true;\n"
				  "  tls = { ca_file = \"/etc/ca.pem\"; verify = false; }; };\n"
				  "serial = ( { name = \"SENS-1_a\"; port = \"/dev/ttyS0\"; baud = 9600;\n"
				  "  parity = \"even\"; flow = \"xonxoff\"; eol = \"\\n\"; max_frame = 1;\n"
				  "  data_bits = 7; stop_bits = 2; } );\n"
				  "routes = ( { from = \"serial:SENS-1_a\"; to = \"mqtt:${station}/${name}\"; } );\n");

	CHECK(cfg != NULL);
	if (!cfg) {
		printf("# %s\n", err);
		return;
	}
	CHECK_STR(config_log_level_names[cfg->log_level], "debug");
	CHECK_INT(cfg->mqtt.n_uris, 3);
	CHECK_STR(cfg->mqtt.uris[0], "mqtts://a:8883");
	CHECK_STR(cfg->mqtt.uris[1], "ssl://b:8883");
	CHECK_STR(cfg->mqtt.uris[2], "wss://c");
	CHECK_STR(cfg->mqtt.client_id, "mqttgw-S1");
	CHECK_STR(cfg->mqtt.status_topic, "S1/gateway/status");
	CHECK_INT(cfg->mqtt.qos, 2);
	CHECK_INT(cfg->mqtt.keepalive, 0);
	CHECK_INT(cfg->mqtt.clean_session, 1);
	CHECK_INT(cfg->mqtt.has_tls, 1);
	CHECK_STR(cfg->mqtt.tls.ca_file, "/etc/ca.pem");
	CHECK_STR(cfg->mqtt.tls.cert_file, "");
	CHECK_INT(cfg->mqtt.tls.verify, 0);
	CHECK_INT(cfg->serial[0].baud, 9600);
	CHECK_INT(cfg->serial[0].parity, CFG_PARITY_EVEN);
	CHECK_INT(cfg->serial[0].flow, CFG_FLOW_XONXOFF);
	CHECK_STR(cfg->serial[0].eol, "\n");
	CHECK_INT(cfg->serial[0].eol_len, 1);
	CHECK_INT(cfg->serial[0].max_frame, 1);
	CHECK_INT(cfg->serial[0].data_bits, 7);
	CHECK_INT(cfg->serial[0].stop_bits, 2);
	CHECK_STR(cfg->routes[0].to, "S1/SENS-1_a");
	CHECK_INT(cfg->routes[0].qos, 2);
	config_free(cfg);
}

int main(void)
{
	RUN(design_example_loads_with_its_values);
	RUN(design_example_loads_from_a_file);
	RUN(file_errors_carry_the_path);
	RUN(minimal_config_defaults);
	RUN(serial_and_gpio_defaults);
	RUN(other_valid_settings);
	return UNIT_DONE();
}
