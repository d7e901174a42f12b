/*
 * frames.h - what the framing tests share (test_framing.c, test_framing_modes.c,
 * test_framing_modes_idle.c):
 * a collector of the frames a framer delivers, and the rule that a stream
 * must give the same frames however the kernel cut it into reads.
 *
 * The collector keeps each frame with its length (NUL bytes inside a frame
 * are bytes like any other) and counts the frames delivered without the NUL
 * terminator framing.h promises after each. frames_every_cut() runs one
 * check over every way of cutting a stream of len bytes: whole, byte by
 * byte, one cut anywhere, two cuts anywhere. Header-only, static inline, so
 * each test binary stays one file; the includer defines MAXF (how many
 * frames one check may collect) first.
 */
#ifndef MQTTGW_TEST_FRAMES_H
#define MQTTGW_TEST_FRAMES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MAXF
#error "define MAXF (frames collected per check) before including frames.h"
#endif

struct frames {
	int n;
	char *f[MAXF];
	size_t len[MAXF];
	int unterminated; /* frames delivered without the promised NUL */
	int overflow;	  /* more than MAXF frames delivered */
};

/* The framer's callback: keeps a copy of the frame. */
static inline void collect(const char *frame, size_t len, void *ctx)
{
	struct frames *c = ctx;

	if (frame[len] != '\0')
		c->unterminated++;
	if (c->n >= MAXF) {
		c->overflow = 1;
		return;
	}
	c->f[c->n] = malloc(len + 1);
	if (!c->f[c->n])
		return;
	memcpy(c->f[c->n], frame, len);
	c->f[c->n][len] = '\0';
	c->len[c->n] = len;
	c->n++;
}

static inline void frames_clear(struct frames *c)
{
	int i;

	for (i = 0; i < c->n; i++)
		free(c->f[i]);
	memset(c, 0, sizeof(*c));
}

static inline void frames_dump(const struct frames *c, const char *how)
{
	int i;

	printf("#   %s: %d frame(s)%s:", how, c->n, c->unterminated ? " (some without NUL)" : "");
	for (i = 0; i < c->n; i++)
		printf(" [%.*s]", (int)c->len[i], c->f[i]);
	printf("\n");
}

/* One check of a stream fed in pieces cut at cuts[0..ncuts) (ascending);
 * how says which cutting it is. Returns 1 if the frames were right. */
typedef int (*frames_cut_fn)(const size_t *cuts, int ncuts, const char *how, void *ctx);

/*
 * check() for a stream of len bytes whole, byte by byte, cut once anywhere
 * and twice anywhere. Stops at the first failure (the check reports it);
 * returns 1 if every cutting passed.
 */
static inline int frames_every_cut(size_t len, frames_cut_fn check, void *ctx)
{
	size_t cuts[2], *bytes, i, j;
	char how[64];
	int ok;

	if (!check(NULL, 0, "in one feed", ctx))
		return 0;
	bytes = malloc((len + 1) * sizeof(*bytes));
	if (!bytes)
		return 0;
	for (i = 0; i < len; i++)
		bytes[i] = i;
	ok = len <= 1 || check(bytes + 1, (int)len - 1, "byte by byte", ctx);
	free(bytes);
	if (!ok)
		return 0;
	for (i = 1; i < len; i++) {
		cuts[0] = i;
		snprintf(how, sizeof(how), "cut at %zu", i);
		if (!check(cuts, 1, how, ctx))
			return 0;
	}
	for (i = 1; i < len; i++)
		for (j = i + 1; j < len; j++) {
			cuts[0] = i;
			cuts[1] = j;
			snprintf(how, sizeof(how), "cut at %zu and %zu", i, j);
			if (!check(cuts, 2, how, ctx))
				return 0;
		}
	return 1;
}

#endif
