/*
 * topic.h - MQTT topic names and filters (pure, no I/O).
 *
 * The rules are MQTT 3.1.1 section 4.7: "+" matches one level, "#" the rest
 * (including the parent level itself), and filters starting with a wildcard
 * do not match topics starting with "$".
 */
#ifndef MQTTGW_TOPIC_H
#define MQTTGW_TOPIC_H

/* 0 if filter is a valid subscription filter, -1 otherwise. */
int topic_filter_valid(const char *filter);
/* 0 if name is a valid topic to publish to (no wildcards, not empty). */
int topic_name_valid(const char *name);
/* 1 if topic matches filter, 0 if not. Both must be valid. */
int topic_matches(const char *filter, const char *topic);

#endif
