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

/*
 * The options of the two publishers, prog_pahopub and prog_rawpub: --uri,
 * --qos, --ports, --seconds, --window, --id, and --inflight where the
 * caller takes it (inflight not NULL). What each can do sets the limits
 * (qos_max, window_max, max_ports); o holds the defaults on entry.
 * Returns -1 for an unknown option or a missing value (the caller prints
 * its usage), 0 otherwise.
 */
struct bench_pub_opts {
	const char *uri, *id;
	int qos, ports;
	double seconds;
	uint64_t window;
};

static inline int bench_pub_opts_parse(int argc, char **argv, struct bench_pub_opts *o, int qos_max,
				       long long window_max, int max_ports, int *inflight)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			return -1;
		if (strcmp(argv[i], "--uri") == 0)
			o->uri = argv[++i];
		else if (strcmp(argv[i], "--qos") == 0)
			o->qos = (int)bench_num("--qos", argv[++i], 0, qos_max);
		else if (strcmp(argv[i], "--ports") == 0)
			o->ports = (int)bench_num("--ports", argv[++i], 1, max_ports);
		else if (strcmp(argv[i], "--seconds") == 0)
			o->seconds = bench_num_f("--seconds", argv[++i], 0.001, 3600);
		else if (strcmp(argv[i], "--window") == 0)
			o->window = (uint64_t)bench_num("--window", argv[++i], 1, window_max);
		else if (inflight && strcmp(argv[i], "--inflight") == 0)
			*inflight = (int)bench_num("--inflight", argv[++i], 1, 65535);
		else if (strcmp(argv[i], "--id") == 0)
			o->id = argv[++i];
		else
			return -1;
	}
	return 0;
}

/* Write n int64 values to path (native byte order: read back by run.py on this machine). */
static inline void bench_write_times(const char *path, const int64_t *v, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(v, sizeof(*v), n, f) != n || fclose(f) != 0)
		bench_die("%s: %s", path, strerror(errno));
}

#endif
