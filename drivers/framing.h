/*
 * framing.h - split a serial byte stream into frames: at an end-of-line
 * sequence (EOL), every frame_len bytes (FIXED), or at a gap of silence
 * (IDLE).
 *
 * Pure: bytes in, frames out through a callback, no I/O, no clock reads, so
 * it is unit tested and fuzzed on byte arrays. Time, where a mode needs it,
 * is passed in by the caller as milliseconds on any monotonic clock. The
 * buffer is allocated once at init and frames are handed out as pointers
 * into it, NUL-terminated for convenience (a frame may still hold NUL bytes:
 * use its length). Nothing is allocated per frame.
 *
 * Modes:
 *
 *   EOL    A frame ends at the eol sequence (1..8 bytes), which is not part
 *          of the frame. A frame longer than max_frame is dropped whole and
 *          counted in `dropped`: the bytes up to the next eol are discarded,
 *          never split into garbage frames. framing_init() is this mode.
 *
 *   FIXED  Every frame_len bytes are a frame (max_frame is not used). No
 *          frame can be over-long, so nothing is counted in `dropped`.
 *
 *   IDLE   A frame ends when no byte has arrived for idle_ms: the pending
 *          bytes become a frame at framing_deadline(), emitted by
 *          framing_tick() (or by the next framing_feed_at() if the caller
 *          was late: a byte arriving at or after the deadline starts a new
 *          frame, so a late tick never merges two frames). A frame that
 *          grows past max_frame before its gap is dropped whole and counted
 *          in `dropped`, exactly as in EOL mode: the rest of it, up to the
 *          next gap, is discarded. It is not emitted in max_frame pieces,
 *          because a piece cut from the middle of a stream is not a frame
 *          the device sent (a checksum would refuse it anyway, and a route
 *          would publish nonsense). A frame of exactly max_frame bytes is
 *          delivered.
 *
 * Resync timeout (EOL and FIXED, optional): with timeout_ms > 0, a partial
 * frame that sees no new byte for timeout_ms is discarded and counted in
 * `incomplete`. This is what keeps FIXED framing aligned after a lost or
 * extra byte (without it, every later frame would be shifted), and stops a
 * stale half line from being glued to the next one in EOL mode. After the
 * gap, an EOL framer that was discarding an over-long line starts afresh.
 *
 * Time rules: feed times must not go backwards (if they do, no gap is seen).
 * A gap is "now >= time of the last byte + idle_ms (or timeout_ms)". All the
 * bytes of one feed share one timestamp: an IDLE framer can only separate
 * frames that reach it in different reads, so idle_ms must exceed the
 * latency of the path (USB-serial adapters batch bytes for up to 16 ms).
 */
#ifndef MQTTGW_FRAMING_H
#define MQTTGW_FRAMING_H

#include <stddef.h>
#include <stdint.h>

typedef void (*framing_cb)(const char *frame, size_t len, void *ctx);

enum framing_mode { FRAMING_EOL, FRAMING_FIXED, FRAMING_IDLE };

/* Config names, indexed by enum framing_mode, NULL-terminated: "eol", "fixed", "idle". */
extern const char *const framing_mode_names[];
/* A config name to a mode: 0, or -1 if it is none of the names. */
int framing_parse_mode(const char *name, enum framing_mode *out);

/* Limits checked by framing_init_mode(). */
#define FRAMING_EOL_MAX 8
#define FRAMING_LEN_MAX (16u * 1024 * 1024)	/* max_frame, frame_len */

/* What framing_init_mode() takes; a zeroed struct plus the fields below. */
struct framing_params {
	enum framing_mode mode;
	const char *eol;	/* EOL: 1..FRAMING_EOL_MAX bytes, copied */
	size_t eol_len;
	size_t max_frame;	/* EOL, IDLE: longest frame, 1..FRAMING_LEN_MAX */
	size_t frame_len;	/* FIXED: frame size, 1..FRAMING_LEN_MAX */
	uint32_t idle_ms;	/* IDLE: silence that ends a frame, >= 1 */
	uint32_t timeout_ms;	/* EOL, FIXED: resync timeout, 0 = none; IDLE: must be 0 */
};

struct framer {
	char *buf;
	size_t len;		/* bytes held */
	size_t cap;		/* EOL: max_frame + eol_len; FIXED: frame_len; IDLE: max_frame */
	char eol[FRAMING_EOL_MAX];
	size_t eol_len;
	size_t max_frame;
	int discarding;		/* inside an over-long frame */
	uint64_t dropped;	/* over-long frames dropped */
	/* since framing_init_mode(); framing_init() leaves them zero (EOL) */
	enum framing_mode mode;
	uint32_t gap_ms;	/* IDLE: idle_ms; EOL, FIXED: timeout_ms (0 = none) */
	uint64_t last_ms;	/* time of the last byte fed */
	uint64_t incomplete;	/* partial frames discarded by the resync timeout */
};

/*
 * EOL framing: eol_len 1..8, max_frame 1..FRAMING_LEN_MAX. 0 / -1 (out of
 * memory or bad arguments). Same as framing_init_mode() with mode FRAMING_EOL and no
 * timeout.
 */
int framing_init(struct framer *f, const char *eol, size_t eol_len, size_t max_frame);
/*
 * Any mode. 0 / -1 (out of memory, or p breaks the limits in struct
 * framing_params; fields a mode does not use are ignored). On -1, f is
 * still safe to pass to framing_free().
 */
int framing_init_mode(struct framer *f, const struct framing_params *p);
/* Frees the buffer; accepts NULL and an already freed framer. */
void framing_free(struct framer *f);
/*
 * Feed bytes that arrived at now_ms; cb is called once per complete frame,
 * in order. Before the bytes are taken, a frame or partial frame whose gap
 * has passed is dealt with as framing_tick() would. data may be NULL when
 * len is 0 (then this is just a tick).
 */
void framing_feed_at(struct framer *f, const char *data, size_t len, uint64_t now_ms, framing_cb cb, void *ctx);
/*
 * Feed bytes without a time: framing_feed_at() at the time of the last byte,
 * so no gap is ever seen. Right for EOL and FIXED framers without a
 * timeout; IDLE framers and timeouts need framing_feed_at().
 */
void framing_feed(struct framer *f, const char *data, size_t len, framing_cb cb, void *ctx);
/*
 * When framing_tick() has something to do: IDLE, the time the pending bytes
 * become a frame; EOL/FIXED with a timeout, the time a partial frame is
 * discarded. UINT64_MAX when nothing is pending (use it as a poll deadline).
 */
uint64_t framing_deadline(const struct framer *f);
/*
 * If now_ms has reached framing_deadline(), emit the pending IDLE frame
 * through cb (or discard an EOL/FIXED partial frame and count it in
 * `incomplete`). Calling it early or often is harmless.
 */
void framing_tick(struct framer *f, uint64_t now_ms, framing_cb cb, void *ctx);
/* Forget a partial frame (port reopened). Counters are kept. */
void framing_reset(struct framer *f);

#endif
