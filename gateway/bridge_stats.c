/*
 * bridge_stats.c - the counters, for people (SIGUSR1, the log) and for
 * dashboards (JSON on mqtt.stats_topic).
 */
#include <stdio.h>

#include "bridge_int.h"
#include "log.h"

void bridge_stats_log(struct bridge *b)
{
	const struct mqtt_stats *ms = mqtt_get_stats(b->mqtt);
	int i;

	log_msg(LOG_NOTICE,
		"stats: up %llu frames (%llu unrouted, %llu refused); down %llu messages (%llu written, %llu refused, "
		"%llu unrouted, %llu retained ignored); mqtt %llu published, %llu failed, %llu dropped in, %llu connects; "
		"queue %llu waiting, %llu resent, %llu refused by the broker, %llu dropped (buffer.max_messages); "
		"serial reading held %llu times for the broker (%llu QoS 0 publishes never finished); "
		"%llu unchanged payloads not published (on_change)",
		(unsigned long long)b->stats.up_frames, (unsigned long long)b->stats.up_unrouted,
		(unsigned long long)b->stats.up_refused, (unsigned long long)b->stats.down_messages,
		(unsigned long long)b->stats.down_written, (unsigned long long)b->stats.down_refused,
		(unsigned long long)b->stats.down_unrouted, (unsigned long long)b->stats.down_retained,
		(unsigned long long)ms->published, (unsigned long long)ms->publish_failed,
		(unsigned long long)ms->dropped_in, (unsigned long long)ms->connects, (unsigned long long)ms->queued,
		(unsigned long long)ms->resent, (unsigned long long)ms->refused_out,
		(unsigned long long)ms->buffer_dropped, (unsigned long long)ms->held,
		(unsigned long long)ms->backlog_written_off, (unsigned long long)b->stats.unchanged_suppressed);
	for (i = 0; i < b->cfg->n_serial; i++) {
		const struct device_stats *s = &b->serial[i]->stats;

		log_msg(LOG_NOTICE, "stats: %s %s: in %llu frames, out %llu, over-long %llu, refused %llu",
			b->serial[i]->name, b->serial[i]->online ? "online" : "offline",
			(unsigned long long)s->frames_in, (unsigned long long)s->frames_out,
			(unsigned long long)s->dropped_overlong, (unsigned long long)s->refused);
	}
	for (i = 0; i < b->cfg->n_gpio; i++) {
		const struct device_stats *s = &b->gpio[i]->stats;

		log_msg(LOG_NOTICE, "stats: %s %s: in %llu, out %llu, refused %llu", b->gpio[i]->name,
			b->gpio[i]->online ? "online" : "offline", (unsigned long long)s->frames_in,
			(unsigned long long)s->frames_out, (unsigned long long)s->refused);
	}
}

/* Counters as one JSON object, for dashboards (mqtt.stats_topic). */
void bridge_stats_publish(struct bridge *b)
{
	const struct mqtt_stats *ms = mqtt_get_stats(b->mqtt);
	char buf[8192];
	size_t n = 0;
	int i;

#define J(...) (n += (size_t)snprintf(buf + n, n < sizeof(buf) ? sizeof(buf) - n : 0, __VA_ARGS__))
	J("{\"up_frames\":%llu,\"up_unrouted\":%llu,\"up_refused\":%llu,\"down_messages\":%llu,"
	  "\"down_written\":%llu,\"down_refused\":%llu,\"down_unrouted\":%llu,\"down_retained\":%llu,"
	  "\"down_dropped\":%llu,\"timeouts\":%llu,\"published\":%llu,\"publish_failed\":%llu,"
	  "\"dropped_in\":%llu,\"buffer_dropped\":%llu,\"refused_out\":%llu,\"resent\":%llu,\"queued\":%llu,"
	  "\"connects\":%llu,\"unchanged_suppressed\":%llu,\"devices\":{",
	  (unsigned long long)b->stats.up_frames, (unsigned long long)b->stats.up_unrouted,
	  (unsigned long long)b->stats.up_refused, (unsigned long long)b->stats.down_messages,
	  (unsigned long long)b->stats.down_written, (unsigned long long)b->stats.down_refused,
	  (unsigned long long)b->stats.down_unrouted, (unsigned long long)b->stats.down_retained,
	  (unsigned long long)b->stats.down_dropped, (unsigned long long)b->stats.timeouts,
	  (unsigned long long)ms->published, (unsigned long long)ms->publish_failed,
	  (unsigned long long)ms->dropped_in, (unsigned long long)ms->buffer_dropped,
	  (unsigned long long)ms->refused_out, (unsigned long long)ms->resent, (unsigned long long)ms->queued,
	  (unsigned long long)ms->connects, (unsigned long long)b->stats.unchanged_suppressed);
	for (i = 0; i < b->cfg->n_serial + b->cfg->n_gpio; i++) {
		const struct device *d = i < b->cfg->n_serial ? b->serial[i] : b->gpio[i - b->cfg->n_serial];

		J("%s\"%s\":{\"online\":%d,\"in\":%llu,\"out\":%llu,\"overlong\":%llu,\"bad\":%llu,"
		  "\"refused\":%llu}",
		  i ? "," : "", d->name, d->online, (unsigned long long)d->stats.frames_in,
		  (unsigned long long)d->stats.frames_out, (unsigned long long)d->stats.dropped_overlong,
		  (unsigned long long)d->stats.bad_frames, (unsigned long long)d->stats.refused);
	}
	J("}}");
#undef J
	if (n < sizeof(buf))
		mqtt_publish(b->mqtt, b->cfg->mqtt.stats_topic, buf, n, 0, 1);
}
