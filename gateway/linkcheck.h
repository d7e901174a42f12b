/*
 * linkcheck.h - proving the broker link alive with our own round trips.
 *
 * A link that dies silently (a pulled cable, a dead access point, a frozen
 * broker) gives no TCP error; paho notices only after one to two keepalive
 * periods without a PINGRESP (about two minutes with keepalive 60). With
 * mqtt.link_timeout_ms set, the loop sends a probe every link_check_ms (an
 * MQTT UNSUBSCRIBE of a filter nobody subscribes, answered by UNSUBACK: a
 * full round trip that delivers nothing to any subscriber and needs no
 * ACL), and any answer from the broker (the probe's, or a PUBACK of our own
 * publishes) is proof, and so is a message it delivers on this link (a flood
 * queued ahead of the probe's answer is traffic, not silence). No proof for link_timeout_ms: the link is declared
 * lost, the same path as any lost link (new client, reconnect, the devices'
 * fail-safe grace).
 *
 * Pure: no I/O, no clock; mqtt.c drives it with the loop's time. Worst case
 * from a silent loss to "lost": link_timeout_ms (the last proof came at or
 * before the loss).
 *
 * The loop's own stall is not the link's: while connected the loop looks
 * at least every period; when it comes back after more than two (the
 * gateway was suspended, SIGSTOPped, starved), answers that came meanwhile
 * may still be on their way through paho, so the link gets one more period
 * before it is judged (once per silence: a loop that is always late still
 * gets a verdict, one period later than the bound).
 */
#ifndef MQTTGW_LINKCHECK_H
#define MQTTGW_LINKCHECK_H

#include <stdint.h>

#define LINKCHECK_NEVER UINT64_MAX

struct linkcheck {
	int timeout_ms;		/* 0: off */
	int period_ms;		/* a probe this often, while none is unanswered */
	int up;			/* connected */
	int outstanding;	/* a probe awaits its answer */
	uint64_t proof_at;	/* the last proof (or the connect) */
	uint64_t next_probe;
	uint64_t sent_at;	/* the unanswered probe's */
	uint64_t seen_at;	/* the loop's last look (linkcheck_tick) */
	int forgiven;		/* a stall was forgiven since the last proof */
};

void linkcheck_init(struct linkcheck *lc, int timeout_ms, int period_ms);
/* Connected (now) / the link is gone. */
void linkcheck_up(struct linkcheck *lc, uint64_t now_ms);
void linkcheck_down(struct linkcheck *lc);
/* The loop looks (every turn, before linkcheck_expired / linkcheck_due). */
void linkcheck_tick(struct linkcheck *lc, uint64_t now_ms);
/* 1: send a probe now (then linkcheck_sent, or linkcheck_not_sent if it could not go). */
int linkcheck_due(const struct linkcheck *lc, uint64_t now_ms);
void linkcheck_sent(struct linkcheck *lc, uint64_t now_ms);
void linkcheck_not_sent(struct linkcheck *lc, uint64_t now_ms);
/* The probe came back: answered 1 (the broker replied), 0 (paho gave up on it). */
void linkcheck_answer(struct linkcheck *lc, int answered, uint64_t now_ms);
/* Anything else the broker answered (a PUBACK). */
void linkcheck_proof(struct linkcheck *lc, uint64_t now_ms);
/* 1: no proof for timeout_ms while up. */
int linkcheck_expired(const struct linkcheck *lc, uint64_t now_ms);
/* The next time linkcheck_due or linkcheck_expired may change its mind. */
uint64_t linkcheck_deadline(const struct linkcheck *lc);

#endif
