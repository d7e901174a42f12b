/*
 * test_config_schema.c - the config schema (gateway/config_schema.c) sees
 * every setting, and describes them as they were.
 *
 * Three proofs. First, the defaults, ranges and required flags of every
 * scalar setting equal the tables as they stood before the schema (the
 * golden list below was taken from them; a setting added since is only
 * noted). Second, the round trip: for every setting the schema
 * walks, a config that sets it to a value other than the default loads, and
 * config_first_change names exactly that setting against the config that
 * does not, with the CFG_CHANGE_* bits the schema gives it; so a setting
 * left out of the comparison (as mqtt.protocol once was of the reload
 * check) cannot happen again. Third, what the bridge asks: devices equal
 * in what they are made from, fail-safe policy aside.
 *
 * A setting that only loads beside another one (frame_len needs framing =
 * "fixed") gets its context from the table of exceptions below; a new
 * setting without such a need is tested with no change here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "codec.h"
#include "config.h"
#include "config_int.h"
#include "framing.h"
#include "unit.h"

struct golden {
	const char *path, *type;
	long min, max, def;
	const char *def_str;
};

/* The scalar settings of the tables before config_schema.c (min 1 of a string: required). */
static const struct golden golden[] = {
	{ "station", "str", 0, 0, 0, NULL },
	{ "mqtt.client_id", "str", 0, 0, 0, NULL },
	{ "mqtt.keepalive", "int", 0, 65535, 60, NULL },
	{ "mqtt.clean_session", "bool", 0, 1, 0, NULL },
	{ "mqtt.qos", "int", 0, 2, 1, NULL },
	{ "mqtt.username", "str", 0, 0, 0, "" },
	{ "mqtt.password_file", "str", 0, 0, 0, "" },
	{ "mqtt.status_topic", "str", 0, 0, 0, NULL },
	{ "mqtt.reconnect_min_ms", "int", 100, 3600000, 1000, NULL },
	{ "mqtt.reconnect_max_ms", "int", 100, 3600000, 30000, NULL },
	{ "mqtt.ack_timeout_ms", "int", 1000, 3600000, 30000, NULL },
	{ "mqtt.link_timeout_ms", "int", 0, 3600000, 3000, NULL },
	{ "mqtt.link_check_ms", "int", 0, 1200000, 0, NULL },
	{ "mqtt.link_check_topic", "str", 0, 0, 0, NULL },
	{ "mqtt.protocol", "int", 4, 5, 4, NULL },
	{ "mqtt.session_expiry", "int", 0, 2147483647, 86400, NULL },
	{ "mqtt.stats_topic", "str", 0, 0, 0, "" },
	{ "mqtt.stats_interval", "int", 1, 86400, 60, NULL },
	{ "mqtt.tls.ca_file", "str", 0, 0, 0, "" },
	{ "mqtt.tls.cert_file", "str", 0, 0, 0, "" },
	{ "mqtt.tls.key_file", "str", 0, 0, 0, "" },
	{ "mqtt.tls.verify", "bool", 0, 1, 1, NULL },
	{ "buffer.max_messages", "int", 0, 10000000, 100000, NULL },
	{ "buffer.dir", "str", 0, 0, 0, "" },
	{ "buffer.qos0", "bool", 0, 1, 0, NULL },
	{ "buffer.sync", "enum", 0, 0, CFG_SYNC_BATCH, NULL },
	{ "serial[].name", "str", 1, 0, 0, NULL },
	{ "serial[].port", "str", 1, 0, 0, NULL },
	{ "serial[].baud", "int", 50, 4000000, 115200, NULL },
	{ "serial[].data_bits", "int", 5, 8, 8, NULL },
	{ "serial[].parity", "enum", 0, 0, CFG_PARITY_NONE, NULL },
	{ "serial[].stop_bits", "int", 1, 2, 1, NULL },
	{ "serial[].flow", "enum", 0, 0, CFG_FLOW_NONE, NULL },
	{ "serial[].eol", "str", 0, 0, 0, "\r\n" },
	{ "serial[].max_frame", "int", 1, 65536, 256, NULL },
	{ "serial[].reopen_ms", "int", 100, 600000, 2000, NULL },
	{ "serial[].status_topic", "str", 0, 0, 0, NULL },
	{ "serial[].error_topic", "str", 0, 0, 0, "" },
	{ "serial[].reply", "str", 0, 0, 0, NULL },
	{ "serial[].reply_timeout_ms", "int", 1, 600000, 1000, NULL },
	{ "serial[].queue_max", "int", 1, 4096, 32, NULL },
	{ "serial[].failsafe_grace_ms", "int", 0, 3600000, 5000, NULL },
	{ "serial[].command_timeout_ms", "int", 0, 86400000, 0, NULL },
	{ "serial[].rate_limit", "int", 0, 100000, 0, NULL },
	{ "serial[].rate_burst", "int", 0, 100000, 0, NULL },
	{ "serial[].rs485", "bool", 0, 1, 0, NULL },
	{ "serial[].rs485_delay_before_ms", "int", 0, 1000, 0, NULL },
	{ "serial[].rs485_delay_after_ms", "int", 0, 1000, 0, NULL },
	{ "serial[].framing", "enum", 0, 0, FRAMING_EOL, NULL },
	{ "serial[].frame_len", "int", 1, 65536, 0, NULL },
	{ "serial[].idle_ms", "int", 1, 60000, 50, NULL },
	{ "serial[].frame_timeout_ms", "int", 0, 600000, 0, NULL },
	{ "serial[].encoding", "enum", 0, 0, CODEC_ENCODING_TEXT, NULL },
	{ "serial[].checksum", "enum", 0, 0, CODEC_CHECKSUM_NONE, NULL },
	{ "serial[].checksum_format", "enum", 0, 0, CODEC_FORMAT_BINARY, NULL },
	{ "serial[].checksum_order", "enum", 0, 0, CODEC_ORDER_LITTLE, NULL },
	{ "serial[].checksum_prefix", "str", 0, 0, 0, "" },
	{ "serial[].checksum_skip", "int", 0, 65536, 0, NULL },
	{ "gpio[].name", "str", 1, 0, 0, NULL },
	{ "gpio[].chip", "str", 0, 0, 0, "gpiochip0" },
	{ "gpio[].direction", "enum", 0, 0, CFG_GPIO_INPUT, NULL },
	{ "gpio[].edge", "enum", 0, 0, CFG_EDGE_BOTH, NULL },
	{ "gpio[].bias", "enum", 0, 0, CFG_BIAS_AS_IS, NULL },
	{ "gpio[].active_low", "bool", 0, 1, 0, NULL },
	{ "gpio[].debounce_ms", "int", 0, 60000, 0, NULL },
	{ "gpio[].initial", "int", 0, 1, 0, NULL },
	{ "gpio[].failsafe", "int", -1, 1, -1, NULL },
	{ "gpio[].failsafe_grace_ms", "int", 0, 3600000, 5000, NULL },
	{ "routes[].from", "str", 1, 0, 0, NULL },
	{ "routes[].to", "str", 1, 0, 0, NULL },
	{ "routes[].match", "str", 0, 0, 0, NULL },
	{ "routes[].accept", "str", 0, 0, 0, NULL },
	{ "routes[].payload", "str", 0, 0, 0, "$0" },
	{ "routes[].retain", "bool", 0, 1, 0, NULL },
	{ "routes[].qos", "int", -1, 2, -1, NULL },
	{ "routes[].require_expiry", "bool", 0, 1, 0, NULL },
	/* parsed by hand before; unset it leaves the level as it is (-v, or info) */
	{ "log_level", "enum", 0, 0, -1, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};

static const struct golden *golden_find(const char *path)
{
	for (const struct golden *g = golden; g->path; g++)
		if (strcmp(g->path, path) == 0)
			return g;
	return NULL;
}

struct walk_seen {
	int scalars, matched;
};

static void check_golden(const struct config_schema_item *it, void *ctx)
{
	struct walk_seen *w = ctx;
	const struct golden *g = golden_find(it->path);
	const char *t = it->type;

	if (strcmp(t, "string") && strcmp(t, "integer") && strcmp(t, "bool") && strcmp(t, "enum"))
		return;
	w->scalars++;
	if (!g) {
		/* a setting added since the schema: the round trip below covers it */
		printf("# %s: new since the golden list\n", it->path);
		return;
	}
	w->matched++;
	if (strncmp(g->type, t, 3) != 0) {
		printf("# %s: type %s, was %s\n", it->path, t, g->type);
		unit_cur_failed = 1;
	}
	if (!strcmp(t, "string")) {
		CHECK_INT(it->required, g->min == 1);
		if ((it->def_str == NULL) != (g->def_str == NULL) ||
		    (it->def_str && strcmp(it->def_str, g->def_str) != 0)) {
			printf("# %s: default \"%s\", was \"%s\"\n", it->path, it->def_str ? it->def_str : "(none)",
			       g->def_str ? g->def_str : "(none)");
			unit_cur_failed = 1;
		}
		return;
	}
	if (it->def != g->def || (!strcmp(t, "integer") && (it->min != g->min || it->max != g->max))) {
		printf("# %s: %ld..%ld default %ld, was %ld..%ld default %ld\n", it->path, it->min, it->max, it->def,
		       g->min, g->max, g->def);
		unit_cur_failed = 1;
	}
}

TEST(defaults_and_ranges_are_those_of_before)
{
	struct walk_seen w = {0, 0};
	int n = config_schema_walk(check_golden, &w);

	/* every setting of before is still there */
	CHECK_INT(w.matched, (long)(sizeof(golden) / sizeof(golden[0])) - 1);
	CHECK(n > w.scalars);
}

/* ---- the round trip ---- */

/* Where a setting goes in the test config. */
enum slot { S_TOP, S_MQTT, S_BUFFER, S_SERIAL, S_GPIO, S_ROUTE, S_N };

static const char *const slot_base[S_N] = {
	"station = \"S013\";",
	"uri = \"tcp://127.0.0.1:1883\";",
	"",
	"name = \"MOT01\"; port = \"/dev/ttyUSB0\";",
	"name = \"LIMZ\"; line = 17;",
	"from = \"serial:MOT01\"; to = \"mqtt:S013/MOT01/SEND\";",
};

/*
 * Settings that need company to load, or whose generic new value would
 * not do: the slot's text in the default config (NULL: the base) and in
 * the changed one (NULL: the default's plus "name = value;"), and mqtt
 * settings both need.
 */
static const struct except {
	const char *path, *dflt, *changed, *mqtt_both;
} excepts[] = {
	{ "station", "", "station = \"S014\";", NULL },
	{ "mqtt.uri", NULL, "uri = \"tcp://127.0.0.2:1883\";", NULL },
	{ "mqtt.password_file", "uri = \"tcp://127.0.0.1:1883\"; username = \"u\";", NULL, NULL },
	{ "mqtt.link_check_ms", NULL, "uri = \"tcp://127.0.0.1:1883\"; link_check_ms = 500;", NULL },
	{ "mqtt.tls", "uri = \"ssl://127.0.0.1:8883\";", "uri = \"ssl://127.0.0.1:8883\"; tls = { };", NULL },
	{ "serial[].name", NULL, "name = \"MOT02\"; port = \"/dev/ttyUSB0\";", NULL },
	{ "serial[].port", NULL, "name = \"MOT01\"; port = \"/dev/ttyUSB1\";", NULL },
	{ "serial[].framing", NULL, "name = \"MOT01\"; port = \"/dev/ttyUSB0\"; framing = \"idle\"; eol = \"\\r\\n\";", NULL },
	{ "serial[].frame_len", "name = \"MOT01\"; port = \"p\"; framing = \"fixed\"; frame_len = 4;",
	  "name = \"MOT01\"; port = \"p\"; framing = \"fixed\"; frame_len = 5;", NULL },
	{ "serial[].idle_ms", "name = \"MOT01\"; port = \"p\"; framing = \"idle\";", NULL, NULL },
	{ "serial[].checksum_format", "name = \"MOT01\"; port = \"p\"; checksum = \"xor8\";", NULL, NULL },
	{ "serial[].checksum_order", "name = \"MOT01\"; port = \"p\"; checksum = \"xor8\";", NULL, NULL },
	{ "serial[].checksum_prefix", "name = \"MOT01\"; port = \"p\"; checksum = \"xor8\";",
	  "name = \"MOT01\"; port = \"p\"; checksum = \"xor8\"; checksum_prefix = \":\";", NULL },
	{ "serial[].checksum_skip", "name = \"MOT01\"; port = \"p\"; checksum = \"xor8\";", NULL, NULL },
	{ "serial[].rs485_delay_before_ms", "name = \"MOT01\"; port = \"p\"; rs485 = true;", NULL, NULL },
	{ "serial[].rs485_delay_after_ms", "name = \"MOT01\"; port = \"p\"; rs485 = true;", NULL, NULL },
	{ "serial[].command_timeout_ms", "name = \"MOT01\"; port = \"p\"; on_disconnect = \"STOP\";", NULL, NULL },
	{ "serial[].poll[].command", "name = \"MOT01\"; port = \"p\"; poll = ( { command = \"R\"; every_ms = 100; } );",
	  "name = \"MOT01\"; port = \"p\"; poll = ( { command = \"S\"; every_ms = 100; } );", NULL },
	{ "serial[].poll[].every_ms", "name = \"MOT01\"; port = \"p\"; poll = ( { command = \"R\"; every_ms = 100; } );",
	  "name = \"MOT01\"; port = \"p\"; poll = ( { command = \"R\"; every_ms = 200; } );", NULL },
	{ "serial[].poll[].offset_ms", "name = \"MOT01\"; port = \"p\"; poll = ( { command = \"R\"; every_ms = 100; } );",
	  "name = \"MOT01\"; port = \"p\"; poll = ( { command = \"R\"; every_ms = 100; offset_ms = 5; } );", NULL },
	{ "gpio[].name", NULL, "name = \"LIMY\"; line = 17;", NULL },
	{ "gpio[].line", NULL, "name = \"LIMZ\"; line = \"GPIO17\";", NULL },
	{ "gpio[].initial", "name = \"B\"; line = 1; direction = \"output\";", NULL, NULL },
	{ "gpio[].failsafe", "name = \"B\"; line = 1; direction = \"output\";", NULL, NULL },
	{ "gpio[].failsafe_grace_ms", "name = \"B\"; line = 1; direction = \"output\";", NULL, NULL },
	{ "routes[].from", NULL, "from = \"gpio:LIMZ\"; to = \"mqtt:S013/MOT01/SEND\";", NULL },
	{ "routes[].to", NULL, "from = \"serial:MOT01\"; to = \"mqtt:S013/MOT01/OTHER\";", NULL },
	{ "routes[].accept", "from = \"mqtt:S013/cmd\"; to = \"serial:MOT01\";", NULL, NULL },
	{ "routes[].require_expiry", "from = \"mqtt:S013/cmd\"; to = \"serial:MOT01\";", NULL, "protocol = 5;" },
	{ "routes[].heartbeat_ms", "from = \"serial:MOT01\"; to = \"mqtt:S013/MOT01/SEND\"; on_change = true;", NULL, NULL },
	{ "routes[].json", NULL, "from = \"serial:MOT01\"; to = \"mqtt:S013/MOT01/SEND\"; json = { v = \"$0\"; };", NULL },
	{ "routes[].ha", NULL, "from = \"serial:MOT01\"; to = \"mqtt:S013/MOT01/SEND\"; ha = { name = \"X\"; };", NULL },
	{ "routes[].instances", "from = \"serial:MOT01\"; match = \"^(A)\"; to = \"mqtt:S013/$1\"; ha = { }; instances = [ \"A\" ];",
	  "from = \"serial:MOT01\"; match = \"^(A)\"; to = \"mqtt:S013/$1\"; ha = { }; instances = [ \"B\" ];", NULL },
	{ "homeassistant.prefix", "station = \"S013\"; homeassistant = { };",
	  "station = \"S013\"; homeassistant = { prefix = \"ha2\"; };", NULL },
	{ NULL, NULL, NULL, NULL }
};

static enum slot slot_of(const char *path, const char **leaf)
{
	static const struct { const char *prefix; enum slot s; } p[] = {
		{ "mqtt.", S_MQTT }, { "buffer.", S_BUFFER }, { "serial[].", S_SERIAL },
		{ "gpio[].", S_GPIO }, { "routes[].", S_ROUTE },
	};

	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
		if (strncmp(path, p[i].prefix, strlen(p[i].prefix)) == 0) {
			*leaf = path + strlen(p[i].prefix);
			return p[i].s;
		}
	*leaf = path;
	return S_TOP;
}

/* "name = value;" with a value other than the setting's default. */
static void other_value(const struct config_schema_item *it, const char *leaf, char *out, size_t len)
{
	if (!strcmp(it->type, "integer"))
		snprintf(out, len, "%s = %ld;", leaf, it->def + 1 <= it->max ? it->def + 1 : it->def - 1);
	else if (!strcmp(it->type, "bool"))
		snprintf(out, len, "%s = %s;", leaf, it->def ? "false" : "true");
	else if (!strcmp(it->type, "enum")) {
		int n = 0;

		while (it->names[n])
			n++;
		snprintf(out, len, "%s = \"%s\";", leaf, it->names[(it->def + 1) % n]);
	} else if (!strcmp(it->type, "strings"))
		snprintf(out, len, "%s = [ \"OTHER\" ];", leaf);
	else
		snprintf(out, len, "%s = \"other\";", leaf);
}

/* The whole config with slot s's text replaced by text (mqtt_extra in mqtt = { }). */
static void build(char *out, size_t len, enum slot s, const char *text, const char *mqtt_extra)
{
	const char *t[S_N];

	for (int i = 0; i < S_N; i++)
		t[i] = i == (int)s ? text : slot_base[i];
	snprintf(out, len,
		 "%s\nmqtt = { %s %s };\nbuffer = { %s };\nserial = ( { %s } );\ngpio = ( { %s } );\n%s%s%s\n",
		 t[S_TOP], t[S_MQTT], mqtt_extra ? mqtt_extra : "", t[S_BUFFER], t[S_SERIAL], t[S_GPIO],
		 s == S_ROUTE ? "routes = ( { " : "", s == S_ROUTE ? t[S_ROUTE] : "", s == S_ROUTE ? " } );" : "");
}

/* "serial[0].baud" -> "serial[].baud" */
static void unindex(const char *in, char *out, size_t len)
{
	size_t n = 0;

	for (; *in && n + 1 < len; in++) {
		out[n++] = *in;
		if (*in == '[')
			while (in[1] && in[1] != ']')
				in++;
	}
	out[n] = '\0';
}

struct rt {
	int tried, ok;
};

static void round_trip(const struct config_schema_item *it, void *ctx)
{
	struct rt *rt = ctx;
	const struct except *e;
	const char *leaf;
	enum slot s = slot_of(it->path, &leaf);
	char dtext[2048], ctext[2048], slot_d[400], slot_c[640], set[200], err[CONFIG_ERRLEN], path[160], got[160];
	struct config *d, *c;
	unsigned bits;

	if ((!strcmp(it->type, "group") || !strcmp(it->type, "list")) && strcmp(it->path, "mqtt.tls") != 0)
		return;	/* a group or list as a whole: its members are tried one by one */
	for (e = excepts; e->path && strcmp(e->path, it->path) != 0; e++)
		;
	if (!strncmp(it->path, "mqtt.tls.", 9)) {
		/* a member of a nested group: inside it, with the uri it needs */
		other_value(it, it->path + 9, set, sizeof(set));
		snprintf(slot_d, sizeof(slot_d), "uri = \"ssl://127.0.0.1:8883\"; tls = { };");
		snprintf(slot_c, sizeof(slot_c), "uri = \"ssl://127.0.0.1:8883\"; tls = { %s };", set);
	} else {
		snprintf(slot_d, sizeof(slot_d), "%s", e->path && e->dflt ? e->dflt : slot_base[s]);
		other_value(it, leaf, set, sizeof(set));
		if (e->path && e->changed)
			snprintf(slot_c, sizeof(slot_c), "%s", e->changed);
		else
			snprintf(slot_c, sizeof(slot_c), "%s %s", slot_d, set);
	}
	rt->tried++;
	build(dtext, sizeof(dtext), s, slot_d, e->mqtt_both);
	build(ctext, sizeof(ctext), s, slot_c, e->mqtt_both);
	d = config_load_string(dtext, "default.cfg", err, sizeof(err));
	if (!d)
		printf("# %s: the default config does not load: %s\n%s", it->path, err, dtext);
	c = config_load_string(ctext, "changed.cfg", err, sizeof(err));
	if (!c)
		printf("# %s: the changed config does not load: %s\n%s", it->path, err, ctext);
	if (d && c) {
		bits = config_first_change(d, c, ~0u, path, sizeof(path));
		unindex(path, got, sizeof(got));
		if (strcmp(got, it->path) != 0 || bits != it->change)
			printf("# %s: first change found: \"%s\" (bits %#x, schema %#x)\n", it->path, path, bits,
			       it->change);
		else if (config_changes(c, c) != 0 || config_changes(d, d) != 0 || !(config_changes(d, c) & it->change))
			printf("# %s: config_changes does not agree\n", it->path);
		else
			rt->ok++;
	}
	config_free(d);
	config_free(c);
}

TEST(every_setting_set_otherwise_compares_unequal_by_its_name)
{
	struct rt rt = {0, 0};

	config_schema_walk(round_trip, &rt);
	if (rt.ok != rt.tried)
		unit_cur_failed = 1;
	printf("# %d settings tried, %d named exactly\n", rt.tried, rt.ok);
	CHECK(rt.tried >= 77);
}

/* ---- what the bridge asks ---- */

#define MQTT "mqtt = { uri = \"tcp://127.0.0.1:1883\"; };\n"

static struct config *load(const char *text)
{
	char err[CONFIG_ERRLEN];
	struct config *cfg = config_load_string(text, "test.cfg", err, sizeof(err));

	if (!cfg)
		printf("# %s\n", err);
	return cfg;
}

TEST(devices_are_equal_in_what_they_are_made_from)
{
	struct config *a = load(MQTT "serial = ( { name = \"M\"; port = \"p\"; } );\n"
				     "gpio = ( { name = \"B\"; line = 1; direction = \"output\"; } );\n");
	struct config *b = load(MQTT "serial = ( { name = \"M\"; port = \"p\"; on_disconnect = \"STOP\"; "
				     "failsafe_grace_ms = 100; error_topic = \"e\"; } );\n"
				     "gpio = ( { name = \"B\"; line = 1; direction = \"output\"; failsafe = 0; } );\n");
	struct config *c = load(MQTT "serial = ( { name = \"M\"; port = \"p\"; baud = 9600; } );\n"
				     "gpio = ( { name = \"B\"; line = 1; direction = \"output\"; initial = 1; } );\n");
	char path[160];

	CHECK(a && b && c);
	if (!a || !b || !c)
		goto out;
	/* the fail-safe policy is read when used: the device stays */
	CHECK(config_serial_equal(&a->serial[0], &b->serial[0]));
	CHECK(config_gpio_equal(&a->gpio[0], &b->gpio[0]));
	CHECK_INT(config_changes(a, b), CFG_CHANGE_LIVE);
	CHECK(!config_serial_equal(&a->serial[0], &c->serial[0]));
	CHECK(!config_gpio_equal(&a->gpio[0], &c->gpio[0]));
	CHECK_INT(config_first_change(a, c, CFG_CHANGE_DEVICE, path, sizeof(path)), CFG_CHANGE_DEVICE);
	CHECK_STR(path, "serial[0].baud");
	CHECK_INT(config_first_change(a, c, CFG_CHANGE_MQTT, path, sizeof(path)), 0);
	CHECK_STR(path, "");
out:
	config_free(a);
	config_free(b);
	config_free(c);
}

TEST(mqtt_changes_that_need_a_new_client)
{
	struct config *a = load(MQTT);
	struct config *b = load("mqtt = { uri = \"tcp://127.0.0.1:1883\"; protocol = 5; stats_topic = \"s\"; };\n");
	struct config *c = load("mqtt = { uri = \"tcp://127.0.0.1:1883\"; stats_topic = \"s\"; };\n"
				"log_level = \"debug\";\n");
	char path[160];

	CHECK(a && b && c);
	if (!a || !b || !c)
		goto out;
	CHECK_INT(config_first_change(a, b, CFG_CHANGE_MQTT, path, sizeof(path)), CFG_CHANGE_MQTT);
	CHECK_STR(path, "mqtt.protocol");
	CHECK_INT(config_changes(a, b), CFG_CHANGE_MQTT | CFG_CHANGE_STATS);
	/* stats and log level apply without a new client */
	CHECK_INT(config_changes(a, c), CFG_CHANGE_STATS | CFG_CHANGE_LOG);
	CHECK_INT(config_log_level(a, 42), 42);
	CHECK_INT(config_log_level(c, 42), 7);
out:
	config_free(a);
	config_free(b);
	config_free(c);
}

/* ---- a new list needs only its table: the shape senspoll's serial poll list will have ---- */

struct t_poll {
	char *command;
	int every_ms, offset_ms;
};

struct t_dev {
	char *name;
	struct t_poll *poll;
	int n_poll;
	char **frames;
	int n_frames;
	struct t_poll once;
	int has_once;
};

static const struct opt t_poll_opts[] = {
	{.name = "command", .type = OPT_STR, .off = S_(t_poll, command), .flags = OPT_REQUIRED},
	{.name = "every_ms", .type = OPT_INT, .min = 1, .max = 86400000, .def = 1000, .off = S_(t_poll, every_ms)},
	{.name = "offset_ms", .type = OPT_INT, .min = 0, .max = 86400000, .def = 0, .off = S_(t_poll, offset_ms)},
	{.name = NULL},
};
static const struct opt_shape t_poll_shape = {t_poll_opts, sizeof(struct t_poll), NULL};
static const struct opt t_dev_opts[] = {
	{.name = "name", .type = OPT_STR, .off = S_(t_dev, name), .flags = OPT_REQUIRED},
	{.name = "poll", .type = OPT_LIST, .off = S_(t_dev, poll), .off2 = S_(t_dev, n_poll), .sub = &t_poll_shape},
	{.name = "frames", .type = OPT_STRLIST, .off = S_(t_dev, frames), .off2 = S_(t_dev, n_frames)},
	{.name = "once", .type = OPT_GROUP, .off = S_(t_dev, once), .off2 = S_(t_dev, has_once), .sub = &t_poll_shape},
	{.name = NULL},
};

/* Parse text's group "dev" with t_dev_opts; the error (or "") in err. */
static int t_parse(const char *text, struct t_dev *d, char *err, size_t errlen)
{
	struct cfg_ctx c = {"t.cfg", err, errlen, 0};
	config_t lc;

	err[0] = '\0';
	memset(d, 0, sizeof(*d));
	config_init(&lc);
	if (config_read_string(&lc, text) != CONFIG_TRUE || cfg_defaults(t_dev_opts, d) < 0) {
		config_destroy(&lc);
		return -1;
	}
	cfg_apply(&c, config_lookup(&lc, "dev"), t_dev_opts, d, "dev");
	config_destroy(&lc);
	return c.failed ? -1 : 0;
}

TEST(a_list_of_groups_parses_from_its_table_alone)
{
	struct t_dev d;
	char err[CONFIG_ERRLEN];

	CHECK_INT(t_parse("dev = { name = \"TH01\";\n"
			  "  poll = ( { command = \"READ\"; every_ms = 2000; },\n"
			  "           { command = \"STAT\"; offset_ms = 500; } );\n"
			  "  frames = [ \"A\", \"B\" ];\n"
			  "  once = { command = \"HELLO\"; }; };\n", &d, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_INT(d.n_poll, 2);
	if (d.n_poll == 2) {
		CHECK_STR(d.poll[0].command, "READ");
		CHECK_INT(d.poll[0].every_ms, 2000);
		CHECK_INT(d.poll[0].offset_ms, 0);
		CHECK_STR(d.poll[1].command, "STAT");
		CHECK_INT(d.poll[1].every_ms, 1000);
		CHECK_INT(d.poll[1].offset_ms, 500);
	}
	CHECK_INT(d.n_frames, 2);
	CHECK_INT(d.has_once, 1);
	CHECK_STR(d.once.command, "HELLO");
	CHECK_INT(d.once.every_ms, 1000);
	cfg_free_settings(t_dev_opts, &d);

	/* errors name the element and its line; what was parsed is freed */
	CHECK_INT(t_parse("dev = { name = \"TH01\";\n"
			  "  poll = ( { command = \"READ\"; },\n"
			  "           { command = \"X\"; every_ms = 0; } ); };\n", &d, err, sizeof(err)), -1);
	CHECK_STR(err, "t.cfg:3: dev.poll[1].every_ms = 0 is out of range (1..86400000)");
	cfg_free_settings(t_dev_opts, &d);
	CHECK_INT(t_parse("dev = { name = \"TH01\";\n  poll = ( { every_ms = 5; } ); };\n", &d, err, sizeof(err)), -1);
	CHECK_STR(err, "t.cfg:2: dev.poll[0] has no \"command\"");
	cfg_free_settings(t_dev_opts, &d);
	CHECK_INT(t_parse("dev = { name = \"TH01\";\n  poll = ( 5 ); };\n", &d, err, sizeof(err)), -1);
	CHECK_STR(err, "t.cfg:2: each dev.poll entry must be a group { ... }");
	cfg_free_settings(t_dev_opts, &d);
	CHECK_INT(t_parse("dev = { name = \"TH01\";\n  poll = { command = \"R\"; }; };\n", &d, err, sizeof(err)), -1);
	CHECK_STR(err, "t.cfg:2: dev.poll must be a list: poll = ( { ... } );");
	cfg_free_settings(t_dev_opts, &d);
	CHECK_INT(t_parse("dev = { name = \"TH01\";\n  frames = [ 1 ]; };\n", &d, err, sizeof(err)), -1);
	CHECK_STR(err, "t.cfg:2: dev.frames must be a string or a list of strings");
	cfg_free_settings(t_dev_opts, &d);
}

int main(void)
{
	RUN(defaults_and_ranges_are_those_of_before);
	RUN(every_setting_set_otherwise_compares_unequal_by_its_name);
	RUN(devices_are_equal_in_what_they_are_made_from);
	RUN(mqtt_changes_that_need_a_new_client);
	RUN(a_list_of_groups_parses_from_its_table_alone);
	return UNIT_DONE();
}
