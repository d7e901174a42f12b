/*
 * config.h - the parsed, validated mqttgw configuration.
 *
 * config_load() reads a libconfig file, checks every setting against a table
 * of {name, type, min, max, default} per group, and either returns a complete
 * struct config or prints "FILE:LINE: what is wrong" into errbuf. Nothing in
 * here touches a device or the network, so --check and SIGHUP reload can run
 * it freely: main owns the config, reload parses into a scratch copy and swaps
 * only when it is valid.
 *
 * Routes are compiled here too (regexes, templates), so a bad pattern is a
 * config error with a line number, and the hot path never compiles anything.
 */
#ifndef MQTTGW_CONFIG_H
#define MQTTGW_CONFIG_H

#include <stddef.h>

#include "gpio_cfg.h"		/* struct cfg_gpio: the gpio driver's settings */
#include "pattern.h"
#include "serial_cfg.h"		/* struct cfg_serial: the serial driver's settings */
#include "template.h"

#define CONFIG_DEFAULT_FILE "/etc/mqttgw/mqttgw.cfg"
#define CONFIG_ERRLEN 512

enum route_end { ROUTE_MQTT, ROUTE_SERIAL, ROUTE_GPIO };

struct cfg_route {
	char *from_src;			/* the settings as written (config_schema.c) */
	char *to_src;
	char *payload_src;
	enum route_end from_kind;
	char *from;			/* topic filter (mqtt) or device name */
	enum route_end to_kind;
	char *to;			/* topic template source (mqtt) or device name */
	struct template to_tpl;		/* compiled topic template (to mqtt) */
	struct template payload_tpl;	/* compiled payload template ($0 default) */
	char *match_src;		/* regex (PCRE2) for frames from a device, or NULL */
	struct pattern match;
	int has_match;
	char *accept_src;		/* regex (PCRE2) a command payload must match, or NULL */
	struct pattern accept;
	int has_accept;
	int qos;
	int retain;
	int require_expiry;		/* mqtt sources, MQTT 5: refuse commands without a message expiry */
	int from_dev;			/* index into serial[] or gpio[] (device sources) */
	int to_dev;			/* index into serial[] or gpio[] (device targets) */
	int line;
	/* sensors (issue 15; config_routes.c cfg_route_sensor): routes to mqtt only */
	char *json_src;			/* json = { ... } as the layout payload_tpl was built to, or NULL */
	int on_change;			/* an unchanged payload on a topic is not published again ... */
	int heartbeat_ms;		/* ... until this long after the last publish (0: never) */
	/* Home Assistant discovery (issue 16; config_ha.c, ha_discovery.c) */
	char *ha_src;			/* the route's ha entities, checked and completed, as a JSON array; or NULL */
	int ha_line;			/* where ha is written */
	char **instances;		/* one entity each, for a topic with captures or wildcards */
	int n_instances;
};

/* Home Assistant discovery: homeassistant = { prefix = "homeassistant"; }; */
struct cfg_ha {
	char *prefix;
};

struct cfg_tls {
	char *ca_file;
	char *cert_file;
	char *key_file;
	int verify;
};

struct cfg_mqtt {
	char **uris;
	int n_uris;
	char *client_id;
	int keepalive;
	int clean_session;
	int qos;
	char *username;
	char *password_file;
	char *status_topic;
	int reconnect_min_ms;
	int reconnect_max_ms;
	int ack_timeout_ms;		/* oldest publish unacknowledged this long while connected: the link is replaced */
	int link_timeout_ms;		/* no round trip to the broker this long: the link is lost (0: off) */
	int link_check_ms;		/* a round-trip probe this often (default link_timeout_ms / 3) */
	char *link_check_topic;		/* the filter the probe unsubscribes (nobody subscribes it) */
	int has_tls;
	struct cfg_tls tls;
	int protocol;			/* 4 = MQTT 3.1.1, 5 = MQTT 5 */
	char *stats_topic;		/* counters as JSON; "" = off */
	int stats_interval;		/* seconds between stats publishes */
	int session_expiry;		/* MQTT 5, seconds a session outlives us */
	int line;
};

/* buffer.sync: what survives a power cut (mqttgw.cfg(5)); the order matters (>= BATCH syncs). */
enum { CFG_SYNC_NONE, CFG_SYNC_BATCH, CFG_SYNC_ALWAYS };
extern const char *const cfg_sync_names[];

/* Store-and-forward while the broker is unreachable. */
struct cfg_buffer {
	int max_messages;		/* oldest dropped (and counted) beyond this */
	char *dir;			/* "" = in memory; else survives restarts */
	int qos0;			/* buffer QoS 0 messages too */
	int sync;			/* CFG_SYNC_*: fdatasync of the journals in dir */
	int line;
};

struct mapping_index;

struct config {
	char *file;
	char *station;
	int log_level;			/* index into config_log_level_names, -1: not set */
	struct cfg_mqtt mqtt;
	struct cfg_buffer buffer;
	struct cfg_serial *serial;
	int n_serial;
	struct cfg_gpio *gpio;
	int n_gpio;
	struct cfg_route *routes;
	int n_routes;
	struct cfg_ha ha;
	int has_ha;			/* a homeassistant group: discovery on */
	struct mapping_index *index;	/* the routes indexed for mapping.c (mapping_index.h), built at load */
};

/*
 * Parse and validate FILE. Returns a new config, or NULL with a message of
 * the form "FILE:LINE: what is wrong" in errbuf.
 */
struct config *config_load(const char *file, char *errbuf, size_t errlen);
/* Same, from text in memory (unit tests, fuzzing); name is used in messages. */
struct config *config_load_string(const char *text, const char *name, char *errbuf, size_t errlen);
void config_free(struct config *cfg);

/*
 * What a changed setting needs at reload, one bit per kind; every setting
 * of the schema (config_schema.c) carries the bits a change of it sets.
 */
#define CFG_CHANGE_LIVE 0x01u	/* read where used: applies as it is */
#define CFG_CHANGE_DEVICE 0x02u /* the device made anew (port reopened, line re-requested) */
#define CFG_CHANGE_MQTT 0x04u	/* the MQTT client made anew */
#define CFG_CHANGE_BUFFER 0x08u /* the outbound queue's limits set anew (applied to the running queue) */
#define CFG_CHANGE_STATS 0x10u	/* the stats publisher started, stopped or rescheduled */
#define CFG_CHANGE_LOG 0x20u	/* the log level set */
#define CFG_CHANGE_ROUTES 0x40u /* routes and subscriptions replaced */
#define CFG_CHANGE_JOURNAL 0x80u /* the queue's journal moved (buffer.dir; with CFG_CHANGE_BUFFER) */

/* The CFG_CHANGE_* bits of every setting that differs between a and b (0: equal). */
unsigned config_changes(const struct config *a, const struct config *b);
/*
 * The first setting (in schema order) that differs between a and b with a
 * bit of mask: its path ("mqtt.protocol", "serial[0].baud") in path and
 * its bits returned; 0 (path "") when none does.
 */
unsigned config_first_change(const struct config *a, const struct config *b, unsigned mask, char *path,
			     size_t len);
/*
 * Equal in every setting a device is made from (CFG_CHANGE_DEVICE): the
 * running device can be kept at reload. Settings read when used (fail-safe
 * policy, error_topic) may differ.
 */
int config_serial_equal(const struct cfg_serial *a, const struct cfg_serial *b);
int config_gpio_equal(const struct cfg_gpio *a, const struct cfg_gpio *b);

/* log_level as a LOG_* level (log.h), or dflt when the file sets none. */
int config_log_level(const struct config *cfg, int dflt);
extern const char *const config_log_level_names[];

/* One setting as the schema describes it (config_schema_walk). */
struct config_schema_item {
	const char *path;		/* "mqtt.keepalive", "serial[].baud", "mqtt.tls.verify" */
	const char *type;		/* "string", "integer", "bool", "enum", "strings", "line", "group", "list" */
	long min, max, def;		/* integer range, default of integers, bools and enums */
	const char *def_str;		/* string default, or NULL */
	const char *const *names;	/* enum names */
	unsigned change;		/* CFG_CHANGE_* */
	int required;
};

/* Call fn for every setting of the schema, groups and lists included, in file order. Returns how many. */
int config_schema_walk(void (*fn)(const struct config_schema_item *it, void *ctx), void *ctx);

/* A device name -> index lookups (-1 when absent). */
int config_find_serial(const struct config *cfg, const char *name);
int config_find_gpio(const struct config *cfg, const char *name);

/*
 * Warnings about a valid config that probably does not do what its author
 * meant (a device no route uses, a route that can never match): fn gets
 * each as "FILE:LINE: warning: ...". Returns how many.
 */
int config_lint(const struct config *cfg, void (*fn)(const char *msg, void *ctx), void *ctx);

/* Print a human summary (for --check) to stdout. */
void config_print_summary(const struct config *cfg);

#endif
