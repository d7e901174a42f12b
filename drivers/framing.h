/*
 * framing.h - split a byte stream into frames at an end-of-line sequence.
 *
 * Pure: bytes in, frames out through a callback, no I/O, so it is unit
 * tested and fuzzed on byte arrays. The buffer is allocated once (max_frame
 * plus the eol) and frames are handed out as pointers into it, NUL-terminated
 * for convenience (a frame may still hold NUL bytes: use its length).
 *
 * A frame longer than max_frame is dropped whole and counted: the bytes up to
 * the next eol are discarded, never split into garbage frames.
 */
#ifndef MQTTGW_FRAMING_H
#define MQTTGW_FRAMING_H

#include <stddef.h>
#include <stdint.h>

typedef void (*framing_cb)(const char *frame, size_t len, void *ctx);

struct framer {
	char *buf;
	size_t len;		/* bytes held */
	size_t cap;		/* max_frame + eol_len */
	char eol[8];
	size_t eol_len;
	size_t max_frame;
	int discarding;		/* inside an over-long frame */
	uint64_t dropped;	/* over-long frames dropped */
};

/* eol_len 1..8, max_frame >= 1. 0 / -1 (out of memory or bad arguments). */
int framing_init(struct framer *f, const char *eol, size_t eol_len, size_t max_frame);
void framing_free(struct framer *f);
/* Feed bytes; cb is called once per complete frame, in order. */
void framing_feed(struct framer *f, const char *data, size_t len, framing_cb cb, void *ctx);
/* Forget a partial frame (port reopened). */
void framing_reset(struct framer *f);

#endif
