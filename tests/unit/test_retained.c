/*
 * test_retained.c - unit tests for gateway/retained.c, the cache of the
 * last retained value of each topic that a reconnect republishes: every
 * topic comes back once with its last payload and qos, however many there
 * are (10,000 in a big station; the table grows), and the bound holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retained.h"
#include "unit.h"

struct seen {
	int n, bad;
	unsigned char *hit;
};

static void count(const char *topic, const void *payload, size_t len, int qos, void *ctx)
{
	struct seen *s = ctx;
	char want[32];
	long k;

	s->n++;
	if (sscanf(topic, "S013/V%ld/state", &k) != 1 || k < 0 || k >= RETAINED_MAX || s->hit[k]++) {
		s->bad++;
		return;
	}
	snprintf(want, sizeof(want), "v%ld", k % 7 == 0 ? k + 1 : k);
	if (len != strlen(want) || memcmp(payload, want, len) != 0 || qos != (int)(k % 2))
		s->bad++;
}

TEST(ten_thousand_topics_all_come_back_once)
{
	struct retained *r = retained_new();
	struct seen s = { 0, 0, calloc(RETAINED_MAX, 1) };
	char t[64], p[32];
	long k;

	CHECK(r && s.hit);
	for (k = 0; k < 10000; k++) {
		snprintf(t, sizeof(t), "S013/V%ld/state", k);
		snprintf(p, sizeof(p), "v%ld", k);
		CHECK_INT(retained_set(r, t, p, strlen(p), (int)(k % 2)), 0);
	}
	/* updates replace, they do not add */
	for (k = 0; k < 10000; k += 7) {
		snprintf(t, sizeof(t), "S013/V%ld/state", k);
		snprintf(p, sizeof(p), "v%ld", k + 1);
		CHECK_INT(retained_set(r, t, p, strlen(p), (int)(k % 2)), 0);
	}
	retained_each(r, count, &s);
	CHECK_INT(s.n, 10000);
	CHECK_INT(s.bad, 0);
	free(s.hit);
	retained_free(r);
}

TEST(bounded_at_retained_max)
{
	struct retained *r = retained_new();
	struct seen s = { 0, 0, calloc(RETAINED_MAX, 1) };
	char t[64];
	long k;
	int refused = 0;

	CHECK(r && s.hit);
	for (k = 0; k < RETAINED_MAX + 10; k++) {
		snprintf(t, sizeof(t), "S013/V%ld/state", k);
		if (retained_set(r, t, k % 7 == 0 ? "" : "x", 0, 0) < 0)
			refused++;
	}
	CHECK_INT(refused, 10);
	/* a known topic still updates when full */
	CHECK_INT(retained_set(r, "S013/V1/state", "v1", 2, 1), 0);
	retained_free(r);
	free(s.hit);
}

int main(void)
{
	RUN(ten_thousand_topics_all_come_back_once);
	RUN(bounded_at_retained_max);
	return UNIT_DONE();
}
