/*
 * framing.c - eol, fixed-length and idle-gap framing with one fixed buffer.
 *
 * EOL: bytes are copied into one buffer of max_frame + eol_len (+1 for a
 * NUL) and searched for the eol from where the last search stopped, so
 * every byte is looked at about once whatever the read sizes. When the
 * buffer holds more than max_frame bytes plus a possible partial eol with no
 * eol in it, the frame is over-long: it is counted, and everything up to the
 * next eol is thrown away, keeping only the tail that could be the start of
 * an eol.
 *
 * FIXED and IDLE need no search: FIXED copies until frame_len bytes are
 * held, IDLE copies until the caller's clock says the line went quiet. Time
 * is only ever compared, never read, and a gap is handled the same way
 * whether framing_tick() notices it or the next framing_feed_at() does, so
 * the frames do not depend on how promptly the event loop ticks.
 */
#include <stdlib.h>
#include <string.h>

#include "framing.h"

const char *const framing_mode_names[] = {"eol", "fixed", "idle", NULL};

int framing_parse_mode(const char *name, enum framing_mode *out)
{
	int i;

	for (i = 0; name && framing_mode_names[i]; i++)
		if (strcmp(framing_mode_names[i], name) == 0) {
			*out = (enum framing_mode)i;
			return 0;
		}
	return -1;
}

static int framing_alloc(struct framer *f, size_t cap)
{
	f->cap = cap;
	f->buf = malloc(cap + 1);
	return f->buf ? 0 : -1;
}

int framing_init_mode(struct framer *f, const struct framing_params *p)
{
	memset(f, 0, sizeof(*f));
	if (!p)
		return -1;
	f->mode = p->mode;
	switch (p->mode) {
	case FRAMING_EOL:
		if (!p->eol || p->eol_len < 1 || p->eol_len > sizeof(f->eol) || p->max_frame < 1 ||
		    p->max_frame > FRAMING_LEN_MAX)
			return -1;
		memcpy(f->eol, p->eol, p->eol_len);
		f->eol_len = p->eol_len;
		f->max_frame = p->max_frame;
		f->gap_ms = p->timeout_ms;
		return framing_alloc(f, p->max_frame + p->eol_len);
	case FRAMING_FIXED:
		if (p->frame_len < 1 || p->frame_len > FRAMING_LEN_MAX)
			return -1;
		f->max_frame = p->frame_len;
		f->gap_ms = p->timeout_ms;
		return framing_alloc(f, p->frame_len);
	case FRAMING_IDLE:
		if (p->max_frame < 1 || p->max_frame > FRAMING_LEN_MAX || p->idle_ms < 1 || p->timeout_ms != 0)
			return -1;
		f->max_frame = p->max_frame;
		f->gap_ms = p->idle_ms;
		return framing_alloc(f, p->max_frame);
	}
	return -1;
}

int framing_init(struct framer *f, const char *eol, size_t eol_len, size_t max_frame)
{
	struct framing_params p;

	memset(&p, 0, sizeof(p));
	p.mode = FRAMING_EOL;
	p.eol = eol;
	p.eol_len = eol_len;
	p.max_frame = max_frame;
	return framing_init_mode(f, &p);
}

void framing_free(struct framer *f)
{
	if (!f)
		return;
	free(f->buf);
	f->buf = NULL;
}

void framing_reset(struct framer *f)
{
	f->len = 0;
	f->discarding = 0;
}

/* ---- EOL ---- */

static const char *framing_find_eol(const struct framer *f, size_t from)
{
	if (f->len < from + f->eol_len)
		return NULL;
	if (f->eol_len == 1)
		return memchr(f->buf + from, f->eol[0], f->len - from);
	return memmem(f->buf + from, f->len - from, f->eol, f->eol_len);
}

static void framing_feed_eol(struct framer *f, const char *data, size_t len, framing_cb cb, void *ctx)
{
	while (len > 0) {
		size_t n = f->cap - f->len, start = 0, scan;
		const char *e;

		if (n > len)
			n = len;
		/* an eol may straddle the previous and this chunk */
		scan = f->len >= f->eol_len - 1 ? f->len - (f->eol_len - 1) : 0;
		memcpy(f->buf + f->len, data, n);
		f->len += n;
		data += n;
		len -= n;

		while ((e = framing_find_eol(f, scan)) != NULL) {
			size_t flen = (size_t)(e - (f->buf + start));

			if (f->discarding) {
				f->discarding = 0;
			} else if (flen > f->max_frame) {
				f->dropped++;
			} else {
				char saved = f->buf[start + flen];

				f->buf[start + flen] = '\0';
				cb(f->buf + start, flen, ctx);
				f->buf[start + flen] = saved;
			}
			start = scan = start + flen + f->eol_len;
		}
		/* keep the unterminated rest at the front */
		if (start > 0) {
			memmove(f->buf, f->buf + start, f->len - start);
			f->len -= start;
		}
		if (f->len > f->max_frame + f->eol_len - 1) {
			/* no eol can complete a frame short enough: drop it */
			size_t keep = f->eol_len - 1;

			if (!f->discarding)
				f->dropped++;
			f->discarding = 1;
			memmove(f->buf, f->buf + f->len - keep, keep);
			f->len = keep;
		}
	}
}

/* ---- FIXED and IDLE ---- */

/* Hand the held bytes out as one frame and empty the buffer. */
static void framing_emit(struct framer *f, framing_cb cb, void *ctx)
{
	f->buf[f->len] = '\0';
	cb(f->buf, f->len, ctx);
	f->len = 0;
}

static void framing_feed_fixed(struct framer *f, const char *data, size_t len, framing_cb cb, void *ctx)
{
	while (len > 0) {
		size_t n = f->cap - f->len;

		if (n > len)
			n = len;
		memcpy(f->buf + f->len, data, n);
		f->len += n;
		data += n;
		len -= n;
		if (f->len == f->cap)
			framing_emit(f, cb, ctx);
	}
}

static void framing_feed_idle(struct framer *f, const char *data, size_t len)
{
	if (f->discarding)
		return;
	if (len > f->cap - f->len) {
		/* over-long: drop what is held and ignore the rest until a gap */
		f->dropped++;
		f->discarding = 1;
		f->len = 0;
		return;
	}
	memcpy(f->buf + f->len, data, len);
	f->len += len;
}

/* ---- time ---- */

/* Is something waiting for a gap: a partial frame, or an over-long tail? */
static int framing_pending(const struct framer *f)
{
	return f->gap_ms > 0 && (f->len > 0 || f->discarding);
}

/* Time of the gap after the last byte, saturating. */
static uint64_t framing_gap_end(const struct framer *f)
{
	uint64_t gap = f->gap_ms;

	return f->last_ms > UINT64_MAX - gap ? UINT64_MAX : f->last_ms + gap;
}

uint64_t framing_deadline(const struct framer *f)
{
	/* a discarded tail ends quietly at the next feed: nothing to wake for */
	if (!framing_pending(f) || f->discarding)
		return UINT64_MAX;
	return framing_gap_end(f);
}

void framing_tick(struct framer *f, uint64_t now_ms, framing_cb cb, void *ctx)
{
	if (!framing_pending(f) || now_ms < framing_gap_end(f))
		return;
	if (f->discarding) {
		/* the over-long frame is over; an EOL tail kept for an eol goes too */
		f->discarding = 0;
		f->len = 0;
		return;
	}
	if (f->mode == FRAMING_IDLE) {
		framing_emit(f, cb, ctx);
	} else {
		f->incomplete++;
		f->len = 0;
	}
}

void framing_feed_at(struct framer *f, const char *data, size_t len, uint64_t now_ms, framing_cb cb, void *ctx)
{
	framing_tick(f, now_ms, cb, ctx);
	if (len == 0)
		return;
	f->last_ms = now_ms;
	switch (f->mode) {
	case FRAMING_EOL:
		framing_feed_eol(f, data, len, cb, ctx);
		break;
	case FRAMING_FIXED:
		framing_feed_fixed(f, data, len, cb, ctx);
		break;
	case FRAMING_IDLE:
		framing_feed_idle(f, data, len);
		break;
	}
}

void framing_feed(struct framer *f, const char *data, size_t len, framing_cb cb, void *ctx)
{
	framing_feed_at(f, data, len, f->last_ms, cb, ctx);
}
