/*
 * info.h - the gateway describes itself: one retained JSON document on
 * the info topic (${station}/gateway/info by default), for dashboards.
 *
 * Pure: built from the config alone, no I/O, so it is unit-tested and the
 * bridge only publishes what info_build() returns (on every connect and
 * after a reload).
 */
#ifndef MQTTGW_INFO_H
#define MQTTGW_INFO_H

#include <stddef.h>

#include "config.h"

/* Version of the document's shape; bumped when a member changes meaning. */
#define INFO_SCHEMA 1

/*
 * The info topic: the status topic with its last level "status" replaced
 * by "info" (S013/gateway/status -> S013/gateway/info), or the status topic
 * plus "/info" when it does not end in "/status". 0, or -1 when buf is
 * too small.
 */
int info_topic(const struct config *cfg, char *buf, size_t len);

/*
 * The document, as a new NUL-terminated string (free() it), or NULL when
 * out of memory. Never holds a password, a password_file path or a key
 * path; names and patterns are escaped by cJSON, so any config text gives
 * valid JSON.
 */
char *info_build(const struct config *cfg);

#endif
