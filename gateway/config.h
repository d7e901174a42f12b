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
#include "pattern.h"
#include "template.h"

#define CONFIG_DEFAULT_FILE "/etc/mqttgw/mqttgw.cfg"
#define CONFIG_ERRLEN 512

enum cfg_parity { CFG_PARITY_NONE, CFG_PARITY_ODD, CFG_PARITY_EVEN, CFG_PARITY_MARK, CFG_PARITY_SPACE };
enum cfg_flow { CFG_FLOW_NONE, CFG_FLOW_RTSCTS, CFG_FLOW_XONXOFF };

struct cfg_serial {
	char *name;
	char *port;
	int baud;
	int data_bits;
	enum cfg_parity parity;
	int stop_bits;
	enum cfg_flow flow;
	char *eol;			/* unescaped bytes, e.g. "\r\n" */
	size_t eol_len;
	int max_frame;			/* longest frame in bytes, eol excluded */
	int reopen_ms;			/* retry interval while the port is missing */
	char *status_topic;		/* availability, retained online/offline */
	char *error_topic;		/* refusals and timeouts; "" = none */
	char *reply_src;		/* regex a reply frame matches, or NULL */
	struct pattern reply;
	int has_reply;
	int reply_timeout_ms;
	int queue_max;			/* commands waiting for the port */
	char **on_disconnect;		/* fail-safe frames */
	int n_on_disconnect;
	int failsafe_grace_ms;		/* broker loss longer than this: fail-safe */
	int command_timeout_ms;		/* deadman: no command that long: fail-safe */
	int rate_limit;			/* commands per second, 0 = unlimited */
	int rate_burst;
	int rs485;			/* drive RTS around writes */
	int rs485_delay_before_ms;
	int rs485_delay_after_ms;
	int framing;			/* enum framing_mode: eol, fixed, idle */
	int frame_len;			/* fixed */
	int idle_ms;			/* idle */
	int frame_timeout_ms;		/* eol, fixed: drop a partial frame idle this long */
	int encoding;			/* enum codec_encoding: text, hex */
	int checksum;			/* enum codec_checksum */
	int checksum_format;		/* enum codec_checksum_format */
	int checksum_order;		/* enum codec_byte_order */
	char *checksum_prefix;
	int checksum_skip;
	int line;			/* line in the config file */
};

enum cfg_gpio_dir { CFG_GPIO_INPUT, CFG_GPIO_OUTPUT };
enum cfg_gpio_edge { CFG_EDGE_BOTH, CFG_EDGE_RISING, CFG_EDGE_FALLING, CFG_EDGE_NONE };
enum cfg_gpio_bias { CFG_BIAS_AS_IS, CFG_BIAS_DISABLE, CFG_BIAS_PULL_UP, CFG_BIAS_PULL_DOWN };

struct cfg_gpio {
	char *name;
	char *chip;			/* "gpiochip0", "/dev/gpiochip4" or a label */
	int line;			/* offset, or -1 when line_name is used */
	char *line_name;		/* e.g. "GPIO17"; NULL when line >= 0 */
	enum cfg_gpio_dir direction;
	enum cfg_gpio_edge edge;
	enum cfg_gpio_bias bias;
	int active_low;
	int debounce_ms;
	int initial;			/* outputs: initial logical value */
	int failsafe;			/* outputs: -1 none, else value on shutdown / broker loss */
	int failsafe_grace_ms;		/* broker loss longer than this applies failsafe */
	int line_no;			/* line in the config file */
};

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
	/* sensors (issue 15; config_routes.c cfg_route_sensor): routes to mqtt only */
	int json;			/* payload_tpl was built from json = { ... } */
	int on_change;			/* an unchanged payload on a topic is not published again ... */
	int heartbeat_ms;		/* ... until this long after the last publish (0: never) */
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
