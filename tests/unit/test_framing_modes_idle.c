/*
 * test_framing_modes_idle.c - unit tests for the IDLE framing mode in
 * drivers/framing.c: a frame is whatever arrived before a gap of idle_ms.
 * Split from test_framing_modes.c (FIXED, the resync timeout, the random
 * streams of both modes) to keep each file readable; the helpers both use
 * are in framing_modes_fixture.h.
 *
 * The same rule as for EOL framing: the frames must not depend on how the
 * kernel cut the stream into reads, so directed cases are run whole, byte by
 * byte and cut at every position and every pair of positions. Time is an
 * argument here, so the gap rules are tested at their exact boundaries
 * (idle_ms - 1 and idle_ms), both when framing_tick() notices a gap and when
 * only the next feed does.
 *
 * The directed cases spell out their init/feed/tick/CHECK calls one by one,
 * and look alike to `duplicates`: the bytes and the times are the case, and
 * a CHECK inside a shared helper would name the helper's line, not the
 * case's.
 */
#include <stdint.h>
#include <string.h>

#include "framing.h"
#include "framing_modes_fixture.h"
#include "unit.h"

/* ---- IDLE: a gap ends the frame ---- */


TEST(idle_frame_is_emitted_at_its_deadline)
{
	struct framing_params p = params(FRAMING_IDLE, 64, 0, 20, 0);
	struct framer f;
	struct frames c;

	memset(&c, 0, sizeof(c));
	CHECK_INT(framing_init_mode(&f, &p), 0);
	CHECK(framing_deadline(&f) == UINT64_MAX);
	framing_feed_at(&f, "AB", 2, 100, collect, &c);
	CHECK(framing_deadline(&f) == 120);
	framing_feed_at(&f, "CD", 2, 110, collect, &c);
	CHECK(framing_deadline(&f) == 130); /* from the last byte */
	framing_tick(&f, 125, collect, &c);
	framing_tick(&f, 129, collect, &c);
	CHECK_INT(c.n, 0);
	framing_tick(&f, 130, collect, &c);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.n ? c.f[0] : NULL, "ABCD");
	CHECK(framing_deadline(&f) == UINT64_MAX);
	framing_tick(&f, 500, collect, &c);
	CHECK_INT(c.n, 1);
	/* an empty feed is just a tick */
	framing_feed_at(&f, "E", 1, 600, collect, &c);
	framing_feed_at(&f, NULL, 0, 619, collect, &c);
	CHECK_INT(c.n, 1);
	framing_feed_at(&f, NULL, 0, 620, collect, &c);
	CHECK_INT(c.n, 2);
	CHECK_STR(c.n == 2 ? c.f[1] : NULL, "E");
	CHECK_INT(f.dropped, 0);
	frames_clear(&c);
	framing_free(&f);
}

TEST(idle_split_feeds_at_one_time_are_one_frame)
{
	struct framing_params p = params(FRAMING_IDLE, 32, 0, 5, 0);

	expect_cuts(&p, S("hello\r\nworld\n"), 5, "hello\r\nworld\n", 0);
	expect_cuts(&p, S("x"), 5, "x", 0);
	/* not due yet: nothing */
	expect_cuts(&p, S("hello"), 4, "", 0);
}

TEST(idle_binary_frame_with_nuls)
{
	static const char s[] = "\x01\x03\x02\x00\x0A\x38\x43";
	struct framing_params p = params(FRAMING_IDLE, 32, 0, 5, 0);
	struct framer f;
	struct frames c;
	size_t cut;

	for (cut = 0; cut <= 7; cut++) {
		memset(&c, 0, sizeof(c));
		CHECK_INT(framing_init_mode(&f, &p), 0);
		framing_feed_at(&f, s, cut, 7, collect, &c);
		framing_feed_at(&f, s + cut, 7 - cut, 7, collect, &c);
		framing_tick(&f, 12, collect, &c);
		CHECK_INT(c.n, 1);
		CHECK(c.n == 1 && c.len[0] == 7 && memcmp(c.f[0], s, 7) == 0);
		CHECK_INT(c.unterminated, 0);
		frames_clear(&c);
		framing_free(&f);
	}
}

TEST(idle_gap_boundary_without_ticks)
{
	struct framing_params p = params(FRAMING_IDLE, 64, 0, 20, 0);
	struct framer f;
	struct frames c;

	/* 19 ms of silence is not a gap */
	memset(&c, 0, sizeof(c));
	CHECK_INT(framing_init_mode(&f, &p), 0);
	framing_feed_at(&f, "AB", 2, 0, collect, &c);
	framing_feed_at(&f, "CD", 2, 19, collect, &c);
	CHECK_INT(c.n, 0);
	framing_tick(&f, 39, collect, &c);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.n ? c.f[0] : NULL, "ABCD");
	frames_clear(&c);
	framing_free(&f);
	/* 20 ms is: the late feed emits the first frame before taking its bytes */
	CHECK_INT(framing_init_mode(&f, &p), 0);
	framing_feed_at(&f, "AB", 2, 0, collect, &c);
	framing_feed_at(&f, "CD", 2, 20, collect, &c);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.n ? c.f[0] : NULL, "AB");
	framing_tick(&f, 40, collect, &c);
	CHECK_INT(c.n, 2);
	CHECK_STR(c.n == 2 ? c.f[1] : NULL, "CD");
	frames_clear(&c);
	framing_free(&f);
}

TEST(idle_max_frame_exactly_is_delivered)
{
	struct framing_params p = params(FRAMING_IDLE, 4, 0, 10, 0);

	expect_cuts(&p, S("ABCD"), 10, "ABCD", 0);
	p.max_frame = 1;
	expect_cuts(&p, S("Z"), 10, "Z", 0);
}

TEST(idle_over_long_frame_is_dropped_whole_and_counted_once)
{
	struct framing_params p = params(FRAMING_IDLE, 4, 0, 10, 0);
	struct framer f;
	struct frames c;

	/* at every split, five bytes in one burst: one drop, no frame */
	expect_cuts(&p, S("ABCDE"), 10, "", 1);
	expect_cuts(&p, S("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), 1000, "", 1);

	memset(&c, 0, sizeof(c));
	CHECK_INT(framing_init_mode(&f, &p), 0);
	framing_feed_at(&f, "AB", 2, 0, collect, &c);
	framing_feed_at(&f, "CD", 2, 5, collect, &c);
	framing_feed_at(&f, "E", 1, 9, collect, &c); /* the fifth byte, before the gap */
	CHECK_INT(f.dropped, 1);
	CHECK(framing_deadline(&f) == UINT64_MAX); /* nothing will be emitted */
	framing_tick(&f, 18, collect, &c);
	CHECK_INT(c.n, 0);
	/* the rest of the over-long frame, still without a gap, is discarded */
	framing_feed_at(&f, "XX", 2, 18, collect, &c);
	framing_tick(&f, 27, collect, &c);
	CHECK_INT(c.n, 0);
	CHECK_INT(f.dropped, 1);
	/* after a gap, bytes are a new frame */
	framing_feed_at(&f, "FG", 2, 28, collect, &c);
	framing_tick(&f, 38, collect, &c);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.n ? c.f[0] : NULL, "FG");
	frames_clear(&c);
	framing_free(&f);

	memset(&c, 0, sizeof(c));
	CHECK_INT(framing_init_mode(&f, &p), 0);
	framing_feed_at(&f, "ABCDEF", 6, 0, collect, &c);
	framing_feed_at(&f, "GHI", 3, 9, collect, &c);
	framing_feed_at(&f, "JKLMNOP", 7, 18, collect, &c); /* 9 ms apart: one long frame */
	CHECK_INT(f.dropped, 1);
	framing_feed_at(&f, "OK", 2, 28, collect, &c); /* 10 ms later: a new frame */
	CHECK(framing_deadline(&f) == 38);
	framing_tick(&f, 38, collect, &c);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.n ? c.f[0] : NULL, "OK");
	CHECK_INT(f.dropped, 1);
	/* two over-long frames in a row count twice */
	framing_feed_at(&f, "123456", 6, 100, collect, &c);
	framing_feed_at(&f, "123456", 6, 110, collect, &c);
	framing_tick(&f, 1000, collect, &c);
	CHECK_INT(f.dropped, 3);
	CHECK_INT(c.n, 1);
	frames_clear(&c);
	framing_free(&f);
}

TEST(idle_deadline_saturates)
{
	struct framing_params p = params(FRAMING_IDLE, 8, 0, 10, 0);
	struct framer f;
	struct frames c;

	memset(&c, 0, sizeof(c));
	CHECK_INT(framing_init_mode(&f, &p), 0);
	framing_feed_at(&f, "A", 1, UINT64_MAX - 5, collect, &c);
	CHECK(framing_deadline(&f) == UINT64_MAX);
	framing_tick(&f, UINT64_MAX - 1, collect, &c);
	CHECK_INT(c.n, 0);
	framing_tick(&f, UINT64_MAX, collect, &c);
	CHECK_INT(c.n, 1);
	frames_clear(&c);
	framing_free(&f);
}

TEST(idle_time_going_backwards_is_no_gap)
{
	struct framing_params p = params(FRAMING_IDLE, 8, 0, 10, 0);
	struct framer f;
	struct frames c;

	memset(&c, 0, sizeof(c));
	CHECK_INT(framing_init_mode(&f, &p), 0);
	framing_feed_at(&f, "AB", 2, 1000, collect, &c);
	framing_feed_at(&f, "CD", 2, 500, collect, &c);
	CHECK_INT(c.n, 0);
	CHECK(framing_deadline(&f) == 510);
	framing_tick(&f, 510, collect, &c);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.n ? c.f[0] : NULL, "ABCD");
	frames_clear(&c);
	framing_free(&f);
}

TEST(feed_without_time_joins_the_pending_frame)
{
	struct framing_params p = params(FRAMING_IDLE, 8, 0, 10, 0);
	struct framer f;
	struct frames c;

	memset(&c, 0, sizeof(c));
	CHECK_INT(framing_init_mode(&f, &p), 0);
	framing_feed_at(&f, "AB", 2, 1000, collect, &c);
	framing_feed(&f, "CD", 2, collect, &c);
	CHECK(framing_deadline(&f) == 1010);
	framing_tick(&f, 1010, collect, &c);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.n ? c.f[0] : NULL, "ABCD");
	frames_clear(&c);
	framing_free(&f);
}

int main(void)
{
	RUN(idle_frame_is_emitted_at_its_deadline);
	RUN(idle_split_feeds_at_one_time_are_one_frame);
	RUN(idle_binary_frame_with_nuls);
	RUN(idle_gap_boundary_without_ticks);
	RUN(idle_max_frame_exactly_is_delivered);
	RUN(idle_over_long_frame_is_dropped_whole_and_counted_once);
	RUN(idle_deadline_saturates);
	RUN(idle_time_going_backwards_is_no_gap);
	RUN(feed_without_time_joins_the_pending_frame);
	return UNIT_DONE();
}
