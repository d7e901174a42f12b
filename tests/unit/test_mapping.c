/*
 * test_mapping.c - unit tests for gateway/mapping.c (route selection and
 * the checks between MQTT and a device).
 *
 * One config, loaded once through config_load_string() exactly as the
 * daemon loads a file, holds every kind of route the tests need; its routes
 * are numbered in comments so each assertion can name the route it expects.
 * Uplink tests feed frames as if they came out of framing and check the
 * topic, payload, qos and retain that would be published. Downlink tests
 * publish a topic and payload and walk mapping_downlink() until it returns
 * -1, recording every (route, verdict, bytes) it yields, which is what the
 * bridge would write or refuse: fan-out, refusals and their reasons.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "mapping.h"
#include "unit.h"

static const char cfg_text[] =
    "station = \"S013\";\n"
    /* status topics outside S013/: route 8 (S013/#) must not take the gateway's own */
    "mqtt = { uri = \"tcp://127.0.0.1:1883\"; qos = 1; status_topic = \"gw/S013/status\"; };\n"
    "serial = ( { name = \"MOT01\"; port = \"/dev/ttyUSB0\"; max_frame = 16; status_topic = \"\"; },\n"
    "           { name = \"SENS\"; port = \"/dev/ttyUSB1\"; eol = \";\"; max_frame = 32;\n"
    "             status_topic = \"\"; } );\n"
    "gpio = ( { name = \"LIMZ\"; line = 17; },\n"
    "         { name = \"BRAKE\"; line = 27; direction = \"output\"; } );\n"
    "routes = (\n"
    /* 0 */ "  { from = \"mqtt:${station}/MOT01/RECM\"; to = \"serial:MOT01\";\n"
    "    accept = \"^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME)$\"; },\n"
    /* 1 */ "  { from = \"serial:MOT01\"; match = \"^POS([XYZ])([+-][0-9]+)$\";\n"
    "    to = \"mqtt:${station}/MOT01/POS/$1\"; payload = \"$2\"; retain = true; qos = 0; },\n"
    /* 2 */ "  { from = \"serial:MOT01\"; match = \"^ERR(.*)$\"; to = \"mqtt:${station}/MOT01/ERR\";\n"
    "    payload = \"e=$1\"; },\n"
    /* 3 */ "  { from = \"serial:MOT01\"; to = \"mqtt:${station}/${name}/SEND\"; },\n"
    /* 4 */ "  { from = \"serial:SENS\"; match = \"^NEVER\"; to = \"mqtt:never\"; },\n"
    /* 5 */ "  { from = \"gpio:LIMZ\"; to = \"mqtt:${station}/MOT01/LIMZ\"; retain = true; },\n"
    /* 6 */ "  { from = \"mqtt:${station}/MOT01/BRAKE/set\"; to = \"gpio:BRAKE\"; },\n"
    /* 7 */ "  { from = \"mqtt:${station}/+/raw\"; to = \"serial:MOT01\"; },\n"
    /* 8 */ "  { from = \"mqtt:${station}/#\"; to = \"serial:SENS\"; },\n"
    /* 9 */ "  { from = \"mqtt:bin/cmd\"; to = \"serial:MOT01\"; accept = \"^B\"; },\n"
    /* 10 */ "  { from = \"mqtt:tpl/cmd\"; to = \"serial:MOT01\"; accept = \"^SET ([0-9]+)$\";\n"
    "    payload = \"S$1,$1,$1\"; },\n"
    /* 11 */ "  { from = \"serial:SENS\"; match = \"^T=([^ ]*) (.*)$\"; to = \"mqtt:${station}/SENS/$1\";\n"
    "    payload = \"$2\"; },\n"
    /* 12 */ "  { from = \"mqtt:tpl/echo\"; to = \"serial:MOT01\"; accept = \"^E(.*)$\";\n"
    "    payload = \"$1$1\"; } );\n";

static struct config *cfg;
static char topic[128], payload[128], buf[128];

#define MOT01 0
#define SENS 1
#define LIMZ 0
#define BRAKE 1

/* ---- uplink ---- */

static int up(enum route_end kind, int dev, const char *frame, size_t len, struct mapping_out *out)
{
	memset(topic, 0, sizeof(topic));
	memset(payload, 0, sizeof(payload));
	return mapping_uplink(cfg, kind, dev, frame, len, topic, sizeof(topic), payload, sizeof(payload), out);
}

#define UP(kind, dev, s, out) up(kind, dev, s, strlen(s), out)

/* Payload of an uplink result as a string (payloads are not NUL-terminated). */
static const char *pl(const struct mapping_out *o)
{
	static char s[256];

	snprintf(s, sizeof(s), "%.*s", (int)o->payload_len, o->payload ? o->payload : "");
	return s;
}

TEST(first_matching_route_wins_with_captures)
{
	struct mapping_out o;

	CHECK_INT(UP(ROUTE_SERIAL, MOT01, "POSZ+001000", &o), 0);
	CHECK_INT(o.verdict, MAPPING_OK);
	CHECK_INT(o.route, 1); /* route 3 (catch-all) would also take it */
	CHECK_STR(o.topic, "S013/MOT01/POS/Z");
	CHECK_STR(pl(&o), "+001000");
	CHECK_INT(o.qos, 0);
	CHECK_INT(o.retain, 1);

	CHECK_INT(UP(ROUTE_SERIAL, MOT01, "POSX-7", &o), 0);
	CHECK_INT(o.route, 1);
	CHECK_STR(o.topic, "S013/MOT01/POS/X");
	CHECK_STR(pl(&o), "-7");
}

TEST(second_route_when_the_first_does_not_match)
{
	struct mapping_out o;

	CHECK_INT(UP(ROUTE_SERIAL, MOT01, "ERRoverheat", &o), 0);
	CHECK_INT(o.verdict, MAPPING_OK);
	CHECK_INT(o.route, 2);
	CHECK_STR(o.topic, "S013/MOT01/ERR");
	CHECK_STR(pl(&o), "e=overheat");
	CHECK_INT(o.qos, 1); /* mqtt.qos */
	CHECK_INT(o.retain, 0);
	/* an empty capture is fine in a payload */
	CHECK_INT(UP(ROUTE_SERIAL, MOT01, "ERR", &o), 0);
	CHECK_INT(o.route, 2);
	CHECK_STR(pl(&o), "e=");
}

TEST(catch_all_route_publishes_the_frame_as_is)
{
	static const char frame[] = "hello motor";
	struct mapping_out o;

	CHECK_INT(up(ROUTE_SERIAL, MOT01, frame, sizeof(frame) - 1, &o), 0);
	CHECK_INT(o.verdict, MAPPING_OK);
	CHECK_INT(o.route, 3);
	CHECK_STR(o.topic, "S013/MOT01/SEND");
	CHECK(o.payload == frame); /* no copy for "$0" */
	CHECK_INT(o.payload_len, sizeof(frame) - 1);
	/* almost a position report: POSQ is not [XYZ] */
	CHECK_INT(UP(ROUTE_SERIAL, MOT01, "POSQ+1", &o), 0);
	CHECK_INT(o.route, 3);
	CHECK_STR(pl(&o), "POSQ+1");
	/* route 4 matches "NEVER", but it is SENS's: MOT01's catch-all takes it */
	CHECK_INT(UP(ROUTE_SERIAL, MOT01, "NEVER", &o), 0);
	CHECK_INT(o.route, 3);
	/* an empty frame still goes somewhere */
	CHECK_INT(up(ROUTE_SERIAL, MOT01, "", 0, &o), 0);
	CHECK_INT(o.route, 3);
	CHECK_INT(o.payload_len, 0);
}

TEST(frames_are_matched_on_their_real_length)
{
	static const char frame[] = "POSZ+1\0tail";
	struct mapping_out o;

	/* with the NUL and what follows, "$" does not match after "+1" */
	CHECK_INT(up(ROUTE_SERIAL, MOT01, frame, sizeof(frame) - 1, &o), 0);
	CHECK_INT(o.route, 3);
	CHECK_INT(o.payload_len, sizeof(frame) - 1);
	CHECK(memcmp(o.payload, frame, sizeof(frame) - 1) == 0);
	/* cut before the NUL it is a position report */
	CHECK_INT(up(ROUTE_SERIAL, MOT01, frame, 6, &o), 0);
	CHECK_INT(o.route, 1);
	CHECK_STR(pl(&o), "+1");
}

TEST(gpio_input_route)
{
	struct mapping_out o;

	CHECK_INT(UP(ROUTE_GPIO, LIMZ, "1", &o), 0);
	CHECK_INT(o.verdict, MAPPING_OK);
	CHECK_INT(o.route, 5);
	CHECK_STR(o.topic, "S013/MOT01/LIMZ");
	CHECK_STR(pl(&o), "1");
	CHECK_INT(o.retain, 1);
}

TEST(no_route_returns_minus_one)
{
	struct mapping_out o;

	/* SENS has only a match route */
	CHECK_INT(UP(ROUTE_SERIAL, SENS, "garbage", &o), -1);
	/* BRAKE is an output: nothing comes from it */
	CHECK_INT(UP(ROUTE_GPIO, BRAKE, "1", &o), -1);
	/* device indexes are per kind: serial 0 is MOT01, gpio 0 is LIMZ */
	CHECK_INT(UP(ROUTE_GPIO, MOT01, "POSZ+1", &o), 0);
	CHECK_INT(o.route, 5);
	/* nothing comes "from mqtt" on the uplink */
	CHECK_INT(UP(ROUTE_MQTT, 0, "x", &o), -1);
}

TEST(captures_in_topics)
{
	struct mapping_out o;

	CHECK_INT(UP(ROUTE_SERIAL, SENS, "T=room1 21.5", &o), 0);
	CHECK_INT(o.verdict, MAPPING_OK);
	CHECK_INT(o.route, 11);
	CHECK_STR(o.topic, "S013/SENS/room1");
	CHECK_STR(pl(&o), "21.5");
	/* a capture that would add a level, a wildcard or a $ is refused */
	CHECK_INT(UP(ROUTE_SERIAL, SENS, "T=a/b 1", &o), 0);
	CHECK_INT(o.route, 11);
	CHECK_INT(o.verdict, MAPPING_BAD_TOPIC);
	CHECK_INT(UP(ROUTE_SERIAL, SENS, "T=../../x 1", &o), 0);
	CHECK_INT(o.verdict, MAPPING_BAD_TOPIC);
	CHECK_INT(UP(ROUTE_SERIAL, SENS, "T=+ 1", &o), 0);
	CHECK_INT(o.verdict, MAPPING_BAD_TOPIC);
	CHECK_INT(UP(ROUTE_SERIAL, SENS, "T=# 1", &o), 0);
	CHECK_INT(o.verdict, MAPPING_BAD_TOPIC);
	CHECK_INT(UP(ROUTE_SERIAL, SENS, "T=$SYS 1", &o), 0);
	CHECK_INT(o.verdict, MAPPING_BAD_TOPIC);
	/* an empty capture would publish to "S013/SENS/" */
	CHECK_INT(UP(ROUTE_SERIAL, SENS, "T= 1", &o), 0);
	CHECK_INT(o.verdict, MAPPING_BAD_TOPIC);
	/* the same bytes in the payload are fine */
	CHECK_INT(UP(ROUTE_SERIAL, SENS, "T=ok a/+/#/$", &o), 0);
	CHECK_INT(o.verdict, MAPPING_OK);
	CHECK_STR(pl(&o), "a/+/#/$");
}

TEST(uplink_payload_buffer_too_small)
{
	struct mapping_out o;
	char small[4];

	CHECK_INT(mapping_uplink(cfg, ROUTE_SERIAL, MOT01, "ERRabcdef", 9, topic, sizeof(topic), small, sizeof(small),
				 &o),
		  0);
	CHECK_INT(o.route, 2);
	CHECK_INT(o.verdict, MAPPING_TOO_LONG);
}

/* ---- downlink ---- */

struct hit {
	int route;
	enum mapping_verdict verdict;
	enum route_end kind;
	int dev;
	char bytes[128];
	size_t len;
};

static struct hit hits[16];

/* Walk every route for one message (a copy sent for the via filters), like the bridge does. */
static int down_via(const char *t, const char *const *via, int n_via, const char *p, size_t len)
{
	struct mapping_out o;
	int next = 0, n = 0, guard = 0;

	memset(hits, 0, sizeof(hits));
	while (mapping_downlink(cfg, t, via, n_via, p, len, &next, buf, sizeof(buf), &o) == 0 && guard++ < 100) {
		if (n < 16) {
			hits[n].route = o.route;
			hits[n].verdict = o.verdict;
			hits[n].kind = o.kind;
			hits[n].dev = o.dev;
			if (o.verdict == MAPPING_OK && o.payload_len < sizeof(hits[n].bytes)) {
				memcpy(hits[n].bytes, o.payload, o.payload_len);
				hits[n].len = o.payload_len;
			}
		}
		n++;
	}
	CHECK_INT(next, cfg->n_routes);
	return n;
}

static int down(const char *t, const char *p, size_t len)
{
	return down_via(t, NULL, -1, p, len);
}

#define DOWN(t, p) down(t, p, strlen(p))

TEST(downlink_command_reaches_its_device)
{
	CHECK_INT(DOWN("S013/MOT01/RECM", "DRVZ+1000"), 2);
	CHECK_INT(hits[0].route, 0);
	CHECK_INT(hits[0].verdict, MAPPING_OK);
	CHECK_INT(hits[0].kind, ROUTE_SERIAL);
	CHECK_INT(hits[0].dev, MOT01);
	CHECK_STR(hits[0].bytes, "DRVZ+1000");
	/* "S013/#" to SENS takes it too */
	CHECK_INT(hits[1].route, 8);
	CHECK_INT(hits[1].verdict, MAPPING_OK);
	CHECK_INT(hits[1].dev, SENS);
	CHECK_INT(DOWN("S013/MOT01/RECM", "STOP"), 2);
	CHECK_INT(hits[0].verdict, MAPPING_OK);
	CHECK_STR(hits[0].bytes, "STOP");
}

/*
 * MQTT 5: a broker sends one copy per matching subscription, each naming
 * its subscription; a copy goes only through the routes of those filters,
 * so each route writes the command once.
 */
TEST(downlink_copy_goes_only_through_its_subscriptions)
{
	static const char *const plus[] = { "S013/+/raw" };
	static const char *const hash[] = { "S013/#" };
	static const char *const both[] = { "S013/#", "S013/+/raw" };

	CHECK_INT(down_via("S013/MOT01/raw", plus, 1, "HOME", 4), 1);
	CHECK_INT(hits[0].route, 7);
	CHECK_INT(down_via("S013/MOT01/raw", hash, 1, "HOME", 4), 1);
	CHECK_INT(hits[0].route, 8);
	CHECK_INT(down_via("S013/MOT01/raw", both, 2, "HOME", 4), 2);
	CHECK_INT(hits[0].route, 7);
	CHECK_INT(hits[1].route, 8);
	/* a copy for a subscription no longer known (gone in a reload): no route */
	CHECK_INT(down_via("S013/MOT01/raw", NULL, 0, "HOME", 4), 0);
}

TEST(downlink_fans_out_over_plus_and_hash)
{
	CHECK_INT(DOWN("S013/MOT01/raw", "HOME"), 2);
	CHECK_INT(hits[0].route, 7);
	CHECK_INT(hits[0].verdict, MAPPING_OK);
	CHECK_INT(hits[0].dev, MOT01);
	CHECK_INT(hits[1].route, 8);
	CHECK_INT(hits[1].verdict, MAPPING_OK);
	CHECK_INT(hits[1].dev, SENS);
	CHECK_INT(DOWN("S013/ANY/raw", "x"), 2);
	CHECK_INT(hits[0].route, 7);
	CHECK_INT(hits[1].route, 8);
	/* "+" is one level only: only "S013/#" matches */
	CHECK_INT(DOWN("S013/A/B/raw", "x"), 1);
	CHECK_INT(hits[0].route, 8);
	/* "S013/#" matches "S013" itself */
	CHECK_INT(DOWN("S013", "x"), 1);
	CHECK_INT(hits[0].route, 8);
}

TEST(downlink_no_route)
{
	CHECK_INT(DOWN("S014/MOT01/RECM", "STOP"), 0);
	CHECK_INT(DOWN("s013/MOT01/RECM", "STOP"), 0);
	CHECK_INT(DOWN("bin/cmd/x", "B"), 0);
}

TEST(downlink_gpio_route)
{
	CHECK_INT(DOWN("S013/MOT01/BRAKE/set", "on"), 2);
	CHECK_INT(hits[0].route, 6);
	CHECK_INT(hits[0].verdict, MAPPING_OK);
	CHECK_INT(hits[0].kind, ROUTE_GPIO);
	CHECK_INT(hits[0].dev, BRAKE);
	CHECK_STR(hits[0].bytes, "on");
	/* gpio words are short */
	CHECK_INT(DOWN("S013/MOT01/BRAKE/set",
		       "0123456789012345678901234567890123456789012345678901234567890123"),
		  2);
	CHECK_INT(hits[0].verdict, MAPPING_OK);
	CHECK_INT(DOWN("S013/MOT01/BRAKE/set",
		       "01234567890123456789012345678901234567890123456789012345678901234"),
		  2);
	CHECK_INT(hits[0].verdict, MAPPING_TOO_LONG);
}

TEST(accept_refuses_what_it_does_not_match)
{
	CHECK_INT(DOWN("S013/MOT01/RECM", "DRVZ+1000000"), 2); /* 7 digits */
	CHECK_INT(hits[0].route, 0);
	CHECK_INT(hits[0].verdict, MAPPING_NOT_ACCEPTED);
	CHECK_INT(hits[0].len, 0);
	CHECK_INT(DOWN("S013/MOT01/RECM", "FORMAT C:"), 2);
	CHECK_INT(hits[0].verdict, MAPPING_NOT_ACCEPTED);
	CHECK_INT(DOWN("S013/MOT01/RECM", "STOP "), 2);
	CHECK_INT(hits[0].verdict, MAPPING_NOT_ACCEPTED);
	CHECK_INT(DOWN("S013/MOT01/RECM", ""), 2);
	CHECK_INT(hits[0].verdict, MAPPING_NOT_ACCEPTED);
	/* a refusal on one route does not stop the others */
	CHECK_INT(hits[1].route, 8);
}

TEST(cr_lf_nul_are_refused_everywhere)
{
	static const char nul[] = "ST\0OP";

	CHECK_INT(DOWN("S013/MOT01/RECM", "STOP\r\nDRVZ+999999"), 2);
	CHECK_INT(hits[0].verdict, MAPPING_BAD_BYTES);
	CHECK_INT(hits[1].verdict, MAPPING_BAD_BYTES);
	CHECK_INT(DOWN("S013/MOT01/RECM", "STOP\n"), 2);
	CHECK_INT(hits[0].verdict, MAPPING_BAD_BYTES);
	CHECK_INT(DOWN("S013/MOT01/RECM", "\rSTOP"), 2);
	CHECK_INT(hits[0].verdict, MAPPING_BAD_BYTES);
	CHECK_INT(down("S013/MOT01/RECM", nul, sizeof(nul) - 1), 2);
	CHECK_INT(hits[0].verdict, MAPPING_BAD_BYTES);
	CHECK_INT(hits[1].verdict, MAPPING_BAD_BYTES);
	CHECK_INT(down("S013/MOT01/RECM", "STOP\0", 5), 2);
	CHECK_INT(hits[0].verdict, MAPPING_BAD_BYTES);
	/* an accept that would let anything through does not let these through */
	CHECK_INT(DOWN("bin/cmd", "B\r"), 1);
	CHECK_INT(hits[0].verdict, MAPPING_BAD_BYTES);
	CHECK_INT(down("bin/cmd", "B\0", 2), 1);
	CHECK_INT(hits[0].verdict, MAPPING_BAD_BYTES);
	/* nor to gpio */
	CHECK_INT(DOWN("S013/MOT01/BRAKE/set", "on\n"), 2);
	CHECK_INT(hits[0].verdict, MAPPING_BAD_BYTES);
}

TEST(the_devices_own_eol_is_refused)
{
	/* SENS ends lines with ";": a ";" in a command would split it in two */
	CHECK_INT(DOWN("S013/x", "a;b"), 1);
	CHECK_INT(hits[0].route, 8);
	CHECK_INT(hits[0].verdict, MAPPING_BAD_BYTES);
	CHECK_INT(DOWN("S013/x", "ab"), 1);
	CHECK_INT(hits[0].verdict, MAPPING_OK);
}

TEST(too_long_for_max_frame)
{
	/* MOT01 max_frame = 16 */
	CHECK_INT(DOWN("S013/MOT01/raw", "0123456789abcdef"), 2);
	CHECK_INT(hits[0].route, 7);
	CHECK_INT(hits[0].verdict, MAPPING_OK);
	CHECK_INT(hits[0].len, 16);
	CHECK_INT(DOWN("S013/MOT01/raw", "0123456789abcdefg"), 2);
	CHECK_INT(hits[0].verdict, MAPPING_TOO_LONG);
	/* SENS max_frame = 32 takes the same payload */
	CHECK_INT(hits[1].route, 8);
	CHECK_INT(hits[1].verdict, MAPPING_OK);
}

TEST(non_printable_refused_without_accept)
{
	static const char *const bad[] = {"a\x01" "b", "\x1b[2J", "tab\there", "del\x7f", "caf\xc3\xa9", "\xff"};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(DOWN("S013/MOT01/raw", bad[i]), 2);
		CHECK_INT(hits[0].route, 7);
		CHECK_INT(hits[0].verdict, MAPPING_BAD_BYTES);
	}
	/* space and "~" are the printable edges */
	CHECK_INT(DOWN("S013/MOT01/raw", " ~"), 2);
	CHECK_INT(hits[0].verdict, MAPPING_OK);
	/* with an accept, the accept decides */
	CHECK_INT(DOWN("bin/cmd", "B\x01\x7f\xff\t"), 1);
	CHECK_INT(hits[0].route, 9);
	CHECK_INT(hits[0].verdict, MAPPING_OK);
	CHECK_INT(hits[0].len, 5);
	CHECK(memcmp(hits[0].bytes, "B\x01\x7f\xff\t", 5) == 0);
}

TEST(payload_template_on_the_downlink)
{
	CHECK_INT(DOWN("tpl/cmd", "SET 42"), 1);
	CHECK_INT(hits[0].route, 10);
	CHECK_INT(hits[0].verdict, MAPPING_OK);
	CHECK_STR(hits[0].bytes, "S42,42,42");
	/* 15 bytes: fits max_frame 16 */
	CHECK_INT(DOWN("tpl/cmd", "SET 1234"), 1);
	CHECK_INT(hits[0].verdict, MAPPING_OK);
	CHECK_STR(hits[0].bytes, "S1234,1234,1234");
	/* 9 bytes in, 18 out: the template made it longer than max_frame */
	CHECK_INT(DOWN("tpl/cmd", "SET 12345"), 1);
	CHECK_INT(hits[0].verdict, MAPPING_TOO_LONG);
	CHECK_INT(DOWN("tpl/cmd", "SET x"), 1);
	CHECK_INT(hits[0].verdict, MAPPING_NOT_ACCEPTED);
}

TEST(template_output_is_checked_again)
{
	/* accept lets a control byte through; doubling it stays within max_frame */
	CHECK_INT(DOWN("tpl/echo", "E\x01"), 1);
	CHECK_INT(hits[0].route, 12);
	CHECK_INT(hits[0].verdict, MAPPING_OK);
	CHECK_INT(hits[0].len, 2);
	/* 9 bytes in, 16 out: fine; 10 in, 18 out: too long */
	CHECK_INT(DOWN("tpl/echo", "E12345678"), 1);
	CHECK_INT(hits[0].verdict, MAPPING_OK);
	CHECK_INT(hits[0].len, 16);
	CHECK_INT(DOWN("tpl/echo", "E123456789"), 1);
	CHECK_INT(hits[0].verdict, MAPPING_TOO_LONG);
}

TEST(downlink_scratch_buffer_too_small)
{
	struct mapping_out o;
	char small[4];
	int next = 0;

	CHECK_INT(mapping_downlink(cfg, "tpl/cmd", NULL, -1, "SET 42", 6, &next, small, sizeof(small), &o), 0);
	CHECK_INT(o.route, 10);
	CHECK_INT(o.verdict, MAPPING_TOO_LONG);
	CHECK_INT(next, 11);
	CHECK_INT(mapping_downlink(cfg, "tpl/cmd", NULL, -1, "SET 42", 6, &next, small, sizeof(small), &o), -1);
}

TEST(verdict_words_for_the_log)
{
	CHECK_STR(mapping_verdict_str(MAPPING_OK), "ok");
	CHECK_STR(mapping_verdict_str(MAPPING_NO_ROUTE), "no route");
	CHECK_STR(mapping_verdict_str(MAPPING_BAD_BYTES), "forbidden bytes (CR, LF, NUL, eol or non-printable)");
	CHECK_STR(mapping_verdict_str(MAPPING_TOO_LONG), "too long");
	CHECK_STR(mapping_verdict_str(MAPPING_NOT_ACCEPTED), "refused by accept");
	CHECK_STR(mapping_verdict_str(MAPPING_BAD_TOPIC), "capture not allowed in a topic");
}

int main(void)
{
	char err[CONFIG_ERRLEN];
	int rc;

	cfg = config_load_string(cfg_text, "mapping.cfg", err, sizeof(err));
	if (!cfg) {
		printf("Bail out! test config refused: %s\n", err);
		return 1;
	}
	RUN(first_matching_route_wins_with_captures);
	RUN(second_route_when_the_first_does_not_match);
	RUN(catch_all_route_publishes_the_frame_as_is);
	RUN(frames_are_matched_on_their_real_length);
	RUN(gpio_input_route);
	RUN(no_route_returns_minus_one);
	RUN(captures_in_topics);
	RUN(uplink_payload_buffer_too_small);
	RUN(downlink_command_reaches_its_device);
	RUN(downlink_fans_out_over_plus_and_hash);
	RUN(downlink_copy_goes_only_through_its_subscriptions);
	RUN(downlink_no_route);
	RUN(downlink_gpio_route);
	RUN(accept_refuses_what_it_does_not_match);
	RUN(cr_lf_nul_are_refused_everywhere);
	RUN(the_devices_own_eol_is_refused);
	RUN(too_long_for_max_frame);
	RUN(non_printable_refused_without_accept);
	RUN(payload_template_on_the_downlink);
	RUN(template_output_is_checked_again);
	RUN(downlink_scratch_buffer_too_small);
	RUN(verdict_words_for_the_log);
	rc = UNIT_DONE();
	config_free(cfg);
	return rc;
}
