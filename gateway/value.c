/*
 * value.c - typed values and filters for templates (see value.h).
 *
 * Compilation checks everything that can be checked without a frame (the
 * filter names, their arguments, the one conversion of a printf format),
 * so rendering is a walk over a short filter list with no parsing beyond
 * the number in the captured text. Numbers stay 64-bit integers as long as
 * they can (a u32 field, "+001000", a scale by 10) and become doubles only
 * when a fraction appears, so a counter is never rounded through a double.
 *
 * No libm: rounding is done on the decimal text of the number ("%.15g"
 * first, so 21.45 rounds to 21.5 as people read it, not to 21.4 as its
 * binary value would), and truncation by casts within checked ranges.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_escape.h"
#include "value.h"

/* fmt output, and a number as text: a printf with width and precision of at most 99 fits */
#define VALUE_BUF 256
/* integers and doubles inside this are converted by a cast without overflow */
#define VALUE_I64_LIMIT 9.2e18
#define VALUE_ROUND_MAX 10

static const char *const value_field_names[] = { "u8", "s8", "u16be", "u16le", "s16be", "s16le", "u32be",
						 "u32le", "u32ws", "s32be", "s32le", "s32ws", "f32be", "f32le",
						 "f32ws" };

const char *value_err_str(enum value_err e)
{
	switch (e) {
	case VALUE_OK:
		return "ok";
	case VALUE_ERR_NOT_NUMBER:
		return "not a number";
	case VALUE_ERR_NOT_FINITE:
		return "not a finite number (NaN or infinite)";
	case VALUE_ERR_NOT_INTEGER:
		return "not an integer (the format wants one: add int or round:0)";
	case VALUE_ERR_RANGE:
		return "number out of range";
	case VALUE_ERR_PAST_END:
		return "field past the end of the frame";
	case VALUE_ERR_SPACE:
		return "too long";
	}
	return "?";
}

static size_t value_field_size(enum value_field f)
{
	return f <= VALUE_S8 ? 1 : f <= VALUE_S16LE ? 2 : 4;
}

/* ---- compiling ---- */

/* A finite decimal number, the whole of s[0..n). */
static int value_parse_k(const char *s, size_t n, double *k)
{
	int64_t i;
	int is_int;

	if (value_parse_number(s, n, &i, k, &is_int) < 0)
		return -1;
	if (is_int)
		*k = (double)i;
	return 0;
}

/* "fmt:..." -> one conversion, rewritten with "ll" for integers. */
static int value_compile_fmt(struct value_filter *f, const char *s, size_t n, char *err, size_t errlen)
{
	char *out = malloc(2 * n + 3);	/* "ll" may go into each conversion before "more than one" is known */
	size_t i, w = 0;
	int convs = 0;

	if (!out) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < n;) {
		size_t digits;

		if (s[i] != '%') {
			out[w++] = s[i++];
			continue;
		}
		if (i + 1 < n && s[i + 1] == '%') {
			out[w++] = '%';
			out[w++] = '%';
			i += 2;
			continue;
		}
		out[w++] = s[i++];
		while (i < n && s[i] && strchr("-+ #0", s[i]))
			out[w++] = s[i++];
		for (digits = 0; i < n && s[i] >= '0' && s[i] <= '9'; digits++)
			out[w++] = s[i++];
		if (digits > 2)
			goto bad_width;
		if (i < n && s[i] == '.') {
			out[w++] = s[i++];
			for (digits = 0; i < n && s[i] >= '0' && s[i] <= '9'; digits++)
				out[w++] = s[i++];
			if (digits > 2)
				goto bad_width;
		}
		while (i < n && s[i] == 'l')	/* %ld, %lld: every integer is 64-bit here anyway */
			i++;
		if (i >= n || !s[i] || !strchr("diuxXofFeEgG", s[i])) {
			snprintf(err, errlen, "fmt:%.*s: a conversion must be one of d i u x X o f F e E g G "
				 "(with flags -+ #0, a width and a precision; no %%s, no *)", (int)n, s);
			free(out);
			return -1;
		}
		if (strchr("di", s[i]))
			f->fmt_class = VALUE_FMT_SIGNED;
		else if (strchr("uxXo", s[i]))
			f->fmt_class = VALUE_FMT_UNSIGNED;
		else
			f->fmt_class = VALUE_FMT_DOUBLE;
		if (f->fmt_class != VALUE_FMT_DOUBLE) {
			out[w++] = 'l';
			out[w++] = 'l';
		}
		out[w++] = s[i++];
		convs++;
	}
	out[w] = '\0';
	if (convs != 1) {
		snprintf(err, errlen, "fmt:%.*s must have exactly one numeric conversion (%%d, %%.1f, ...), it has %d",
			 (int)n, s, convs);
		free(out);
		return -1;
	}
	f->fmt = out;
	return 0;
bad_width:
	snprintf(err, errlen, "fmt:%.*s: width and precision are at most 2 digits", (int)n, s);
	free(out);
	return -1;
}

static int value_compile_filter(struct value_expr *e, struct value_filter *f, const char *s, size_t n, char *err,
				size_t errlen)
{
	static const struct {
		const char *name;
		enum value_op op;
		int arg;	/* takes ":ARG" */
		int numeric;	/* the result is a number */
	} ops[] = { { "int", VALUE_OP_INT, 0, 1 },	  { "float", VALUE_OP_FLOAT, 0, 1 },
		    { "scale", VALUE_OP_SCALE, 1, 1 },	  { "offset", VALUE_OP_OFFSET, 1, 1 },
		    { "round", VALUE_OP_ROUND, 1, 1 },	  { "fmt", VALUE_OP_FMT, 1, 0 },
		    { "json", VALUE_OP_JSON, 0, 0 },	  { "lower", VALUE_OP_LOWER, 0, 0 },
		    { "upper", VALUE_OP_UPPER, 0, 0 } };
	const char *colon = memchr(s, ':', n);
	size_t nlen = colon ? (size_t)(colon - s) : n, alen = colon ? n - nlen - 1 : 0;
	const char *arg = colon ? colon + 1 : NULL;
	size_t i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strlen(ops[i].name) == nlen && memcmp(ops[i].name, s, nlen) == 0)
			break;
	if (i == sizeof(ops) / sizeof(ops[0])) {
		snprintf(err, errlen, "unknown filter \"%.*s\" (known: int float scale:K offset:K round:D fmt:PRINTF "
			 "json lower upper)", (int)nlen, s);
		return -1;
	}
	f->op = ops[i].op;
	if (ops[i].arg != !!colon || (colon && alen == 0)) {
		snprintf(err, errlen, ops[i].arg ? "filter %s needs an argument (%s:...)" : "filter %s takes no argument",
			 ops[i].name, ops[i].name);
		return -1;
	}
	switch (f->op) {
	case VALUE_OP_SCALE:
	case VALUE_OP_OFFSET:
		if (value_parse_k(arg, alen, &f->k) < 0) {
			snprintf(err, errlen, "%s:%.*s: not a decimal number", ops[i].name, (int)alen, arg);
			return -1;
		}
		break;
	case VALUE_OP_ROUND:
		if (alen > 2 || arg[0] < '0' || arg[0] > '9' || (alen == 2 && (arg[1] < '0' || arg[1] > '9')) ||
		    (f->digits = (int)strtol(arg, NULL, 10)) > VALUE_ROUND_MAX) {
			snprintf(err, errlen, "round:%.*s: decimals must be 0..%d", (int)alen, arg, VALUE_ROUND_MAX);
			return -1;
		}
		break;
	case VALUE_OP_FMT:
		if (value_compile_fmt(f, arg, alen, err, errlen) < 0)
			return -1;
		break;
	default:
		break;
	}
	e->numeric = ops[i].numeric;
	return 0;
}

static int value_compile_source(struct value_expr *e, const char *s, size_t n, char *err, size_t errlen)
{
	const char *at = memchr(s, '@', n);
	size_t i;

	e->field = VALUE_FIELD_NONE;
	if (n == 1 && s[0] >= '0' && s[0] <= '9') {
		e->capture = s[0] - '0';
		return 0;
	}
	if (at) {
		size_t nlen = (size_t)(at - s), olen = n - nlen - 1;
		unsigned long off = 0;

		for (i = 0; i < sizeof(value_field_names) / sizeof(value_field_names[0]); i++)
			if (strlen(value_field_names[i]) == nlen && memcmp(value_field_names[i], s, nlen) == 0)
				break;
		if (i < sizeof(value_field_names) / sizeof(value_field_names[0])) {
			if (olen == 0 || olen > 6)
				goto bad_offset;
			for (size_t j = 0; j < olen; j++) {
				if (at[1 + j] < '0' || at[1 + j] > '9')
					goto bad_offset;
				off = off * 10 + (unsigned long)(at[1 + j] - '0');
			}
			e->field = (enum value_field)i;
			e->offset = off;
			e->capture = 0;
			e->numeric = 1;
			return 0;
		}
	}
	snprintf(err, errlen, "\"${%.*s\": a value starts with a capture 0..9 or a typed field TYPE@OFFSET "
		 "(u8 s8 u16be u16le s16be s16le u32be u32le u32ws s32be s32le s32ws f32be f32le f32ws)", (int)n, s);
	return -1;
bad_offset:
	snprintf(err, errlen, "\"%.*s\": the byte offset after @ must be a number 0..999999", (int)n, s);
	return -1;
}

int value_compile(struct value_expr *e, const char *src, size_t len, char *err, size_t errlen)
{
	const char *p = src, *end = src + len, *bar;
	int n = 0, i;

	memset(e, 0, sizeof(*e));
	for (i = 0; i < (int)len; i++)
		n += src[i] == '|';
	if (!(e->src = strndup(src, len))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	bar = memchr(p, '|', len);
	if (value_compile_source(e, p, bar ? (size_t)(bar - p) : len, err, errlen) < 0) {
		value_free(e);
		return -1;
	}
	if (n == 0)
		return 0;
	e->filters = calloc((size_t)n, sizeof(*e->filters));
	if (!e->filters) {
		snprintf(err, errlen, "out of memory");
		value_free(e);
		return -1;
	}
	for (p = bar + 1; e->n_filters < n; e->n_filters++) {
		bar = memchr(p, '|', (size_t)(end - p));
		if (value_compile_filter(e, &e->filters[e->n_filters], p, bar ? (size_t)(bar - p) : (size_t)(end - p),
					 err, errlen) < 0) {
			value_free(e);
			return -1;
		}
		if (e->filters[e->n_filters].op == VALUE_OP_JSON && e->n_filters + 1 < n) {
			snprintf(err, errlen, "\"${%.*s}\": json must be the last filter", (int)len, src);
			e->n_filters++;
			value_free(e);
			return -1;
		}
		p = bar ? bar + 1 : end;
	}
	return 0;
}

void value_free(struct value_expr *e)
{
	int i;

	if (!e)
		return;
	for (i = 0; i < e->n_filters; i++)
		free(e->filters[i].fmt);
	free(e->filters);
	free(e->src);
	memset(e, 0, sizeof(*e));
}

/* ---- numbers ---- */

int value_parse_number(const char *s, size_t n, int64_t *iv, double *dv, int *is_int)
{
	char tmp[VALUE_BUF];
	size_t a = 0, b = n, i, digits = 0;
	char *end;

	while (a < b && (s[a] == ' ' || s[a] == '\t'))
		a++;
	while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
		b--;
	if (b - a >= sizeof(tmp))
		return -1;
	i = a;
	*is_int = 1;
	if (i < b && (s[i] == '+' || s[i] == '-'))
		i++;
	for (; i < b && s[i] >= '0' && s[i] <= '9'; i++)
		digits++;
	if (i < b && s[i] == '.') {
		*is_int = 0;
		for (i++; i < b && s[i] >= '0' && s[i] <= '9'; i++)
			digits++;
	}
	if (digits == 0)
		return -1;
	if (i < b && (s[i] == 'e' || s[i] == 'E')) {
		size_t ed = 0;

		*is_int = 0;
		i++;
		if (i < b && (s[i] == '+' || s[i] == '-'))
			i++;
		for (; i < b && s[i] >= '0' && s[i] <= '9'; i++)
			ed++;
		if (ed == 0)
			return -1;
	}
	if (i != b)
		return -1;
	memcpy(tmp, s + a, b - a);
	tmp[b - a] = '\0';
	if (*is_int) {
		errno = 0;
		*iv = strtoll(tmp, &end, 10);
		if (errno == 0)
			return 0;
		*is_int = 0;	/* too large for 64 bits: a double */
	}
	*dv = strtod(tmp, &end);
	return 0;
}

/* The running value of a render. */
struct value_cur {
	int kind;		/* 0 text, 1 integer, 2 double */
	const char *s;		/* text */
	size_t n;
	int64_t i;
	double d;
	int decimals;		/* double after round:D: printed with D decimals; else -1 */
	int f32;		/* double from a float field: printed with float precision */
	int kase;		/* text: 0, 'l' lower, 'u' upper, applied when written out */
};

enum { VALUE_TEXT, VALUE_INT, VALUE_DOUBLE };

static int value_finite(double d)
{
	return d == d && d - d == 0;	/* NaN != NaN; inf - inf is NaN */
}

/* Make v a number (text is parsed). */
static enum value_err value_to_number(struct value_cur *v)
{
	int is_int;

	if (v->kind != VALUE_TEXT)
		return VALUE_OK;
	if (!v->s || value_parse_number(v->s, v->n, &v->i, &v->d, &is_int) < 0)
		return VALUE_ERR_NOT_NUMBER;
	v->kind = is_int ? VALUE_INT : VALUE_DOUBLE;
	v->decimals = -1;
	v->f32 = 0;
	v->kase = 0;
	if (!is_int && !value_finite(v->d))
		return VALUE_ERR_NOT_FINITE;
	return VALUE_OK;
}

static int value_double_is_int(double d, int64_t *i)
{
	if (!(d > -VALUE_I64_LIMIT && d < VALUE_I64_LIMIT))
		return -1;
	*i = (int64_t)d;
	return (double)*i == d ? 0 : -1;
}

static const double value_p10[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10 };

/* y (|y| < VALUE_I64_LIMIT) to the nearest integer, half away from zero. */
static double value_round_half(double y)
{
	double r = (double)(int64_t)y;

	if (y - r >= 0.5)
		r += 1;
	else if (r - y >= 0.5)
		r -= 1;
	return r;
}

/*
 * x rounded to digits decimals, half away from zero, as its decimal text
 * reads: 2.675 is 2.67499999999999982236431605997495353221893310546875 in
 * binary, and people expect 2.68. Only a y within a hair of a half needs
 * the (slower) decimal text; the rest round directly.
 */
static enum value_err value_round(double x, int digits, double *out)
{
	char tmp[64];
	double y = x * value_p10[digits], frac;

	if (!value_finite(y))
		return VALUE_ERR_NOT_FINITE;
	if (y > -VALUE_I64_LIMIT && y < VALUE_I64_LIMIT) {
		frac = y - (double)(int64_t)y;
		if (frac < 0)
			frac = -frac;
		if (frac > 0.4999999 && frac < 0.5000001) {
			snprintf(tmp, sizeof(tmp), "%.15g", y);
			y = strtod(tmp, NULL);
		}
		y = value_round_half(y);
	}
	*out = y / value_p10[digits];
	return VALUE_OK;
}

/* m / 10^k as decimal text ("-21.5" for -215, 1; "21.0" for 210, 1); m's magnitude below 10^18. */
static int value_fixed_text(int64_t m, int k, char *buf)
{
	char digits[24];
	uint64_t u = m < 0 ? (uint64_t)0 - (uint64_t)m : (uint64_t)m;
	int n = 0, w = 0;

	do {
		digits[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	while (n <= k)
		digits[n++] = '0';
	if (m < 0)
		buf[w++] = '-';
	while (n > 0) {
		if (n == k)
			buf[w++] = '.';
		buf[w++] = digits[--n];
	}
	buf[w] = '\0';
	return w;
}

/*
 * d as m / 10^k with the fewest decimals k (0..6) when that is exact in
 * binary terms and d is in %.15g's plain range: the same text %.15g prints,
 * without printf's cost (most sensor values: 21.5 from 215 x 0.1).
 * -1 when d is not such a number.
 */
static int value_short_decimal(double d, char *buf, int as_float)
{
	double a = d < 0 ? -d : d, y;
	int k;

	if (!(a >= 1e-4 && a < 1e15))
		return -1;
	for (k = 0; k <= 6; k++) {
		y = d * value_p10[k];
		if (!(y > -1e15 && y < 1e15))
			return -1;
		if (as_float) {
			y = value_round_half(y);
			if ((float)(y / value_p10[k]) == (float)d)
				return value_fixed_text((int64_t)y, k, buf);
		} else if (y == (double)(int64_t)y) {
			return value_fixed_text((int64_t)y, k, buf);
		}
	}
	return -1;
}

/*
 * A number as text in buf: integers as is, doubles with %.15g, float
 * fields with float precision, after round:D with D decimals (-1: more
 * than size, 1e300 with decimals).
 */
static int value_number_text(const struct value_cur *v, char *buf, size_t size)
{
	int n, prec;

	if (v->kind == VALUE_INT)
		return v->i > -1000000000000000000LL && v->i < 1000000000000000000LL ? value_fixed_text(v->i, 0, buf)
										 : snprintf(buf, size, "%" PRId64, v->i);
	if (v->decimals >= 0) {
		double y = v->d * value_p10[v->decimals];

		if (y > -1e15 && y < 1e15)	/* what %.*f prints, without printf */
			return value_fixed_text((int64_t)value_round_half(y), v->decimals, buf);
		n = snprintf(buf, size, "%.*f", v->decimals, v->d);
		return n >= 0 && (size_t)n < size ? n : -1;
	}
	if ((n = value_short_decimal(v->d, buf, v->f32)) >= 0)
		return n;
	if (v->f32) {
		/* the shortest text that reads back as the same float: 21.5, not 21.5000000000 */
		for (prec = 6; prec < 9; prec++) {
			n = snprintf(buf, size, "%.*g", prec, v->d);
			if ((float)strtod(buf, NULL) == (float)v->d)
				return n;
		}
		return snprintf(buf, size, "%.9g", v->d);
	}
	return snprintf(buf, size, "%.15g", v->d);
}

static int value_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* A typed field of the hex text frame (two hex digits per byte). */
static enum value_err value_field(const struct value_expr *e, const char *s, size_t n, struct value_cur *v)
{
	size_t size = value_field_size(e->field), i;
	uint8_t b[4];
	uint32_t u;
	float f;

	if (!s || e->offset + size > n / 2)
		return VALUE_ERR_PAST_END;
	for (i = 0; i < size; i++) {
		int hi = value_hex(s[2 * (e->offset + i)]), lo = value_hex(s[2 * (e->offset + i) + 1]);

		if (hi < 0 || lo < 0)
			return VALUE_ERR_NOT_NUMBER;
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	v->kind = VALUE_INT;
	switch (e->field) {
	case VALUE_U8:
		v->i = b[0];
		return VALUE_OK;
	case VALUE_S8:
		v->i = (int8_t)b[0];
		return VALUE_OK;
	case VALUE_U16BE:
		v->i = (uint16_t)(b[0] << 8 | b[1]);
		return VALUE_OK;
	case VALUE_U16LE:
		v->i = (uint16_t)(b[1] << 8 | b[0]);
		return VALUE_OK;
	case VALUE_S16BE:
		v->i = (int16_t)(uint16_t)(b[0] << 8 | b[1]);
		return VALUE_OK;
	case VALUE_S16LE:
		v->i = (int16_t)(uint16_t)(b[1] << 8 | b[0]);
		return VALUE_OK;
	case VALUE_U32BE: case VALUE_S32BE: case VALUE_F32BE:
		u = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
		break;
	case VALUE_U32LE: case VALUE_S32LE: case VALUE_F32LE:
		u = (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[1] << 8 | b[0];
		break;
	default:	/* word-swapped, CDAB: the low word first, each word big-endian */
		u = (uint32_t)b[2] << 24 | (uint32_t)b[3] << 16 | (uint32_t)b[0] << 8 | b[1];
		break;
	}
	if (e->field == VALUE_U32BE || e->field == VALUE_U32LE || e->field == VALUE_U32WS) {
		v->i = u;
		return VALUE_OK;
	}
	if (e->field == VALUE_S32BE || e->field == VALUE_S32LE || e->field == VALUE_S32WS) {
		v->i = (int32_t)u;
		return VALUE_OK;
	}
	memcpy(&f, &u, sizeof(f));
	v->kind = VALUE_DOUBLE;
	v->d = f;
	v->f32 = 1;
	return value_finite(v->d) ? VALUE_OK : VALUE_ERR_NOT_FINITE;
}

/*
 * The format was checked by value_compile_fmt: literal text and exactly
 * one conversion of the class it recorded, with "ll" for integers.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static enum value_err value_fmt(const struct value_filter *f, struct value_cur *v, char *buf)
{
	enum value_err err = value_to_number(v);
	int64_t i;
	int n;

	if (err != VALUE_OK)
		return err;
	if (f->fmt_class == VALUE_FMT_DOUBLE) {
		n = snprintf(buf, VALUE_BUF, f->fmt, v->kind == VALUE_INT ? (double)v->i : v->d);
	} else {
		if (v->kind == VALUE_INT)
			i = v->i;
		else if (value_double_is_int(v->d, &i) < 0)
			return v->d > -VALUE_I64_LIMIT && v->d < VALUE_I64_LIMIT ? VALUE_ERR_NOT_INTEGER : VALUE_ERR_RANGE;
		if (f->fmt_class == VALUE_FMT_UNSIGNED && i < 0)
			return VALUE_ERR_RANGE;
		n = f->fmt_class == VALUE_FMT_SIGNED ? snprintf(buf, VALUE_BUF, f->fmt, (long long)i)
						     : snprintf(buf, VALUE_BUF, f->fmt, (unsigned long long)i);
	}
	if (n < 0 || n >= VALUE_BUF)
		return VALUE_ERR_RANGE;
	v->kind = VALUE_TEXT;
	v->s = buf;
	v->n = (size_t)n;
	v->kase = 0;
	return VALUE_OK;
}
#pragma GCC diagnostic pop

static enum value_err value_filter_apply(const struct value_filter *f, struct value_cur *v, char *fbuf, char *nbuf)
{
	enum value_err err;
	int64_t r;

	switch (f->op) {
	case VALUE_OP_LOWER:
	case VALUE_OP_UPPER:
		if (v->kind != VALUE_TEXT) {
			int n = value_number_text(v, nbuf, VALUE_BUF);

			if (n < 0)
				return VALUE_ERR_RANGE;
			v->n = (size_t)n;
			v->s = nbuf;
			v->kind = VALUE_TEXT;
		}
		v->kase = f->op == VALUE_OP_LOWER ? 'l' : 'u';
		return VALUE_OK;
	case VALUE_OP_JSON:
		return VALUE_OK;	/* last, applied when written out */
	case VALUE_OP_FMT:
		return value_fmt(f, v, fbuf);
	default:
		break;
	}
	if ((err = value_to_number(v)) != VALUE_OK)
		return err;
	switch (f->op) {
	case VALUE_OP_INT:
		if (v->kind == VALUE_DOUBLE) {
			if (!(v->d > -VALUE_I64_LIMIT && v->d < VALUE_I64_LIMIT))
				return VALUE_ERR_RANGE;
			v->i = (int64_t)v->d;	/* toward zero */
			v->kind = VALUE_INT;
		}
		return VALUE_OK;
	case VALUE_OP_FLOAT:
		if (v->kind == VALUE_INT) {
			v->d = (double)v->i;
			v->kind = VALUE_DOUBLE;
			v->decimals = -1;
			v->f32 = 0;
		}
		return VALUE_OK;
	case VALUE_OP_SCALE:
	case VALUE_OP_OFFSET:
		if (v->kind == VALUE_INT && value_double_is_int(f->k, &r) == 0 &&
		    !(f->op == VALUE_OP_SCALE ? __builtin_mul_overflow(v->i, r, &r) : __builtin_add_overflow(v->i, r, &r))) {
			v->i = r;
			return VALUE_OK;
		}
		if (v->kind == VALUE_INT)
			v->d = (double)v->i;
		v->d = f->op == VALUE_OP_SCALE ? v->d * f->k : v->d + f->k;
		v->kind = VALUE_DOUBLE;
		v->decimals = -1;
		v->f32 = 0;
		return value_finite(v->d) ? VALUE_OK : VALUE_ERR_NOT_FINITE;
	case VALUE_OP_ROUND:
		if (v->kind == VALUE_INT)
			return VALUE_OK;
		if ((err = value_round(v->d, f->digits, &v->d)) != VALUE_OK)
			return err;
		v->f32 = 0;
		v->decimals = f->digits;
		if (f->digits == 0) {
			if (!(v->d > -VALUE_I64_LIMIT && v->d < VALUE_I64_LIMIT))
				return VALUE_ERR_RANGE;
			v->i = (int64_t)v->d;
			v->kind = VALUE_INT;
		}
		return VALUE_OK;
	default:
		return VALUE_OK;
	}
}

/* ---- writing out ---- */


int value_json_escape(const char *s, size_t n, char *out, size_t outlen)
{
	return json_escape(s, n, 0, out, outlen);
}

int value_render(const struct value_expr *e, const char *cap, size_t cap_len, char *out, size_t outlen,
		 enum value_err *err)
{
	char fbuf[VALUE_BUF], nbuf[VALUE_BUF];
	struct value_cur v;
	int i, json = 0, n;
	size_t k;

	memset(&v, 0, sizeof(v));
	v.decimals = -1;
	if (e->field != VALUE_FIELD_NONE) {
		*err = value_field(e, cap, cap_len, &v);
		if (*err != VALUE_OK)
			return -1;
	} else {
		v.kind = VALUE_TEXT;
		v.s = cap ? cap : "";
		v.n = cap ? cap_len : 0;
	}
	for (i = 0; i < e->n_filters; i++) {
		if (e->filters[i].op == VALUE_OP_JSON)
			json = 1;
		*err = value_filter_apply(&e->filters[i], &v, fbuf, nbuf);
		if (*err != VALUE_OK)
			return -1;
	}
	if (v.kind != VALUE_TEXT) {
		if ((n = value_number_text(&v, nbuf, sizeof(nbuf))) < 0) {
			*err = VALUE_ERR_RANGE;
			return -1;
		}
		v.n = (size_t)n;
		v.s = nbuf;
	}
	*err = VALUE_ERR_SPACE;
	if (json) {
		if (outlen < 2 || (n = json_escape(v.s, v.n, v.kase, out + 1, outlen - 2)) < 0)
			return -1;
		out[0] = '"';
		out[n + 1] = '"';
		*err = VALUE_OK;
		return n + 2;
	}
	if (e->out == VALUE_OUT_JSON_INNER) {
		if ((n = json_escape(v.s, v.n, v.kase, out, outlen)) < 0)
			return -1;
		*err = VALUE_OK;
		return n;
	}
	if (v.n > outlen)
		return -1;
	if (v.kase)
		for (k = 0; k < v.n; k++)
			out[k] = (char)json_escape_case((unsigned char)v.s[k], v.kase);
	else
		memcpy(out, v.s, v.n);
	*err = VALUE_OK;
	return (int)v.n;
}
