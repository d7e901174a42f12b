/*
 * mapping_index.h - the routes of a config indexed for mapping.c, so that
 * the cost of a frame or a command does not grow with the number of routes
 * and ports the way a scan of every route does (issue 19.3).
 *
 * Uplink: each device's routes, in file order (the first whose match
 * matches still wins, so a device's own routes are tried in turn; other
 * devices' routes are never looked at).
 * Downlink: the distinct `from` filters in a tree of their literal levels
 * (the levels before the first + or #): a topic walks the tree one level at
 * a time and only the filters on its path are matched with topic_matches(),
 * which stays the judge, so which routes take a command, and in which
 * order, is exactly what the scan gave.
 *
 * Built once per config (config.c, at load) and read-only after that: no
 * allocation per frame.
 */
#ifndef MQTTGW_MAPPING_INDEX_H
#define MQTTGW_MAPPING_INDEX_H

#include "config.h"

struct mapping_index;

/* The index of cfg's routes, or NULL when out of memory. */
struct mapping_index *mapping_index_new(const struct config *cfg);
void mapping_index_free(struct mapping_index *ix);

/* The device slot of device dev of kind (serial i: i, gpio i: n_serial + i), or -1 (mqtt, or no such device). */
int mapping_index_slot(const struct config *cfg, enum route_end kind, int dev);

/*
 * The routes from device slot `slot` (serial i: i, gpio i: n_serial + i),
 * in file order: *n of them. NULL with *n = 0 when it has none.
 */
const int *mapping_index_device(const struct mapping_index *ix, int slot, int *n);

/*
 * The smallest route index >= from of an mqtt route whose filter matches
 * topic and (n_via >= 0) is one of via's n_via filters; -1 when none.
 */
int mapping_index_next(const struct mapping_index *ix, const char *topic, const char *const *via, int n_via,
		       int from);

/* 1 if filter is one of via's n filters (n < 0: no restriction), else 0. */
int mapping_index_via(const char *filter, const char *const *via, int n);

#endif
