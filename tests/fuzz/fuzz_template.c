/*
 * fuzz_template.c - libFuzzer target for gateway/template.c.
 *
 * Input: "TEMPLATE\0CAPTURES". The template is compiled as the config
 * loader does (station "S013", device "MOT01"; when the first capture
 * byte is odd, with no station and no device). The rest is cut at 0xff
 * bytes into $0..$9; a piece that is exactly "\xfe" stands for a capture
 * that did not participate in the match (NULL).
 *
 * A reference written from the contract in template.h and DESIGN.md reads
 * the template left to right: "$$" is a "$", "${station}" / "${name}" are
 * the values, "$0".."$9" captures, anything else after "$" is an error. The
 * target checks that:
 *  - compile succeeds exactly when the reference can read the template;
 *  - payload expansion equals the reference byte for byte, and fails with
 *    a buffer one byte too small (never writing past it);
 *  - topic expansion is refused exactly when a capture used holds
 *    + # / $ or NUL, or the result is empty or has an empty level.
 * Any difference aborts with the template on stderr.
 *
 * "${3}" is "$3"; "${...}" holding "|" or "@" or starting with a digit is
 * a typed value (value.c, fuzzed through fuzz_json and unit-tested): the
 * reference does not compute those, so a template with one is only held
 * to compiling or not without crashing and to staying inside its buffer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_MAX 8192

struct ref {
	char out[OUT_MAX];
	size_t len;
	int bad_cap;  /* a used capture holds + # / $, NUL, a control, or bad UTF-8 */
	int values;   /* has a typed value the reference does not compute */
	int overflow; /* the output did not fit in out */
};

/*
 * Append; when the text and its NUL would not fit in OUT_MAX (the size
 * template_expand gets), only remember that it did not fit.
 */
static void ref_put(struct ref *r, const char *p, size_t n)
{
	if (r->overflow || r->len + n + 1 > sizeof(r->out)) {
		r->overflow = 1;
		return;
	}
	memcpy(r->out + r->len, p, n);
	r->len += n;
}

/* 0 ok, -1 the template is malformed, -2 the output would not fit */
/*
 * The contract for a capture in a topic: printable UTF-8, no C0/C1 control,
 * no DEL, no overlong form, no surrogate, nothing above U+10FFFF, no
 * noncharacter (mosquitto hangs up on U+FFFE and its kin). Written
 * as "decode, then judge the code point" (template.c validates per lead byte).
 */
static int ref_utf8_text(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned long cp;
		size_t need, k;

		if (p[i] < 0x80) {
			cp = p[i];
			need = 0;
		} else if ((p[i] & 0xe0) == 0xc0) {
			cp = p[i] & 0x1f;
			need = 1;
		} else if ((p[i] & 0xf0) == 0xe0) {
			cp = p[i] & 0x0f;
			need = 2;
		} else if ((p[i] & 0xf8) == 0xf0) {
			cp = p[i] & 0x07;
			need = 3;
		} else {
			return 0;
		}
		if (i + need >= len + (need ? 0 : 1))
			return 0;
		for (k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000))
			return 0;
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		/* noncharacters: U+FDD0..U+FDEF and the last two of every plane */
		if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe)
			return 0;
		i += need + 1;
	}
	return 1;
}

static int ref_expand(const char *src, const char *station, const char *name, const struct template_cap *caps,
		      int ncaps, struct ref *r)
{
	const char *p = src;

	memset(r, 0, sizeof(*r));
	while (*p) {
		if (p[0] != '$') {
			ref_put(r, p++, 1);
			continue;
		}
		if (p[1] == '$') {
			ref_put(r, "$", 1);
			p += 2;
		} else if (p[1] >= '0' && p[1] <= '9') {
			int k = p[1] - '0';

			if (k < ncaps && caps[k].ptr) {
				size_t i;

				for (i = 0; i < caps[k].len; i++)
					if (strchr("+#/$", caps[k].ptr[i]) || caps[k].ptr[i] == '\0')
						r->bad_cap = 1;
				if (!ref_utf8_text(caps[k].ptr, caps[k].len))
					r->bad_cap = 1;
				ref_put(r, caps[k].ptr, caps[k].len);
			}
			p += 2;
		} else if (p[1] == '{' && strchr(p + 2, '}') &&
			   ((p[2] >= '0' && p[2] <= '9') || memchr(p + 2, '|', (size_t)(strchr(p + 2, '}') - p - 2)) ||
			    memchr(p + 2, '@', (size_t)(strchr(p + 2, '}') - p - 2)))) {
			const char *close = strchr(p + 2, '}');

			if (close == p + 3 && p[2] >= '0' && p[2] <= '9') {	/* ${N}: $N */
				int k = p[2] - '0';

				if (k < ncaps && caps[k].ptr) {
					size_t i;

					for (i = 0; i < caps[k].len; i++)
						if (strchr("+#/$", caps[k].ptr[i]) || caps[k].ptr[i] == '\0')
							r->bad_cap = 1;
					if (!ref_utf8_text(caps[k].ptr, caps[k].len))
						r->bad_cap = 1;
					ref_put(r, caps[k].ptr, caps[k].len);
				}
			} else {
				r->values = 1;
			}
			p = close + 1;
		} else if (strncmp(p, "${station}", 10) == 0 && station) {
			ref_put(r, station, strlen(station));
			p += 10;
		} else if (strncmp(p, "${name}", 7) == 0 && name) {
			ref_put(r, name, strlen(name));
			p += 7;
		} else {
			return -1;
		}
	}
	return r->overflow ? -2 : 0;
}

static int topic_shape_ok(const char *s, size_t len)
{
	return len > 0 && s[0] != '/' && s[len - 1] != '/' && !memmem(s, len, "//", 2);
}

static void fail(const char *what, const char *src)
{
	fprintf(stderr, "%s: template \"%s\"\n", what, src);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[OUT_MAX + 16];
	struct template_cap caps[TEMPLATE_MAX_CAPS];
	const char *station = "S013", *name = "MOT01";
	const char *nul, *rest, *end;
	struct template t;
	struct ref r;
	char err[256], *src;
	int ncaps = 0, rc, n, rn;

	src = malloc(size + 1);
	if (!src)
		return 0;
	memcpy(src, data, size);
	src[size] = '\0';
	nul = memchr(src, '\0', size);
	rest = nul ? nul + 1 : src + size;
	end = src + size;
	if (rest < end && (rest[0] & 1)) {
		station = NULL;
		name = NULL;
	}
	/* captures: pieces of rest split at 0xff */
	while (ncaps < TEMPLATE_MAX_CAPS && rest <= end) {
		const char *cut = memchr(rest, 0xff, (size_t)(end - rest));
		size_t n_ = cut ? (size_t)(cut - rest) : (size_t)(end - rest);

		caps[ncaps].ptr = (n_ == 1 && (unsigned char)rest[0] == 0xfe) ? NULL : rest;
		caps[ncaps].len = caps[ncaps].ptr ? n_ : 0;
		ncaps++;
		if (!cut)
			break;
		rest = cut + 1;
	}

	err[0] = '\0';
	rc = template_compile(&t, src, station, name, err, sizeof(err));
	rn = ref_expand(src, station, name, caps, ncaps, &r);
	if ((rn == 0 || rn == -2) && r.values) {
		/* typed values: compiling may fail; expanding must stay inside its buffer */
		if (rc == 0) {
			memset(out, 'Z', sizeof(out));
			n = template_expand(&t, caps, ncaps, 0, out, 64);
			if (out[64] != 'Z' || (n >= 0 && (n >= 64 || out[n] != '\0')))
				fail("a template with values wrote past its buffer", src);
			template_free(&t);
		}
		free(src);
		return 0;
	}
	if (rc < 0) {
		if (!err[0] || !memchr(err, '\0', sizeof(err)))
			fail("refused without a message", src);
		if (rn != -1)
			fail("refused but well-formed", src);
		free(src);
		return 0;
	}
	if (rn == -1)
		fail("accepted but malformed", src);
	if (t.max_capture < -1 || t.max_capture > 9)
		fail("max_capture out of range", src);

	/* payload mode */
	n = template_expand(&t, caps, ncaps, 0, out, OUT_MAX);
	if (rn == -2) {
		if (n != -1)
			fail("too long for the buffer but expanded", src);
	} else {
		if (n < 0 || (size_t)n != r.len || memcmp(out, r.out, r.len) != 0 || out[n] != '\0')
			fail("payload differs from the reference", src);
		/* exactly big enough, then one byte short */
		memset(out, 'Z', sizeof(out));
		if (template_expand(&t, caps, ncaps, 0, out, r.len + 1) != n)
			fail("does not fit in len + 1", src);
		if (out[r.len + 1] != 'Z')
			fail("wrote past len + 1", src);
		if (r.len > 0) {
			memset(out, 'Z', sizeof(out));
			if (template_expand(&t, caps, ncaps, 0, out, r.len) != -1)
				fail("fits in len", src);
			if (out[r.len] != 'Z')
				fail("wrote past a short buffer", src);
		}
		/* topic mode */
		n = template_expand(&t, caps, ncaps, 1, out, OUT_MAX);
		if ((n >= 0) != (!r.bad_cap && topic_shape_ok(r.out, r.len)))
			fail("topic verdict differs from the reference", src);
		if (n >= 0 && ((size_t)n != r.len || memcmp(out, r.out, r.len) != 0))
			fail("topic differs from the reference", src);
	}
	if (template_is_whole(&t) && strcmp(src, "$0") != 0 && strcmp(src, "${0}") != 0)
		fail("is_whole for something other than \"$0\"", src);
	template_free(&t);
	free(src);
	return 0;
}
