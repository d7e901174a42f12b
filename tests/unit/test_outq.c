/*
 * test_outq.c - unit tests for gateway/outq.c, the outbound queue in memory:
 * order and bookkeeping, link loss, max_waiting. The journal is tested in
 * test_outq_journal.c (a queue's life on disk) and test_outq_journal_damage.c
 * (damaged files), split off to keep each file readable; what all three
 * share is in outq_fixture.h.
 *
 * The tests check the list's invariants after the steps that change it
 * (check_queue): the links agree both ways, count and n_sent are what the
 * list holds, next_send is the first message not sent, and seq numbers
 * increase from head to tail.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "outq.h"
#include "outq_fixture.h"
#include "unit.h"

/* ---- order and bookkeeping ---- */

TEST(add_then_send_in_order)
{
	struct outq *q = outq_new(100);
	struct outq_msg *m[6];
	char t[16];
	int i;

	CHECK(q != NULL);
	if (!q)
		return;
	CHECK(outq_next_unsent(q) == NULL);
	CHECK(outq_unsend_all(q) == NULL);
	for (i = 0; i < 6; i++) {
		snprintf(t, sizeof(t), "t/%d", i);
		m[i] = add_named(q, t);
		CHECK(m[i] != NULL);
		if (!m[i])
			return;
		CHECK_INT(m[i]->seq, i + 1);
		CHECK(!m[i]->sent && !m[i]->resend && m[i]->strikes == 0);
		check_queue(q);
	}
	CHECK_INT(outq_count(q), 6);
	CHECK_INT(outq_in_flight(q), 0);
	CHECK_INT(outq_dropped(q), 0);
	CHECK(outq_first(q) == m[0] && outq_last(q) == m[5]);
	CHECK_STR(topics_of(q), "t/0 t/1 t/2 t/3 t/4 t/5");

	/* walk them: each next_unsent is the next in line */
	for (i = 0; i < 6; i++) {
		CHECK(outq_next_unsent(q) == m[i]);
		outq_mark_sent(q, m[i], 7, 100 + i);
		CHECK(m[i]->sent && m[i]->gen == 7 && m[i]->token == 100 + i);
		CHECK_INT(outq_in_flight(q), i + 1);
		CHECK_INT(outq_count(q), 6);
		check_queue(q);
	}
	CHECK(outq_next_unsent(q) == NULL);

	/* acknowledgements find them by (gen, token), and only by both */
	for (i = 0; i < 6; i++)
		CHECK(outq_find_sent(q, 7, 100 + i) == m[i]);
	CHECK(outq_find_sent(q, 8, 102) == NULL);
	CHECK(outq_find_sent(q, 6, 102) == NULL);
	CHECK(outq_find_sent(q, 7, 99) == NULL);
	CHECK(outq_find_sent(q, 7, 106) == NULL);

	/* a new one after all are sent is next in line */
	{
		struct outq_msg *late = add_named(q, "t/late");

		CHECK(late != NULL && late->seq == 7);
		CHECK(outq_next_unsent(q) == late);
		check_queue(q);
	}
	outq_free(q);
}

TEST(remove_out_of_order_keeps_the_rest_in_order)
{
	struct outq *q = outq_new(100);
	struct outq_msg *m[6], *l[6];
	char t[16];
	int i;

	if (!q)
		return;
	for (i = 0; i < 6; i++) {
		snprintf(t, sizeof(t), "t/%d", i);
		m[i] = add_named(q, t);
		if (!m[i])
			return;
	}
	/* 0..3 in flight, 4 and 5 waiting */
	for (i = 0; i < 4; i++)
		outq_mark_sent(q, outq_next_unsent(q), 1, i);
	CHECK(outq_next_unsent(q) == m[4]);
	check_queue(q);

	/* acks out of order: 2, then 0 (the head) */
	ack(q, 1, 2);
	check_queue(q);
	CHECK_STR(topics_of(q), "t/0 t/1 t/3 t/4 t/5");
	CHECK_INT(outq_count(q), 5);
	CHECK_INT(outq_in_flight(q), 3);
	ack(q, 1, 0);
	check_queue(q);
	CHECK_STR(topics_of(q), "t/1 t/3 t/4 t/5");
	CHECK(outq_first(q) == m[1]);
	CHECK_INT(outq_in_flight(q), 2);
	CHECK(outq_find_sent(q, 1, 0) == NULL);
	CHECK(outq_find_sent(q, 1, 2) == NULL);
	CHECK(outq_find_sent(q, 1, 1) == m[1]);
	CHECK(outq_find_sent(q, 1, 3) == m[3]);

	/* the tail, unsent */
	outq_remove(q, m[5]);
	check_queue(q);
	CHECK(outq_last(q) == m[4]);
	CHECK_STR(topics_of(q), "t/1 t/3 t/4");
	CHECK_INT(outq_count(q), 3);
	CHECK_INT(outq_in_flight(q), 2);
	CHECK(outq_next_unsent(q) == m[4]);

	/* next_send itself, dropped: nothing waits */
	outq_remove(q, m[4]);
	check_queue(q);
	CHECK(outq_next_unsent(q) == NULL);
	CHECK_INT(outq_count(q), 2);

	/* the rest */
	CHECK_INT(list_of(q, l, 6), 2);
	CHECK(l[0] == m[1] && l[1] == m[3]);
	outq_remove(q, m[3]);
	outq_remove(q, m[1]);
	check_queue(q);
	CHECK(outq_first(q) == NULL && outq_last(q) == NULL && outq_next_unsent(q) == NULL);
	CHECK_INT(outq_count(q), 0);
	CHECK_INT(outq_in_flight(q), 0);

	/* and it works again from empty */
	m[0] = add_named(q, "t/again");
	CHECK(m[0] && outq_first(q) == m[0] && outq_last(q) == m[0] && outq_next_unsent(q) == m[0]);
	CHECK(m[0] && m[0]->seq == 7);
	check_queue(q);
	outq_free(q);
}

TEST(remove_waiting_in_the_middle_moves_next_send_past_it)
{
	struct outq *q = outq_new(100);
	struct outq_msg *m[5];
	char t[16];
	int i;

	if (!q)
		return;
	for (i = 0; i < 5; i++) {
		snprintf(t, sizeof(t), "t/%d", i);
		if (!(m[i] = add_named(q, t)))
			return;
	}
	outq_mark_sent(q, m[0], 1, 10);
	outq_mark_sent(q, m[1], 1, 11);
	CHECK(outq_next_unsent(q) == m[2]);
	outq_remove(q, m[2]);
	check_queue(q);
	CHECK(outq_next_unsent(q) == m[3]);
	outq_remove(q, m[4]);
	check_queue(q);
	CHECK(outq_next_unsent(q) == m[3]);
	CHECK_STR(send_all(q, 1, 12), "t/3");
	CHECK_STR(topics_of(q), "t/0 t/1 t/3");
	CHECK_INT(outq_in_flight(q), 3);
	outq_free(q);
}

/* ---- link loss ---- */

TEST(unsend_all_puts_everything_back_in_order_and_strikes_the_oldest)
{
	struct outq *q = outq_new(100);
	struct outq_msg *m[5], *o;
	char t[16];
	int i;

	if (!q)
		return;
	for (i = 0; i < 5; i++) {
		snprintf(t, sizeof(t), "t/%d", i);
		if (!(m[i] = add_named(q, t)))
			return;
	}
	/* 0..2 in flight on generation 1 */
	for (i = 0; i < 3; i++)
		outq_mark_sent(q, outq_next_unsent(q), 1, i);
	CHECK(outq_next_unsent(q) == m[3]);

	o = outq_unsend_all(q);
	CHECK(o == m[0]);
	check_queue(q);
	CHECK_INT(outq_in_flight(q), 0);
	CHECK_INT(outq_count(q), 5);
	CHECK(outq_next_unsent(q) == outq_first(q));
	CHECK(outq_next_unsent(q) == m[0]);
	CHECK_INT(m[0]->strikes, 1);
	for (i = 1; i < 5; i++)
		CHECK_INT(m[i]->strikes, 0);
	for (i = 0; i < 5; i++) {
		CHECK(!m[i]->sent);
		CHECK_INT(m[i]->resend, i < 3);	/* only those that went out may be duplicates */
	}
	/* gone from the old generation */
	for (i = 0; i < 3; i++)
		CHECK(outq_find_sent(q, 1, i) == NULL);
	CHECK_STR(topics_of(q), "t/0 t/1 t/2 t/3 t/4");

	/* resent in the same order on the new link */
	CHECK_STR(send_all(q, 2, 0), "t/0 t/1 t/2 t/3 t/4");
	CHECK_INT(outq_in_flight(q), 5);
	for (i = 0; i < 5; i++)
		CHECK(outq_find_sent(q, 2, i) == m[i]);
	check_queue(q);

	/* the same one stays oldest: the strikes add up */
	o = outq_unsend_all(q);
	CHECK(o == m[0]);
	CHECK_INT(m[0]->strikes, 2);
	CHECK_INT(m[1]->strikes, 0);
	check_queue(q);
	outq_mark_sent(q, outq_next_unsent(q), 3, 0);
	o = outq_unsend_all(q);
	CHECK(o == m[0]);
	CHECK_INT(m[0]->strikes, OUTQ_STRIKES_MAX);
	check_queue(q);

	/* the caller drops it: the next one is oldest now and starts from zero */
	outq_remove(q, m[0]);
	CHECK_STR(send_all(q, 4, 0), "t/1 t/2 t/3 t/4");
	o = outq_unsend_all(q);
	CHECK(o == m[1]);
	CHECK_INT(m[1]->strikes, 1);
	CHECK_INT(m[2]->strikes, 0);
	check_queue(q);

	/* a loss with nothing in flight strikes nobody */
	o = outq_unsend_all(q);
	CHECK(o == NULL);
	CHECK_INT(m[1]->strikes, 1);
	for (i = 2; i < 5; i++)
		CHECK_INT(m[i]->strikes, 0);
	CHECK(outq_next_unsent(q) == m[1]);
	check_queue(q);
	outq_free(q);
}

TEST(unsend_all_restarts_at_the_head_even_when_it_was_not_in_flight)
{
	struct outq *q = outq_new(100);
	struct outq_msg *m[4], *o;
	char t[16];
	int i;

	if (!q)
		return;
	for (i = 0; i < 4; i++) {
		snprintf(t, sizeof(t), "t/%d", i);
		if (!(m[i] = add_named(q, t)))
			return;
	}
	/* 1 and 2 in flight, 0 never sent */
	outq_mark_sent(q, m[1], 1, 1);
	outq_mark_sent(q, m[2], 1, 2);
	check_queue(q);
	CHECK(outq_next_unsent(q) == m[0]);
	o = outq_unsend_all(q);
	CHECK(o == m[1]);	/* the oldest in flight, not the head */
	CHECK_INT(m[0]->strikes, 0);
	CHECK_INT(m[1]->strikes, 1);
	CHECK_INT(m[2]->strikes, 0);
	CHECK(outq_next_unsent(q) == m[0]);
	CHECK(!m[0]->resend && m[1]->resend && m[2]->resend && !m[3]->resend);
	check_queue(q);
	CHECK_STR(send_all(q, 2, 0), "t/0 t/1 t/2 t/3");

	/* the library gave 0 back, then the link died holding 1..3: 1 is struck again */
	outq_unsend(q, m[0]);
	CHECK(outq_next_unsent(q) == m[0]);
	o = outq_unsend_all(q);
	CHECK(o == m[1]);
	CHECK_INT(m[0]->strikes, 0);
	CHECK_INT(m[1]->strikes, 2);
	CHECK(outq_next_unsent(q) == m[0]);
	check_queue(q);
	outq_free(q);
}

TEST(oldest_sent_is_the_first_in_flight)
{
	struct outq *q = outq_new(100);
	struct outq_msg *m[4];
	char t[16];
	int i;

	if (!q)
		return;
	CHECK(outq_oldest_sent(q) == NULL);
	for (i = 0; i < 4; i++) {
		snprintf(t, sizeof(t), "t/%d", i);
		if (!(m[i] = add_named(q, t)))
			return;
	}
	CHECK(outq_oldest_sent(q) == NULL);	/* nothing handed over yet */
	outq_mark_sent(q, m[2], 1, 2);
	CHECK(outq_oldest_sent(q) == m[2]);	/* not the head: it waits */
	outq_mark_sent(q, m[0], 1, 0);
	CHECK(outq_oldest_sent(q) == m[0]);
	outq_remove(q, m[0]);
	CHECK(outq_oldest_sent(q) == m[2]);
	outq_unsend(q, m[2]);
	CHECK(outq_oldest_sent(q) == NULL);
	check_queue(q);
	outq_free(q);
}

TEST(unsend_one_puts_next_send_back_when_older)
{
	struct outq *q = outq_new(100);
	struct outq_msg *m[5];
	char t[16];
	int i;

	if (!q)
		return;
	for (i = 0; i < 5; i++) {
		snprintf(t, sizeof(t), "t/%d", i);
		if (!(m[i] = add_named(q, t)))
			return;
	}
	for (i = 0; i < 4; i++)
		outq_mark_sent(q, m[i], 1, i);
	CHECK(outq_next_unsent(q) == m[4]);

	/* 2 comes back: it is older than 4, so it is next */
	outq_unsend(q, m[2]);
	check_queue(q);
	CHECK(outq_next_unsent(q) == m[2]);
	CHECK(!m[2]->sent && m[2]->resend);
	CHECK_INT(m[2]->strikes, 0);
	CHECK_INT(outq_in_flight(q), 3);
	CHECK(outq_find_sent(q, 1, 2) == NULL);

	/* 1 comes back: older still */
	outq_unsend(q, m[1]);
	check_queue(q);
	CHECK(outq_next_unsent(q) == m[1]);
	CHECK_INT(outq_in_flight(q), 2);

	/* 3 comes back: newer than 1, next_send stays */
	outq_unsend(q, m[3]);
	check_queue(q);
	CHECK(outq_next_unsent(q) == m[1]);
	CHECK_INT(outq_in_flight(q), 1);

	/* unsending one not sent changes nothing */
	outq_unsend(q, m[4]);
	check_queue(q);
	CHECK_INT(outq_in_flight(q), 1);
	CHECK(!m[4]->resend);
	CHECK(outq_next_unsent(q) == m[1]);

	/* they go out again in order */
	CHECK_STR(send_all(q, 1, 10), "t/1 t/2 t/3 t/4");
	CHECK_STR(topics_of(q), "t/0 t/1 t/2 t/3 t/4");
	CHECK_INT(outq_in_flight(q), 5);
	check_queue(q);

	/* with nothing waiting, the one unsent becomes next */
	outq_unsend(q, m[4]);
	CHECK(outq_next_unsent(q) == m[4]);
	check_queue(q);
	outq_free(q);
}

/* ---- max_waiting ---- */

TEST(max_waiting_keeps_the_newest_unsent)
{
	struct outq *q = outq_new(3);
	char t[16];
	int i;

	if (!q)
		return;
	for (i = 0; i < 10; i++) {
		snprintf(t, sizeof(t), "t/%d", i);
		CHECK(add_named(q, t) != NULL);
		CHECK(outq_count(q) <= 3);
		check_queue(q);
	}
	CHECK_INT(outq_count(q), 3);
	CHECK_INT(outq_dropped(q), 7);
	CHECK_STR(topics_of(q), "t/7 t/8 t/9");
	CHECK(outq_first(q) && outq_first(q)->seq == 8);
	CHECK(outq_last(q) && outq_last(q)->seq == 10);
	CHECK_STR(send_all(q, 1, 0), "t/7 t/8 t/9");
	outq_free(q);
}

TEST(max_waiting_never_drops_messages_in_flight)
{
	struct outq *q = outq_new(3);
	struct outq_msg *m[4];
	char t[16];
	int i;

	if (!q)
		return;
	for (i = 0; i < 4; i++) {
		snprintf(t, sizeof(t), "s/%d", i);
		if (!(m[i] = add_named(q, t)))
			return;
	}
	/* the bound dropped s/0 already: 3 waiting */
	CHECK_INT(outq_dropped(q), 1);
	CHECK_STR(topics_of(q), "s/1 s/2 s/3");
	CHECK_STR(send_all(q, 1, 0), "s/1 s/2 s/3");
	CHECK_INT(outq_in_flight(q), 3);

	for (i = 0; i < 10; i++) {
		snprintf(t, sizeof(t), "w/%d", i);
		CHECK(add_named(q, t) != NULL);
		check_queue(q);
	}
	/* 3 in flight + the newest 3 waiting */
	CHECK_INT(outq_count(q), 6);
	CHECK_INT(outq_in_flight(q), 3);
	CHECK_INT(outq_dropped(q), 1 + 7);
	CHECK_STR(topics_of(q), "s/1 s/2 s/3 w/7 w/8 w/9");
	for (i = 0; i < 3; i++)
		CHECK(outq_find_sent(q, 1, i) == m[i + 1]);
	CHECK_STR(send_all(q, 1, 3), "w/7 w/8 w/9");

	/* all 6 in flight: more adds still keep them */
	for (i = 0; i < 5; i++) {
		snprintf(t, sizeof(t), "x/%d", i);
		CHECK(add_named(q, t) != NULL);
	}
	CHECK_INT(outq_count(q), 9);
	CHECK_INT(outq_in_flight(q), 6);
	CHECK_INT(outq_dropped(q), 8 + 2);
	CHECK_STR(topics_of(q), "s/1 s/2 s/3 w/7 w/8 w/9 x/2 x/3 x/4");
	check_queue(q);
	outq_free(q);
}

int main(void)
{
	RUN(add_then_send_in_order);
	RUN(remove_out_of_order_keeps_the_rest_in_order);
	RUN(remove_waiting_in_the_middle_moves_next_send_past_it);
	RUN(unsend_all_puts_everything_back_in_order_and_strikes_the_oldest);
	RUN(unsend_all_restarts_at_the_head_even_when_it_was_not_in_flight);
	RUN(oldest_sent_is_the_first_in_flight);
	RUN(unsend_one_puts_next_send_back_when_older);
	RUN(max_waiting_keeps_the_newest_unsent);
	RUN(max_waiting_never_drops_messages_in_flight);
	return UNIT_DONE();
}
