/*
 * cmdq.h - the per-device command queue: order, one-in-flight, rate limit.
 *
 * Pure: no I/O and no clock; time comes in as now_ms. The serial driver
 * submits every command here and takes back what it may write now:
 *
 *   - without a reply pattern, commands pass straight through, in order;
 *   - with one (half-duplex RS485 buses, controllers that answer every
 *     command), one command is in flight at a time and the next is taken
 *     only after cmdq_reply() or when cmdq_expired() reports the timeout;
 *   - a token bucket (rate per second, burst) refuses commands beyond the
 *     rate, and a full queue refuses new commands: refused, never dropped
 *     later, so the sender learns at once.
 *
 * Storage is allocated once at init (cap slots of max_len bytes).
 *
 * Tags: a command may carry a small integer (0 = an MQTT command; the
 * serial driver tags its polls 1..n) so the driver can tell whether a
 * poll's previous instance is still queued or in flight (cmdq_tag_busy),
 * and whose reply, timeout or drop it is reporting (q->tag).
 */
#ifndef MQTTGW_CMDQ_H
#define MQTTGW_CMDQ_H

#include <stddef.h>
#include <stdint.h>

enum cmdq_result { CMDQ_OK = 0, CMDQ_FULL = -1, CMDQ_RATE = -2, CMDQ_TOO_LONG = -3 };

struct cmdq {
	char *slots;		/* cap * max_len bytes */
	size_t *lens;
	uint64_t *expires;	/* per slot: not to be written from then on (UINT64_MAX: never) */
	int *tags;		/* per slot: the submitter's tag */
	int flight_tag;		/* the tag of the command in flight */
	int tag;		/* the tag of the command last taken, expired, or passed to a callback */
	size_t max_len;
	int cap, head, count;
	int need_reply;
	int timeout_ms;
	int in_flight;
	int owed;		/* answers due to frames written outside the queue (fail-safe) */
	char *flight;		/* the command in flight (max_len bytes) */
	size_t flight_len;
	uint64_t deadline;	/* reply due by */
	int rate, burst;	/* commands/s, 0 = unlimited */
	double tokens;
	uint64_t tokens_at;
};

int cmdq_init(struct cmdq *q, int cap, size_t max_len, int need_reply, int timeout_ms, int rate, int burst);
void cmdq_free(struct cmdq *q);

/* Queue a command. CMDQ_OK or why it was refused. */
enum cmdq_result cmdq_submit(struct cmdq *q, const char *data, size_t len, uint64_t now_ms);
/* The same, for a command that must not be written at or after expires_ms (MQTT 5 message expiry). */
enum cmdq_result cmdq_submit_until(struct cmdq *q, const char *data, size_t len, uint64_t now_ms,
				   uint64_t expires_ms);
/* The same with a tag (see above). */
enum cmdq_result cmdq_submit_tagged(struct cmdq *q, const char *data, size_t len, uint64_t now_ms,
				    uint64_t expires_ms, int tag);
/* A command with this tag is queued or in flight. */
int cmdq_tag_busy(const struct cmdq *q, int tag);
/*
 * Take every queued command whose expiry has come out of the queue (order
 * of the rest kept), calling cb for each. Returns how many.
 */
int cmdq_drop_expired(struct cmdq *q, uint64_t now_ms, void (*cb)(const char *data, size_t len, void *ctx),
		      void *ctx);

/*
 * The next command to write now, or NULL (nothing queued, or one in
 * flight). With need_reply the returned command is in flight from now on.
 * The pointer stays valid until the next cmdq call.
 */
const char *cmdq_take(struct cmdq *q, size_t *len, uint64_t now_ms);

/*
 * With need_reply: n frames went to the device outside the queue (the
 * fail-safe) and each will be answered. Nothing is taken until those
 * answers came (cmdq_reply) or the timeout passed, so that an answer to
 * STOP is never taken for the answer to the next command.
 */
void cmdq_owe(struct cmdq *q, int n, uint64_t now_ms);

/* Waiting for a reply: a command in flight, or answers owed. */
int cmdq_waiting(const struct cmdq *q);

/*
 * A reply arrived. 1 if it completed the command in flight; 0 if it was
 * one owed (see cmdq_owe) or nothing waited for it.
 */
int cmdq_reply(struct cmdq *q);

/*
 * The command in flight got no reply by its deadline: 1 and the command
 * (valid until the next cmdq call), else 0. Owed answers that did not
 * come by then are forgotten (0).
 */
int cmdq_expired(struct cmdq *q, uint64_t now_ms, const char **data, size_t *len);

/* When cmdq_expired may next say yes (UINT64_MAX: nothing in flight). */
uint64_t cmdq_deadline(const struct cmdq *q);

/* Drop the command in flight and everything queued, calling cb for each; forget owed answers. */
void cmdq_clear(struct cmdq *q, void (*cb)(const char *data, size_t len, void *ctx), void *ctx);

#endif
