/*
 * fuzz_framing_modes.c - libFuzzer target for drivers/framing.c in every
 * mode (EOL, FIXED, IDLE, with and without the resync timeout).
 *
 * The first bytes choose the mode and its parameters; the rest is a script
 * of operations: feed bytes (time moves on a little), tick, move to the
 * gap's end and tick there, let time pass, reset. The script runs twice: once as
 * written, and once with every feed cut in two at the same time and no
 * ticks at all (only right before a reset). Framing must not depend on how
 * reads are cut or on how promptly the loop ticks, so both runs must give
 * the same frames and the same counters. Along the way:
 *   - every frame is NUL-terminated, FIXED frames are frame_len bytes, EOL
 *     and IDLE frames at most max_frame;
 *   - framing_deadline() is the last byte's time plus the gap, or
 *     UINT64_MAX when nothing is pending, and a tick at it clears it;
 *   - FIXED without a timeout loses no byte.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Idrivers tests/fuzz/fuzz_framing_modes.c drivers/framing.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_HDR 10

struct fuzz_run {
	const struct framing_params *p;
	uint64_t hash;		/* FNV-1a over every frame's length and bytes */
	uint64_t frames;
	uint64_t bytes;		/* frame bytes since the last reset */
};

static void fuzz_framing_check(int cond)
{
	if (!cond)
		abort();
}

static void fuzz_framing_hash(uint64_t *h, const void *b, size_t n)
{
	const uint8_t *p = b;

	while (n--) {
		*h ^= *p++;
		*h *= 0x100000001b3ULL;
	}
}

static void fuzz_framing_frame(const char *frame, size_t len, void *ctx)
{
	struct fuzz_run *r = ctx;

	fuzz_framing_check(frame[len] == '\0');
	if (r->p->mode == FRAMING_FIXED)
		fuzz_framing_check(len == r->p->frame_len);
	else
		fuzz_framing_check(len <= r->p->max_frame);
	fuzz_framing_hash(&r->hash, &len, sizeof(len));
	fuzz_framing_hash(&r->hash, frame, len);
	r->frames++;
	r->bytes += len;
}

static void fuzz_framing_deadline_ok(const struct framer *f, const struct framing_params *p)
{
	uint64_t d = framing_deadline(f), gap = p->mode == FRAMING_IDLE ? p->idle_ms : p->timeout_ms;

	if (gap == 0 || f->discarding || f->len == 0)
		fuzz_framing_check(d == UINT64_MAX);
	else
		fuzz_framing_check(d == (f->last_ms > UINT64_MAX - gap ? UINT64_MAX : f->last_ms + gap));
}

/* Run the script; split != 0 is the second run (cut feeds, no ticks). */
static void fuzz_framing_run(const struct framing_params *p, const uint8_t *s, size_t n, int split,
			     struct fuzz_run *r, struct framer *f)
{
	uint64_t now = 1000, fed = 0;
	size_t i = 0;

	memset(r, 0, sizeof(*r));
	r->p = p;
	r->hash = 0xcbf29ce484222325ULL;
	fuzz_framing_check(framing_init_mode(f, p) == 0);
	while (i < n) {
		uint8_t op = s[i++], arg = op >> 3;

		switch (op & 7) {
		case 0: case 1: case 2: case 3: {
			size_t len = i < n ? s[i++] % 48 : 0, cut;

			if (len > n - i)
				len = n - i;
			now += arg % 4 == 0 ? arg : 0;
			if (split && len > 1) {
				cut = 1 + (size_t)s[i] % (len - 1);
				framing_feed_at(f, (const char *)s + i, cut, now, fuzz_framing_frame, r);
				framing_feed_at(f, (const char *)s + i + cut, len - cut, now, fuzz_framing_frame, r);
			} else {
				framing_feed_at(f, (const char *)s + i, len, now, fuzz_framing_frame, r);
			}
			i += len;
			fed += len;
			break;
		}
		case 4:
			now += arg;
			if (!split)
				framing_tick(f, now, fuzz_framing_frame, r);
			break;
		case 5: {
			/* to the deadline: from last_ms, which both runs share */
			uint64_t gap = p->mode == FRAMING_IDLE ? p->idle_ms : p->timeout_ms;
			uint64_t d = gap ? f->last_ms + gap : now;

			if (d > now)
				now = d;
			if (!split) {
				framing_tick(f, now, fuzz_framing_frame, r);
				if (gap)
					fuzz_framing_check(framing_deadline(f) == UINT64_MAX);
			}
			break;
		}
		case 6:
			framing_tick(f, now, fuzz_framing_frame, r);
			framing_reset(f);
			r->bytes = 0;
			fed = 0;
			break;
		default:
			now += (uint64_t)arg * 10;
			break;
		}
		fuzz_framing_deadline_ok(f, p);
		if (p->mode == FRAMING_FIXED && p->timeout_ms == 0)
			fuzz_framing_check(r->bytes + f->len == fed);
	}
	/* let every gap pass */
	framing_tick(f, now + 100000, fuzz_framing_frame, r);
	fuzz_framing_check(framing_deadline(f) == UINT64_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct framing_params p;
	struct framer fa, fb;
	struct fuzz_run a, b;

	if (size < FUZZ_HDR)
		return 0;
	memset(&p, 0, sizeof(p));
	p.mode = (enum framing_mode)(data[0] % 3);
	p.max_frame = 1 + data[1] % 64;
	p.frame_len = 1 + data[2] % 32;
	p.idle_ms = 1 + data[3] % 40;
	p.timeout_ms = p.mode == FRAMING_IDLE || data[4] < 128 ? 0 : 1 + data[4] % 40;
	p.eol = (const char *)data + 6;
	p.eol_len = 1 + data[5] % 3;

	fuzz_framing_run(&p, data + FUZZ_HDR, size - FUZZ_HDR, 0, &a, &fa);
	fuzz_framing_run(&p, data + FUZZ_HDR, size - FUZZ_HDR, 1, &b, &fb);
	fuzz_framing_check(a.frames == b.frames && a.hash == b.hash);
	fuzz_framing_check(fa.dropped == fb.dropped && fa.incomplete == fb.incomplete);
	framing_free(&fa);
	framing_free(&fb);
	return 0;
}
