/*
 * pollsched.c - the poll schedule of one serial device (see pollsched.h).
 *
 * Slots are computed from the start time, never from the last run, so a
 * late tick does not shift every poll after it (no drift), and a long
 * stall yields one poll, not a burst (missed slots are skipped).
 */
#include <stdlib.h>
#include <string.h>

#include "pollsched.h"

int pollsched_init(struct pollsched *ps, int n)
{
	int i;

	memset(ps, 0, sizeof(*ps));
	if (n <= 0)
		return 0;
	ps->every = calloc((size_t)n, sizeof(*ps->every));
	ps->offset = calloc((size_t)n, sizeof(*ps->offset));
	ps->next = calloc((size_t)n, sizeof(*ps->next));
	if (!ps->every || !ps->offset || !ps->next) {
		pollsched_free(ps);
		return -1;
	}
	for (i = 0; i < n; i++)
		ps->every[i] = 1;
	ps->n = n;
	return 0;
}

void pollsched_set(struct pollsched *ps, int i, int every_ms, int offset_ms)
{
	if (i < 0 || i >= ps->n)
		return;
	ps->every[i] = every_ms > 0 ? (uint64_t)every_ms : 1;
	ps->offset[i] = offset_ms > 0 ? (uint64_t)offset_ms % ps->every[i] : 0;
}

void pollsched_free(struct pollsched *ps)
{
	if (!ps)
		return;
	free(ps->every);
	free(ps->offset);
	free(ps->next);
	memset(ps, 0, sizeof(*ps));
}

void pollsched_start(struct pollsched *ps, uint64_t now)
{
	int i;

	ps->start = now;
	ps->running = ps->n > 0;
	for (i = 0; i < ps->n; i++)
		ps->next[i] = now + ps->offset[i];
}

void pollsched_stop(struct pollsched *ps)
{
	ps->running = 0;
}

uint64_t pollsched_deadline(const struct pollsched *ps)
{
	uint64_t d = UINT64_MAX;
	int i;

	if (!ps->running)
		return UINT64_MAX;
	for (i = 0; i < ps->n; i++)
		if (ps->next[i] < d)
			d = ps->next[i];
	return d;
}

uint64_t pollsched_run(struct pollsched *ps, uint64_t now, int (*busy)(int i, void *ctx),
		       void (*fire)(int i, void *ctx), void *ctx)
{
	int i;

	if (!ps->running)
		return UINT64_MAX;
	for (i = 0; i < ps->n; i++) {
		uint64_t k;

		if (now < ps->next[i])
			continue;
		/* the first slot after now: slots between the due one and it were missed */
		k = (now - ps->next[i]) / ps->every[i];
		ps->missed += k;
		ps->next[i] += (k + 1) * ps->every[i];
		if (busy && busy(i, ctx)) {
			ps->skipped++;
			continue;
		}
		ps->fired++;
		if (fire)
			fire(i, ctx);
		/* fire may have stopped the schedule (the write lost the port) */
		if (!ps->running)
			return UINT64_MAX;
	}
	return pollsched_deadline(ps);
}
