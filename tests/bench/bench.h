/*
 * bench.h - the few helpers every benchmark program shares: a monotonic
 * clock in nanoseconds, strict number parsing, and dying with a message.
 *
 * Header-only (static inline) so each prog_*.c stays one self-contained
 * translation unit that bench.mk links against exactly the paho flavour it
 * uses (MQTTAsync and MQTTClient share internal symbol names and must not
 * meet in one binary). All programs stamp events with CLOCK_MONOTONIC, which
 * is one clock for every process on the machine, so a time taken in the
 * device peer and one taken in the subscriber can be subtracted.
 */
#ifndef BENCH_H
#define BENCH_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline int64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

__attribute__((format(printf, 1, 2), noreturn)) static inline void bench_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Parse a whole decimal string in [min, max]; dies with the option name otherwise. */
static inline long long bench_num(const char *opt, const char *s, long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		bench_die("%s: want a number in %lld..%lld, got \"%s\"", opt, min, max, s);
	return v;
}

static inline double bench_num_f(const char *opt, const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < min || v > max)
		bench_die("%s: want a number in %g..%g, got \"%s\"", opt, min, max, s);
	return v;
}

/* Write n int64 values to path (native byte order: read back by run.py on this machine). */
static inline void bench_write_times(const char *path, const int64_t *v, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(v, sizeof(*v), n, f) != n || fclose(f) != 0)
		bench_die("%s: %s", path, strerror(errno));
}

#endif
