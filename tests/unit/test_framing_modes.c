/*
 * test_framing_modes.c - unit tests for the FIXED framing mode, the resync
 * timeout in drivers/framing.c and what every mode shares (test_framing.c
 * covers EOL, test_framing_modes_idle.c the IDLE mode; split to keep each file
 * readable, with the helpers both use in framing_modes_fixture.h).
 *
 * The same rule as for EOL framing: the frames must not depend on how the
 * kernel cut the stream into reads, so directed cases are run whole, byte by
 * byte and cut at every position and every pair of positions. Time is an
 * argument here, so the gap rules are tested at their exact boundaries
 * (idle_ms - 1 and idle_ms), both when framing_tick() notices a gap and when
 * only the next feed does. Pseudo-random event streams (fixed seed) are then
 * compared with a few-line reference model, with extra cuts and stray ticks
 * thrown in. (Framing and the codec together are tested in test_codec.c.)
 *
 * The directed cases spell out their init/feed/tick/CHECK calls one by one,
 * and look alike to `duplicates`: the bytes and the times are the case, and
 * a CHECK inside a shared helper would name the helper's line, not the
 * case's. What every case shares (the collector, every way of cutting a
 * stream) is in frames.h and framing_modes_fixture.h.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"
#include "framing_modes_fixture.h"
#include "unit.h"

TEST(init_mode_refuses_bad_params)
{
	struct framer f;
	struct framing_params p;

	CHECK_INT(framing_init_mode(&f, NULL), -1);
	framing_free(&f);
	/* EOL */
	p = params(FRAMING_EOL, 16, 0, 0, 0);
	p.eol_len = 0;
	CHECK_INT(framing_init_mode(&f, &p), -1);
	p.eol_len = 9;
	p.eol = "123456789";
	CHECK_INT(framing_init_mode(&f, &p), -1);
	p = params(FRAMING_EOL, 16, 0, 0, 0);
	p.eol = NULL;
	CHECK_INT(framing_init_mode(&f, &p), -1);
	p = params(FRAMING_EOL, 0, 0, 0, 0);
	CHECK_INT(framing_init_mode(&f, &p), -1);
	p = params(FRAMING_EOL, FRAMING_LEN_MAX + 1, 0, 0, 0);
	CHECK_INT(framing_init_mode(&f, &p), -1);
	p = params(FRAMING_EOL, (size_t)-1, 0, 0, 0);
	CHECK_INT(framing_init_mode(&f, &p), -1);
	/* FIXED */
	p = params(FRAMING_FIXED, 16, 0, 0, 0);
	CHECK_INT(framing_init_mode(&f, &p), -1);
	p = params(FRAMING_FIXED, 16, FRAMING_LEN_MAX + 1, 0, 0);
	CHECK_INT(framing_init_mode(&f, &p), -1);
	/* IDLE */
	p = params(FRAMING_IDLE, 16, 0, 0, 0);
	CHECK_INT(framing_init_mode(&f, &p), -1); /* idle_ms 0 */
	p = params(FRAMING_IDLE, 0, 0, 10, 0);
	CHECK_INT(framing_init_mode(&f, &p), -1);
	p = params(FRAMING_IDLE, 16, 0, 10, 5);
	CHECK_INT(framing_init_mode(&f, &p), -1); /* timeout is not an IDLE thing */
	/* unknown mode */
	p = params((enum framing_mode)7, 16, 4, 10, 0);
	CHECK_INT(framing_init_mode(&f, &p), -1);
	framing_free(&f);
	/* the good ones; unused fields are ignored */
	p = params(FRAMING_FIXED, 0, 1, 0, 0);
	p.eol = NULL;
	CHECK_INT(framing_init_mode(&f, &p), 0);
	framing_free(&f);
	p = params(FRAMING_IDLE, 1, 0, 1, 0);
	p.eol_len = 99;
	CHECK_INT(framing_init_mode(&f, &p), 0);
	framing_free(&f);
	p = params(FRAMING_EOL, 1, 0, 0, 1);
	CHECK_INT(framing_init_mode(&f, &p), 0);
	framing_free(&f);
	framing_free(&f);
	framing_free(NULL);
}

TEST(mode_names)
{
	enum framing_mode m = FRAMING_IDLE;

	CHECK_INT(framing_parse_mode("eol", &m), 0);
	CHECK_INT(m, FRAMING_EOL);
	CHECK_INT(framing_parse_mode("fixed", &m), 0);
	CHECK_INT(m, FRAMING_FIXED);
	CHECK_INT(framing_parse_mode("idle", &m), 0);
	CHECK_INT(m, FRAMING_IDLE);
	CHECK_INT(framing_parse_mode("IDLE", &m), -1);
	CHECK_INT(framing_parse_mode("", &m), -1);
	CHECK_INT(framing_parse_mode(NULL, &m), -1);
	CHECK_INT(m, FRAMING_IDLE);
	CHECK_STR(framing_mode_names[FRAMING_FIXED], "fixed");
	CHECK(framing_mode_names[FRAMING_IDLE + 1] == NULL);
}

TEST(framing_init_is_eol_mode_without_deadlines)
{
	struct framer f;
	struct frames c;

	memset(&c, 0, sizeof(c));
	CHECK_INT(framing_init(&f, "\r\n", 2, 8), 0);
	CHECK_INT(f.mode, FRAMING_EOL);
	CHECK(framing_deadline(&f) == UINT64_MAX);
	framing_feed(&f, "abc", 3, collect, &c);
	CHECK(framing_deadline(&f) == UINT64_MAX);
	framing_tick(&f, UINT64_MAX, collect, &c);
	framing_feed_at(&f, "d\r\n", 3, 1000000, collect, &c);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.n ? c.f[0] : NULL, "abcd");
	CHECK_INT(f.incomplete, 0);
	frames_clear(&c);
	framing_free(&f);
}

TEST(eol_mode_through_init_mode)
{
	struct framing_params p = params(FRAMING_EOL, 4, 0, 0, 0);

	p.eol = "\r\n";
	p.eol_len = 2;
	expect_cuts(&p, S("abcd\r\nTOOLONG\r\n\r\nx\r\n"), 0, "abcd||x", 1);
}

TEST(fixed_frames_at_every_split)
{
	struct framing_params p = params(FRAMING_FIXED, 0, 3, 0, 0);

	expect_cuts(&p, S("ABCDEFGHI"), UINT64_MAX, "ABC|DEF|GHI", 0);
	/* the tail waits for the rest of its frame */
	expect_cuts(&p, S("ABCDEFGHIJ"), UINT64_MAX, "ABC|DEF|GHI", 0);
	expect_cuts(&p, S("AB"), UINT64_MAX, "", 0);
	p.frame_len = 1;
	expect_cuts(&p, S("xyz"), UINT64_MAX, "x|y|z", 0);
	p.frame_len = 12;
	expect_cuts(&p, S("0123456789AB"), UINT64_MAX, "0123456789AB", 0);
	/* the eol means nothing in fixed mode */
	p.frame_len = 2;
	expect_cuts(&p, S("\n\nA\n\n\n"), UINT64_MAX, "\n\n|A\n|\n\n", 0);
}

TEST(fixed_frames_are_binary_safe)
{
	static const char s[] = "\x01\x00\r\n\xff\x00\x00\x00";
	struct framing_params p = params(FRAMING_FIXED, 0, 2, 0, 0);
	struct framer f;
	struct frames c;
	size_t cut;

	for (cut = 0; cut <= 8; cut++) {
		memset(&c, 0, sizeof(c));
		CHECK_INT(framing_init_mode(&f, &p), 0);
		framing_feed(&f, s, cut, collect, &c);
		framing_feed(&f, s + cut, 8 - cut, collect, &c);
		CHECK_INT(c.n, 4);
		CHECK_INT(c.unterminated, 0);
		if (c.n == 4) {
			CHECK(c.len[0] == 2 && memcmp(c.f[0], "\x01\x00", 2) == 0);
			CHECK(c.len[1] == 2 && memcmp(c.f[1], "\r\n", 2) == 0);
			CHECK(c.len[2] == 2 && memcmp(c.f[2], "\xff\x00", 2) == 0);
			CHECK(c.len[3] == 2 && memcmp(c.f[3], "\x00\x00", 2) == 0);
		}
		CHECK_INT(f.dropped, 0);
		frames_clear(&c);
		framing_free(&f);
	}
}

TEST(fixed_without_timeout_waits_forever)
{
	struct framing_params p = params(FRAMING_FIXED, 0, 4, 0, 0);
	struct framer f;
	struct frames c;

	memset(&c, 0, sizeof(c));
	CHECK_INT(framing_init_mode(&f, &p), 0);
	framing_feed_at(&f, "AB", 2, 10, collect, &c);
	CHECK(framing_deadline(&f) == UINT64_MAX);
	framing_tick(&f, UINT64_MAX, collect, &c);
	framing_feed_at(&f, "CD", 2, 1000000000, collect, &c);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.n ? c.f[0] : NULL, "ABCD");
	CHECK_INT(f.incomplete, 0);
	frames_clear(&c);
	framing_free(&f);
}

TEST(fixed_timeout_discards_a_partial_frame)
{
	struct framing_params p = params(FRAMING_FIXED, 0, 3, 0, 50);
	struct framer f;
	struct frames c;

	memset(&c, 0, sizeof(c));
	CHECK_INT(framing_init_mode(&f, &p), 0);
	CHECK(framing_deadline(&f) == UINT64_MAX);
	framing_feed_at(&f, "AB", 2, 1000, collect, &c);
	CHECK(framing_deadline(&f) == 1050);
	framing_feed_at(&f, "C", 1, 1040, collect, &c); /* completes in time */
	CHECK_INT(c.n, 1);
	CHECK(framing_deadline(&f) == UINT64_MAX); /* nothing pending */
	framing_feed_at(&f, "DE", 2, 1041, collect, &c);
	CHECK(framing_deadline(&f) == 1091);
	framing_tick(&f, 1090, collect, &c);
	CHECK_INT(f.incomplete, 0);
	framing_tick(&f, 1091, collect, &c);
	CHECK_INT(f.incomplete, 1);
	CHECK_INT(f.len, 0);
	CHECK(framing_deadline(&f) == UINT64_MAX);
	framing_feed_at(&f, "FGH", 3, 2000, collect, &c);
	CHECK_INT(c.n, 2);
	CHECK_STR(c.n == 2 ? c.f[1] : NULL, "FGH");
	/* without a tick, the next feed after the gap does the same */
	framing_feed_at(&f, "IJ", 2, 3000, collect, &c);
	framing_feed_at(&f, "KLMN", 4, 3050, collect, &c);
	CHECK_INT(f.incomplete, 2);
	CHECK_INT(c.n, 3);
	CHECK_STR(c.n == 3 ? c.f[2] : NULL, "KLM");
	/* one ms earlier, no gap */
	framing_feed_at(&f, "OP", 2, 3099, collect, &c);
	CHECK_INT(c.n, 4);
	CHECK_STR(c.n == 4 ? c.f[3] : NULL, "NOP");
	CHECK_INT(f.incomplete, 2);
	CHECK_INT(f.dropped, 0);
	frames_clear(&c);
	framing_free(&f);
}

TEST(fixed_timeout_realigns_after_a_lost_byte)
{
	/* 4-byte frames "Sxx." every 100 ms; the second loses a byte on the wire */
	struct framing_params p = params(FRAMING_FIXED, 0, 4, 0, 30);
	struct framer f;
	struct frames c;

	memset(&c, 0, sizeof(c));
	CHECK_INT(framing_init_mode(&f, &p), 0);
	framing_feed_at(&f, "S01.", 4, 0, collect, &c);
	framing_feed_at(&f, "S2.", 3, 100, collect, &c);
	framing_feed_at(&f, "S03.", 4, 200, collect, &c);
	framing_feed_at(&f, "S04.", 4, 300, collect, &c);
	CHECK_INT(c.n, 3);
	CHECK_STR(c.n == 3 ? c.f[1] : NULL, "S03.");
	CHECK_STR(c.n == 3 ? c.f[2] : NULL, "S04.");
	CHECK_INT(f.incomplete, 1);
	frames_clear(&c);
	framing_free(&f);
}

TEST(reset_forgets_pending_bytes_in_every_mode)
{
	struct framing_params pi = params(FRAMING_IDLE, 4, 0, 10, 0), pf = params(FRAMING_FIXED, 0, 3, 0, 10);
	struct framer f;
	struct frames c;

	memset(&c, 0, sizeof(c));
	CHECK_INT(framing_init_mode(&f, &pi), 0);
	framing_feed_at(&f, "AB", 2, 0, collect, &c);
	framing_reset(&f);
	CHECK(framing_deadline(&f) == UINT64_MAX);
	framing_tick(&f, 100, collect, &c);
	CHECK_INT(c.n, 0);
	framing_feed_at(&f, "ABCDEF", 6, 200, collect, &c); /* over-long, discarding */
	framing_reset(&f);
	framing_feed_at(&f, "XY", 2, 201, collect, &c); /* no gap, but reset ended it */
	framing_tick(&f, 211, collect, &c);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.n ? c.f[0] : NULL, "XY");
	CHECK_INT(f.dropped, 1); /* counters are kept */
	framing_free(&f);
	frames_clear(&c);

	CHECK_INT(framing_init_mode(&f, &pf), 0);
	framing_feed_at(&f, "AB", 2, 0, collect, &c);
	framing_reset(&f);
	CHECK(framing_deadline(&f) == UINT64_MAX);
	framing_feed_at(&f, "CDE", 3, 1, collect, &c);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.n ? c.f[0] : NULL, "CDE");
	CHECK_INT(f.incomplete, 0);
	framing_free(&f);
	frames_clear(&c);
}

TEST(eol_timeout_drops_a_stale_half_line)
{
	struct framing_params p = params(FRAMING_EOL, 4, 0, 0, 50);
	struct framer f;
	struct frames c;

	memset(&c, 0, sizeof(c));
	CHECK_INT(framing_init_mode(&f, &p), 0);
	framing_feed_at(&f, "ab", 2, 0, collect, &c);
	framing_feed_at(&f, "c\n", 2, 49, collect, &c); /* in time */
	CHECK_INT(c.n, 1);
	CHECK_STR(c.n ? c.f[0] : NULL, "abc");
	CHECK(framing_deadline(&f) == UINT64_MAX);
	framing_feed_at(&f, "abc", 3, 100, collect, &c);
	CHECK(framing_deadline(&f) == 150);
	framing_feed_at(&f, "def\n", 4, 200, collect, &c);
	CHECK_INT(c.n, 2);
	CHECK_STR(c.n == 2 ? c.f[1] : NULL, "def");
	CHECK_INT(f.incomplete, 1);
	/* by tick */
	framing_feed_at(&f, "gh", 2, 300, collect, &c);
	framing_tick(&f, 349, collect, &c);
	CHECK_INT(f.incomplete, 1);
	framing_tick(&f, 350, collect, &c);
	CHECK_INT(f.incomplete, 2);
	framing_feed_at(&f, "i\n", 2, 351, collect, &c);
	CHECK_INT(c.n, 3);
	CHECK_STR(c.n == 3 ? c.f[2] : NULL, "i");
	CHECK_INT(f.dropped, 0);
	frames_clear(&c);
	framing_free(&f);
}

TEST(eol_timeout_ends_an_over_long_line)
{
	struct framing_params p = params(FRAMING_EOL, 4, 0, 0, 50);
	struct framer f;
	struct frames c;

	/* without a timeout the rest of an over-long line is discarded up to its eol */
	memset(&c, 0, sizeof(c));
	CHECK_INT(framing_init(&f, "\n", 1, 4), 0);
	framing_feed_at(&f, "0123456789", 10, 0, collect, &c);
	framing_feed_at(&f, "ok\n", 3, 1000, collect, &c);
	CHECK_INT(c.n, 0);
	CHECK_INT(f.dropped, 1);
	framing_free(&f);
	/* with one, the silence ends it: the next line is kept */
	CHECK_INT(framing_init_mode(&f, &p), 0);
	framing_feed_at(&f, "0123456789", 10, 0, collect, &c);
	CHECK(framing_deadline(&f) == UINT64_MAX);
	framing_feed_at(&f, "ok\n", 3, 50, collect, &c);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.n ? c.f[0] : NULL, "ok");
	CHECK_INT(f.dropped, 1);
	CHECK_INT(f.incomplete, 0); /* already counted as dropped */
	frames_clear(&c);
	framing_free(&f);
	/* a CR kept for a CRLF across the gap is stale too */
	p.eol = "\r\n";
	p.eol_len = 2;
	CHECK_INT(framing_init_mode(&f, &p), 0);
	framing_feed_at(&f, "0123456789\r", 11, 0, collect, &c);
	framing_tick(&f, 50, collect, &c);
	framing_feed_at(&f, "\nok\r\n", 5, 60, collect, &c);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.n ? c.f[0] : NULL, "\nok");
	CHECK_INT(f.dropped, 1);
	CHECK_INT(f.incomplete, 0); /* the CR was part of the dropped line */
	frames_clear(&c);
	framing_free(&f);
}

TEST(deadline_is_none_when_empty_in_every_mode)
{
	struct framing_params ps[3];
	struct framer f;
	int i;

	ps[0] = params(FRAMING_EOL, 4, 0, 0, 10);
	ps[1] = params(FRAMING_FIXED, 0, 4, 0, 10);
	ps[2] = params(FRAMING_IDLE, 4, 0, 10, 0);
	for (i = 0; i < 3; i++) {
		CHECK_INT(framing_init_mode(&f, &ps[i]), 0);
		CHECK(framing_deadline(&f) == UINT64_MAX);
		framing_feed_at(&f, NULL, 0, 5, collect, NULL);
		CHECK(framing_deadline(&f) == UINT64_MAX);
		framing_free(&f);
	}
}

/* ---- random streams against a reference model ---- */

static uint32_t rng_state = 4242;

static uint32_t rng(void)
{
	return unit_xorshift32(&rng_state);
}

struct event {
	size_t off, len;
	uint64_t t;
};

/*
 * The reference: bursts are runs of events less than gap ms apart. IDLE: a
 * burst is a frame, or a drop if longer than max. FIXED: a burst is cut into
 * frame_len pieces; a rest is counted incomplete (with a timeout; without
 * one, the whole stream is a single burst).
 */
static void reference(const char *s, const struct event *ev, int nev, const struct framing_params *p,
		      struct frames *c, uint64_t *dropped, uint64_t *incomplete)
{
	uint64_t gap = p->mode == FRAMING_IDLE ? p->idle_ms : p->timeout_ms;
	int i = 0;

	while (i < nev) {
		size_t start = ev[i].off, end = ev[i].off + ev[i].len, k;
		int j = i + 1;

		while (j < nev && (gap == 0 || ev[j].t - ev[j - 1].t < gap)) {
			end = ev[j].off + ev[j].len;
			j++;
		}
		if (p->mode == FRAMING_IDLE) {
			if (end - start > p->max_frame) {
				(*dropped)++;
			} else {
				char *tmp = malloc(end - start + 1);

				memcpy(tmp, s + start, end - start);
				tmp[end - start] = '\0';
				collect(tmp, end - start, c);
				free(tmp);
			}
		} else {
			for (k = start; k + p->frame_len <= end; k += p->frame_len) {
				char *tmp = malloc(p->frame_len + 1);

				memcpy(tmp, s + k, p->frame_len);
				tmp[p->frame_len] = '\0';
				collect(tmp, p->frame_len, c);
				free(tmp);
			}
			if (k < end && gap)
				(*incomplete)++;
		}
		i = j;
	}
}

static void random_against_reference(enum framing_mode mode)
{
	int round, bad = 0;

	for (round = 0; round < 3000 && bad < 3; round++) {
		char s[600];
		struct event ev[64];
		struct framing_params p;
		struct frames got, want;
		struct framer f;
		uint64_t t = rng() % 1000, want_dropped = 0, want_incomplete = 0;
		size_t len = 0;
		int nev = 0, i;

		if (mode == FRAMING_IDLE)
			p = params(mode, 1 + rng() % 24, 0, 1 + rng() % 30, 0);
		else
			p = params(mode, 0, 1 + rng() % 9, 0, rng() % 3 ? 1 + rng() % 30 : 0);
		while (nev < 64 && len < sizeof(s) - 16) {
			size_t n = 1 + rng() % 12, k;

			for (k = 0; k < n; k++)
				s[len + k] = "ab\r\n\0\xff"[rng() % 6];
			ev[nev].off = len;
			ev[nev].len = n;
			ev[nev].t = t;
			len += n;
			nev++;
			/* mostly short pauses, sometimes exactly the gap or around it */
			switch (rng() % 4) {
			case 0:
				t += 0;
				break;
			case 1:
				t += rng() % 40;
				break;
			case 2:
				t += (mode == FRAMING_IDLE ? p.idle_ms : p.timeout_ms) - rng() % 2;
				break;
			default:
				t += rng() % 3;
				break;
			}
			if (rng() % 20 == 0)
				break;
		}
		memset(&got, 0, sizeof(got));
		memset(&want, 0, sizeof(want));
		reference(s, ev, nev, &p, &want, &want_dropped, &want_incomplete);
		CHECK_INT(framing_init_mode(&f, &p), 0);
		for (i = 0; i < nev; i++) {
			size_t off = ev[i].off, left = ev[i].len;

			/* one event may reach us in several reads, at the same time */
			while (left > 0) {
				size_t n = 1 + rng() % (left + 2);

				if (n > left)
					n = left;
				framing_feed_at(&f, s + off, n, ev[i].t, collect, &got);
				off += n;
				left -= n;
			}
			/* stray ticks, at or before the next event, change nothing */
			if (i + 1 < nev && rng() % 2) {
				uint64_t dl = framing_deadline(&f), tt = ev[i].t + rng() % (ev[i + 1].t - ev[i].t + 1);

				framing_tick(&f, rng() % 2 && dl <= ev[i + 1].t ? dl : tt, collect, &got);
			}
		}
		framing_tick(&f, framing_deadline(&f), collect, &got);
		if (!frames_same(&got, &want) || f.dropped != want_dropped || f.incomplete != want_incomplete) {
			if (!bad) {
				printf("# round %d mode %d: got %d frames, %llu dropped, %llu incomplete; want %d, %llu, "
				       "%llu\n",
				       round, (int)mode, got.n, (unsigned long long)f.dropped,
				       (unsigned long long)f.incomplete, want.n, (unsigned long long)want_dropped,
				       (unsigned long long)want_incomplete);
			}
			bad++;
		}
		frames_clear(&got);
		frames_clear(&want);
		framing_free(&f);
	}
	CHECK_INT(bad, 0);
}

TEST(random_idle_streams_match_the_reference)
{
	random_against_reference(FRAMING_IDLE);
}

TEST(random_fixed_streams_match_the_reference)
{
	random_against_reference(FRAMING_FIXED);
}

int main(void)
{
	RUN(init_mode_refuses_bad_params);
	RUN(mode_names);
	RUN(framing_init_is_eol_mode_without_deadlines);
	RUN(eol_mode_through_init_mode);
	RUN(fixed_frames_at_every_split);
	RUN(fixed_frames_are_binary_safe);
	RUN(fixed_without_timeout_waits_forever);
	RUN(fixed_timeout_discards_a_partial_frame);
	RUN(fixed_timeout_realigns_after_a_lost_byte);
	RUN(reset_forgets_pending_bytes_in_every_mode);
	RUN(eol_timeout_drops_a_stale_half_line);
	RUN(eol_timeout_ends_an_over_long_line);
	RUN(deadline_is_none_when_empty_in_every_mode);
	RUN(random_idle_streams_match_the_reference);
	RUN(random_fixed_streams_match_the_reference);
	return UNIT_DONE();
}
