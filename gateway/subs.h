/*
 * subs.h - the gateway's MQTT subscriptions: the distinct `from` filters of
 * the config's mqtt routes, each at the highest qos a route asks for, and
 * each with an MQTT 5 subscription identifier.
 *
 * Why identifiers: with MQTT 5 a broker may deliver one copy of a message
 * per matching subscription (mosquitto 2.0 does), so a topic matched by
 * two of our filters (S013/ALL/+/cmd and S013/ALL/#) arrived twice and every
 * matching route wrote the command twice. Each copy carries the
 * identifiers of the subscriptions it was sent for, so a copy is routed
 * only through the routes of those filters: each route sees each message
 * once. MQTT 3.1.1 brokers send one copy, and every matching route takes it.
 *
 * An identifier stays with its filter across reloads (subs_new reuses the
 * old set's), so a copy in flight during a reload still finds its routes.
 */
#ifndef MQTTGW_SUBS_H
#define MQTTGW_SUBS_H

#include <stdint.h>

struct config;

struct subs {
	int n;
	char **filter;
	int *qos;
	uint32_t *id;		/* 1..SUBS_ID_MAX, unique within the set */
	int *by_id;		/* indices in id order: subs_filter_of is a binary search */
};

#define SUBS_ID_MAX 268435455u	/* the largest Variable Byte Integer */

/*
 * The subscriptions cfg needs. A filter also in old keeps old's identifier;
 * new filters take *next_id onwards (it wraps past SUBS_ID_MAX, skipping
 * identifiers in use). NULL when out of memory.
 */
struct subs *subs_new(const struct config *cfg, const struct subs *old, uint32_t *next_id);
void subs_free(struct subs *s);
/* The filter subscribed with identifier id, or NULL. */
const char *subs_filter_of(const struct subs *s, uint32_t id);
/* 1 if filter is one of s's, else 0. */
int subs_has(const struct subs *s, const char *filter);

#endif
