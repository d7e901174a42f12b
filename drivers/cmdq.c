/*
 * cmdq.c - a fixed ring of commands with one-in-flight and a token bucket.
 *
 * See cmdq.h. The ring holds copies, so the caller's buffers (MQTT events)
 * can be freed at once. Tokens refill continuously: rate per second, up to
 * burst, which is how "10 commands/s, bursts of 3" behaves to a user.
 */
#include <stdlib.h>
#include <string.h>

#include "cmdq.h"

int cmdq_init(struct cmdq *q, int cap, size_t max_len, int need_reply, int timeout_ms, int rate, int burst)
{
	memset(q, 0, sizeof(*q));
	if (cap < 1 || max_len < 1)
		return -1;
	q->slots = malloc((size_t)cap * max_len);
	q->lens = calloc((size_t)cap, sizeof(*q->lens));
	q->expires = calloc((size_t)cap, sizeof(*q->expires));
	q->tags = calloc((size_t)cap, sizeof(*q->tags));
	q->flight = malloc(max_len);
	if (!q->slots || !q->lens || !q->expires || !q->tags || !q->flight) {
		cmdq_free(q);
		return -1;
	}
	q->cap = cap;
	q->max_len = max_len;
	q->need_reply = need_reply;
	q->timeout_ms = timeout_ms;
	q->rate = rate;
	q->burst = burst > 0 ? burst : rate;
	q->tokens = q->burst;
	q->deadline = UINT64_MAX;
	return 0;
}

void cmdq_free(struct cmdq *q)
{
	if (!q)
		return;
	free(q->slots);
	free(q->lens);
	free(q->expires);
	free(q->tags);
	free(q->flight);
	q->slots = q->flight = NULL;
	q->lens = NULL;
	q->expires = NULL;
	q->tags = NULL;
}

static int cmdq_rate_ok(struct cmdq *q, uint64_t now)
{
	if (!q->rate)
		return 1;
	if (q->tokens_at && now > q->tokens_at) {
		q->tokens += (double)(now - q->tokens_at) * q->rate / 1000.0;
		if (q->tokens > q->burst)
			q->tokens = q->burst;
	}
	q->tokens_at = now;
	if (q->tokens < 1.0)
		return 0;
	q->tokens -= 1.0;
	return 1;
}

enum cmdq_result cmdq_submit(struct cmdq *q, const char *data, size_t len, uint64_t now)
{
	return cmdq_submit_until(q, data, len, now, UINT64_MAX);
}

enum cmdq_result cmdq_submit_until(struct cmdq *q, const char *data, size_t len, uint64_t now, uint64_t expires)
{
	return cmdq_submit_tagged(q, data, len, now, expires, 0);
}

int cmdq_tag_busy(const struct cmdq *q, int tag)
{
	int i;

	if (q->in_flight && q->flight_tag == tag)
		return 1;
	for (i = 0; i < q->count; i++)
		if (q->tags[(q->head + i) % q->cap] == tag)
			return 1;
	return 0;
}

enum cmdq_result cmdq_submit_tagged(struct cmdq *q, const char *data, size_t len, uint64_t now, uint64_t expires,
				    int tag)
{
	int tail;

	if (len > q->max_len)
		return CMDQ_TOO_LONG;
	if (q->count >= q->cap)
		return CMDQ_FULL;
	if (!cmdq_rate_ok(q, now))
		return CMDQ_RATE;
	tail = (q->head + q->count) % q->cap;
	memcpy(q->slots + (size_t)tail * q->max_len, data, len);
	q->lens[tail] = len;
	q->expires[tail] = expires;
	q->tags[tail] = tag;
	q->count++;
	return CMDQ_OK;
}

int cmdq_drop_expired(struct cmdq *q, uint64_t now, void (*cb)(const char *data, size_t len, void *ctx), void *ctx)
{
	int i, kept = 0, dropped = 0;

	/* walk the ring once, moving the live commands down over the expired ones */
	for (i = 0; i < q->count; i++) {
		int from = (q->head + i) % q->cap, to = (q->head + kept) % q->cap;

		if (now >= q->expires[from]) {
			q->tag = q->tags[from];
			if (cb)
				cb(q->slots + (size_t)from * q->max_len, q->lens[from], ctx);
			dropped++;
			continue;
		}
		if (to != from) {
			memcpy(q->slots + (size_t)to * q->max_len, q->slots + (size_t)from * q->max_len, q->lens[from]);
			q->lens[to] = q->lens[from];
			q->expires[to] = q->expires[from];
			q->tags[to] = q->tags[from];
		}
		kept++;
	}
	q->count = kept;
	return dropped;
}

const char *cmdq_take(struct cmdq *q, size_t *len, uint64_t now)
{
	const char *p;

	if (q->in_flight || q->owed || q->count == 0)
		return NULL;
	p = q->slots + (size_t)q->head * q->max_len;
	*len = q->lens[q->head];
	q->tag = q->tags[q->head];
	q->head = (q->head + 1) % q->cap;
	q->count--;
	if (q->need_reply) {
		memcpy(q->flight, p, *len);
		q->flight_len = *len;
		q->in_flight = 1;
		q->flight_tag = q->tag;
		q->deadline = now + (uint64_t)q->timeout_ms;
		return q->flight;
	}
	/* the slot is free again, but nothing writes it before the next call */
	return p;
}

void cmdq_owe(struct cmdq *q, int n, uint64_t now)
{
	if (!q->need_reply || n <= 0)
		return;
	q->owed += n;
	q->deadline = now + (uint64_t)q->timeout_ms;
}

int cmdq_waiting(const struct cmdq *q)
{
	return q->in_flight || q->owed;
}

int cmdq_reply(struct cmdq *q)
{
	if (q->owed) {
		if (--q->owed == 0)
			q->deadline = UINT64_MAX;
		return 0;
	}
	if (!q->in_flight)
		return 0;
	q->in_flight = 0;
	q->deadline = UINT64_MAX;
	q->tag = q->flight_tag;
	return 1;
}

int cmdq_expired(struct cmdq *q, uint64_t now, const char **data, size_t *len)
{
	if (q->owed && now >= q->deadline) {
		q->owed = 0;
		q->deadline = UINT64_MAX;
		return 0;
	}
	if (!q->in_flight || now < q->deadline)
		return 0;
	q->in_flight = 0;
	q->deadline = UINT64_MAX;
	q->tag = q->flight_tag;
	*data = q->flight;
	*len = q->flight_len;
	return 1;
}

uint64_t cmdq_deadline(const struct cmdq *q)
{
	return q->in_flight || q->owed ? q->deadline : UINT64_MAX;
}

void cmdq_clear(struct cmdq *q, void (*cb)(const char *data, size_t len, void *ctx), void *ctx)
{
	q->owed = 0;
	q->deadline = UINT64_MAX;
	if (q->in_flight) {
		q->in_flight = 0;
		q->tag = q->flight_tag;
		if (cb)
			cb(q->flight, q->flight_len, ctx);
	}
	while (q->count > 0) {
		q->tag = q->tags[q->head];
		if (cb)
			cb(q->slots + (size_t)q->head * q->max_len, q->lens[q->head], ctx);
		q->head = (q->head + 1) % q->cap;
		q->count--;
	}
}
