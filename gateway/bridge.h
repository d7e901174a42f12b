/*
 * bridge.h - the running gateway: devices, the broker and the poll loop.
 *
 * bridge_run() is the one poll() loop of the daemon. It owns every fd: a
 * signalfd, the MQTT eventfd and each device's fd; its timeout is the
 * earliest deadline of the MQTT reconnect timer and the devices' ticks.
 */
#ifndef MQTTGW_BRIDGE_H
#define MQTTGW_BRIDGE_H

#include <stdint.h>

#include "config.h"

struct bridge;

struct bridge_stats {
	uint64_t up_frames;		/* frames from devices */
	uint64_t up_unrouted;		/* frames no route took */
	uint64_t up_refused;		/* frames a route refused (bad capture) */
	uint64_t down_messages;		/* messages from the broker */
	uint64_t down_written;		/* commands handed to a device */
	uint64_t down_refused;		/* commands refused (bytes, length, accept, device) */
	uint64_t down_unrouted;		/* messages no route took */
	uint64_t down_retained;		/* retained commands ignored */
	uint64_t down_dropped;		/* accepted, then dropped (port lost, fail-safe) */
	uint64_t timeouts;		/* commands without a reply in time */
	uint64_t unchanged_suppressed;	/* on_change routes: an unchanged payload not published again */
};

/*
 * Take ownership of cfg; cfg_path is re-read on SIGHUP. Signals must
 * already be blocked (main does it before any thread exists).
 */
struct bridge *bridge_new(struct config *cfg, const char *cfg_path, char *err, size_t errlen);
/* Run until SIGTERM/SIGINT; returns the process exit code. */
int bridge_run(struct bridge *b);
void bridge_free(struct bridge *b);

/* Current time on the monotonic clock, in ms. */
uint64_t bridge_now_ms(void);

#endif
