/*
 * framing.c - eol framing with a fixed buffer and over-long frame dropping.
 *
 * Bytes are copied into one buffer of max_frame + eol_len (+1 for a NUL) and
 * searched for the eol from where the last search stopped, so every byte is
 * looked at about once whatever the read sizes. When the buffer holds more
 * than max_frame bytes plus a possible partial eol with no eol in it, the
 * frame is over-long: it is counted, and everything up to the next eol is
 * thrown away, keeping only the tail that could be the start of an eol.
 */
#include <stdlib.h>
#include <string.h>

#include "framing.h"

int framing_init(struct framer *f, const char *eol, size_t eol_len, size_t max_frame)
{
	memset(f, 0, sizeof(*f));
	if (eol_len < 1 || eol_len > sizeof(f->eol) || max_frame < 1)
		return -1;
	memcpy(f->eol, eol, eol_len);
	f->eol_len = eol_len;
	f->max_frame = max_frame;
	f->cap = max_frame + eol_len;
	f->buf = malloc(f->cap + 1);
	return f->buf ? 0 : -1;
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

static const char *framing_find_eol(const struct framer *f, size_t from)
{
	if (f->len < from + f->eol_len)
		return NULL;
	if (f->eol_len == 1)
		return memchr(f->buf + from, f->eol[0], f->len - from);
	return memmem(f->buf + from, f->len - from, f->eol, f->eol_len);
}

void framing_feed(struct framer *f, const char *data, size_t len, framing_cb cb, void *ctx)
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
