/*
 * prog_benchmap.c - the mapping engine alone, for callgrind: instructions
 * per frame and per command on the bench routes (tests/bench/run.py's
 * config: a POS route with two captures, a catch-all, an accept route).
 *
 *   valgrind --tool=callgrind build/bench/prog_benchmap up|down|json N
 *
 * maps N uplink frames ("POSZ+001000", "POSX-000042", a frame only the
 * catch-all takes) or N downlink commands ("DRVZ+1000", "STOP"); json: N
 * MODBUS-style hex frames through a json = { } route with two typed fields
 * (issue 15: at most 1.5 times what a plain uplink frame costs). Two runs with
 * different N give the per-iteration cost without the start-up: that is
 * what `make bench-map` prints. Pure: no broker, no port, no threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "mapping.h"

static const char cfg_text[] =
    "station = \"S013\";\n"
    "mqtt = { uri = \"tcp://127.0.0.1:1883\"; qos = 0; };\n"
    "serial = ( { name = \"MOT01\"; port = \"/dev/null\"; baud = 115200; eol = \"\\r\\n\"; max_frame = 64; } );\n"
    "routes = (\n"
    "  { from = \"mqtt:${station}/MOT01/RECM\"; to = \"serial:MOT01\";\n"
    "    accept = \"^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME|STAT)$\"; },\n"
    "  { from = \"serial:MOT01\"; match = \"^POS([XYZ])([+-][0-9]+)$\";\n"
    "    to = \"mqtt:${station}/MOT01/POS/$1\"; payload = \"$2\"; },\n"
    "  { from = \"serial:MOT01\"; to = \"mqtt:${station}/MOT01/SEND\"; } );\n";

/* a MODBUS reply from a hex device: a temperature at 0.1 C and a 32-bit counter, as JSON */
static const char json_text[] =
    "station = \"S013\";\n"
    "mqtt = { uri = \"tcp://127.0.0.1:1883\"; qos = 0; };\n"
    "serial = ( { name = \"MB01\"; port = \"/dev/null\"; encoding = \"hex\"; max_frame = 64; } );\n"
    "routes = (\n"
    "  { from = \"serial:MB01\"; match = \"^010308\"; to = \"mqtt:${station}/MB01/state\";\n"
    "    json = { temperature = \"${s16be@3|scale:0.1}\"; counter = \"${u32ws@5}\"; }; } );\n";

int main(int argc, char **argv)
{
	static const char *const frames[] = { "POSZ+001000", "POSX-000042", "ERR 12 overcurrent" };
	static const char *const cmds[] = { "DRVZ+1000", "STOP" };
	char err[CONFIG_ERRLEN], topic[256], payload[256], buf[256];
	struct mapping_out o;
	struct config *cfg;
	long i, n = argc > 2 ? strtol(argv[2], NULL, 10) : 100000;
	unsigned long ok = 0;
	int up = argc < 2 || strcmp(argv[1], "down") != 0;
	int js = argc >= 2 && strcmp(argv[1], "json") == 0;

	cfg = config_load_string(js ? json_text : cfg_text, "benchmap.cfg", err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	for (i = 0; i < n; i++) {
		const char *f = js ? "01030800D7567812340000" : frames[i % 3];
		const char *c = cmds[i % 2];
		int next = 0;

		if (up && mapping_uplink(cfg, ROUTE_SERIAL, 0, f, strlen(f), topic, sizeof(topic), payload,
				   sizeof(payload), &o) == 0 && o.verdict == MAPPING_OK)
			ok++;
		if (!up && mapping_downlink(cfg, "S013/MOT01/RECM", NULL, -1, c, strlen(c), &next, buf, sizeof(buf), &o) == 0 &&
		    o.verdict == MAPPING_OK)
			ok++;
	}
	printf("%lu of %ld mapped\n", ok, n);
	config_free(cfg);
	return ok == (unsigned long)n ? 0 : 1;
}
