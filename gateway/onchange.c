/*
 * onchange.c - the last payload per topic, for on_change routes (see onchange.h).
 *
 * An open-addressing table (linear probing, FNV-1a of the topic), doubled
 * up to ONCHANGE_MAX entries and cleared past that: a sensor gateway has a
 * few dozen such topics, and a device inventing new topic names should cost
 * memory that is bounded, not a growing list to walk per frame.
 */
#include <stdlib.h>
#include <string.h>

#include "onchange.h"

struct onchange_entry {
	char *topic;		/* NULL: free slot */
	char *payload;
	size_t len;
	uint64_t at;		/* when it was last published */
};

struct onchange {
	struct onchange_entry *slots;
	size_t cap, count;
};

static uint64_t onchange_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct onchange_entry *onchange_find(struct onchange *oc, const char *topic)
{
	size_t i = (size_t)onchange_hash(topic) & (oc->cap - 1);

	while (oc->slots[i].topic && strcmp(oc->slots[i].topic, topic) != 0)
		i = (i + 1) & (oc->cap - 1);
	return &oc->slots[i];
}

static void onchange_clear(struct onchange *oc)
{
	size_t i;

	for (i = 0; i < oc->cap; i++) {
		free(oc->slots[i].topic);
		free(oc->slots[i].payload);
	}
	memset(oc->slots, 0, oc->cap * sizeof(*oc->slots));
	oc->count = 0;
}

/* Room for one more entry: grow (load under 3/4) or, at the bound, forget everything. */
static int onchange_room(struct onchange *oc)
{
	struct onchange_entry *old = oc->slots;
	size_t oldcap = oc->cap, i;

	if (oc->count >= ONCHANGE_MAX) {
		onchange_clear(oc);
		return 0;
	}
	if ((oc->count + 1) * 4 <= oc->cap * 3)
		return 0;
	oc->slots = calloc(oc->cap * 2, sizeof(*oc->slots));
	if (!oc->slots) {
		oc->slots = old;
		return -1;
	}
	oc->cap *= 2;
	for (i = 0; i < oldcap; i++)
		if (old[i].topic)
			*onchange_find(oc, old[i].topic) = old[i];
	free(old);
	return 0;
}

int onchange_pass(struct onchange **ocp, const char *topic, const char *payload, size_t len, int heartbeat_ms,
		  uint64_t now)
{
	struct onchange *oc = *ocp;
	struct onchange_entry *e;
	char *copy;

	if (!oc) {
		oc = calloc(1, sizeof(*oc));
		if (!oc || !(oc->slots = calloc(16, sizeof(*oc->slots)))) {
			free(oc);
			return 1;
		}
		oc->cap = 16;
		*ocp = oc;
	}
	e = onchange_find(oc, topic);
	if (e->topic && e->len == len && memcmp(e->payload, payload, len) == 0 &&
	    (heartbeat_ms == 0 || now - e->at < (uint64_t)heartbeat_ms))
		return 0;
	copy = malloc(len ? len : 1);
	if (!copy)
		return 1;
	memcpy(copy, payload, len);
	if (!e->topic) {
		if (onchange_room(oc) < 0) {
			free(copy);
			return 1;
		}
		e = onchange_find(oc, topic);
		if (!(e->topic = strdup(topic))) {
			free(copy);
			return 1;
		}
		oc->count++;
	}
	free(e->payload);
	e->payload = copy;
	e->len = len;
	e->at = now;
	return 1;
}

void onchange_free(struct onchange *oc)
{
	if (!oc)
		return;
	onchange_clear(oc);
	free(oc->slots);
	free(oc);
}
