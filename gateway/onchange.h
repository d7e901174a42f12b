/*
 * onchange.h - publish on change: routes with on_change = true publish a
 * payload on a topic only when it differs from the last one published
 * there, or when heartbeat_ms has passed since that publish (0: never).
 *
 * Keyed by topic (a route whose topic has captures keeps one entry per
 * topic it made), remembered in full (no hash compare that could hide a
 * change), bounded: past ONCHANGE_MAX topics the memory is cleared, which
 * costs one extra publish per topic, never a lost change. A reload keeps
 * it (the same payload on the same topic is still the same news) unless
 * the routes changed: then it is cleared (bridge_reload.c), since what
 * was published meanwhile by a route without on_change was not recorded.
 * Loop thread only.
 */
#ifndef MQTTGW_ONCHANGE_H
#define MQTTGW_ONCHANGE_H

#include <stddef.h>
#include <stdint.h>

#define ONCHANGE_MAX 4096

struct onchange;

/*
 * 1: publish (and remember payload as the last on topic); 0: unchanged
 * within the heartbeat, do not publish. *oc is created on first use (and
 * on out of memory the answer is 1: publish).
 */
int onchange_pass(struct onchange **oc, const char *topic, const char *payload, size_t len, int heartbeat_ms,
		  uint64_t now);
void onchange_free(struct onchange *oc);

#endif
