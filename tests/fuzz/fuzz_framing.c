/*
 * fuzz_framing.c - libFuzzer target for drivers/framing.c (eol framing).
 *
 * Input layout: byte 0 picks the eol length (1..8), the next bytes are the
 * eol itself, one byte picks max_frame (1..256), one byte seeds the read
 * sizes, and the rest is the byte stream from the "device". Taking the eol
 * from the input lets the fuzzer try self-overlapping and binary eols.
 *
 * The stream goes through three framers: all in one feed, one byte per
 * feed, and in pseudo-random chunks (1..~300 bytes, seeded by the input).
 * Each result must equal a reference computed on the whole stream: cut at
 * every eol (leftmost, scanning on after it), deliver frames of at most
 * max_frame bytes, count longer ones. The framer may also have counted the
 * unterminated tail, exactly when that tail has filled its buffer (at least
 * max_frame + eol_len bytes). Every frame must be NUL-terminated and no
 * longer than max_frame. Any difference aborts, so libFuzzer keeps the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
	char *bytes;
	size_t len, cap;
	size_t *lens;
	size_t n, ncap;
	size_t max_frame;
};

static void sink_add(struct sink *s, const char *p, size_t len)
{
	if (!s->bytes || s->len + len > s->cap) {
		s->cap = (s->len + len) * 2 + 64;
		s->bytes = realloc(s->bytes, s->cap);
	}
	if (s->n == s->ncap) {
		s->ncap = s->ncap * 2 + 16;
		s->lens = realloc(s->lens, s->ncap * sizeof(*s->lens));
	}
	if (!s->bytes || !s->lens)
		abort();
	memcpy(s->bytes + s->len, p, len);
	s->len += len;
	s->lens[s->n++] = len;
}

static void on_frame(const char *frame, size_t len, void *ctx)
{
	struct sink *s = ctx;

	if (len > s->max_frame) {
		fprintf(stderr, "frame of %zu bytes > max_frame %zu\n", len, s->max_frame);
		abort();
	}
	if (frame[len] != '\0') {
		fprintf(stderr, "frame not NUL-terminated\n");
		abort();
	}
	sink_add(s, frame, len);
}

static int sink_equal(const struct sink *a, const struct sink *b)
{
	if (a->n != b->n || a->len != b->len)
		return 0;
	return a->n == 0 || (memcmp(a->lens, b->lens, a->n * sizeof(*a->lens)) == 0 &&
			     (a->len == 0 || memcmp(a->bytes, b->bytes, a->len) == 0));
}

static void sink_free(struct sink *s)
{
	free(s->bytes);
	free(s->lens);
}

static uint32_t rng_next(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* 0: one feed, 1: byte by byte, 2: random chunks */
static void run(int how, const char *eol, size_t el, size_t max, const char *s, size_t len, uint32_t seed,
		struct sink *out, uint64_t *dropped)
{
	struct framer f;
	size_t pos = 0;

	if (framing_init(&f, eol, el, max) < 0)
		abort();
	out->max_frame = max;
	while (pos < len) {
		size_t n = how == 0 ? len : how == 1 ? 1 : 1 + rng_next(&seed) % (rng_next(&seed) % 2 ? 8 : 300);

		if (n > len - pos)
			n = len - pos;
		framing_feed(&f, s + pos, n, on_frame, out);
		pos += n;
	}
	*dropped = f.dropped;
	framing_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *eol, *s;
	size_t el, max, len, start = 0, tail;
	uint32_t seed;
	uint64_t ref_dropped = 0, want, got_dropped;
	struct sink ref;
	const char *e;
	int how;

	if (size < 1)
		return 0;
	el = data[0] % 8 + 1;
	if (size < 1 + el + 2)
		return 0;
	eol = (const char *)data + 1;
	max = (size_t)data[1 + el] + 1;
	seed = (uint32_t)data[2 + el] * 2654435761u + 1;
	s = (const char *)data + 3 + el;
	len = size - 3 - el;

	memset(&ref, 0, sizeof(ref));
	ref.max_frame = max;
	while ((e = memmem(s + start, len - start, eol, el)) != NULL) {
		size_t flen = (size_t)(e - (s + start));

		if (flen > max)
			ref_dropped++;
		else
			sink_add(&ref, s + start, flen);
		start += flen + el;
	}
	tail = len - start;
	want = ref_dropped + (tail >= max + el ? 1 : 0);

	for (how = 0; how < 3; how++) {
		struct sink got;

		memset(&got, 0, sizeof(got));
		run(how, eol, el, max, s, len, seed, &got, &got_dropped);
		if (!sink_equal(&got, &ref) || got_dropped != want) {
			fprintf(stderr, "feed mode %d: %zu frames, %llu dropped; reference %zu frames, %llu dropped\n",
				how, got.n, (unsigned long long)got_dropped, ref.n, (unsigned long long)want);
			abort();
		}
		sink_free(&got);
	}
	sink_free(&ref);
	return 0;
}
