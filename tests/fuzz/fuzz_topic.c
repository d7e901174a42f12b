/*
 * fuzz_topic.c - libFuzzer target for gateway/topic.c.
 *
 * Input: "FILTER\0TOPIC" (without a NUL, the input is both). Checks:
 *  - topic_filter_valid / topic_name_valid never crash on any bytes;
 *  - topic_matches never reads outside its strings, even for a filter that
 *    is not valid (the daemon validates first, but a slip must not be an
 *    overrun), as long as the topic is a valid name;
 *  - for a valid filter and topic, topic_matches agrees with a reference
 *    that splits both at "/" and compares level by level (MQTT 3.1.1 4.7);
 *  - properties of any valid topic T: it matches "#" unless it starts with
 *    "$"; it is a valid filter and matches itself; the filter made by
 *    replacing each level with "+" matches it unless it starts with "$";
 *    "T/#" matches it.
 * Any failure aborts with the filter and topic on stderr.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Level i of s (split at '/'): start and length; -1 past the last level. */
static int level(const char *s, int i, const char **p, size_t *n)
{
	const char *q = s;

	while (i-- > 0) {
		q = strchr(q, '/');
		if (!q)
			return -1;
		q++;
	}
	*p = q;
	*n = strcspn(q, "/");
	return 0;
}

static int ref_matches(const char *f, const char *t)
{
	int i;

	if (t[0] == '$' && (f[0] == '+' || f[0] == '#'))
		return 0;
	for (i = 0;; i++) {
		const char *fp, *tp;
		size_t fn, tn;
		int fl = level(f, i, &fp, &fn), tl = level(t, i, &tp, &tn);

		if (fl < 0)
			return tl < 0;
		if (fn == 1 && fp[0] == '#')
			return 1; /* the rest, including the parent level */
		if (tl < 0)
			return 0;
		if (fn == 1 && fp[0] == '+')
			continue;
		if (fn != tn || memcmp(fp, tp, fn) != 0)
			return 0;
	}
}

static void fail(const char *what, const char *f, const char *t, int got)
{
	fprintf(stderr, "%s: filter \"%s\" topic \"%s\" gave %d\n", what, f, t, got);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *f, *t, *plus, *hash;
	const char *nul;
	int fv, tv, m;
	size_t i, tl;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	f = buf;
	nul = memchr(buf, '\0', size);
	t = nul ? buf + (nul - buf) + 1 : buf;

	fv = topic_filter_valid(f);
	tv = topic_name_valid(t);
	(void)topic_name_valid(f);
	(void)topic_filter_valid(t);
	if (tv != 0) {
		free(buf);
		return 0;
	}
	/* any filter against a valid topic: no crash, a boolean answer */
	m = topic_matches(f, t);
	if (m != 0 && m != 1)
		fail("not a boolean", f, t, m);
	if (fv == 0 && m != ref_matches(f, t))
		fail("differs from the reference", f, t, m);

	if (topic_matches("#", t) != (t[0] != '$'))
		fail("\"#\" rule", "#", t, topic_matches("#", t));
	if (topic_filter_valid(t) != 0)
		fail("a valid name is not a valid filter", t, t, topic_filter_valid(t));
	if (topic_matches(t, t) != 1)
		fail("does not match itself", t, t, 0);

	/* every level replaced by "+" */
	tl = strlen(t);
	plus = malloc(2 * tl + 2);
	hash = malloc(tl + 3);
	if (plus && hash) {
		char *w = plus;

		*w++ = '+';
		for (i = 0; i < tl; i++)
			if (t[i] == '/') {
				*w++ = '/';
				*w++ = '+';
			}
		*w = '\0';
		if (topic_filter_valid(plus) == 0 && topic_matches(plus, t) != (t[0] != '$'))
			fail("\"+\" per level", plus, t, topic_matches(plus, t));
		memcpy(hash, t, tl);
		memcpy(hash + tl, "/#", 3);
		if (topic_filter_valid(hash) == 0 && topic_matches(hash, t) != 1)
			fail("parent of \"/#\"", hash, t, 0);
	}
	free(plus);
	free(hash);
	free(buf);
	return 0;
}
