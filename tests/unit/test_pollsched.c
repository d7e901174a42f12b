/*
 * test_pollsched.c - unit tests for drivers/pollsched.c on a fake clock:
 * the cadence does not drift, offsets shift the phase, a late tick runs a
 * due poll once and skips the missed slots, a poll still busy is skipped
 * and counted, nothing is due while stopped; and the command queue's tags
 * (drivers/cmdq.c) that tell the driver a poll is still queued or in flight.
 */
#include <stdint.h>
#include <string.h>

#include "cmdq.h"
#include "pollsched.h"
#include "unit.h"

/* what fire() saw: poll index and time */
static int fired_i[64];
static uint64_t fired_at[64];
static int n_fired;
static uint64_t clock_now;
static int busy_mask;

static void on_fire(int i, void *ctx)
{
	(void)ctx;
	if (n_fired < 64) {
		fired_i[n_fired] = i;
		fired_at[n_fired] = clock_now;
	}
	n_fired++;
}

static int on_busy(int i, void *ctx)
{
	(void)ctx;
	return (busy_mask >> i) & 1;
}

/* Advance the fake clock to t, waking at every deadline on the way (a punctual loop). */
static uint64_t run_until(struct pollsched *ps, uint64_t t)
{
	uint64_t d = pollsched_deadline(ps);

	while (d <= t) {
		clock_now = d;
		d = pollsched_run(ps, clock_now, on_busy, on_fire, NULL);
	}
	clock_now = t;
	return d;
}

static int init(struct pollsched *ps, int n, const int *every, const int *off)
{
	int i;

	if (pollsched_init(ps, n) < 0)
		return -1;
	for (i = 0; i < n; i++)
		pollsched_set(ps, i, every[i], off[i]);
	return 0;
}

static void reset(void)
{
	n_fired = 0;
	busy_mask = 0;
	memset(fired_i, 0, sizeof(fired_i));
}

TEST(cadence_without_drift)
{
	struct pollsched ps;
	int every[] = { 2000 }, off[] = { 0 };

	reset();
	CHECK_INT(init(&ps, 1, every, off), 0);
	CHECK(pollsched_deadline(&ps) == UINT64_MAX);	/* not started: nothing due */
	pollsched_start(&ps, 1000);
	CHECK(pollsched_deadline(&ps) == 1000);	/* the first right after the open */
	/* ticks that come late by a little each time: the slots stay on the grid */
	clock_now = 1000;
	CHECK(pollsched_run(&ps, 1000, on_busy, on_fire, NULL) == 3000);
	CHECK(pollsched_run(&ps, 3007, on_busy, on_fire, NULL) == 5000);
	CHECK(pollsched_run(&ps, 5013, on_busy, on_fire, NULL) == 7000);
	CHECK(pollsched_run(&ps, 6999, on_busy, on_fire, NULL) == 7000);	/* early: nothing */
	CHECK_INT(n_fired, 3);
	CHECK_INT(ps.fired, 3);
	CHECK_INT(ps.missed, 0);
	pollsched_free(&ps);
}

TEST(offsets_and_order)
{
	struct pollsched ps;
	int every[] = { 1000, 1000, 500 }, off[] = { 0, 250, 100 };

	reset();
	CHECK_INT(init(&ps, 3, every, off), 0);
	pollsched_start(&ps, 0);
	run_until(&ps, 1999);
	/* 0:A 100:C 250:B 600:C 1000:A 1100:C 1250:B 1600:C */
	CHECK_INT(n_fired, 8);
	CHECK(fired_at[0] == 0 && fired_i[0] == 0);
	CHECK(fired_at[1] == 100 && fired_i[1] == 2);
	CHECK(fired_at[2] == 250 && fired_i[2] == 1);
	CHECK(fired_at[3] == 600 && fired_i[3] == 2);
	CHECK(fired_at[4] == 1000 && fired_i[4] == 0);
	CHECK(fired_at[7] == 1600 && fired_i[7] == 2);
	pollsched_free(&ps);
}

TEST(missed_slots_are_skipped_not_bunched)
{
	struct pollsched ps;
	int every[] = { 100 }, off[] = { 30 };

	reset();
	CHECK_INT(init(&ps, 1, every, off), 0);
	pollsched_start(&ps, 0);
	clock_now = 30;
	CHECK(pollsched_run(&ps, 30, on_busy, on_fire, NULL) == 130);
	/* the loop stalls until 575: slots 130..530 passed; one poll now, the next on the grid */
	clock_now = 575;
	CHECK(pollsched_run(&ps, 575, on_busy, on_fire, NULL) == 630);
	CHECK_INT(n_fired, 2);
	CHECK_INT(ps.missed, 4);	/* 130 230 330 430 went by; 530 ran late at 575 */
	CHECK(pollsched_run(&ps, 575, on_busy, on_fire, NULL) == 630);	/* twice at once: once */
	CHECK_INT(n_fired, 2);
	pollsched_free(&ps);
}

TEST(busy_polls_are_skipped_and_counted)
{
	struct pollsched ps;
	int every[] = { 1000, 1000 }, off[] = { 0, 500 };

	reset();
	CHECK_INT(init(&ps, 2, every, off), 0);
	pollsched_start(&ps, 0);
	run_until(&ps, 0);
	busy_mask = 1;		/* poll 0 still waits for its reply */
	run_until(&ps, 2999);	/* 500:1 1000:skip 1500:1 2000:skip 2500:1 */
	CHECK_INT(ps.skipped, 2);
	CHECK_INT(n_fired, 4);
	busy_mask = 0;
	run_until(&ps, 3000);
	CHECK_INT(n_fired, 5);
	CHECK(fired_at[4] == 3000 && fired_i[4] == 0);	/* back on its grid, not late */
	pollsched_free(&ps);
}

TEST(stop_and_restart)
{
	struct pollsched ps;
	int every[] = { 1000 }, off[] = { 200 };

	reset();
	CHECK_INT(init(&ps, 1, every, off), 0);
	pollsched_start(&ps, 0);
	run_until(&ps, 1500);
	CHECK_INT(n_fired, 2);
	pollsched_stop(&ps);	/* port unplugged */
	CHECK(pollsched_deadline(&ps) == UINT64_MAX);
	CHECK(pollsched_run(&ps, 5000, on_busy, on_fire, NULL) == UINT64_MAX);
	CHECK_INT(n_fired, 2);
	pollsched_start(&ps, 7777);	/* replugged: the grid starts again from the open */
	CHECK(pollsched_deadline(&ps) == 7977);
	run_until(&ps, 7977);
	CHECK_INT(n_fired, 3);
	pollsched_free(&ps);
}

TEST(no_polls_no_deadline)
{
	struct pollsched ps;

	reset();
	CHECK_INT(pollsched_init(&ps, 0), 0);
	pollsched_start(&ps, 10);
	CHECK(pollsched_deadline(&ps) == UINT64_MAX);
	CHECK(pollsched_run(&ps, 10, on_busy, on_fire, NULL) == UINT64_MAX);
	CHECK_INT(n_fired, 0);
	pollsched_free(&ps);
	pollsched_free(NULL);
}

TEST(cmdq_tags_track_polls)
{
	struct cmdq q;
	size_t len;

	if (cmdq_init(&q, 4, 16, 1, 1000, 0, 0) != 0) {
		CHECK(0);
		return;
	}
	CHECK_INT(cmdq_submit(&q, "CMD", 3, 0), CMDQ_OK);
	CHECK_INT(cmdq_submit_tagged(&q, "READ", 4, 0, UINT64_MAX, 1), CMDQ_OK);
	CHECK(cmdq_tag_busy(&q, 1));	/* queued behind CMD */
	CHECK(!cmdq_tag_busy(&q, 2));
	CHECK(cmdq_take(&q, &len, 0) != NULL);
	CHECK_INT(q.tag, 0);
	CHECK_INT(cmdq_reply(&q), 1);
	CHECK_INT(q.tag, 0);
	CHECK(cmdq_take(&q, &len, 10) != NULL);
	CHECK_INT(q.tag, 1);
	CHECK(cmdq_tag_busy(&q, 1));	/* in flight */
	CHECK_INT(cmdq_reply(&q), 1);
	CHECK_INT(q.tag, 1);
	CHECK(!cmdq_tag_busy(&q, 1));	/* answered: the next poll may go */
	/* a timeout reports the poll's tag */
	CHECK_INT(cmdq_submit_tagged(&q, "READ", 4, 20, UINT64_MAX, 2), CMDQ_OK);
	CHECK(cmdq_take(&q, &len, 20) != NULL);
	q.tag = -1;
	{
		const char *d;

		CHECK_INT(cmdq_expired(&q, 1020, &d, &len), 1);
		CHECK_INT(q.tag, 2);
	}
	CHECK(!cmdq_tag_busy(&q, 2));
	cmdq_free(&q);
}

int main(void)
{
	RUN(cadence_without_drift);
	RUN(offsets_and_order);
	RUN(missed_slots_are_skipped_not_bunched);
	RUN(busy_polls_are_skipped_and_counted);
	RUN(stop_and_restart);
	RUN(no_polls_no_deadline);
	RUN(cmdq_tags_track_polls);
	return UNIT_DONE();
}
