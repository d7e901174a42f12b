/*
 * value.h - typed values in templates: "${1|float|round:1}", "${u16be@3|scale:0.1}".
 *
 * A placeholder names a source (a capture 0..9, or a typed field of a
 * hex-encoded frame at a byte offset) and a chain of filters. It is parsed
 * once, when the config is loaded (value_compile: every mistake is an error
 * message then, a printf format included), and rendered per frame or command
 * by value_render into the caller's buffer: no allocation, no I/O, so it is
 * unit-tested and fuzzed on plain strings.
 *
 * A value is text or a number (a 64-bit integer or a double). A filter that
 * needs a number converts text itself ("+001000" is 1000, " 21.5" is 21.5);
 * text that is not a decimal number, NaN, infinities, a number too large for
 * its format and a field past the end of the frame are refused with a
 * reason (enum value_err), never replaced by a made-up number.
 */
#ifndef MQTTGW_VALUE_H
#define MQTTGW_VALUE_H

#include <stddef.h>
#include <stdint.h>

enum value_err {
	VALUE_OK,
	VALUE_ERR_NOT_NUMBER,	/* text that is not a decimal number (or a missing capture) */
	VALUE_ERR_NOT_FINITE,	/* NaN or infinite (a float field, an overflowing scale) */
	VALUE_ERR_NOT_INTEGER,	/* a fraction where the format wants an integer */
	VALUE_ERR_RANGE,	/* too large for an integer or for the format's output */
	VALUE_ERR_PAST_END,	/* a typed field past the end of the frame */
	VALUE_ERR_SPACE		/* the output buffer is full */
};

/* How the rendered value is written out. */
enum value_out {
	VALUE_OUT_TEXT,		/* as is (a payload or a topic template) */
	VALUE_OUT_JSON_INNER,	/* escaped as the inside of a JSON string (JSON payloads) */
	VALUE_OUT_JSON_RAW	/* a JSON number, as is (JSON payloads; numeric values only) */
};

enum value_field {
	VALUE_FIELD_NONE = -1,
	VALUE_U8, VALUE_S8,
	VALUE_U16BE, VALUE_U16LE, VALUE_S16BE, VALUE_S16LE,
	VALUE_U32BE, VALUE_U32LE, VALUE_U32WS, VALUE_S32BE, VALUE_S32LE, VALUE_S32WS,
	VALUE_F32BE, VALUE_F32LE, VALUE_F32WS
};

enum value_op {
	VALUE_OP_INT, VALUE_OP_FLOAT, VALUE_OP_SCALE, VALUE_OP_OFFSET, VALUE_OP_ROUND, VALUE_OP_FMT,
	VALUE_OP_JSON, VALUE_OP_LOWER, VALUE_OP_UPPER
};

enum value_fmt_class { VALUE_FMT_SIGNED, VALUE_FMT_UNSIGNED, VALUE_FMT_DOUBLE };

struct value_filter {
	enum value_op op;
	double k;			/* scale, offset */
	int digits;			/* round */
	char *fmt;			/* fmt: rewritten for 64-bit integers ("%+d" -> "%+lld") */
	enum value_fmt_class fmt_class;
};

struct value_expr {
	char *src;			/* the text inside ${...} (for the info document), or NULL */
	int capture;			/* source: 0..9 ($0 for fields) */
	enum value_field field;		/* a typed field of the hex frame, or VALUE_FIELD_NONE */
	size_t offset;			/* field: byte offset in the decoded frame */
	struct value_filter *filters;
	int n_filters;
	int numeric;			/* the result is a number (the last step is a field or a numeric filter) */
	enum value_out out;
};

/*
 * Parse the inside of "${...}" (src[0..len), e.g. "1|float|round:1" or
 * "u16be@3|scale:0.1"). Returns 0, or -1 with a message in err.
 */
int value_compile(struct value_expr *e, const char *src, size_t len, char *err, size_t errlen);
void value_free(struct value_expr *e);

/*
 * Render e from its source: cap/cap_len is the capture e->capture (ptr NULL:
 * did not participate, taken as empty text). Writes at most outlen bytes (no
 * NUL) and returns the length, or -1 with *err set.
 */
int value_render(const struct value_expr *e, const char *cap, size_t cap_len, char *out, size_t outlen,
		 enum value_err *err);

/*
 * s[0..n) as the inside of a JSON string (no quotes): '"', '\\' and control
 * characters escaped, valid UTF-8 kept, every byte that is not part of valid
 * UTF-8 taken as Latin-1 ("\u00b0" for a lone 0xB0), so the result is valid
 * JSON for any bytes. Returns the length written, or -1 when out is too small.
 */
int value_json_escape(const char *s, size_t n, char *out, size_t outlen);

/* A reason for logs and the error topic ("not a number"). */
const char *value_err_str(enum value_err e);

/* Parse decimal text as a number (leading/trailing blanks allowed). 0 or -1; *is_int: integer syntax. */
int value_parse_number(const char *s, size_t n, int64_t *i, double *d, int *is_int);

#endif
