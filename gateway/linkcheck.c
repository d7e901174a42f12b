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
}

void linkcheck_down(struct linkcheck *lc)
{
	lc->up = 0;
	lc->outstanding = 0;
	lc->proof_at = 0;
	lc->next_probe = LINKCHECK_NEVER;
}

int linkcheck_due(const struct linkcheck *lc, uint64_t now)
{
	return lc->timeout_ms > 0 && lc->up && !lc->outstanding && now >= lc->next_probe;
}

void linkcheck_sent(struct linkcheck *lc, uint64_t now)
{
	lc->outstanding = 1;
	lc->next_probe = now + (uint64_t)lc->period_ms;
}

void linkcheck_not_sent(struct linkcheck *lc, uint64_t now)
{
	lc->next_probe = now + (uint64_t)lc->period_ms;
}

void linkcheck_proof(struct linkcheck *lc, uint64_t now)
{
	if (lc->up && now > lc->proof_at)
		lc->proof_at = now;
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
	if (!lc->outstanding && lc->next_probe < d)
		d = lc->next_probe;
	return d;
}
