/*
 * test_linkcheck.c - unit tests for gateway/linkcheck.c, the round trips
 * behind mqtt.link_timeout_ms: when a probe goes out, that one unanswered
 * probe is not followed by another, and that a silent link is declared
 * lost exactly link_timeout_ms after the last proof (the bound SAFETY.md
 * and --check promise), never before.
 */
#include <stdint.h>

#include "linkcheck.h"
#include "unit.h"

TEST(off_never_probes_or_expires)
{
	struct linkcheck lc;

	linkcheck_init(&lc, 0, 1000);
	linkcheck_up(&lc, 100);
	CHECK(!linkcheck_due(&lc, 100000));
	CHECK(!linkcheck_expired(&lc, 100000));
	CHECK(linkcheck_deadline(&lc) == LINKCHECK_NEVER);
}

TEST(probes_every_period_while_answered)
{
	struct linkcheck lc;
	uint64_t t;

	linkcheck_init(&lc, 3000, 1000);
	CHECK(!linkcheck_due(&lc, 5000));	/* not connected */
	linkcheck_up(&lc, 0);
	CHECK(!linkcheck_due(&lc, 999));
	CHECK_INT(linkcheck_deadline(&lc), 1000);
	for (t = 1000; t < 60000; t += 1000) {
		CHECK(linkcheck_due(&lc, t));
		linkcheck_sent(&lc, t);
		CHECK(!linkcheck_due(&lc, t + 1000));	/* one at a time */
		linkcheck_answer(&lc, 1, t + 5);
		CHECK(!linkcheck_expired(&lc, t + 1000));
	}
}

TEST(silent_loss_declared_at_timeout_after_last_proof)
{
	struct linkcheck lc;

	linkcheck_init(&lc, 3000, 1000);
	linkcheck_up(&lc, 0);
	linkcheck_tick(&lc, 1000);
	linkcheck_sent(&lc, 1000);
	linkcheck_answer(&lc, 1, 1010);
	linkcheck_tick(&lc, 2000);
	linkcheck_sent(&lc, 2000);	/* never answered: the link died at 1500 */
	CHECK_INT(linkcheck_deadline(&lc), 3000);	/* the loop still looks every period */
	linkcheck_tick(&lc, 3000);
	CHECK(!linkcheck_due(&lc, 3000));
	linkcheck_tick(&lc, 4000);
	CHECK_INT(linkcheck_deadline(&lc), 4010);
	CHECK(!linkcheck_expired(&lc, 4009));
	linkcheck_tick(&lc, 4010);
	CHECK(linkcheck_expired(&lc, 4010));
}

TEST(publish_acks_are_proof_too)
{
	struct linkcheck lc;

	linkcheck_init(&lc, 1000, 300);
	linkcheck_up(&lc, 0);
	linkcheck_sent(&lc, 300);
	linkcheck_proof(&lc, 900);	/* a PUBACK while the probe waits */
	CHECK(!linkcheck_expired(&lc, 1500));
	CHECK(linkcheck_expired(&lc, 1900));
	/* a probe paho failed (not the broker's answer) proves nothing */
	linkcheck_answer(&lc, 0, 1800);
	CHECK(linkcheck_expired(&lc, 1900));
	CHECK(linkcheck_due(&lc, 1900));
}

TEST(down_stops_everything_and_up_restarts_the_clock)
{
	struct linkcheck lc;

	linkcheck_init(&lc, 1000, 300);
	linkcheck_up(&lc, 0);
	linkcheck_down(&lc);
	CHECK(!linkcheck_expired(&lc, 5000));
	CHECK(linkcheck_deadline(&lc) == LINKCHECK_NEVER);
	linkcheck_up(&lc, 5000);
	CHECK(!linkcheck_expired(&lc, 5999));
	CHECK(linkcheck_expired(&lc, 6000));
	/* a probe that could not go is retried a period later */
	linkcheck_not_sent(&lc, 5300);
	CHECK(!linkcheck_due(&lc, 5599));
	CHECK(linkcheck_due(&lc, 5600));
}

TEST(the_loops_own_stall_gets_one_more_period)
{
	struct linkcheck lc;
	uint64_t t;

	linkcheck_init(&lc, 3000, 1000);
	linkcheck_up(&lc, 0);
	linkcheck_tick(&lc, 1000);
	linkcheck_sent(&lc, 1000);
	/* an unanswered probe still wakes the loop every period */
	linkcheck_tick(&lc, 2000);
	CHECK_INT(linkcheck_deadline(&lc), 3000);
	/* the gateway was stopped from 2000 to 9000: not a verdict on the link yet */
	linkcheck_tick(&lc, 9000);
	CHECK(!linkcheck_expired(&lc, 9000));
	CHECK(!linkcheck_expired(&lc, 9999));
	CHECK(linkcheck_expired(&lc, 10000));
	/* the answer was on its way */
	linkcheck_answer(&lc, 1, 9005);
	CHECK(!linkcheck_expired(&lc, 10000));
	/* but only once per silence: a loop that is always late still gets a verdict */
	linkcheck_init(&lc, 3000, 1000);
	linkcheck_up(&lc, 0);
	for (t = 2500; t < 20000; t += 2500) {
		linkcheck_tick(&lc, t);
		if (linkcheck_expired(&lc, t))
			break;
	}
	CHECK_INT(t, 5000);
}

int main(void)
{
	RUN(the_loops_own_stall_gets_one_more_period);
	RUN(off_never_probes_or_expires);
	RUN(probes_every_period_while_answered);
	RUN(silent_loss_declared_at_timeout_after_last_proof);
	RUN(publish_acks_are_proof_too);
	RUN(down_stops_everything_and_up_restarts_the_clock);
	return UNIT_DONE();
}
