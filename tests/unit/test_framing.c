/*
 * test_framing.c - unit tests for drivers/framing.c (eol framing).
 *
 * A serial port hands bytes over in whatever pieces the kernel and the
 * device choose, so framing must give the same frames however the stream is
 * cut. The tests therefore run each stream through the framer in several
 * ways (all at once, one byte at a time, split at every single position, and
 * at every pair of positions) and compare the frames each time with the
 * expected list. The last tests compare the framer with a ten-line
 * reference (split the whole stream at each eol, drop frames longer than
 * max_frame) on pseudo-random streams with a fixed seed, so a failure is
 * reproducible.
 *
 * Frames are collected with their length, so NUL bytes inside a frame are
 * checked as bytes, and the collector checks the NUL terminator the header
 * promises after every frame.
 *
 * The EXPECT() lines are the table of directed cases, grouped into tests by
 * what they show; neighbouring tests look alike to `duplicates` and are
 * meant to. The collector and the cutting are in frames.h.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"
#include "unit.h"

#define MAXF 64
#include "frames.h"

/* Expected frames as C strings (no NULs) */
static int frames_equal(const struct frames *c, const char *const *want, int nwant)
{
	int i;

	if (c->n != nwant || c->unterminated)
		return 0;
	for (i = 0; i < nwant; i++)
		if (c->len[i] != strlen(want[i]) || memcmp(c->f[i], want[i], c->len[i]) != 0)
			return 0;
	return 1;
}

/*
 * Feed stream in pieces cut at cuts[0..ncuts) (ascending) and check the
 * frames and the drop count.
 */
static int feed_cut(const char *eol, size_t max, const char *s, size_t len, const size_t *cuts, int ncuts,
		    const char *const *want, int nwant, uint64_t dropped, const char *how)
{
	struct framer f;
	struct frames c;
	size_t pos = 0;
	int i, ok;

	memset(&c, 0, sizeof(c));
	if (framing_init(&f, eol, strlen(eol), max) < 0)
		return 0;
	for (i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;

		framing_feed(&f, s + pos, end - pos, collect, &c);
		pos = end;
	}
	ok = frames_equal(&c, want, nwant) && f.dropped == dropped;
	if (!ok) {
		printf("# stream \"%.*s\" (eol len %zu, max_frame %zu), dropped %llu (want %llu)\n", (int)len, s,
		       strlen(eol), max, (unsigned long long)f.dropped, (unsigned long long)dropped);
		frames_dump(&c, how);
	}
	frames_clear(&c);
	framing_free(&f);
	return ok;
}

struct eol_case {
	const char *eol, *s;
	size_t max, len;
	const char *const *want;
	int nwant;
	uint64_t dropped;
};

static int eol_case_check(const size_t *cuts, int ncuts, const char *how, void *ctx)
{
	const struct eol_case *k = ctx;

	return feed_cut(k->eol, k->max, k->s, k->len, cuts, ncuts, k->want, k->nwant, k->dropped, how);
}

/*
 * The stream must give want[] and dropped whatever the cuts (frames.h).
 * Reports the first failure only.
 */
static void expect_frames(const char *eol, size_t max, const char *s, const char *const *want, int nwant,
			  uint64_t dropped)
{
	struct eol_case k = {eol, s, max, strlen(s), want, nwant, dropped};

	if (!frames_every_cut(k.len, eol_case_check, &k))
		unit_cur_failed = 1;
}

#define W(...) ((const char *const[]){__VA_ARGS__})
#define NW(...) (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))
#define EXPECT(eol, max, s, dropped, ...) expect_frames(eol, max, s, W(__VA_ARGS__), NW(__VA_ARGS__), dropped)
#define EXPECT_NONE(eol, max, s, dropped) expect_frames(eol, max, s, NULL, 0, dropped)

TEST(init_refuses_bad_arguments)
{
	struct framer f;

	CHECK_INT(framing_init(&f, "", 0, 16), -1);
	CHECK_INT(framing_init(&f, "123456789", 9, 16), -1);
	CHECK_INT(framing_init(&f, "\n", 1, 0), -1);
	CHECK_INT(framing_init(&f, "12345678", 8, 1), 0);
	framing_free(&f);
	framing_free(&f);
	framing_free(NULL);
}

TEST(lf_lines)
{
	EXPECT("\n", 32, "abc\n", 0, "abc");
	EXPECT("\n", 32, "one\ntwo\nthree\n", 0, "one", "two", "three");
}

TEST(crlf_lines_as_the_motor_sends_them)
{
	EXPECT("\r\n", 256, "POSZ+001000\r\n", 0, "POSZ+001000");
	EXPECT("\r\n", 256, "POSX+1\r\nPOSY-2\r\nPOSZ+3\r\n", 0, "POSX+1", "POSY-2", "POSZ+3");
}

TEST(lone_cr_or_lf_stays_inside_a_crlf_frame)
{
	EXPECT("\r\n", 32, "a\rb\r\n", 0, "a\rb");
	EXPECT("\r\n", 32, "a\nb\r\n", 0, "a\nb");
	EXPECT("\r\n", 32, "\n\r\r\n", 0, "\n\r");
	EXPECT("\r\n", 32, "x\r\r\ny\r\n", 0, "x\r", "y");
}

TEST(empty_frames_are_delivered)
{
	EXPECT("\n", 8, "\n\n", 0, "", "");
	EXPECT("\r\n", 8, "\r\n\r\nz\r\n", 0, "", "", "z");
}

TEST(unterminated_tail_waits_for_its_eol)
{
	EXPECT("\r\n", 32, "done\r\npartial", 0, "done");
	EXPECT("\r\n", 32, "done\r\npartial\r", 0, "done");
	EXPECT_NONE("\r\n", 32, "no eol at all", 0);
}

TEST(multi_byte_eols)
{
	EXPECT("END", 16, "aENDbbENDENDc", 0, "a", "bb", "");
	/* self-overlapping eol: the first occurrence wins */
	EXPECT("aab", 16, "xaaabyaab", 0, "xa", "y");
	EXPECT("\r\n\r\n", 16, "head\r\n\r\nbody\r\nline\r\n\r\n", 0, "head", "body\r\nline");
	EXPECT("12345678", 4, "ab12345678cd12345678", 0, "ab", "cd");
	/* most of an eol inside a frame is just data */
	EXPECT("12345678", 16, "1234567abc12345678", 0, "1234567abc");
}

TEST(max_frame_exactly_is_delivered)
{
	EXPECT("\r\n", 8, "12345678\r\n", 0, "12345678");
	EXPECT("\n", 8, "12345678\n", 0, "12345678");
	EXPECT("END", 8, "12345678END", 0, "12345678");
	EXPECT("\n", 1, "a\nb\n\n", 0, "a", "b", "");
}

TEST(max_frame_plus_one_is_dropped_whole_and_counted_once)
{
	EXPECT("\r\n", 8, "123456789\r\nok\r\n", 1, "ok");
	EXPECT("\n", 8, "123456789\nok\n", 1, "ok");
	EXPECT("END", 8, "123456789ENDok\n\nEND", 1, "ok\n\n");
	EXPECT("\n", 1, "ab\nc\n", 1, "c");
	/* before and after a good frame, and two in a row */
	EXPECT("\r\n", 4, "good\r\nTOOLONG\r\nfine\r\nXXXXX\r\nYYYYYY\r\nend\r\n", 3, "good", "fine", "end");
}

TEST(eol_straddling_the_full_buffer)
{
	/* the eol of an over-long frame arrives exactly at the buffer's edge */
	EXPECT("\r\n", 4, "12345\r\nab\r\n", 1, "ab");
	EXPECT("\r\n", 4, "123456\r\nab\r\n", 1, "ab");
	/* a partial eol at the edge that turns out not to be one */
	EXPECT("\r\n", 4, "1234\rx\r\nab\r\n", 1, "ab");
	EXPECT("END", 4, "1234ENxEND12END", 1, "12");
	EXPECT("END", 4, "1234EEND12END", 1, "12");
}

TEST(long_garbage_then_a_good_line)
{
	static char s[5000];
	struct framer f;
	struct frames c;
	size_t i;

	memset(&c, 0, sizeof(c));
	for (i = 0; i < 4000; i++)
		s[i] = (char)('A' + i % 26); /* no CR or LF */
	s[4000] = '\r';
	s[4001] = '\n';
	strcpy(s + 4002, "POSZ+1\r\n");
	CHECK_INT(framing_init(&f, "\r\n", 2, 64), 0);
	framing_feed(&f, s, strlen(s), collect, &c);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.n ? c.f[0] : NULL, "POSZ+1");
	CHECK_INT(f.dropped, 1);
	frames_clear(&c);
	/* the same stream in 7-byte reads, and with reads that end on the CR */
	framing_reset(&f);
	f.dropped = 0;
	for (i = 0; i < strlen(s); i += 7)
		framing_feed(&f, s + i, strlen(s) - i < 7 ? strlen(s) - i : 7, collect, &c);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.n ? c.f[0] : NULL, "POSZ+1");
	CHECK_INT(f.dropped, 1);
	frames_clear(&c);
	framing_reset(&f);
	f.dropped = 0;
	framing_feed(&f, s, 4001, collect, &c);
	framing_feed(&f, s + 4001, strlen(s) - 4001, collect, &c);
	CHECK_INT(c.n, 1);
	CHECK_INT(f.dropped, 1);
	frames_clear(&c);
	framing_free(&f);
}

TEST(garbage_full_of_partial_eols)
{
	static char s[3000];
	struct framer f;
	struct frames c;
	size_t i;

	memset(&c, 0, sizeof(c));
	for (i = 0; i < 2000; i++)
		s[i] = i % 3 ? 'x' : '\r'; /* "\rxx\rxx..." never "\r\n" */
	strcpy(s + 2000, "\r\nOK\r\n");
	CHECK_INT(framing_init(&f, "\r\n", 2, 16), 0);
	for (i = 0; i < strlen(s); i++)
		framing_feed(&f, s + i, 1, collect, &c);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.n ? c.f[0] : NULL, "OK");
	CHECK_INT(f.dropped, 1);
	frames_clear(&c);
	framing_free(&f);
}

TEST(nul_bytes_inside_frames)
{
	static const char s[] = "a\0b\r\n\0\r\n\0\0\0\0\0\0\0\0\0\r\nz\r\n";
	struct framer f;
	struct frames c;
	size_t i;

	for (i = 0; i <= sizeof(s) - 1; i++) {
		memset(&c, 0, sizeof(c));
		CHECK_INT(framing_init(&f, "\r\n", 2, 8), 0);
		framing_feed(&f, s, i, collect, &c);
		framing_feed(&f, s + i, sizeof(s) - 1 - i, collect, &c);
		CHECK_INT(c.n, 3);
		CHECK_INT(c.unterminated, 0);
		if (c.n == 3) {
			CHECK_INT(c.len[0], 3);
			CHECK(memcmp(c.f[0], "a\0b", 3) == 0);
			CHECK_INT(c.len[1], 1);
			CHECK(c.f[1][0] == '\0');
			CHECK_STR(c.f[2], "z");
		}
		CHECK_INT(f.dropped, 1); /* the nine NULs */
		frames_clear(&c);
		framing_free(&f);
	}
}

TEST(nul_as_eol)
{
	static const char s[] = "one\0two\0\0";

	struct framer f;
	struct frames c;

	memset(&c, 0, sizeof(c));
	CHECK_INT(framing_init(&f, "", 1, 8), 0); /* eol is the NUL byte */
	framing_feed(&f, s, sizeof(s) - 1, collect, &c);
	CHECK_INT(c.n, 3);
	CHECK_STR(c.n == 3 ? c.f[1] : NULL, "two");
	CHECK_INT(c.n == 3 ? c.len[2] : 99, 0);
	frames_clear(&c);
	framing_free(&f);
}

TEST(reset_forgets_partial_and_discarding_state)
{
	struct framer f;
	struct frames c;

	memset(&c, 0, sizeof(c));
	CHECK_INT(framing_init(&f, "\r\n", 2, 4), 0);
	framing_feed(&f, "abc", 3, collect, &c);
	framing_reset(&f);
	framing_feed(&f, "d\r\n", 3, collect, &c);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.n ? c.f[0] : NULL, "d");
	/* reset in the middle of an over-long frame: the next line is kept */
	framing_feed(&f, "0123456789", 10, collect, &c);
	CHECK_INT(f.dropped, 1);
	framing_reset(&f);
	framing_feed(&f, "ok\r\n", 4, collect, &c);
	CHECK_INT(c.n, 2);
	CHECK_STR(c.n == 2 ? c.f[1] : NULL, "ok");
	/* reset between the CR and the LF: the LF alone is not an eol */
	framing_feed(&f, "xy\r", 3, collect, &c);
	framing_reset(&f);
	framing_feed(&f, "\nq\r\n", 4, collect, &c);
	CHECK_INT(c.n, 3);
	CHECK_STR(c.n == 3 ? c.f[2] : NULL, "\nq");
	frames_clear(&c);
	framing_free(&f);
}

TEST(empty_feed_does_nothing)
{
	struct framer f;
	struct frames c;

	memset(&c, 0, sizeof(c));
	CHECK_INT(framing_init(&f, "\n", 1, 4), 0);
	framing_feed(&f, "", 0, collect, &c);
	framing_feed(&f, "ab", 2, collect, &c);
	framing_feed(&f, NULL, 0, collect, &c);
	framing_feed(&f, "\n", 1, collect, &c);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.n ? c.f[0] : NULL, "ab");
	frames_clear(&c);
	framing_free(&f);
}

/* ---- differential test against a reference framer ---- */

static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
	return unit_xorshift32(&rng_state);
}

/*
 * The reference: split the whole stream at each eol (leftmost, scanning on
 * after it), deliver frames up to max bytes, count longer ones.
 */
static void reference(const char *s, size_t len, const char *eol, size_t el, size_t max, struct frames *c,
		      uint64_t *dropped)
{
	size_t start = 0;
	const char *e;

	while ((e = memmem(s + start, len - start, eol, el)) != NULL) {
		size_t flen = (size_t)(e - (s + start));

		if (flen > max) {
			(*dropped)++;
		} else {
			/* collect() checks the terminator; give it a copy with one */
			char *tmp = malloc(flen + 1);

			memcpy(tmp, s + start, flen);
			tmp[flen] = '\0';
			collect(tmp, flen, c);
			free(tmp);
		}
		start += flen + el;
	}
}

TEST(random_streams_match_the_reference)
{
	static const char *const eols[] = {"\n", "\r\n", "ab", "aa", "aba", "\0\0", "xyzxyzxy"};
	static const size_t eol_lens[] = {1, 2, 2, 2, 3, 2, 8};
	int round, bad = 0;

	for (round = 0; round < 3000 && bad < 3; round++) {
		int k = (int)(rng() % 7);
		const char *eol = eols[k];
		size_t el = eol_lens[k], max = 1 + rng() % 12, len = 0, pos = 0;
		char s[400];
		struct frames got, want;
		struct framer f;
		uint64_t want_dropped = 0;

		/* frames of 0..20 bytes from a small alphabet, each ended by the eol */
		while (len + 20 + el < sizeof(s)) {
			size_t n = rng() % 21, i;

			for (i = 0; i < n; i++)
				s[len++] = "ab\r\n\0xyz"[rng() % 8];
			memcpy(s + len, eol, el);
			len += el;
			if (rng() % 4 == 0)
				break;
		}
		memset(&got, 0, sizeof(got));
		memset(&want, 0, sizeof(want));
		reference(s, len, eol, el, max, &want, &want_dropped);
		CHECK_INT(framing_init(&f, eol, el, max), 0);
		while (pos < len) {
			size_t n = 1 + rng() % (rng() % 2 ? 4 : 64);

			if (n > len - pos)
				n = len - pos;
			framing_feed(&f, s + pos, n, collect, &got);
			pos += n;
		}
		if (got.n != want.n || f.dropped != want_dropped || got.unterminated) {
			bad++;
		} else {
			int i;

			for (i = 0; i < got.n; i++)
				if (got.len[i] != want.len[i] || memcmp(got.f[i], want.f[i], got.len[i]) != 0)
					break;
			if (i < got.n)
				bad++;
		}
		if (bad && !unit_cur_failed) {
			printf("# round %d: eol #%d max %zu: got %d frames / %llu dropped, want %d / %llu\n", round,
			       k, max, got.n, (unsigned long long)f.dropped, want.n,
			       (unsigned long long)want_dropped);
			unit_cur_failed = 1;
		}
		frames_clear(&got);
		frames_clear(&want);
		framing_free(&f);
	}
	CHECK_INT(bad, 0);
}

int main(void)
{
	RUN(init_refuses_bad_arguments);
	RUN(lf_lines);
	RUN(crlf_lines_as_the_motor_sends_them);
	RUN(lone_cr_or_lf_stays_inside_a_crlf_frame);
	RUN(empty_frames_are_delivered);
	RUN(unterminated_tail_waits_for_its_eol);
	RUN(multi_byte_eols);
	RUN(max_frame_exactly_is_delivered);
	RUN(max_frame_plus_one_is_dropped_whole_and_counted_once);
	RUN(eol_straddling_the_full_buffer);
	RUN(long_garbage_then_a_good_line);
	RUN(garbage_full_of_partial_eols);
	RUN(nul_bytes_inside_frames);
	RUN(nul_as_eol);
	RUN(reset_forgets_partial_and_discarding_state);
	RUN(empty_feed_does_nothing);
	RUN(random_streams_match_the_reference);
	return UNIT_DONE();
}
