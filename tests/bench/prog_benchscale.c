/*
 * prog_benchscale.c - does a frame cost more in a big station? The mapping
 * engine and the retained cache alone, for callgrind (`make bench-scale`):
 *
 *   prog_benchscale up|down PORTS ROUTES N [--scan]
 *   prog_benchscale retained TOPICS N
 *
 * up/down: a config of PORTS serial ports and ROUTES routes (each port has
 * the bench's three: a command route with accept, the POS route with two
 * captures, a catch-all; the rest are more command routes,
 * S013/MOTnn/cfg/K, spread over the ports; each port's extra routes come
 * before its own three in the file, as a station's config grows), then N
 * frames (POSX+001000 from port i % PORTS) or N commands (DRVX+1000 on
 * S013/MOTnn/RECM). --scan drops the route index, which gives the scan of
 * every route that mapping.c did before it. retained: TOPICS distinct topics
 * set, then N republishes of the whole cache (what a reconnect does), and
 * the number of topics the cache returned. Two runs with different N give
 * the cost per frame/command/topic without the start-up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "mapping.h"
#include "mapping_index.h"
#include "retained.h"

static void each(const char *topic, const void *payload, size_t len, int qos, void *ctx)
{
	(void)topic;
	(void)payload;
	(void)len;
	(void)qos;
	(*(long *)ctx)++;
}

static int retained_run(long topics, long n)
{
	struct retained *r = retained_new();
	char t[64];
	long i, seen = 0;

	if (!r)
		return 1;
	for (i = 0; i < topics; i++) {
		snprintf(t, sizeof(t), "S013/MOT%02ld/V%ld/state", i % 64 + 1, i);
		retained_set(r, t, "12.5", 4, 1);
	}
	for (i = 0; i < n; i++)
		retained_each(r, each, &seen);
	printf("retained: %ld topics set, %ld returned per republish\n", topics, n ? seen / n : 0);
	retained_free(r);
	return 0;
}

static char *config_text(int ports, int routes)
{
	size_t cap = 4096 + (size_t)ports * 1024 + (size_t)routes * 128, used = 0;
	char *s = malloc(cap);
	int p, k, extra = routes > 3 * ports ? routes - 3 * ports : 0;

	if (!s)
		return NULL;
#define ADD(...) (used += (size_t)snprintf(s + used, cap - used, __VA_ARGS__))
	ADD("station = \"S013\";\nmqtt = { uri = \"tcp://127.0.0.1:1883\"; qos = 1; };\nserial = (\n");
	for (p = 1; p <= ports; p++)
		ADD("%s  { name = \"MOT%02d\"; port = \"/dev/ttyBENCH%d\"; eol = \"\\r\\n\"; max_frame = 64; }\n",
		    p > 1 ? "," : "", p, p);
	ADD(");\nroutes = (\n");
	for (p = 1; p <= ports; p++) {
		for (k = p - 1; k < extra; k += ports)
			ADD("  { from = \"mqtt:${station}/MOT%02d/cfg/%d\"; to = \"serial:MOT%02d\"; },\n", p, k, p);
		ADD("  { from = \"mqtt:${station}/MOT%02d/RECM\"; to = \"serial:MOT%02d\";\n"
		    "    accept = \"^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME|STAT)$\"; },\n"
		    "  { from = \"serial:MOT%02d\"; match = \"^POS([XYZ])([+-][0-9]+)$\";\n"
		    "    to = \"mqtt:${station}/MOT%02d/POS/$1\"; payload = \"$2\"; },\n"
		    "  { from = \"serial:MOT%02d\"; to = \"mqtt:${station}/MOT%02d/SEND\"; }%s\n",
		    p, p, p, p, p, p, p < ports ? "," : "");
	}
	ADD(");\n");
#undef ADD
	return s;
}

int main(int argc, char **argv)
{
	char err[CONFIG_ERRLEN], topic[256], payload[256], buf[256], cmd_topic[100][32];
	struct mapping_out o;
	struct config *cfg;
	char *text;
	long i, n, ok = 0;
	int up, ports, routes, scan = argc > 5 && strcmp(argv[5], "--scan") == 0;

	if (argc >= 4 && strcmp(argv[1], "retained") == 0)
		return retained_run(strtol(argv[2], NULL, 10), strtol(argv[3], NULL, 10));
	if (argc < 5) {
		fprintf(stderr, "usage: prog_benchscale up|down PORTS ROUTES N [--scan] | retained TOPICS N\n");
		return 2;
	}
	up = strcmp(argv[1], "up") == 0;
	ports = (int)strtol(argv[2], NULL, 10);
	routes = (int)strtol(argv[3], NULL, 10);
	n = strtol(argv[4], NULL, 10);
	if (ports < 1 || ports > 99 || routes < 0 || n < 0 || !(text = config_text(ports, routes)))
		return 2;
	cfg = config_load_string(text, "benchscale.cfg", err, sizeof(err));
	free(text);
	if (!cfg) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (scan) {
		mapping_index_free(cfg->index);
		cfg->index = NULL;
	}
	for (i = 0; i < ports; i++)
		snprintf(cmd_topic[i], sizeof(cmd_topic[i]), "S013/MOT%02ld/RECM", i + 1);
	for (i = 0; i < n; i++) {
		int dev = (int)(i % ports), next = 0;

		if (up) {
			if (mapping_uplink(cfg, ROUTE_SERIAL, dev, "POSX+001000", 11, topic, sizeof(topic), payload,
					   sizeof(payload), &o) == 0 && o.verdict == MAPPING_OK)
				ok++;
			continue;
		}
		while (mapping_downlink(cfg, cmd_topic[dev], NULL, -1, "DRVX+1000", 9, &next, buf, sizeof(buf), &o) == 0)
			if (o.verdict == MAPPING_OK)
				ok++;
	}
	printf("%d ports, %d routes: %ld of %ld mapped\n", cfg->n_serial, cfg->n_routes, ok, n);
	config_free(cfg);
	return ok == n ? 0 : 1;
}
