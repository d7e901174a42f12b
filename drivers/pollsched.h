/*
 * pollsched.h - when a serial device's polls are due.
 *
 * Pure: no I/O and no clock; time comes in as now_ms, so the unit test runs
 * it on a fake clock. The serial driver starts the schedule when the port
 * opens, stops it when the port goes, and on each tick asks which polls are
 * due and when to wake next.
 *
 * Cadence without drift: poll i's k-th slot is start + offset_i + k x every_i,
 * where start is the moment the port opened. A tick that comes late runs a
 * due poll once and moves on to the first slot after now: missed slots are
 * skipped, never bunched. A poll whose previous instance is still queued or
 * waiting for its reply (the caller's busy() says so) is skipped and counted.
 * No polls: no deadline, so an idle gateway gains no wake-up.
 */
#ifndef MQTTGW_POLLSCHED_H
#define MQTTGW_POLLSCHED_H

#include <stdint.h>

struct pollsched {
	int n;
	uint64_t *every;	/* per poll: period and phase, ms */
	uint64_t *offset;
	uint64_t *next;		/* per poll: the next slot */
	int running;		/* between start and stop */
	uint64_t start;
	uint64_t fired;		/* polls handed to fire() */
	uint64_t skipped;	/* due while the previous one was still busy */
	uint64_t missed;	/* slots that passed while the loop was late */
};

/* Room for n polls (n may be 0), each every 1 ms until set. 0 / -1 (out of memory). */
int pollsched_init(struct pollsched *ps, int n);
/* Poll i: every_ms >= 1 (0 is taken as 1), offset_ms taken modulo every_ms. */
void pollsched_set(struct pollsched *ps, int i, int every_ms, int offset_ms);
void pollsched_free(struct pollsched *ps);

/* The port opened at now_ms: slot 0 of each poll is now + its offset. */
void pollsched_start(struct pollsched *ps, uint64_t now_ms);
/* The port went: nothing is due until the next start. */
void pollsched_stop(struct pollsched *ps);

/*
 * Run what is due at now_ms, in poll order: fire(i) for each due poll whose
 * busy(i) says 0, a count in skipped for the others. Returns the next
 * deadline (UINT64_MAX: none, not running or no polls). busy may be NULL.
 */
uint64_t pollsched_run(struct pollsched *ps, uint64_t now_ms, int (*busy)(int i, void *ctx),
		       void (*fire)(int i, void *ctx), void *ctx);

/* The next deadline without running anything. */
uint64_t pollsched_deadline(const struct pollsched *ps);

#endif
