/*
 * test_mapping_index.c - the route index (gateway/mapping_index.c) against
 * the scan of every route it replaced: for a config with every filter shape
 * (literal, +, #, a/# taking a, empty levels, one filter shared by several
 * routes, $ topics) and routes of several devices interleaved, every topic
 * and every set of MQTT 5 subscriptions must yield the same routes in the
 * same order with the same verdicts, and every frame the same route. The
 * scan runs with cfg->index set to NULL (mapping.c keeps it for that).
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "mapping.h"
#include "mapping_index.h"
#include "unit.h"

static const char cfg_text[] =
    "station = \"S013\";\n"
    "mqtt = { uri = \"tcp://127.0.0.1:1883\"; qos = 1; status_topic = \"gw/S013/status\"; };\n"
    "serial = ( { name = \"A\"; port = \"/dev/null\"; max_frame = 16; status_topic = \"\"; },\n"
    "           { name = \"B\"; port = \"/dev/zero\"; max_frame = 16; status_topic = \"\"; } );\n"
    "gpio = ( { name = \"IN\"; line = 17; }, { name = \"OUT\"; line = 27; direction = \"output\"; } );\n"
    "routes = (\n"
    "  { from = \"serial:B\"; match = \"^X\"; to = \"mqtt:up/B/x\"; },\n"
    "  { from = \"mqtt:S013/A/cmd\"; to = \"serial:A\"; accept = \"^(GO|STOP)$\"; },\n"
    "  { from = \"serial:A\"; match = \"^POS([XYZ])(.*)$\"; to = \"mqtt:up/A/POS/$1\"; payload = \"$2\"; },\n"
    "  { from = \"mqtt:S013/+/cmd\"; to = \"serial:B\"; },\n"
    "  { from = \"mqtt:S013/#\"; to = \"serial:A\"; },\n"
    "  { from = \"gpio:IN\"; to = \"mqtt:up/gpio/in\"; },\n"
    "  { from = \"mqtt:+/A/cmd/#\"; to = \"serial:B\"; },\n"
    "  { from = \"mqtt:+/+/cmd\"; to = \"serial:A\"; },\n"
    "  { from = \"mqtt:S013/A/cmd\"; to = \"serial:B\"; },\n"
    "  { from = \"serial:A\"; to = \"mqtt:up/A/SEND\"; },\n"
    "  { from = \"mqtt:a//b\"; to = \"serial:A\"; },\n"
    "  { from = \"mqtt:/lead\"; to = \"serial:A\"; },\n"
    "  { from = \"mqtt:/+\"; to = \"serial:B\"; },\n"
    "  { from = \"mqtt:x/y/#\"; to = \"serial:A\"; },\n"
    "  { from = \"mqtt:x/+/z\"; to = \"gpio:OUT\"; },\n"
    "  { from = \"serial:B\"; to = \"mqtt:up/B/SEND\"; },\n"
    "  { from = \"mqtt:+/+\"; to = \"serial:A\"; },\n"
    "  { from = \"mqtt:x/y\"; to = \"serial:B\"; },\n"
    "  { from = \"mqtt:S013/A/cmd/#\"; to = \"serial:A\"; } );\n";

static struct config *cfg;

/* every route a downlink walk yields, as "route:verdict," */
static void walk(const char *t, const char *const *via, int n_via, const char *payload, char *out, size_t size)
{
	struct mapping_out o;
	char buf[64];
	int next = 0;
	size_t used = 0;

	out[0] = '\0';
	while (mapping_downlink(cfg, t, via, n_via, payload, strlen(payload), &next, buf, sizeof(buf), &o) == 0 &&
	       used < size - 16)
		used += (size_t)snprintf(out + used, size - used, "%d:%d,", o.route, (int)o.verdict);
}

static const char *const topics[] = {
	"S013/A/cmd", "S013/B/cmd", "S013/A", "S013", "S013/", "S013/A/cmd/x", "S013/A/cmd/x/y", "x/y", "x/y/z",
	"x/q/z", "x", "a//b", "a/b", "a//", "/lead", "/other", "/", "//", "", "$SYS/x", "$SYS/a/cmd", "q/r/cmd",
	"S013/A/cmdx", "S01/A/cmd", "x/y/", "x//z", "S013/+/cmd", "S013/#", "lead",
};

static const char *const filters[] = {
	"S013/A/cmd", "S013/+/cmd", "S013/#", "+/A/cmd/#", "+/+/cmd", "a//b", "/lead", "/+", "x/y/#", "x/+/z", "+/#",
	"x/y", "S013/A/cmd/#", "+/+",
};

TEST(downlink_same_routes_as_the_scan)
{
	char a[512], b[512];
	struct mapping_index *ix = cfg->index;
	size_t i, j, k;

	CHECK(ix != NULL);
	for (i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
		const char *payloads[] = { "GO", "nope", "bad\r" };

		for (k = 0; k < 3; k++) {
			cfg->index = ix;
			walk(topics[i], NULL, -1, payloads[k], a, sizeof(a));
			cfg->index = NULL;
			walk(topics[i], NULL, -1, payloads[k], b, sizeof(b));
			CHECK_STR(a, b);
		}
		/* MQTT 5: one subscription, then pairs, then none */
		for (j = 0; j < sizeof(filters) / sizeof(filters[0]); j++) {
			const char *via[2] = { filters[j], filters[(j + 3) % (sizeof(filters) / sizeof(filters[0]))] };
			int n;

			for (n = 0; n <= 2; n++) {
				cfg->index = ix;
				walk(topics[i], via, n, "GO", a, sizeof(a));
				cfg->index = NULL;
				walk(topics[i], via, n, "GO", b, sizeof(b));
				CHECK_STR(a, b);
			}
		}
	}
	cfg->index = ix;
	/* and the index is not vacuous: a topic with routes all over the file */
	walk("S013/A/cmd", NULL, -1, "GO", a, sizeof(a));
	CHECK_STR(a, "1:0,3:0,4:0,6:0,7:0,8:0,18:0,");
}

TEST(uplink_same_route_as_the_scan)
{
	static const char *const frames[] = { "POSX12", "X1", "hello", "POS", "" };
	struct mapping_index *ix = cfg->index;
	struct mapping_out o1, o2;
	char t1[64], t2[64], p1[64], p2[64];
	int kind, dev, r1, r2;
	size_t f;

	for (kind = ROUTE_SERIAL; kind <= ROUTE_GPIO; kind++)
		for (dev = -1; dev <= 3; dev++)
			for (f = 0; f < sizeof(frames) / sizeof(frames[0]); f++) {
				memset(&o1, 0, sizeof(o1));
				memset(&o2, 0, sizeof(o2));
				cfg->index = ix;
				r1 = mapping_uplink(cfg, (enum route_end)kind, dev, frames[f], strlen(frames[f]), t1,
						    sizeof(t1), p1, sizeof(p1), &o1);
				cfg->index = NULL;
				r2 = mapping_uplink(cfg, (enum route_end)kind, dev, frames[f], strlen(frames[f]), t2,
						    sizeof(t2), p2, sizeof(p2), &o2);
				CHECK_INT(r1, r2);
				if (r1 == 0 && r2 == 0) {
					CHECK_INT(o1.route, o2.route);
					CHECK_INT(o1.verdict, o2.verdict);
					CHECK_STR(t1, t2);
				}
			}
	cfg->index = ix;
}

TEST(device_lists_are_in_file_order)
{
	const int *v;
	int n;

	v = mapping_index_device(cfg->index, 0, &n);	/* serial A */
	CHECK_INT(n, 2);
	CHECK(v && v[0] == 2 && v[1] == 9);
	v = mapping_index_device(cfg->index, 1, &n);	/* serial B */
	CHECK_INT(n, 2);
	CHECK(v && v[0] == 0 && v[1] == 15);
	v = mapping_index_device(cfg->index, 2, &n);	/* gpio IN */
	CHECK_INT(n, 1);
	v = mapping_index_device(cfg->index, 3, &n);	/* gpio OUT: an output, no routes from it */
	CHECK(v == NULL && n == 0);
	v = mapping_index_device(cfg->index, 4, &n);
	CHECK(v == NULL && n == 0);
}

int main(void)
{
	char err[CONFIG_ERRLEN];
	int rc;

	cfg = config_load_string(cfg_text, "test_mapping_index.cfg", err, sizeof(err));
	if (!cfg) {
		printf("Bail out! test config refused: %s\n", err);
		return 1;
	}
	RUN(downlink_same_routes_as_the_scan);
	RUN(uplink_same_route_as_the_scan);
	RUN(device_lists_are_in_file_order);
	rc = UNIT_DONE();
	config_free(cfg);
	return rc;
}
