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
 */
#ifndef MQTTGW_TEMPLATE_H
#define MQTTGW_TEMPLATE_H

#include <stddef.h>

#include "pattern.h"	/* struct template_cap: what a match captured */

#define TEMPLATE_MAX_CAPS 10

struct template_part {
	int capture;		/* 0..9, or -1 for literal text */
	size_t off;		/* literal: offset into template.text */
	size_t len;		/* literal: length */
};

struct template {
	char *text;		/* literal bytes (after ${...} folding) */
	struct template_part *parts;
	int n_parts;
	int max_capture;	/* highest $N used, -1 if none */
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

/* 1 when the template is exactly "$0" (the caller can skip the copy). */
int template_is_whole(const struct template *t);

#endif
