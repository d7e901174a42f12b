/*
 * template.c - compile and expand "${station}/$1" style templates.
 *
 * Compilation is the only place that parses; expansion walks the part list.
 * See template.h for the rules. Typed values (${1|float}) are parsed by
 * value.c; here they are one more kind of part.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"
#include "topic.h"

/* ${1|float}, ${0}, ${u16be@3}: a typed value for template_compile, not a variable. */
static int template_is_value_key(const char *k, size_t n)
{
	return n > 0 && ((k[0] >= '0' && k[0] <= '9') || memchr(k, '|', n) || memchr(k, '@', n));
}

char *template_subst_vars(const char *src, const char *station, const char *name, char *err, size_t errlen)
{
	size_t cap = strlen(src) + 1, len = 0;
	char *out;
	const char *p;

	for (p = src; *p; p++)
		if (p[0] == '$' && p[1] == '{')
			cap += (station ? strlen(station) : 0) + (name ? strlen(name) : 0);
	out = malloc(cap);
	if (!out) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (p = src; *p;) {
		if (p[0] == '$' && p[1] == '$') {
			/* "$$" stays for template_compile: "$${station}" is literal text */
			out[len++] = *p++;
			out[len++] = *p++;
			continue;
		}
		if (p[0] == '$' && p[1] == '{') {
			const char *end = strchr(p + 2, '}');
			const char *val = NULL;
			size_t klen;

			if (!end) {
				snprintf(err, errlen, "unterminated \"${\" in \"%s\"", src);
				free(out);
				return NULL;
			}
			klen = (size_t)(end - (p + 2));
			if (template_is_value_key(p + 2, klen)) {
				memcpy(out + len, p, klen + 3);
				len += klen + 3;
				p = end + 1;
				continue;
			}
			if (klen == 7 && strncmp(p + 2, "station", 7) == 0) {
				val = station;
				if (!val) {
					snprintf(err, errlen, "\"%s\" uses ${station} but no station is set", src);
					free(out);
					return NULL;
				}
			} else if (klen == 4 && strncmp(p + 2, "name", 4) == 0) {
				val = name;
				if (!val) {
					snprintf(err, errlen, "\"%s\" uses ${name} where no device is named", src);
					free(out);
					return NULL;
				}
			} else {
				snprintf(err, errlen, "unknown variable \"${%.*s}\" in \"%s\" (known: ${station}, ${name})",
					 (int)klen, p + 2, src);
				free(out);
				return NULL;
			}
			memcpy(out + len, val, strlen(val));
			len += strlen(val);
			p = end + 1;
			continue;
		}
		out[len++] = *p++;
	}
	out[len] = '\0';
	return out;
}

static int template_add_part(struct template *t, int capture, size_t off, size_t len, struct value_expr *expr)
{
	struct template_part *np;

	if (capture < 0 && len == 0)
		return 0;
	if (capture < 0 && t->n_parts > 0 && t->parts[t->n_parts - 1].capture < 0 &&
	    t->parts[t->n_parts - 1].off + t->parts[t->n_parts - 1].len == off) {
		t->parts[t->n_parts - 1].len += len;
		return 0;
	}
	np = realloc(t->parts, sizeof(*np) * (size_t)(t->n_parts + 1));
	if (!np) {
		value_free(expr);
		free(expr);
		return -1;
	}
	t->parts = np;
	np[t->n_parts].capture = capture;
	np[t->n_parts].off = off;
	np[t->n_parts].len = len;
	np[t->n_parts].expr = expr;
	t->n_parts++;
	if (expr) {
		t->has_values = 1;
		t->has_fields |= expr->field != VALUE_FIELD_NONE;
	}
	if (capture > t->max_capture)
		t->max_capture = capture;
	return 0;
}

void template_init(struct template *t)
{
	memset(t, 0, sizeof(*t));
	t->max_capture = -1;
}

int template_add_text(struct template *t, const char *s, size_t len)
{
	char *nt = realloc(t->text, t->text_len + len + 1);

	if (!nt)
		return -1;
	t->text = nt;
	memcpy(nt + t->text_len, s, len);
	nt[t->text_len + len] = '\0';
	if (template_add_part(t, -1, t->text_len, len, NULL) < 0)
		return -1;
	t->text_len += len;
	return 0;
}

int template_add_value(struct template *t, struct value_expr *e)
{
	return template_add_part(t, e->capture, 0, 0, e);
}

/* "${...}" at s[r] (after template_subst_vars: a value): one part. Returns the index after "}", or 0. */
static size_t template_compile_value(struct template *t, const char *src, const char *s, size_t r, char *err,
				     size_t errlen)
{
	const char *end = strchr(s + r + 2, '}');
	size_t klen = (size_t)(end - (s + r + 2));
	struct value_expr *e;

	if (klen == 1 && s[r + 2] >= '0' && s[r + 2] <= '9') {	/* ${3}: $3 */
		if (template_add_part(t, s[r + 2] - '0', 0, 0, NULL) < 0)
			goto oom;
		return r + 4;
	}
	e = malloc(sizeof(*e));
	if (!e)
		goto oom;
	if (value_compile(e, s + r + 2, klen, err, errlen) < 0) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "\"%s\": %s", src, why);
		free(e);
		return 0;
	}
	if (e->n_filters == 0 && e->field == VALUE_FIELD_NONE) {
		value_free(e);
		free(e);
		snprintf(err, errlen, "\"%s\": \"${%.*s}\" is not a value", src, (int)klen, s + r + 2);
		return 0;
	}
	if (template_add_part(t, e->capture, 0, 0, e) < 0)
		goto oom;
	return (size_t)(end - s) + 1;
oom:
	snprintf(err, errlen, "out of memory");
	return 0;
}

int template_compile(struct template *t, const char *src, const char *station, const char *name,
		     char *err, size_t errlen)
{
	char *s;
	size_t r, w;

	template_init(t);
	s = template_subst_vars(src, station, name, err, errlen);
	if (!s)
		return -1;
	/* Rewrite s in place into literal text, recording captures as parts. */
	for (r = 0, w = 0; s[r];) {
		if (s[r] == '$') {
			if (s[r + 1] == '{') {
				size_t next = template_compile_value(t, src, s, r, err, errlen);

				if (next == 0) {
					free(s);
					template_free(t);
					return -1;
				}
				r = next;
				continue;
			}
			if (s[r + 1] == '$') {
				if (template_add_part(t, -1, w, 1, NULL) < 0)
					goto oom;
				s[w++] = '$';
				r += 2;
				continue;
			}
			if (s[r + 1] >= '0' && s[r + 1] <= '9') {
				if (template_add_part(t, s[r + 1] - '0', 0, 0, NULL) < 0)
					goto oom;
				r += 2;
				continue;
			}
			snprintf(err, errlen, "\"%s\": \"$\" must be followed by 0-9, $ or {", src);
			free(s);
			template_free(t);
			return -1;
		}
		/* literal byte: extend or start a literal part at offset w */
		if (template_add_part(t, -1, w, 1, NULL) < 0)
			goto oom;
		s[w++] = s[r++];
	}
	s[w] = '\0';
	t->text = s;
	t->text_len = w;
	t->whole = t->n_parts == 1 && t->parts[0].capture == 0 && !t->parts[0].expr;
	return 0;
oom:
	free(s);
	template_free(t);
	snprintf(err, errlen, "out of memory");
	return -1;
}

void template_free(struct template *t)
{
	int i;

	if (!t)
		return;
	for (i = 0; i < t->n_parts; i++) {
		value_free(t->parts[i].expr);
		free(t->parts[i].expr);
	}
	free(t->text);
	free(t->parts);
	memset(t, 0, sizeof(*t));
	t->max_capture = -1;
}

int template_is_whole(const struct template *t)
{
	return t->whole;
}

/*
 * A capture may become a topic level only if it is one level of text a
 * broker takes (topic_text_ok: valid UTF-8, no controls, no noncharacters;
 * a broker closes the connection on the rest, and the message would go
 * again on every reconnect) without "+", "#", "/" or "$".
 */
static inline __attribute__((always_inline)) int template_capture_ok_for_topic(const char *s, size_t len)
{
	return !memchr(s, '+', len) && !memchr(s, '#', len) && !memchr(s, '/', len) && !memchr(s, '$', len) &&
	       topic_text_ok(s, len);
}

/* A value part at out + len: 0 with *len advanced, or -1. */
__attribute__((noinline)) static int template_expand_value(const struct template_part *pt, const struct template_cap *caps, int ncaps,
				 int topic, char *out, size_t *len, size_t outlen, enum value_err *verr)
{
	const struct template_cap *c = pt->capture < ncaps ? &caps[pt->capture] : NULL;
	enum value_err err;
	int n;

	if (outlen <= *len + 1) {
		err = VALUE_ERR_SPACE;
		n = -1;
	} else {
		n = value_render(pt->expr, c ? c->ptr : NULL, c ? c->len : 0, out + *len, outlen - *len - 1, &err);
	}
	if (n < 0) {
		if (verr)
			*verr = err;
		return -1;
	}
	if (topic && !template_capture_ok_for_topic(out + *len, (size_t)n))
		return -1;
	*len += (size_t)n;
	return 0;
}

/*
 * The loop, specialised twice by the compiler (values is a constant): a
 * template without typed values runs the loop it always ran, branch for
 * branch (make bench-map), and only one with values pays for them.
 */
static inline __attribute__((always_inline)) int
template_expand_loop(const struct template *t, const struct template_cap *caps, int ncaps, int topic, char *out,
		     size_t outlen, enum value_err *verr, int values)
{
	size_t len = 0;
	int i;

	for (i = 0; i < t->n_parts; i++) {
		const struct template_part *pt = &t->parts[i];
		const char *src;
		size_t n;

		if (pt->capture < 0) {
			src = t->text + pt->off;
			n = pt->len;
		} else if (values && pt->expr) {
			if (template_expand_value(pt, caps, ncaps, topic, out, &len, outlen, verr) < 0)
				return -1;
			continue;
		} else if (pt->capture < ncaps && caps[pt->capture].ptr) {
			src = caps[pt->capture].ptr;
			n = caps[pt->capture].len;
			if (topic && !template_capture_ok_for_topic(src, n))
				return -1;
		} else {
			src = "";
			n = 0;
		}
		if (len + n + 1 > outlen) {
			if (values && verr)
				*verr = VALUE_ERR_SPACE;
			return -1;
		}
		memcpy(out + len, src, n);
		len += n;
	}
	out[len] = '\0';
	if (topic) {
		/* no empty levels: "a//b", "/a" or "a/" made from an empty capture */
		if (len == 0 || out[0] == '/' || out[len - 1] == '/' || strstr(out, "//"))
			return -1;
	}
	return (int)len;
}

int template_expand(const struct template *t, const struct template_cap *caps, int ncaps, int topic,
		    char *out, size_t outlen)
{
	if (t->has_values)
		return template_expand_loop(t, caps, ncaps, topic, out, outlen, NULL, 1);
	return template_expand_loop(t, caps, ncaps, topic, out, outlen, NULL, 0);
}

int template_expand_why(const struct template *t, const struct template_cap *caps, int ncaps, int topic,
			char *out, size_t outlen, enum value_err *verr)
{
	return template_expand_loop(t, caps, ncaps, topic, out, outlen, verr, 1);
}
