/*
 * mapping_index.c - per-device route lists and a tree of topic filters, so
 * that mapping.c looks only at the routes a frame or a command can take
 * (mapping_index.h says what and why).
 *
 * Shaped for lookups, built once: devices' routes as one array with offsets
 * per device slot; mqtt routes grouped by their distinct filter (sorted,
 * each group in file order); the filters hung on a tree of their literal
 * levels, each node's children sorted so a level is found by binary search.
 * Nodes and children live in growable arrays addressed by index, since
 * building reallocates them.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "mapping_index.h"
#include "topic.h"

struct mi_filter {
	const char *filter;	/* the routes' own `from` string (the config outlives the index) */
	const int *routes;	/* into filter_routes: this filter's routes, ascending */
	int n_routes;
};

struct mi_child {
	const char *level;	/* into a filter string, not terminated */
	size_t len;
	int node;
};

struct mi_node {
	struct mi_child *kids;	/* sorted by (len, bytes) once built */
	int n_kids, cap_kids;
	int *filters;		/* filters whose literal levels end here */
	int n_filters, cap_filters;
};

struct mapping_index {
	int n_slots;
	int *dev_start;		/* n_slots + 1 offsets into dev_routes */
	int *dev_routes;
	struct mi_filter *filters;
	int n_filters;
	int *filter_routes;
	struct mi_node *nodes;
	int n_nodes, cap_nodes;
};

struct mi_sortent {
	const char *f;
	int route;
};

static int mapping_index_grow(void **p, int *cap, int need, size_t size)
{
	void *np;
	int nc;

	if (need <= *cap)
		return 0;
	nc = *cap ? *cap * 2 : 4;
	while (nc < need)
		nc *= 2;
	np = realloc(*p, (size_t)nc * size);
	if (!np)
		return -1;
	*p = np;
	*cap = nc;
	return 0;
}

static int mapping_index_cmp_route(const void *a, const void *b)
{
	const struct mi_sortent *x = a, *y = b;
	int c = strcmp(x->f, y->f);

	return c ? c : (x->route > y->route) - (x->route < y->route);
}

static int mapping_index_cmp_level(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return memcmp(a, b, alen);
}

static int mapping_index_cmp_kid(const void *a, const void *b)
{
	const struct mi_child *x = a, *y = b;

	return mapping_index_cmp_level(x->level, x->len, y->level, y->len);
}

static int mapping_index_node_new(struct mapping_index *ix)
{
	if (mapping_index_grow((void **)&ix->nodes, &ix->cap_nodes, ix->n_nodes + 1, sizeof(*ix->nodes)) < 0)
		return -1;
	memset(&ix->nodes[ix->n_nodes], 0, sizeof(ix->nodes[0]));
	return ix->n_nodes++;
}

/* The child of node for this level; made (unsorted, while building) when missing. -1: out of memory. */
static int mapping_index_kid(struct mapping_index *ix, int node, const char *level, size_t len)
{
	struct mi_node *n = &ix->nodes[node];
	int i, k;

	for (i = 0; i < n->n_kids; i++)
		if (mapping_index_cmp_level(n->kids[i].level, n->kids[i].len, level, len) == 0)
			return n->kids[i].node;
	k = mapping_index_node_new(ix);
	if (k < 0)
		return -1;
	n = &ix->nodes[node];	/* the node array may have moved */
	if (mapping_index_grow((void **)&n->kids, &n->cap_kids, n->n_kids + 1, sizeof(*n->kids)) < 0)
		return -1;
	n->kids[n->n_kids++] = (struct mi_child){ level, len, k };
	return k;
}

/* Hang filter f on the node of its literal levels. */
static int mapping_index_add_filter(struct mapping_index *ix, int f)
{
	const char *p = ix->filters[f].filter, *e;
	struct mi_node *n;
	int node = 0;

	for (;;) {
		e = strchrnul(p, '/');
		if ((e - p == 1 && (*p == '+' || *p == '#')))
			break;
		node = mapping_index_kid(ix, node, p, (size_t)(e - p));
		if (node < 0)
			return -1;
		if (!*e)
			break;
		p = e + 1;
	}
	n = &ix->nodes[node];
	if (mapping_index_grow((void **)&n->filters, &n->cap_filters, n->n_filters + 1, sizeof(*n->filters)) < 0)
		return -1;
	n->filters[n->n_filters++] = f;
	return 0;
}

int mapping_index_slot(const struct config *cfg, enum route_end kind, int dev)
{
	if (kind == ROUTE_SERIAL && dev >= 0 && dev < cfg->n_serial)
		return dev;
	if (kind == ROUTE_GPIO && dev >= 0 && dev < cfg->n_gpio)
		return cfg->n_serial + dev;
	return -1;
}

static int mapping_index_devices(struct mapping_index *ix, const struct config *cfg)
{
	int i, slot, *fill;

	ix->n_slots = cfg->n_serial + cfg->n_gpio;
	ix->dev_start = calloc((size_t)ix->n_slots + 1, sizeof(int));
	ix->dev_routes = calloc((size_t)cfg->n_routes + 1, sizeof(int));
	fill = calloc((size_t)ix->n_slots + 1, sizeof(int));
	if (!ix->dev_start || !ix->dev_routes || !fill) {
		free(fill);
		return -1;
	}
	for (i = 0; i < cfg->n_routes; i++)
		if ((slot = mapping_index_slot(cfg, cfg->routes[i].from_kind, cfg->routes[i].from_dev)) >= 0)
			ix->dev_start[slot + 1]++;
	for (i = 0; i < ix->n_slots; i++)
		ix->dev_start[i + 1] += ix->dev_start[i];
	for (i = 0; i < cfg->n_routes; i++)
		if ((slot = mapping_index_slot(cfg, cfg->routes[i].from_kind, cfg->routes[i].from_dev)) >= 0)
			ix->dev_routes[ix->dev_start[slot] + fill[slot]++] = i;
	free(fill);
	return 0;
}

static int mapping_index_topics(struct mapping_index *ix, const struct config *cfg)
{
	struct mi_sortent *v = calloc((size_t)cfg->n_routes + 1, sizeof(*v));
	int i, n = 0;

	if (!v)
		return -1;
	for (i = 0; i < cfg->n_routes; i++)
		if (cfg->routes[i].from_kind == ROUTE_MQTT && cfg->routes[i].from)
			v[n++] = (struct mi_sortent){ cfg->routes[i].from, i };
	if (n > 1)
		qsort(v, (size_t)n, sizeof(*v), mapping_index_cmp_route);
	ix->filter_routes = calloc((size_t)n + 1, sizeof(int));
	ix->filters = calloc((size_t)n + 1, sizeof(*ix->filters));
	if (!ix->filter_routes || !ix->filters || mapping_index_node_new(ix) < 0) {
		free(v);
		return -1;
	}
	for (i = 0; i < n; i++) {
		ix->filter_routes[i] = v[i].route;
		if (i == 0 || strcmp(v[i].f, v[i - 1].f) != 0)
			ix->filters[ix->n_filters++] = (struct mi_filter){ v[i].f, &ix->filter_routes[i], 0 };
		ix->filters[ix->n_filters - 1].n_routes++;
	}
	free(v);
	for (i = 0; i < ix->n_filters; i++)
		if (mapping_index_add_filter(ix, i) < 0)
			return -1;
	for (i = 0; i < ix->n_nodes; i++)
		if (ix->nodes[i].n_kids > 1)
			qsort(ix->nodes[i].kids, (size_t)ix->nodes[i].n_kids, sizeof(struct mi_child),
			      mapping_index_cmp_kid);
	return 0;
}

struct mapping_index *mapping_index_new(const struct config *cfg)
{
	struct mapping_index *ix = calloc(1, sizeof(*ix));

	if (!ix)
		return NULL;
	if (mapping_index_devices(ix, cfg) < 0 || mapping_index_topics(ix, cfg) < 0) {
		mapping_index_free(ix);
		return NULL;
	}
	return ix;
}

void mapping_index_free(struct mapping_index *ix)
{
	int i;

	if (!ix)
		return;
	for (i = 0; i < ix->n_nodes; i++) {
		free(ix->nodes[i].kids);
		free(ix->nodes[i].filters);
	}
	free(ix->nodes);
	free(ix->filters);
	free(ix->filter_routes);
	free(ix->dev_start);
	free(ix->dev_routes);
	free(ix);
}

const int *mapping_index_device(const struct mapping_index *ix, int slot, int *n)
{
	if (slot < 0 || slot >= ix->n_slots || ix->dev_start[slot + 1] == ix->dev_start[slot]) {
		*n = 0;
		return NULL;
	}
	*n = ix->dev_start[slot + 1] - ix->dev_start[slot];
	return &ix->dev_routes[ix->dev_start[slot]];
}

static int mapping_index_find(const struct mapping_index *ix, int node, const char *level, size_t len)
{
	const struct mi_node *n = &ix->nodes[node];
	int lo = 0, hi = n->n_kids, mid, c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = mapping_index_cmp_level(n->kids[mid].level, n->kids[mid].len, level, len);
		if (c == 0)
			return n->kids[mid].node;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int mapping_index_via(const char *filter, const char *const *via, int n)
{
	int i;

	if (n < 0)
		return 1;
	for (i = 0; i < n; i++)
		if (strcmp(via[i], filter) == 0)
			return 1;
	return 0;
}

/* The node's filters: lower *best to the first route >= from of one that matches. */
static void mapping_index_consider(const struct mapping_index *ix, const struct mi_node *n, const char *topic,
				   const char *const *via, int n_via, int from, int *best)
{
	int i, lo, hi, mid;

	for (i = 0; i < n->n_filters; i++) {
		const struct mi_filter *f = &ix->filters[n->filters[i]];

		lo = 0;
		hi = f->n_routes;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			if (f->routes[mid] < from)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == f->n_routes || f->routes[lo] >= *best)
			continue;
		if (mapping_index_via(f->filter, via, n_via) && topic_matches(f->filter, topic))
			*best = f->routes[lo];
	}
}

int mapping_index_next(const struct mapping_index *ix, const char *topic, const char *const *via, int n_via,
		       int from)
{
	const char *p = topic, *e;
	int best = INT_MAX, node = 0, last = 0;

	if (ix->n_nodes == 0)
		return -1;
	for (;;) {
		mapping_index_consider(ix, &ix->nodes[node], topic, via, n_via, from, &best);
		if (last)
			break;
		e = strchrnul(p, '/');
		node = mapping_index_find(ix, node, p, (size_t)(e - p));
		if (node < 0)
			break;
		last = *e == '\0';
		p = e + 1;
	}
	return best == INT_MAX ? -1 : best;
}
