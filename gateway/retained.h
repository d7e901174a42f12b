/*
 * retained.h - the last retained value published on each topic.
 *
 * After a reconnect the gateway republishes what it last said, retained, so
 * a broker that restarted without persistence (or a new node of a cluster)
 * shows dashboards the devices' current state again, not nothing. Bounded:
 * at most RETAINED_MAX topics; a topic beyond that is simply not cached.
 * The table grows with the topics it holds (a big station has 10,000 and
 * more: a fixed 4,096 left most of them out of the republish), so a small
 * one costs a small table.
 * An update of the same size reuses its buffer, so a device that reports
 * its position every 10 ms costs no allocation per frame.
 */
#ifndef MQTTGW_RETAINED_H
#define MQTTGW_RETAINED_H

#include <stddef.h>

#define RETAINED_MAX 65536

struct retained;

struct retained *retained_new(void);
void retained_free(struct retained *r);
/* Remember payload as the value of topic. 0 / -1 (full or out of memory). */
int retained_set(struct retained *r, const char *topic, const void *payload, size_t len, int qos);
/* Call fn for every topic, in no particular order. */
void retained_each(const struct retained *r,
		   void (*fn)(const char *topic, const void *payload, size_t len, int qos, void *ctx), void *ctx);

#endif
