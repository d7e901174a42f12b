/*
 * bridge_stats.c - the counters, for people (SIGUSR1, the log) and for
 * dashboards (JSON on mqtt.stats_topic).
 *
 * Each counter is listed once, in the tables below: its JSON key (the
 * field's name) and the words around it in the log line. Both outputs
 * walk the same tables, so a counter cannot be in one and missing from
 * the other.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "bridge_int.h"
#include "log.h"

enum { STATS_BRIDGE, STATS_MQTT };

struct stats_counter {
	const char *key;	/* JSON member, the field's name */
	const char *log;	/* its part of the log line: words around one %llu */
	int src;		/* STATS_BRIDGE: struct bridge_stats, STATS_MQTT: struct mqtt_stats */
	size_t off;
};

#define BS(f, log) {#f, log, STATS_BRIDGE, offsetof(struct bridge_stats, f)}
#define MS(f, log) {#f, log, STATS_MQTT, offsetof(struct mqtt_stats, f)}

/* In the order of the log line. */
static const struct stats_counter stats_counters[] = {
	BS(up_frames, "up %llu frames"),
	BS(up_unrouted, " (%llu unrouted"),
	BS(up_refused, ", %llu refused)"),
	BS(down_messages, "; down %llu messages"),
	BS(down_written, " (%llu written"),
	BS(down_refused, ", %llu refused"),
	BS(down_unrouted, ", %llu unrouted"),
	BS(down_retained, ", %llu retained ignored)"),
	MS(published, "; mqtt %llu published"),
	MS(publish_failed, ", %llu failed"),
	MS(dropped_in, ", %llu dropped in"),
	MS(connects, ", %llu connects"),
	MS(queued, "; queue %llu waiting"),
	MS(resent, ", %llu resent"),
	MS(refused_out, ", %llu refused by the broker"),
	MS(sub_refused, ", %llu subscriptions refused"),
	MS(buffer_dropped, ", %llu dropped (buffer.max_messages)"),
	MS(held, "; serial reading held %llu times for the broker"),
	MS(backlog_written_off, " (%llu QoS 0 publishes never finished)"),
	BS(down_dropped, "; commands %llu dropped after acceptance"),
	BS(timeouts, ", %llu without a reply in time"),
	BS(unchanged_suppressed, "; %llu unchanged payloads not published (on_change)"),
};

/* Per device; a NULL log part: not in that kind's log line. */
struct stats_dev_counter {
	const char *key;
	const char *log_serial, *log_gpio;
	size_t off;
};

#define DS(key, f, ls, lg) {key, ls, lg, offsetof(struct device_stats, f)}

static const struct stats_dev_counter stats_dev_counters[] = {
	DS("in", frames_in, "in %llu frames", "in %llu"),
	DS("out", frames_out, ", out %llu", ", out %llu"),
	DS("overlong", dropped_overlong, ", over-long %llu", NULL),
	DS("refused", refused, ", refused %llu", ", refused %llu"),
	DS("bad", bad_frames, ", bad %llu", NULL),
	DS("polls", polls, ", polls %llu", NULL),	/* serial poll = ( ... ) */
	DS("polls_skipped", polls_skipped, " (%llu skipped", NULL),
	DS("poll_timeouts", poll_timeouts, ", %llu unanswered)", NULL),
};

#define STATS_N(a) (sizeof(a) / sizeof((a)[0]))

static unsigned long long stats_value(const struct stats_counter *c, const struct bridge *b,
				      const struct mqtt_stats *ms)
{
	const char *base = c->src == STATS_BRIDGE ? (const char *)&b->stats : (const char *)ms;

	return (unsigned long long)*(const uint64_t *)(const void *)(base + c->off);
}

static unsigned long long stats_dev_value(const struct stats_dev_counter *c, const struct device *d)
{
	return (unsigned long long)*(const uint64_t *)(const void *)((const char *)&d->stats + c->off);
}

/* Append to buf at *n (snprintf semantics: *n may pass len, the caller checks). */
#define STATS_PUT(buf, len, n, ...) \
	(*(n) += (size_t)snprintf((buf) + *(n), *(n) < (len) ? (len) - *(n) : 0, __VA_ARGS__))

/* A log part: its words with the value where its "%llu" stands. */
static void stats_put_part(char *buf, size_t len, size_t *n, const char *part, unsigned long long v)
{
	const char *at = strstr(part, "%llu");

	STATS_PUT(buf, len, n, "%.*s%llu%s", (int)(at - part), part, v, at + 4);
}

static void stats_log_device(const struct device *d, int serial)
{
	char line[512];
	size_t n = 0;

	for (size_t k = 0; k < STATS_N(stats_dev_counters); k++) {
		const char *fmt = serial ? stats_dev_counters[k].log_serial : stats_dev_counters[k].log_gpio;

		if (fmt)
			stats_put_part(line, sizeof(line), &n, fmt, stats_dev_value(&stats_dev_counters[k], d));
	}
	log_msg(LOG_NOTICE, "stats: %s %s: %s", d->name, d->online ? "online" : "offline", line);
}

void bridge_stats_log(struct bridge *b)
{
	const struct mqtt_stats *ms = mqtt_get_stats(b->mqtt);
	char line[1024];
	size_t n = 0, k;
	int i;

	for (k = 0; k < STATS_N(stats_counters); k++)
		stats_put_part(line, sizeof(line), &n, stats_counters[k].log, stats_value(&stats_counters[k], b, ms));
	log_msg(LOG_NOTICE, "stats: %s", line);
	for (i = 0; i < b->n_devs; i++)
		stats_log_device(b->devs[i], device_has(b->devs[i], DEVICE_CAP_FRAMES));
}

/* Counters as one JSON object, for dashboards (mqtt.stats_topic). */
void bridge_stats_publish(struct bridge *b)
{
	const struct mqtt_stats *ms = mqtt_get_stats(b->mqtt);
	char buf[8192];
	size_t n = 0, k;
	int i;

	STATS_PUT(buf, sizeof(buf), &n, "{");
	for (k = 0; k < STATS_N(stats_counters); k++)
		STATS_PUT(buf, sizeof(buf), &n, "\"%s\":%llu,", stats_counters[k].key,
			  stats_value(&stats_counters[k], b, ms));
	STATS_PUT(buf, sizeof(buf), &n, "\"devices\":{");
	for (i = 0; i < b->n_devs; i++) {
		const struct device *d = b->devs[i];

		STATS_PUT(buf, sizeof(buf), &n, "%s\"%s\":{\"online\":%d", i ? "," : "", d->name, d->online);
		for (k = 0; k < STATS_N(stats_dev_counters); k++)
			STATS_PUT(buf, sizeof(buf), &n, ",\"%s\":%llu", stats_dev_counters[k].key,
				  stats_dev_value(&stats_dev_counters[k], d));
		STATS_PUT(buf, sizeof(buf), &n, "}");
	}
	STATS_PUT(buf, sizeof(buf), &n, "}}");
	if (n < sizeof(buf))
		mqtt_publish(b->mqtt, b->cfg->mqtt.stats_topic, buf, n, 0, 1);
}
