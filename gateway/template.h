/*
 * template.h - topic and payload templates: "${station}/MOT01/POS/$1".
 *
 * A template is compiled once, when the config is loaded: ${station} and
 * ${name} are constants by then and are folded into literal text, so what
 * is left is a short list of parts (literal bytes or a capture number) and
 * expanding one on the hot path is a few memcpy calls, no parsing, no malloc.
 *
 * $0 is the whole frame or payload, $1..$9 are regex captures, $$ is a
 * literal "$". Expanding for a topic refuses captures that would change the
 * topic's shape (see template_expand).
 *
 * ${N|filter|...} and ${TYPE@OFFSET|...} are typed values (value.h): such a
 * part carries its compiled value_expr, and a part without one costs what a
 * plain capture always did. JSON payloads (payload_json.c) are templates
 * too, built part by part with template_add_text / template_add_value.
 */
#ifndef MQTTGW_TEMPLATE_H
#define MQTTGW_TEMPLATE_H

#include <stddef.h>

#include "pattern.h"	/* struct template_cap: what a match captured */
#include "value.h"

#define TEMPLATE_MAX_CAPS 10

struct template_part {
	int capture;		/* 0..9, or -1 for literal text */
	size_t off;		/* literal: offset into template.text */
	size_t len;		/* literal: length */
	struct value_expr *expr;	/* a typed value of capture, or NULL (plain) */
};

struct template {
	char *text;		/* literal bytes (after ${...} folding) */
	size_t text_len;
	struct template_part *parts;
	int n_parts;
	int max_capture;	/* highest $N used, -1 if none */
	int has_fields;		/* uses ${TYPE@OFFSET} (binary frames only) */
	int has_values;		/* uses ${N|...} or typed fields */
	int whole;		/* exactly "$0" (template_is_whole), set by template_compile */
};

/*
 * Compile src. station and name may be NULL (then ${station} / ${name} are
 * errors). On error returns -1 with a message in err.
 */
int template_compile(struct template *t, const char *src, const char *station, const char *name,
		     char *err, size_t errlen);
void template_free(struct template *t);

/* Expand ${station} and ${name} only, into a new string (NULL on error). */
char *template_subst_vars(const char *src, const char *station, const char *name, char *err, size_t errlen);

/*
 * Expand into out (NUL-terminated). caps has ncaps entries ($0..). With
 * topic = 1, a capture holding '+', '#', '/', '$' or a NUL is refused, and so
 * is a result with an empty topic level; this is what keeps text from a
 * device from publishing outside its route's prefix. Returns the length
 * written, or -1 (refused, or out too small).
 */
int template_expand(const struct template *t, const struct template_cap *caps, int ncaps, int topic,
		    char *out, size_t outlen);
/*
 * The same, and verr is set when a template with typed values refuses: why
 * the value did not convert, or VALUE_ERR_SPACE (callers set VALUE_OK
 * first). Apart so that the hot call keeps six arguments, in registers.
 */
int template_expand_why(const struct template *t, const struct template_cap *caps, int ncaps, int topic,
			char *out, size_t outlen, enum value_err *verr);

/* Building a template part by part (payload_json.c): an empty template, then parts in order. */
void template_init(struct template *t);
int template_add_text(struct template *t, const char *s, size_t len);
/* Append a value part; takes e (a malloc'ed value_expr) whatever the result. */
int template_add_value(struct template *t, struct value_expr *e);

/* 1 when the template is exactly "$0", no filter (the caller can skip the copy). */
int template_is_whole(const struct template *t);

#endif
