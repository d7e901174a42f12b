/*
 * framing_modes_fixture.h - what the unit tests of the FIXED and IDLE framing
 * modes share (test_framing_modes.c, test_framing_modes_idle.c): framing
 * params from one call, expected frames spelled "ABC|DEF", and expect_cuts(),
 * which feeds a stream whole, byte by byte and cut at every position and
 * every pair of positions (frames.h) and wants the same frames each time.
 * Header-only and static inline, like unit.h and frames.h: each test binary
 * is one file plus libmqttgw.a. It defines MAXF for frames.h.
 */
#ifndef MQTTGW_FRAMING_MODES_FIXTURE_H
#define MQTTGW_FRAMING_MODES_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"
#include "unit.h"

#define MAXF 512

#include "frames.h"

static inline int frames_same(const struct frames *a, const struct frames *b)
{
	int i;

	if (a->n != b->n || a->unterminated || b->unterminated || a->overflow || b->overflow)
		return 0;
	for (i = 0; i < a->n; i++)
		if (a->len[i] != b->len[i] || memcmp(a->f[i], b->f[i], a->len[i]) != 0)
			return 0;
	return 1;
}

/* Expected frames: strings, split at '|' ("ABC|DEF"); "" is none. */
static inline void frames_from(struct frames *c, const char *spec)
{
	const char *p = spec;

	memset(c, 0, sizeof(*c));
	while (*spec) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		char *tmp = malloc(n + 1);

		memcpy(tmp, p, n);
		tmp[n] = '\0';
		collect(tmp, n, c);
		free(tmp);
		if (!bar)
			break;
		p = bar + 1;
	}
}

static inline struct framing_params params(enum framing_mode mode, size_t max_frame, size_t frame_len, uint32_t idle_ms,
				    uint32_t timeout_ms)
{
	struct framing_params p;

	memset(&p, 0, sizeof(p));
	p.mode = mode;
	p.eol = "\n";
	p.eol_len = 1;
	p.max_frame = max_frame;
	p.frame_len = frame_len;
	p.idle_ms = idle_ms;
	p.timeout_ms = timeout_ms;
	return p;
}

/*
 * Feed s cut at cuts[0..ncuts) (ascending), every piece at time t, then tick
 * at tick_at; compare with want and the counters.
 */
static inline int feed_cut(const struct framing_params *p, const char *s, size_t len, const size_t *cuts, int ncuts,
		    uint64_t t, uint64_t tick_at, const struct frames *want, uint64_t dropped, const char *how)
{
	struct framer f;
	struct frames c;
	size_t pos = 0;
	int i, ok;

	memset(&c, 0, sizeof(c));
	if (framing_init_mode(&f, p) < 0)
		return 0;
	for (i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;

		framing_feed_at(&f, s + pos, end - pos, t, collect, &c);
		pos = end;
	}
	framing_tick(&f, tick_at, collect, &c);
	ok = frames_same(&c, want) && f.dropped == dropped;
	if (!ok) {
		printf("# stream of %zu bytes, mode %d: dropped %llu (want %llu)\n", len, (int)p->mode,
		       (unsigned long long)f.dropped, (unsigned long long)dropped);
		frames_dump(&c, how);
		frames_dump(want, "wanted");
	}
	frames_clear(&c);
	framing_free(&f);
	return ok;
}

struct mode_case {
	const struct framing_params *p;
	const char *s;
	size_t len;
	uint64_t tick_at;
	const struct frames *want;
	uint64_t dropped;
};

static inline int mode_case_check(const size_t *cuts, int ncuts, const char *how, void *ctx)
{
	const struct mode_case *k = ctx;

	return feed_cut(k->p, k->s, k->len, cuts, ncuts, 0, k->tick_at, k->want, k->dropped, how);
}

/* Whole, byte by byte, one cut anywhere, two cuts anywhere: same frames (frames.h). */
static inline void expect_cuts(const struct framing_params *p, const char *s, size_t len, uint64_t tick_at,
			const char *want_spec, uint64_t dropped)
{
	struct frames want;
	struct mode_case k = {p, s, len, tick_at, &want, dropped};

	frames_from(&want, want_spec);
	if (!frames_every_cut(len, mode_case_check, &k))
		unit_cur_failed = 1;
	frames_clear(&want);
}

#define S(lit) lit, sizeof(lit) - 1

#endif
