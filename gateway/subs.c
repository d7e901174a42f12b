/*
 * subs.c - the set of MQTT subscriptions a config needs, with identifiers
 * that are stable across reloads (see subs.h for why they exist).
 *
 * Building a set scans (it runs at start and reload only). subs_filter_of
 * runs once per identifier of every MQTT 5 message, so it is a binary
 * search over the indices sorted by identifier: a station with 1,000
 * command filters paid 1,000 comparisons a command for it.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "subs.h"

void subs_free(struct subs *s)
{
	int i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++)
		free(s->filter[i]);
	free(s->filter);
	free(s->qos);
	free(s->id);
	free(s->by_id);
	free(s);
}

static int subs_index(const struct subs *s, const char *filter)
{
	int i;

	for (i = 0; s && i < s->n; i++)
		if (strcmp(s->filter[i], filter) == 0)
			return i;
	return -1;
}

int subs_has(const struct subs *s, const char *filter)
{
	return subs_index(s, filter) >= 0;
}

const char *subs_filter_of(const struct subs *s, uint32_t id)
{
	int lo = 0, hi = s ? s->n : 0, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->id[s->by_id[mid]] == id)
			return s->filter[s->by_id[mid]];
		if (s->id[s->by_id[mid]] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int subs_cmp_id(const void *a, const void *b, void *ctx)
{
	const uint32_t *id = ctx;
	uint32_t x = id[*(const int *)a], y = id[*(const int *)b];

	return (x > y) - (x < y);
}

static int subs_id_used(const struct subs *s, int upto, uint32_t id)
{
	int i;

	for (i = 0; i < upto; i++)
		if (s->id[i] == id)
			return 1;
	return 0;
}

/*
 * The next identifier used neither in s nor in old: a filter just removed
 * keeps its identifier out of use, so a copy still in flight for it is
 * never routed through a new filter.
 */
static uint32_t subs_fresh_id(const struct subs *s, const struct subs *old, uint32_t *next_id)
{
	for (;;) {
		uint32_t id = *next_id;

		*next_id = id >= SUBS_ID_MAX ? 1 : id + 1;
		if (id == 0 || id > SUBS_ID_MAX)
			continue;
		if (!subs_id_used(s, s->n, id) && !subs_filter_of(old, id))
			return id;
	}
}

struct subs *subs_new(const struct config *cfg, const struct subs *old, uint32_t *next_id)
{
	struct subs *s = calloc(1, sizeof(*s));
	size_t cap = (size_t)cfg->n_routes + 1;
	int i, j, k;

	if (!s)
		return NULL;
	s->filter = calloc(cap, sizeof(*s->filter));
	s->qos = calloc(cap, sizeof(*s->qos));
	s->id = calloc(cap, sizeof(*s->id));
	s->by_id = calloc(cap, sizeof(*s->by_id));
	if (!s->filter || !s->qos || !s->id || !s->by_id) {
		subs_free(s);
		return NULL;
	}
	for (i = 0; i < cfg->n_routes; i++) {
		const struct cfg_route *r = &cfg->routes[i];

		if (r->from_kind != ROUTE_MQTT)
			continue;
		j = subs_index(s, r->from);
		if (j >= 0) {
			if (r->qos > s->qos[j])
				s->qos[j] = r->qos;
			continue;
		}
		s->filter[s->n] = strdup(r->from);
		if (!s->filter[s->n]) {
			subs_free(s);
			return NULL;
		}
		s->qos[s->n++] = r->qos;
	}
	/* kept filters keep their identifiers first, then the new ones get fresh ones */
	for (i = 0; i < s->n; i++) {
		k = subs_index(old, s->filter[i]);
		s->id[i] = k >= 0 ? old->id[k] : 0;
	}
	for (i = 0; i < s->n; i++)
		if (s->id[i] == 0)
			s->id[i] = subs_fresh_id(s, old, next_id);
	for (i = 0; i < s->n; i++)
		s->by_id[i] = i;
	if (s->n > 1)
		qsort_r(s->by_id, (size_t)s->n, sizeof(*s->by_id), subs_cmp_id, s->id);
	return s;
}
