/*
 * bridge_int.h - what the bridge's own files share (not the rest of the
 * daemon: that is bridge.h). The running gateway's state and the few
 * functions that cross between bridge.c, bridge_reload.c, bridge_stats.c,
 * bridge_replies.c and bridge_ha.c; all of it is touched by the loop thread only.
 */
#ifndef MQTTGW_BRIDGE_INT_H
#define MQTTGW_BRIDGE_INT_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge.h"
#include "config.h"
#include "device.h"
#include "ha_discovery.h"
#include "mqtt.h"
#include "onchange.h"

#define BRIDGE_TOPIC_MAX 1024
#define BRIDGE_PAYLOAD_MAX (128 * 1024)

/* Home Assistant discovery, live (bridge_ha.c) */
struct bridge_ha {
	struct ha_set set;		/* what the running config announces */
	char status[BRIDGE_TOPIC_MAX];	/* <prefix>/status; "": discovery off */
	char filter[BRIDGE_TOPIC_MAX];	/* <prefix>/+/<node_id>/+/config */
	uint64_t announce_at;		/* announce again then (Home Assistant came online); 0: not due */
};

struct bridge {
	struct config *cfg;
	char *cfg_path;
	char *spool_dir;		/* buffer.dir, or NULL */
	struct mqtt *mqtt;
	struct device **devs;		/* every device of cfg, in bridge_device_entry order */
	int n_devs;
	int sfd;
	int stop;
	uint64_t connected_at;		/* when the link came up, 0 while down */
	int quick_losses;		/* links in a row lost soon after connecting */
	unsigned reloads;		/* bumped by every reload: devices may have been freed */
	unsigned ticked_reloads;	/* reloads as bridge_deadline last saw it (a reload ticks every device) */
	int ready_sent;			/* systemd READY=1 */
	uint64_t wd_interval;		/* systemd watchdog period, 0: none */
	uint64_t stats_next;		/* next stats publish; UINT64_MAX: off */
	uint64_t dropped_in_seen;	/* inbound drops already logged */
	uint64_t drop_log_at;
	uint64_t wd_next;
	struct subs *subs;		/* current subscriptions */
	uint32_t next_sub_id;		/* the next MQTT 5 subscription identifier to hand out */
	struct pollfd *pfds;
	struct device **pdev;
	int pcap;
	struct retained *retained;	/* serial states to republish on connect */
	struct bridge_stats stats;
	struct onchange *onchange;	/* last payload per topic of on_change routes (onchange.h) */
	struct bridge_ha ha;		/* Home Assistant discovery (bridge_ha.c) */
	char topic[BRIDGE_TOPIC_MAX];
	char payload[BRIDGE_PAYLOAD_MAX];
};

/* One device of a config, whatever its kind (bridge_device_entry). */
struct bridge_entry {
	const char *kind;		/* the driver's kind, as routes write it */
	enum route_end end;		/* the same, as routes store it */
	int index;			/* its place in its config list (cfg->serial[], cfg->gpio[]) */
	const char *name;
	const void *cfg;		/* its settings, for the driver */
};

/* The bridge's own state of a device (dev->owner). */
struct bridge_dev {
	enum route_end end;		/* which routes name it */
	struct bridge_replies *replies;	/* where its replies go; NULL: it owes none */
	uint64_t next_tick;		/* the deadline its last tick returned (0: tick at once) */
	int touched;			/* the bridge called it since: tick it again, due or not */
};

/* bridge.c */
/*
 * The devices of a config as one list: how many, entry i of it, and where
 * the device a route names (end, index) is in it.
 */
int bridge_device_count(const struct config *cfg);
void bridge_device_entry(const struct config *cfg, int i, struct bridge_entry *e);
int bridge_device_pos(const struct config *cfg, enum route_end end, int index);
struct device *bridge_device_new(struct bridge *b, const struct bridge_entry *e);
void bridge_device_free(struct device *dev);
void bridge_subscribe_all(struct bridge *b);
/* Tell every device whether the broker link is up (fail-safes). */
void bridge_link(struct bridge *b, int up, uint64_t now);

/* bridge_replies.c: per device that owes replies, where each command's reply goes */
struct bridge_replies;
struct bridge_replies *bridge_replies_new(int cap);
void bridge_replies_free(struct bridge_replies *r);
/* Remember the reply target of a command just accepted by dev. */
int bridge_replies_push(struct device *dev, const struct mqtt_event *ev);
/* Take back the target just pushed (the write was refused: no event will come for it). */
void bridge_replies_unpush(struct device *dev);
/* The device_event_fn: REPLY, TIMEOUT, DROPPED. */
void bridge_replies_event(struct device *dev, enum device_event what, const char *data, size_t len, void *ctx);
/* "reason: command" on dev's error topic, if it has one. */
/* The broker refused the subscription to filter (SUBACK code): said on the error topics it feeds. */
void bridge_replies_sub_refused(struct bridge *b, const char *filter, int code);
void bridge_replies_error(struct bridge *b, struct device *dev, const char *reason, const char *data,
			  size_t len);

/* bridge_reload.c */
void bridge_reload(struct bridge *b, uint64_t now);

/* bridge_ha.c: Home Assistant discovery (issue 16) */
void bridge_ha_init(struct bridge *b);
void bridge_ha_free(struct bridge *b);
/* Connected: announce everything, subscribe <prefix>/status and our retained configs. */
void bridge_ha_connected(struct bridge *b);
/* A message on one of those: handled (1), or not ours (0). */
int bridge_ha_message(struct bridge *b, const struct mqtt_event *ev, uint64_t now);
/* The delayed announcement when due; the next deadline or UINT64_MAX. */
uint64_t bridge_ha_tick(struct bridge *b, uint64_t now);
/* After a reload (b->cfg is the new config): remove what it dropped, announce the rest. */
void bridge_ha_reload(struct bridge *b);

/* bridge_stats.c */
void bridge_stats_log(struct bridge *b);
void bridge_stats_publish(struct bridge *b);

#endif
