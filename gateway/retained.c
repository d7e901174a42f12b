/*
 * retained.c - an open-addressing hash table of topic -> last payload.
 *
 * Linear probing over a power-of-two table twice the size of RETAINED_MAX:
 * entries are never removed (a topic stays a topic), so there are no
 * tombstones to handle. FNV-1a hashes the topic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "retained.h"

#define RETAINED_SLOTS (RETAINED_MAX * 2)

struct retained_entry {
	char *topic;
	char *payload;
	size_t len, cap;
	int qos;
};

struct retained {
	struct retained_entry *slots;
	size_t count;
};

static uint32_t retained_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

struct retained *retained_new(void)
{
	struct retained *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->slots = calloc(RETAINED_SLOTS, sizeof(*r->slots));
	if (!r->slots) {
		free(r);
		return NULL;
	}
	return r;
}

void retained_free(struct retained *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < RETAINED_SLOTS; i++) {
		free(r->slots[i].topic);
		free(r->slots[i].payload);
	}
	free(r->slots);
	free(r);
}

int retained_set(struct retained *r, const char *topic, const void *payload, size_t len, int qos)
{
	size_t i = retained_hash(topic) & (RETAINED_SLOTS - 1);
	struct retained_entry *e;

	for (;;) {
		e = &r->slots[i];
		if (!e->topic || strcmp(e->topic, topic) == 0)
			break;
		i = (i + 1) & (RETAINED_SLOTS - 1);
	}
	if (!e->topic) {
		if (r->count >= RETAINED_MAX)
			return -1;
		e->topic = strdup(topic);
		if (!e->topic)
			return -1;
		r->count++;
	}
	if (len > e->cap || !e->payload) {
		char *p = realloc(e->payload, len ? len : 1);

		if (!p)
			return -1;
		e->payload = p;
		e->cap = len ? len : 1;
	}
	memcpy(e->payload, payload, len);
	e->len = len;
	e->qos = qos;
	return 0;
}

void retained_each(const struct retained *r,
		   void (*fn)(const char *topic, const void *payload, size_t len, int qos, void *ctx), void *ctx)
{
	size_t i;

	for (i = 0; i < RETAINED_SLOTS; i++)
		if (r->slots[i].topic)
			fn(r->slots[i].topic, r->slots[i].payload, r->slots[i].len, r->slots[i].qos, ctx);
}
