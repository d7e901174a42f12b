/*
 * linkcheck.c - round-trip bookkeeping for mqtt.link_timeout_ms.
 *
 * See linkcheck.h. One probe at a time: a probe the broker has not
 * answered is not followed by another (a stalled link would only pile them
 * up in paho), and the timeout counts from the last proof, not from the
 * last probe, so a slow answer is as good as a quick one until the timeout.
 */
#include "linkcheck.h"

void linkcheck_init(struct linkcheck *lc, int timeout_ms, int period_ms)
{
	lc->timeout_ms = timeout_ms;
	lc->period_ms = period_ms > 0 ? period_ms : 1;
	linkcheck_down(lc);
}

void linkcheck_up(struct linkcheck *lc, uint64_t now)
{
	lc->up = 1;
	lc->outstanding = 0;
	lc->proof_at = now;
	lc->next_probe = now + (uint64_t)lc->period_ms;
	lc->seen_at = now;
	lc->forgiven = 0;
}

void linkcheck_down(struct linkcheck *lc)
{
	lc->up = 0;
	lc->outstanding = 0;
	lc->proof_at = 0;
	lc->next_probe = LINKCHECK_NEVER;
}

void linkcheck_tick(struct linkcheck *lc, uint64_t now)
{
	uint64_t period = (uint64_t)lc->period_ms, floor;

	if (lc->timeout_ms <= 0 || !lc->up)
		return;
	if (now > lc->seen_at + 2 * period && !lc->forgiven) {
		/* the loop itself was away: one more period before a verdict */
		floor = now + period - (uint64_t)lc->timeout_ms;
		if (now + period > (uint64_t)lc->timeout_ms && floor > lc->proof_at)
			lc->proof_at = floor;
		lc->forgiven = 1;
	}
	lc->seen_at = now;
	/* a probe still unanswered: wake again a period on all the same (stalls are seen so) */
	if (lc->outstanding && now >= lc->next_probe)
		lc->next_probe = now + period;
}

int linkcheck_due(const struct linkcheck *lc, uint64_t now)
{
	return lc->timeout_ms > 0 && lc->up && !lc->outstanding && now >= lc->next_probe;
}

void linkcheck_sent(struct linkcheck *lc, uint64_t now)
{
	lc->outstanding = 1;
	lc->sent_at = now;
	lc->next_probe = now + (uint64_t)lc->period_ms;
}

void linkcheck_not_sent(struct linkcheck *lc, uint64_t now)
{
	lc->next_probe = now + (uint64_t)lc->period_ms;
}

void linkcheck_proof(struct linkcheck *lc, uint64_t now)
{
	if (lc->up && now > lc->proof_at) {
		lc->proof_at = now;
		lc->forgiven = 0;
	}
}

void linkcheck_answer(struct linkcheck *lc, int answered, uint64_t now)
{
	lc->outstanding = 0;
	if (answered)
		linkcheck_proof(lc, now);
}

int linkcheck_expired(const struct linkcheck *lc, uint64_t now)
{
	return lc->timeout_ms > 0 && lc->up && now >= lc->proof_at + (uint64_t)lc->timeout_ms;
}

uint64_t linkcheck_deadline(const struct linkcheck *lc)
{
	uint64_t d;

	if (lc->timeout_ms <= 0 || !lc->up)
		return LINKCHECK_NEVER;
	d = lc->proof_at + (uint64_t)lc->timeout_ms;
	return lc->next_probe < d ? lc->next_probe : d;
}
