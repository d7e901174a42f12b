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

struct config {
	char *file;
	char *station;
	char *log_level;
	struct cfg_mqtt mqtt;
	struct cfg_buffer buffer;
	struct cfg_serial *serial;
	int n_serial;
	struct cfg_gpio *gpio;
	int n_gpio;
	struct cfg_route *routes;
	int n_routes;
};

/*
 * Parse and validate FILE. Returns a new config, or NULL with a message of
 * the form "FILE:LINE: what is wrong" in errbuf.
 */
struct config *config_load(const char *file, char *errbuf, size_t errlen);
/* Same, from text in memory (unit tests, fuzzing); name is used in messages. */
struct config *config_load_string(const char *text, const char *name, char *errbuf, size_t errlen);
void config_free(struct config *cfg);

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
