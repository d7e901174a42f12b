/*
 * unit.h - the smallest test harness that does the job.
 *
 * A unit test binary is a list of TEST() functions run from main via RUN().
 * Each prints one TAP line ("ok N - name" / "not ok N - name"); CHECK()
 * failures print the file, line and expression first. tests/run.py counts
 * the TAP lines; the binary exits 1 if anything failed.
 */
#ifndef MQTTGW_UNIT_H
#define MQTTGW_UNIT_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int unit_failed_total;
static int unit_count;
static int unit_cur_failed;

#define TEST(fn) static void fn(void)

#define CHECK(expr) do { \
	if (!(expr)) { \
		printf("# %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #expr); \
		unit_cur_failed = 1; \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *unit_a_ = (a), *unit_b_ = (b); \
	if (!unit_a_ || !unit_b_ || strcmp(unit_a_, unit_b_) != 0) { \
		printf("# %s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
		       unit_a_ ? unit_a_ : "(null)", unit_b_ ? unit_b_ : "(null)"); \
		unit_cur_failed = 1; \
	} \
} while (0)

#define CHECK_INT(a, b) do { \
	long long unit_a_ = (long long)(a), unit_b_ = (long long)(b); \
	if (unit_a_ != unit_b_) { \
		printf("# %s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a, unit_a_, unit_b_); \
		unit_cur_failed = 1; \
	} \
} while (0)

#define RUN(fn) do { \
	unit_cur_failed = 0; \
	fn(); \
	unit_count++; \
	printf("%sok %d - %s\n", unit_cur_failed ? "not " : "", unit_count, #fn); \
	unit_failed_total += unit_cur_failed; \
	fflush(stdout); \
} while (0)

/* xorshift32: the pseudo-random numbers of the randomised tests, from a
 * fixed seed in *state, so a failure is reproducible. */
static inline uint32_t unit_xorshift32(uint32_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

#define UNIT_DONE() (printf("1..%d\n", unit_count), unit_failed_total ? 1 : 0)

#endif
