/*
 * test_cmdq.c - unit tests for drivers/cmdq.c, the per-device command
 * queue, where the end-to-end tests cannot steer the timing: the answers
 * owed to fail-safe frames written outside the queue (cmdq_owe) hold the
 * next command back until they came or timed out, and complete no command
 * of their own.
 */
#include <stdint.h>
#include <string.h>

#include "cmdq.h"
#include "unit.h"

static struct cmdq q;

static int take_is(const char *want, uint64_t now)
{
	size_t len = 0;
	const char *p = cmdq_take(&q, &len, now);

	if (!want)
		return p == NULL;
	return p && len == strlen(want) && memcmp(p, want, len) == 0;
}

TEST(one_in_flight_in_order)
{
	if (cmdq_init(&q, 4, 16, 1, 1000, 0, 0) != 0) {
		CHECK(0);
		return;
	}
	CHECK_INT(cmdq_submit(&q, "A", 1, 0), CMDQ_OK);
	CHECK_INT(cmdq_submit(&q, "B", 1, 0), CMDQ_OK);
	CHECK(take_is("A", 0));
	CHECK(take_is(NULL, 0));		/* A in flight */
	CHECK_INT(cmdq_reply(&q), 1);
	CHECK(take_is("B", 10));
	cmdq_free(&q);
}

TEST(owed_answers_hold_the_queue_and_complete_nothing)
{
	if (cmdq_init(&q, 4, 16, 1, 1000, 0, 0) != 0) {
		CHECK(0);
		return;
	}
	cmdq_owe(&q, 2, 100);			/* two fail-safe frames on the bus */
	CHECK(cmdq_waiting(&q));
	CHECK_INT(cmdq_deadline(&q), 1100);
	CHECK_INT(cmdq_submit(&q, "C1", 2, 150), CMDQ_OK);
	CHECK(take_is(NULL, 150));		/* held: STOP's answer is still due */
	CHECK_INT(cmdq_reply(&q), 0);		/* the first owed answer: no command completed */
	CHECK(take_is(NULL, 200));
	CHECK_INT(cmdq_reply(&q), 0);		/* the second */
	CHECK(!cmdq_waiting(&q));
	CHECK(take_is("C1", 250));		/* now C1 goes, in flight */
	CHECK_INT(cmdq_reply(&q), 1);		/* and its own answer completes it */
	cmdq_free(&q);
}

TEST(owed_answers_that_never_come_time_out_silently)
{
	const char *d = NULL;
	size_t len = 0;

	if (cmdq_init(&q, 4, 16, 1, 1000, 0, 0) != 0) {
		CHECK(0);
		return;
	}
	cmdq_owe(&q, 1, 0);
	CHECK_INT(cmdq_submit(&q, "C1", 2, 0), CMDQ_OK);
	CHECK_INT(cmdq_expired(&q, 999, &d, &len), 0);
	CHECK(cmdq_waiting(&q));
	CHECK_INT(cmdq_expired(&q, 1000, &d, &len), 0);	/* forgotten, and no timeout reported */
	CHECK(!cmdq_waiting(&q));
	CHECK(take_is("C1", 1000));
	cmdq_free(&q);
}

TEST(without_reply_pattern_nothing_is_owed)
{
	if (cmdq_init(&q, 4, 16, 0, 1000, 0, 0) != 0) {
		CHECK(0);
		return;
	}
	cmdq_owe(&q, 1, 0);
	CHECK(!cmdq_waiting(&q));
	CHECK_INT(cmdq_submit(&q, "A", 1, 0), CMDQ_OK);
	CHECK(take_is("A", 0));
	cmdq_free(&q);
}

TEST(clear_forgets_owed_answers)
{
	if (cmdq_init(&q, 4, 16, 1, 1000, 0, 0) != 0) {
		CHECK(0);
		return;
	}
	cmdq_owe(&q, 3, 0);
	cmdq_clear(&q, NULL, NULL);
	CHECK(!cmdq_waiting(&q));
	CHECK_INT(cmdq_deadline(&q), UINT64_MAX);
	cmdq_free(&q);
}

static char dropped_log[64];

static void note_drop(const char *data, size_t len, void *ctx)
{
	(void)ctx;
	strncat(dropped_log, data, len);
	strcat(dropped_log, ",");
}

TEST(expired_commands_are_dropped_anywhere_in_the_ring)
{
	if (cmdq_init(&q, 4, 16, 0, 1000, 0, 0) != 0) {
		CHECK(0);
		return;
	}
	/* wrap the ring first, so that the walk crosses its end */
	CHECK_INT(cmdq_submit(&q, "x", 1, 0), CMDQ_OK);
	CHECK_INT(cmdq_submit(&q, "y", 1, 0), CMDQ_OK);
	CHECK(take_is("x", 0));
	CHECK(take_is("y", 0));
	CHECK_INT(cmdq_submit_until(&q, "A", 1, 0, 500), CMDQ_OK);
	CHECK_INT(cmdq_submit(&q, "B", 1, 0), CMDQ_OK);
	CHECK_INT(cmdq_submit_until(&q, "C", 1, 0, 100), CMDQ_OK);
	CHECK_INT(cmdq_submit_until(&q, "D", 1, 0, 2000), CMDQ_OK);
	dropped_log[0] = '\0';
	CHECK_INT(cmdq_drop_expired(&q, 99, note_drop, NULL), 0);
	CHECK_INT(cmdq_drop_expired(&q, 500, note_drop, NULL), 2);
	CHECK_STR(dropped_log, "A,C,");
	CHECK(take_is("B", 500));
	CHECK(take_is("D", 500));
	CHECK(take_is(NULL, 500));
	cmdq_free(&q);
}

int main(void)
{
	RUN(expired_commands_are_dropped_anywhere_in_the_ring);
	RUN(one_in_flight_in_order);
	RUN(owed_answers_hold_the_queue_and_complete_nothing);
	RUN(owed_answers_that_never_come_time_out_silently);
	RUN(without_reply_pattern_nothing_is_owed);
	RUN(clear_forgets_owed_answers);
	return UNIT_DONE();
}
