/*
 * topic.h - MQTT topic names and filters (pure, no I/O).
 *
 * The rules are MQTT 3.1.1 section 4.7: "+" matches one level, "#" the rest
 * (including the parent level itself), and filters starting with a wildcard
 * do not match topics starting with "$".
 */
#ifndef MQTTGW_TOPIC_H
#define MQTTGW_TOPIC_H

#include <stddef.h>

/* The longest topic the gateway builds or accepts in its config (bytes). */
#define TOPIC_LEN_MAX 1023

/*
 * 1 if s[0..len) is text a broker takes in a topic: well-formed UTF-8 (no
 * overlong forms, surrogates or code points above U+10FFFF), no C0 or C1
 * control, DEL or NUL, and no Unicode noncharacter (U+FDD0..U+FDEF, and
 * U+xFFFE / U+xFFFF of every plane), on which mosquitto hangs up as on a
 * malformed packet. 0 otherwise.
 */
int topic_text_ok(const char *s, size_t len);
/* 0 if filter is a valid subscription filter (and topic_text_ok, at most TOPIC_LEN_MAX), -1 otherwise. */
int topic_filter_valid(const char *filter);
/*
 * 0 if name is a valid topic to publish to: not empty, no wildcards, not
 * starting with "$" (reserved for the broker), topic_text_ok, at most
 * TOPIC_LEN_MAX bytes.
 */
int topic_name_valid(const char *name);
/* 1 if topic matches filter, 0 if not. Both must be valid. */
int topic_matches(const char *filter, const char *topic);

#endif
