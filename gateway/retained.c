/*
 * retained.c - an open-addressing hash table of topic -> last payload.
 *
 * Linear probing over a power-of-two table kept at most half full: it
 * starts at RETAINED_SLOTS_MIN slots and doubles (rehashing every entry)
 * when a new topic would pass half, so a set or a lookup stays O(1) however
 * many topics a station has, and the republish walks at most twice as many
 * slots as topics. Entries are never removed (a topic stays a topic), so
 * there are no tombstones to handle. FNV-1a hashes the topic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "retained.h"

#define RETAINED_SLOTS_MIN 64

struct retained_entry {
	char *topic;
	char *payload;
	size_t len, cap;
	int qos;
};

struct retained {
	struct retained_entry *slots;
	size_t n_slots;		/* a power of two */
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
	r->slots = calloc(RETAINED_SLOTS_MIN, sizeof(*r->slots));
	if (!r->slots) {
		free(r);
		return NULL;
	}
	r->n_slots = RETAINED_SLOTS_MIN;
	return r;
}

/* Twice the slots, every entry moved to its place in the new table. */
static int retained_grow(struct retained *r)
{
	size_t n = r->n_slots * 2, i, j;
	struct retained_entry *s = calloc(n, sizeof(*s));

	if (!s)
		return -1;
	for (i = 0; i < r->n_slots; i++) {
		if (!r->slots[i].topic)
			continue;
		for (j = retained_hash(r->slots[i].topic) & (n - 1); s[j].topic; j = (j + 1) & (n - 1))
			;
		s[j] = r->slots[i];
	}
	free(r->slots);
	r->slots = s;
	r->n_slots = n;
	return 0;
}

void retained_free(struct retained *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n_slots; i++) {
		free(r->slots[i].topic);
		free(r->slots[i].payload);
	}
	free(r->slots);
	free(r);
}

static struct retained_entry *retained_slot(const struct retained *r, const char *topic)
{
	size_t i = retained_hash(topic) & (r->n_slots - 1);

	while (r->slots[i].topic && strcmp(r->slots[i].topic, topic) != 0)
		i = (i + 1) & (r->n_slots - 1);
	return &r->slots[i];
}

int retained_set(struct retained *r, const char *topic, const void *payload, size_t len, int qos)
{
	struct retained_entry *e = retained_slot(r, topic);

	if (!e->topic) {
		if (r->count >= RETAINED_MAX)
			return -1;
		/* a new topic: keep the table at most half full */
		if ((r->count + 1) * 2 > r->n_slots) {
			if (retained_grow(r) < 0)
				return -1;
			e = retained_slot(r, topic);
		}
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

	for (i = 0; i < r->n_slots; i++)
		if (r->slots[i].topic)
			fn(r->slots[i].topic, r->slots[i].payload, r->slots[i].len, r->slots[i].qos, ctx);
}
