/*
 * mapping.h - the pure half of the bridge: which route a frame or a command
 * takes, and what it becomes.
 *
 * Uplink (device -> mqtt): the first route in file order whose from names
 * the device and whose match regex (if any) matches the frame; its topic and
 * payload templates are expanded with the captures.
 * Downlink (mqtt -> device): every route whose from filter matches the
 * topic; each is checked (no CR, LF or NUL, nothing longer than the target's
 * max_frame, the accept regex, printable ASCII when there is no accept) and
 * its payload template expanded. No I/O, no allocation: callers pass scratch
 * buffers. Unit tested and fuzzed.
 */
#ifndef MQTTGW_MAPPING_H
#define MQTTGW_MAPPING_H

#include <stddef.h>

#include "config.h"

enum mapping_verdict {
	MAPPING_OK,
	MAPPING_NO_ROUTE,	/* uplink: no route for this frame */
	MAPPING_BAD_BYTES,	/* CR, LF, NUL, the eol, or non-printable without accept */
	MAPPING_TOO_LONG,	/* longer than the target's max_frame or the scratch buffer */
	MAPPING_NOT_ACCEPTED,	/* accept regex did not match */
	MAPPING_BAD_TOPIC,	/* a capture would change the topic's shape */
	/* a typed value does not convert (value.h): the frame or command is refused */
	MAPPING_NOT_A_NUMBER,
	MAPPING_NOT_FINITE,
	MAPPING_NOT_INTEGER,
	MAPPING_OUT_OF_RANGE,
	MAPPING_PAST_END
};

struct mapping_out {
	int route;		/* index into cfg->routes */
	enum mapping_verdict verdict;
	const char *topic;	/* uplink: the topic (in the caller's buffer) */
	const char *payload;	/* the bytes to publish / write */
	size_t payload_len;
	int qos, retain;	/* uplink */
	enum route_end kind;	/* downlink: ROUTE_SERIAL or ROUTE_GPIO */
	int dev;		/* downlink: index into cfg->serial / cfg->gpio */
};

/*
 * Map one frame from device (kind, dev). Returns 0 with out filled
 * (verdict MAPPING_OK, or MAPPING_BAD_TOPIC / MAPPING_TOO_LONG when the
 * chosen route refused it), or -1 when no route takes the frame.
 */
int mapping_uplink(const struct config *cfg, enum route_end kind, int dev, const char *frame, size_t len,
		   char *topic, size_t topic_size, char *payload, size_t payload_size, struct mapping_out *out);

/*
 * Find the next route, from index *next on, whose filter matches topic, and
 * judge the payload for it. Returns 0 with out filled (check out->verdict)
 * and *next advanced past it, or -1 when there are no more routes.
 * via/n_via: only routes whose `from` filter is one of these (the MQTT 5
 * subscriptions this copy of the message was sent for, see subs.h);
 * n_via < 0: every matching route.
 */
int mapping_downlink(const struct config *cfg, const char *topic, const char *const *via, int n_via,
		     const char *payload, size_t len, int *next, char *buf, size_t buf_size, struct mapping_out *out);

/* A word for a verdict, for logs. */
const char *mapping_verdict_str(enum mapping_verdict v);

#endif
