/*
 * test_outq.c - unit tests for gateway/outq.c (the outbound queue and its
 * on-disk journal).
 *
 * The tests check the list's invariants after the steps that change it
 * (check_queue): the links agree both ways, count and n_sent are what the
 * list holds, next_send is the first message not sent, and seq numbers
 * increase from head to tail. The journal tests work in a private directory
 * made with mkdtemp under /tmp and removed at the end; they compare what a
 * second queue restores from the file byte for byte with what the first one
 * held live, and damage the file the ways a kill or a bad disk would.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outq.h"
#include "journal_crc.h"
#include "unit.h"

/* ---- helpers ---- */

static char tmpdir[64];

/* The list invariants; a broken one prints what and where. */
#define check_queue(q) check_queue_at((q), __LINE__)
static void check_queue_at(const struct outq *q, int line)
{
	const struct outq_msg *m, *prev = NULL, *first_unsent = NULL;
	size_t n = 0, n_sent = 0;

	for (m = outq_first(q); m; prev = m, m = m->next) {
		if (m->prev != prev) {
			printf("# line %d: seq %llu: prev link broken\n", line, (unsigned long long)m->seq);
			unit_cur_failed = 1;
		}
		if (prev && prev->seq >= m->seq) {
			printf("# line %d: seq %llu follows seq %llu\n", line, (unsigned long long)m->seq,
			       (unsigned long long)prev->seq);
			unit_cur_failed = 1;
		}
		if (m->sent)
			n_sent++;
		else if (!first_unsent)
			first_unsent = m;
		if (++n > 100000)
			break;
	}
	if (outq_last(q) != prev) {
		printf("# line %d: tail is not the last message\n", line);
		unit_cur_failed = 1;
	}
	if (outq_count(q) != n || outq_in_flight(q) != n_sent) {
		printf("# line %d: count %zu n_sent %zu, the list holds %zu, %zu sent\n", line, outq_count(q),
		       outq_in_flight(q), n, n_sent);
		unit_cur_failed = 1;
	}
	if (outq_next_unsent(q) != first_unsent) {
		printf("# line %d: next_send is seq %llu, the first unsent is seq %llu\n", line,
		       outq_next_unsent(q) ? (unsigned long long)outq_next_unsent(q)->seq : 0ull,
		       first_unsent ? (unsigned long long)first_unsent->seq : 0ull);
		unit_cur_failed = 1;
	}
}

/* The messages from head to tail, up to max. */
static size_t list_of(const struct outq *q, struct outq_msg **out, size_t max)
{
	size_t n = 0;

	for (struct outq_msg *m = outq_first(q); m && n < max; m = m->next)
		out[n++] = m;
	return n;
}

static struct outq_msg *add_named(struct outq *q, const char *topic)
{
	return outq_add(q, topic, topic, strlen(topic), 1, 0, NULL, 0);
}

/* The topics from head to tail, joined by spaces. */
static const char *topics_of(const struct outq *q)
{
	static char buf[4096];
	size_t len = 0;

	buf[0] = '\0';
	for (const struct outq_msg *m = outq_first(q); m; m = m->next) {
		int w = snprintf(buf + len, sizeof(buf) - len, "%s%s", len ? " " : "", m->topic);

		if (w < 0 || (size_t)w >= sizeof(buf) - len)
			break;
		len += (size_t)w;
	}
	return buf;
}

/* The order next_unsent/mark_sent hands the waiting messages out in (all get sent). */
static const char *send_all(struct outq *q, uint32_t gen, int first_token)
{
	static char buf[4096];
	size_t len = 0;
	struct outq_msg *m;
	int token = first_token, guard = 0;

	buf[0] = '\0';
	while ((m = outq_next_unsent(q)) && guard++ < 1000) {
		int w = snprintf(buf + len, sizeof(buf) - len, "%s%s", len ? " " : "", m->topic);

		if (w > 0 && (size_t)w < sizeof(buf) - len)
			len += (size_t)w;
		outq_mark_sent(q, m, gen, token++);
	}
	return buf;
}

/* The broker acknowledged (gen, token): the message must be there. */
#define ack(q, gen, token) ack_at((q), (gen), (token), __LINE__)
static void ack_at(struct outq *q, uint32_t gen, int token, int line)
{
	struct outq_msg *m = outq_find_sent(q, gen, token);

	if (!m) {
		printf("# line %d: no message sent on generation %u as token %d\n", line, gen, token);
		unit_cur_failed = 1;
		return;
	}
	outq_remove(q, m);
}

static int make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mqttgw-outq-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

/* Remove the files in tmpdir (flat: the tests make no subdirectories), then it. */
static void remove_tmpdir(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char path[512];

	if (d) {
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
			unlink(path);
		}
		closedir(d);
	}
	if (rmdir(tmpdir) != 0)
		printf("# could not remove %s\n", tmpdir);
}

static void jpath(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", tmpdir, name);
}

static long long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static int file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* A queue on journal path; *restored what it replayed. NULL (and a diagnostic) on failure. */
static struct outq *open_q(const char *path, size_t max_waiting, size_t *restored)
{
	struct outq *q = outq_new(max_waiting);
	char err[512] = "";
	size_t dummy;

	if (!q)
		return NULL;
	if (outq_open_journal(q, path, restored ? restored : &dummy, err, sizeof(err)) != 0) {
		printf("# outq_open_journal(%s): %s\n", path, err);
		unit_cur_failed = 1;
		outq_free(q);
		return NULL;
	}
	return q;
}

/* A snapshot of one message, to compare with what a replay gives. */
struct snap {
	uint64_t seq;
	char topic[128];
	unsigned char payload[256];
	size_t len;
	unsigned char corr[64];
	size_t corr_len;
	int qos, retain;
};

/* What was passed to outq_add (not what the queue made of it), with the seq it got. */
static void snap_in(struct snap *s, uint64_t seq, const char *topic, const void *payload, size_t len,
		    const void *corr, size_t corr_len, int qos, int retain)
{
	memset(s, 0, sizeof(*s));
	s->seq = seq;
	snprintf(s->topic, sizeof(s->topic), "%s", topic);
	s->len = len < sizeof(s->payload) ? len : sizeof(s->payload);
	if (len)
		memcpy(s->payload, payload, s->len);
	s->corr_len = corr_len < sizeof(s->corr) ? corr_len : sizeof(s->corr);
	if (corr_len)
		memcpy(s->corr, corr, s->corr_len);
	s->qos = qos;
	s->retain = retain;
}

/* The queue holds exactly the snapshots, in order, byte for byte; restored: as a replay leaves them. */
#define check_restored(q, s, n) check_content_at((q), (s), (n), 1, __LINE__)
#define check_content(q, s, n) check_content_at((q), (s), (n), 0, __LINE__)
static void check_content_at(const struct outq *q, const struct snap *s, size_t n, int restored, int line)
{
	const struct outq_msg *m = outq_first(q);
	size_t i;

	check_queue_at(q, line);
	if (outq_count(q) != n) {
		printf("# line %d: %zu restored, expected %zu\n", line, outq_count(q), n);
		unit_cur_failed = 1;
	}
	for (i = 0; i < n && m; i++, m = m->next) {
		const struct snap *w = &s[i];

		if (m->seq != w->seq || strcmp(m->topic, w->topic) != 0 || m->len != w->len ||
		    (m->len && memcmp(m->payload, w->payload, m->len) != 0) || m->corr_len != w->corr_len ||
		    (m->corr_len && (!m->corr || memcmp(m->corr, w->corr, m->corr_len) != 0)) ||
		    (m->corr_len == 0 && m->corr != NULL) || m->qos != w->qos || m->retain != w->retain) {
			printf("# line %d: message %zu: got seq %llu \"%s\" len %zu corr %zu qos %d retain %d,"
			       " expected seq %llu \"%s\" len %zu corr %zu qos %d retain %d\n",
			       line, i, (unsigned long long)m->seq, m->topic, m->len, m->corr_len, m->qos,
			       m->retain, (unsigned long long)w->seq, w->topic, w->len, w->corr_len, w->qos,
			       w->retain);
			unit_cur_failed = 1;
		}
		if (restored && (m->sent || !m->resend || m->strikes != 0)) {
			printf("# line %d: message %zu restored with sent %d resend %d strikes %d\n", line, i,
			       m->sent, m->resend, m->strikes);
			unit_cur_failed = 1;
		}
	}
}

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

/* ---- the journal ---- */

/* Some messages of every shape: binary payloads with NULs, correlation data, qos 0/1/2, retain. */
static void add_varied(struct outq *q, struct outq_msg **m, int n, struct snap *in)
{
	static const unsigned char corr[] = {0x00, 0xff, 0x00, 'r', 'e', 'q', 0x00};
	unsigned char pl[200];
	char t[64];
	int i;

	for (i = 0; i < n; i++) {
		size_t len = (size_t)(i * 37) % sizeof(pl);

		for (size_t k = 0; k < len; k++)
			pl[k] = (unsigned char)(k % 3 == 0 ? 0 : (k * 7 + (size_t)i) & 0xff);
		snprintf(t, sizeof(t), "dev/%d/state%s", i, i % 4 == 0 ? "/ünïcode €" : "");
		const unsigned char *c = i % 3 == 1 ? corr + (i % 2) : NULL;
		size_t clen = c ? sizeof(corr) - (size_t)(i % 2) : 0;

		m[i] = outq_add(q, t, pl, len, i % 3, i % 2, c, clen);
		if (!m[i]) {
			printf("# outq_add failed\n");
			unit_cur_failed = 1;
			return;
		}
		if (in)
			snap_in(&in[i], m[i]->seq, t, pl, len, c, clen, i % 3, i % 2);
	}
}

TEST(journal_restores_the_live_messages_exactly)
{
	char path[256];
	struct outq *q;
	struct outq_msg *m[12];
	struct snap in[12], want[12];
	size_t restored = 99, nw = 0;
	int i;

	jpath(path, sizeof(path), "roundtrip.q");
	q = open_q(path, 100, &restored);
	if (!q)
		return;
	CHECK_INT(restored, 0);
	CHECK(file_exists(path));
	add_varied(q, m, 12, in);
	if (unit_cur_failed) {
		outq_free(q);
		return;
	}
	/* the queue's copies are the bytes given, whatever they hold */
	check_content(q, in, 12);
	/* sanity: the shapes are there (len 0, NULs, corr with NUL first, all qos) */
	CHECK_INT(m[0]->len, 0);
	CHECK(m[1]->corr_len == 6 && m[1]->corr[0] == 0xff);
	CHECK(m[4]->corr_len == 7 && m[4]->corr[0] == 0x00);
	CHECK(m[2]->len > 0 && memchr(m[2]->payload, 0, m[2]->len) != NULL);
	/* some sent, some done in any order: sent-ness is not journaled, done-ness is */
	outq_mark_sent(q, m[0], 1, 0);
	outq_mark_sent(q, m[1], 1, 1);
	outq_mark_sent(q, m[2], 1, 2);
	outq_remove(q, m[1]);
	outq_remove(q, m[5]);
	outq_remove(q, m[11]);
	outq_remove(q, m[6]);
	CHECK_INT(outq_flush(q), 0);
	/* added and done in the same batch (its M and D records written by one flush) */
	{
		struct outq_msg *x = add_named(q, "transient");

		if (x)
			outq_remove(q, x);
	}
	for (i = 0; i < 12; i++)
		if (i != 1 && i != 5 && i != 11 && i != 6)
			want[nw++] = in[i];
	CHECK_INT(outq_count(q), nw);
	outq_free(q);

	q = open_q(path, 100, &restored);
	if (!q)
		return;
	CHECK_INT(restored, nw);
	check_restored(q, want, nw);
	/* the file was rewritten with just them */
	{
		long long sum = 0;

		for (struct outq_msg *x = outq_first(q); x; x = x->next)
			sum += (long long)x->rec_len;
		CHECK_INT(file_size(path), sum);
	}
	CHECK(!file_exists(strcat(strcpy((char[300]){0}, path), ".new")));
	outq_free(q);

	/* and again: replaying a rewritten file gives the same */
	q = open_q(path, 100, &restored);
	if (!q)
		return;
	CHECK_INT(restored, nw);
	check_restored(q, want, nw);
	outq_free(q);
	unlink(path);
}

TEST(journal_records_removals_of_restored_messages)
{
	char path[256];
	struct outq *q;
	struct outq_msg *m[6];
	struct snap want[6];
	size_t restored;

	jpath(path, sizeof(path), "restored-removals.q");
	if (!(q = open_q(path, 100, &restored)))
		return;
	add_varied(q, m, 6, want);
	outq_free(q);

	if (!(q = open_q(path, 100, &restored)))
		return;
	CHECK_INT(restored, 6);
	check_restored(q, want, 6);
	/* acknowledge restored ones after a resend, out of order */
	CHECK_STR(send_all(q, 1, 0), "dev/0/state/ünïcode € dev/1/state dev/2/state dev/3/state dev/4/state/ünïcode € dev/5/state");
	ack(q, 1, 3);
	ack(q, 1, 0);
	outq_free(q);

	if (!(q = open_q(path, 100, &restored)))
		return;
	CHECK_INT(restored, 4);
	{
		struct snap w2[4] = {want[1], want[2], want[4], want[5]};

		check_restored(q, w2, 4);
	}
	outq_free(q);
	unlink(path);
}

TEST(journal_records_drops_for_max_waiting)
{
	char path[256];
	struct outq *q;
	size_t restored;
	char t[16];
	int i;

	jpath(path, sizeof(path), "dropped.q");
	if (!(q = open_q(path, 3, &restored)))
		return;
	for (i = 0; i < 10; i++) {
		snprintf(t, sizeof(t), "t/%d", i);
		add_named(q, t);
	}
	CHECK_INT(outq_dropped(q), 7);
	outq_free(q);
	if (!(q = open_q(path, 3, &restored)))
		return;
	CHECK_INT(restored, 3);
	CHECK_STR(topics_of(q), "t/7 t/8 t/9");
	check_queue(q);
	outq_free(q);
	unlink(path);
}

TEST(journal_emptied_when_the_queue_is)
{
	char path[256];
	struct outq *q;
	struct outq_msg *m[5];
	size_t restored;
	int i;

	jpath(path, sizeof(path), "empty.q");
	if (!(q = open_q(path, 100, &restored)))
		return;
	CHECK_INT(file_size(path), 0);
	add_varied(q, m, 5, NULL);
	CHECK_INT(outq_flush(q), 0);
	CHECK(file_size(path) > 0);
	/* a few done, flushed: the file grows (D records) */
	outq_remove(q, m[3]);
	outq_remove(q, m[0]);
	CHECK_INT(outq_flush(q), 0);
	CHECK(file_size(path) > 0);
	/* the rest done: empty */
	outq_remove(q, m[4]);
	outq_remove(q, m[1]);
	outq_remove(q, m[2]);
	CHECK_INT(outq_flush(q), 0);
	CHECK_INT(file_size(path), 0);
	CHECK_INT(outq_count(q), 0);

	/* the same with the records still in the batch: added and done between two flushes */
	add_varied(q, m, 4, NULL);
	for (i = 3; i >= 0; i--)
		outq_remove(q, m[i]);
	CHECK_INT(outq_flush(q), 0);
	CHECK_INT(file_size(path), 0);

	/* and the file works after being emptied: append, empty, append */
	add_varied(q, m, 2, NULL);
	CHECK_INT(outq_flush(q), 0);
	{
		long long want = (long long)(m[0]->rec_len + m[1]->rec_len);

		CHECK_INT(file_size(path), want);
	}
	outq_remove(q, m[0]);
	outq_remove(q, m[1]);
	outq_free(q);
	CHECK_INT(file_size(path), 0);

	if (!(q = open_q(path, 100, &restored)))
		return;
	CHECK_INT(restored, 0);
	CHECK(outq_first(q) == NULL);
	/* a new message into the emptied file survives a restart */
	CHECK(add_named(q, "after/empty") != NULL);
	outq_free(q);
	if (!(q = open_q(path, 100, &restored)))
		return;
	CHECK_INT(restored, 1);
	CHECK_STR(topics_of(q), "after/empty");
	outq_free(q);
	unlink(path);
}

/* Write a journal of 5 messages and return their snapshots and the offsets where each record starts. */
static int write_five(const char *path, struct snap *want, long long *start)
{
	struct outq *q;
	struct outq_msg *m[5];
	size_t restored;
	long long off = 0;
	int i;

	unlink(path);
	if (!(q = open_q(path, 100, &restored)))
		return -1;
	add_varied(q, m, 5, want);
	if (unit_cur_failed) {
		outq_free(q);
		return -1;
	}
	for (i = 0; i < 5; i++) {
		start[i] = off;
		off += (long long)m[i]->rec_len;
	}
	start[5] = off;
	outq_free(q);
	if (file_size(path) != off) {
		printf("# %s is %lld bytes, expected %lld\n", path, file_size(path), off);
		unit_cur_failed = 1;
		return -1;
	}
	return 0;
}

static void flip_byte(const char *path, long long at)
{
	int fd = open(path, O_RDWR);
	unsigned char c;

	if (fd < 0 || pread(fd, &c, 1, at) != 1) {
		unit_cur_failed = 1;
		if (fd >= 0)
			close(fd);
		return;
	}
	c ^= 0x5a;
	if (pwrite(fd, &c, 1, at) != 1)
		unit_cur_failed = 1;
	close(fd);
}

static void append_bytes(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	if (fd < 0 || write(fd, p, n) != (ssize_t)n)
		unit_cur_failed = 1;
	if (fd >= 0)
		close(fd);
}

/* Open path: expect exactly want[0..n-1]; then the file holds just them. */
#define expect_replay(path, want, n) expect_replay_at((path), (want), (n), __LINE__)
static void expect_replay_at(const char *path, const struct snap *want, size_t n, int line)
{
	size_t restored = 99;
	struct outq *q = open_q(path, 100, &restored);
	long long sum = 0;

	if (!q)
		return;
	if (restored != n) {
		printf("# line %d: restored %zu, expected %zu\n", line, restored, n);
		unit_cur_failed = 1;
	}
	check_content_at(q, want, n, 1, line);
	for (struct outq_msg *x = outq_first(q); x; x = x->next)
		sum += (long long)x->rec_len;
	if (file_size(path) != sum) {
		printf("# line %d: after the replay the file is %lld bytes, the live records %lld\n", line,
		       file_size(path), sum);
		unit_cur_failed = 1;
	}
	outq_free(q);
	/* the torn part is gone for good: a second replay agrees */
	q = open_q(path, 100, &restored);
	if (!q)
		return;
	check_content_at(q, want, n, 1, line);
	outq_free(q);
}

TEST(journal_torn_tail_truncated)
{
	char path[256];
	struct snap want[5];
	long long start[6];
	long long cut[] = {1, 3, 4, 5, 6, 20};

	jpath(path, sizeof(path), "torn-trunc.q");
	for (size_t c = 0; c < sizeof(cut) / sizeof(cut[0]); c++) {
		if (write_five(path, want, start) < 0)
			return;
		if (truncate(path, start[5] - cut[c]) != 0) {
			unit_cur_failed = 1;
			return;
		}
		expect_replay(path, want, 4);
	}
	/* cut inside the header of the 4th record: the first 3 */
	if (write_five(path, want, start) < 0)
		return;
	CHECK(truncate(path, start[3] + 2) == 0);
	expect_replay(path, want, 3);
	/* cut exactly at a record boundary: a clean end, nothing torn */
	if (write_five(path, want, start) < 0)
		return;
	CHECK(truncate(path, start[4]) == 0);
	expect_replay(path, want, 4);
	unlink(path);
}

TEST(journal_torn_tail_garbage_appended)
{
	char path[256];
	struct snap want[5];
	long long start[6];
	static const unsigned char junk1[] = {0x00, 0x13, 0x37, 0xff, 0xfe, 'x', 'y'};
	/* looks like the start of an M record whose body never arrived */
	static const unsigned char junk2[] = {'M', 40, 0, 0, 0, 1, 2, 3};
	/* a D record with a wrong CRC */
	static const unsigned char junk3[] = {'D', 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef};
	/* a header claiming a huge body */
	static const unsigned char junk4[] = {'M', 0xff, 0xff, 0xff, 0x7f};
	const struct {
		const unsigned char *p;
		size_t n;
	} junk[] = {{junk1, sizeof(junk1)}, {junk2, sizeof(junk2)}, {junk3, sizeof(junk3)}, {junk4, sizeof(junk4)},
		    {(const unsigned char *)"M", 1}};

	jpath(path, sizeof(path), "torn-junk.q");
	for (size_t j = 0; j < sizeof(junk) / sizeof(junk[0]); j++) {
		if (write_five(path, want, start) < 0)
			return;
		append_bytes(path, junk[j].p, junk[j].n);
		CHECK_INT(file_size(path), start[5] + (long long)junk[j].n);
		expect_replay(path, want, 5);
	}
	unlink(path);
}

/* A well-formed D record for seq. */
static void d_record(unsigned char r[17], uint64_t seq)
{
	uint32_t crc;

	r[0] = 'D';
	r[1] = 8;
	r[2] = r[3] = r[4] = 0;
	for (int i = 0; i < 8; i++)
		r[5 + i] = (unsigned char)(seq >> (8 * i));
	crc = crc32_of(r, 13);
	for (int i = 0; i < 4; i++)
		r[13 + i] = (unsigned char)(crc >> (8 * i));
}

/* An M record as outq.c's header comment lays it out; qos_byte written as given. */
static size_t m_record(unsigned char *r, uint64_t seq, int qos_byte, int retain, const char *topic,
		       const void *payload, size_t len, const void *corr, size_t corr_len)
{
	size_t tlen = strlen(topic), body = 20 + tlen + len + corr_len;
	uint32_t crc;
	int i;

	r[0] = 'M';
	for (i = 0; i < 4; i++)
		r[1 + i] = (unsigned char)(body >> (8 * i));
	for (i = 0; i < 8; i++)
		r[5 + i] = (unsigned char)(seq >> (8 * i));
	r[13] = (unsigned char)qos_byte;
	r[14] = (unsigned char)retain;
	r[15] = (unsigned char)tlen;
	r[16] = (unsigned char)(tlen >> 8);
	for (i = 0; i < 4; i++) {
		r[17 + i] = (unsigned char)(len >> (8 * i));
		r[21 + i] = (unsigned char)(corr_len >> (8 * i));
	}
	memcpy(r + 25, topic, tlen);
	if (len)
		memcpy(r + 25 + tlen, payload, len);
	if (corr_len)
		memcpy(r + 25 + tlen + len, corr, corr_len);
	crc = crc32_of(r, 5 + body);
	for (i = 0; i < 4; i++)
		r[5 + body + i] = (unsigned char)(crc >> (8 * i));
	return 5 + body + 4;
}

TEST(journal_format_is_the_documented_one)
{
	char path[256];
	struct snap want[7];
	long long start[6];
	unsigned char r[256];
	size_t n;

	jpath(path, sizeof(path), "forged.q");
	/* a record written by hand to the documented layout is read like one of outq's own */
	if (write_five(path, want, start) < 0)
		return;
	n = m_record(r, 1000, 2, 1, "hand/made", "\0pay\0", 5, "\x01\x00", 2);
	append_bytes(path, r, n);
	snap_in(&want[5], 1000, "hand/made", "\0pay\0", 5, "\x01\x00", 2, 2, 1);
	expect_replay(path, want, 6);
	/* and what outq writes is byte for byte that layout */
	{
		struct outq *q;
		size_t restored;
		unsigned char got[256];
		int fd;

		unlink(path);
		if (!(q = open_q(path, 100, &restored)))
			return;
		CHECK(outq_add(q, "hand/made", "\0pay\0", 5, 2, 1, "\x01\x00", 2) != NULL);
		outq_free(q);
		n = m_record(r, 1, 2, 1, "hand/made", "\0pay\0", 5, "\x01\x00", 2);
		CHECK_INT(file_size(path), n);
		fd = open(path, O_RDONLY);
		CHECK(fd >= 0 && read(fd, got, sizeof(got)) == (ssize_t)n && memcmp(got, r, n) == 0);
		if (fd >= 0)
			close(fd);
	}
	unlink(path);
}

TEST(journal_well_formed_record_with_bad_content_ends_the_replay)
{
	char path[256];
	struct snap want[5];
	long long start[6];
	unsigned char r[256], good[256];
	size_t n, ng;
	/* each has a good CRC but cannot be a message of ours */
	const struct {
		int qos, retain;
		const char *topic;
	} bad[] = {{3, 0, "t"}, {0, 2, "t"}, {1, 0, ""}};

	jpath(path, sizeof(path), "badcontent.q");
	ng = m_record(good, 2000, 1, 0, "after/bad", "x", 1, NULL, 0);
	for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
		if (write_five(path, want, start) < 0)
			return;
		n = m_record(r, 1500, bad[b].qos, bad[b].retain, bad[b].topic, "p", 1, NULL, 0);
		append_bytes(path, r, n);
		append_bytes(path, good, ng);
		expect_replay(path, want, 5);
	}
	/* lengths in the body that do not add up to its size */
	if (write_five(path, want, start) < 0)
		return;
	n = m_record(r, 1500, 1, 0, "t", "pp", 2, NULL, 0);
	r[17] = 1;	/* payload length 1, body still holds 2 */
	{
		uint32_t crc = crc32_of(r, n - 4);

		for (int i = 0; i < 4; i++)
			r[n - 4 + i] = (unsigned char)(crc >> (8 * i));
	}
	append_bytes(path, r, n);
	append_bytes(path, good, ng);
	expect_replay(path, want, 5);
	unlink(path);
}

TEST(journal_batches_until_flush_and_free_flushes)
{
	char path[256];
	struct outq *q;
	struct outq_msg *m[3], *x;
	struct snap want[3];
	size_t restored;
	long long sum = 0;

	jpath(path, sizeof(path), "batch.q");
	if (!(q = open_q(path, 100, &restored)))
		return;
	add_varied(q, m, 3, want);
	if (unit_cur_failed) {
		outq_free(q);
		return;
	}
	/* nothing written until the loop flushes */
	CHECK_INT(file_size(path), 0);
	CHECK_INT(outq_flush(q), 0);
	for (int i = 0; i < 3; i++)
		sum += (long long)m[i]->rec_len;
	CHECK_INT(file_size(path), sum);
	CHECK_INT(outq_flush(q), 0);
	CHECK_INT(file_size(path), sum);
	x = add_named(q, "short/lived");
	if (x) {
		sum += (long long)x->rec_len + 17;	/* its M and its D */
		outq_remove(q, x);
	}
	CHECK_INT(file_size(path) < sum, 1);
	/* outq_free writes what is pending */
	outq_free(q);
	CHECK_INT(file_size(path), sum);
	expect_replay(path, want, 3);
	unlink(path);
}

static unsigned char pat(size_t i, size_t k)
{
	return (unsigned char)(k % 5 == 0 ? 0 : (k * 131 + i * 17 + (k >> 9)) & 0xff);
}

TEST(journal_large_messages_round_trip)
{
	static const size_t sizes[] = {70000, 1, 300000, 65536, 0, 131072};
	const size_t n = sizeof(sizes) / sizeof(sizes[0]);
	char path[256];
	struct outq *q;
	unsigned char *buf = malloc(300000);
	size_t restored, i, k;
	int round;

	if (!buf)
		return;
	jpath(path, sizeof(path), "large.q");
	if (!(q = open_q(path, 100, &restored)))
		goto out;
	for (i = 0; i < n; i++) {
		char t[16];

		for (k = 0; k < sizes[i]; k++)
			buf[k] = pat(i, k);
		snprintf(t, sizeof(t), "big/%zu", i);
		CHECK(outq_add(q, t, buf, sizes[i], 1, 0, buf, i == 2 ? 70000 : 0) != NULL);
	}
	outq_free(q);
	/* twice: the second replays the file the first one's rewrite made */
	for (round = 0; round < 2; round++) {
		struct outq_msg *m;

		if (!(q = open_q(path, 100, &restored)))
			goto out;
		CHECK_INT(restored, n);
		check_queue(q);
		for (i = 0, m = outq_first(q); i < n && m; i++, m = m->next) {
			size_t bad = SIZE_MAX;
			char t[16];

			snprintf(t, sizeof(t), "big/%zu", i);
			CHECK_STR(m->topic, t);
			CHECK_INT(m->len, sizes[i]);
			CHECK_INT(m->corr_len, i == 2 ? 70000 : 0);
			for (k = 0; k < m->len && k < sizes[i] && bad == SIZE_MAX; k++)
				if (m->payload[k] != pat(i, k))
					bad = k;
			for (k = 0; k < m->corr_len && k < 70000 && bad == SIZE_MAX; k++)
				if (m->corr[k] != pat(2, k))
					bad = k;
			if (bad != SIZE_MAX) {
				printf("# round %d: message %zu differs at byte %zu\n", round, i, bad);
				unit_cur_failed = 1;
			}
		}
		outq_free(q);
	}
out:
	free(buf);
	unlink(path);
}

TEST(journal_nothing_after_a_torn_record_counts)
{
	char path[256];
	struct snap want[5];
	long long start[6];
	unsigned char d[17];
	static const unsigned char junk[] = {'M', 30, 0, 0, 0, 0xaa};

	jpath(path, sizeof(path), "after-torn.q");
	/* control: a forged D record for the first message, right after the 5, cancels it */
	if (write_five(path, want, start) < 0)
		return;
	d_record(d, want[0].seq);
	append_bytes(path, d, sizeof(d));
	expect_replay(path, want + 1, 4);
	/* the same record behind a torn one is ignored: all 5 come back */
	if (write_five(path, want, start) < 0)
		return;
	append_bytes(path, junk, sizeof(junk));
	append_bytes(path, d, sizeof(d));
	expect_replay(path, want, 5);
	unlink(path);
}

TEST(journal_corrupt_record_ends_the_replay)
{
	char path[256];
	struct snap want[5];
	long long start[6];
	int r;

	jpath(path, sizeof(path), "torn-flip.q");
	/* a byte flipped in the last record: its type, length, body or CRC */
	for (int where = 0; where < 4; where++) {
		long long at;

		if (write_five(path, want, start) < 0)
			return;
		at = where == 0 ? start[4] : where == 1 ? start[4] + 2 : where == 2 ? start[4] + 20 : start[5] - 1;
		flip_byte(path, at);
		expect_replay(path, want, 4);
	}
	/* in a record in the middle: nothing from it on, though what follows is intact */
	for (r = 0; r < 5; r++) {
		if (write_five(path, want, start) < 0)
			return;
		flip_byte(path, start[r] + (start[r + 1] - start[r]) / 2);
		expect_replay(path, want, (size_t)r);
	}
	unlink(path);
}

TEST(journal_in_a_missing_directory_fails_with_a_message)
{
	char path[256];
	char err[512] = "";
	size_t restored = 99;
	struct outq *q = outq_new(10);

	if (!q)
		return;
	jpath(path, sizeof(path), "no/such/dir/q");
	CHECK_INT(outq_open_journal(q, path, &restored, err, sizeof(err)), -1);
	CHECK(err[0] != '\0');
	CHECK(strstr(err, path) != NULL);
	CHECK_INT(restored, 0);
	printf("# (expected) %s\n", err);
	/* the queue still works, in memory */
	CHECK(add_named(q, "mem/only") != NULL);
	CHECK_INT(outq_flush(q), 0);
	CHECK_INT(outq_count(q), 1);
	outq_free(q);
}

/* Disk full (here: RLIMIT_FSIZE): nothing is lost in memory, flush says so, and it heals. */
TEST(journal_write_failure_is_reported_and_retried)
{
	char path[256];
	struct outq *q, *r;
	struct rlimit old, small;
	size_t restored;
	char big[2000];
	struct timespec t0, t;
	int i, rc = -1;

	memset(big, 'x', sizeof(big));
	jpath(path, sizeof(path), "full.q");
	if (!(q = open_q(path, 100, &restored)) || getrlimit(RLIMIT_FSIZE, &old) < 0)
		return;
	signal(SIGXFSZ, SIG_IGN);
	small = old;
	small.rlim_cur = 4096;	/* the file may not grow past 4 KiB */
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &small), 0);
	for (i = 0; i < 10; i++)
		CHECK(outq_add(q, "full/t", big, sizeof(big), 1, 0, NULL, 0) != NULL);
	CHECK_INT(outq_flush(q), -1);	/* not on disk, and it says so */
	CHECK_INT(outq_flush(q), -1);	/* still not (and no retry storm: the rewrite waits) */
	CHECK_INT(outq_count(q), 10);
	CHECK(outq_has_journal(q));		/* the journal is not given up */
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
	/* the retry comes within about a second: poll with a deadline */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		rc = outq_flush(q);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (rc != 0 && t.tv_sec - t0.tv_sec < 5);
	CHECK_INT(rc, 0);
	CHECK(outq_add(q, "full/after", "y", 1, 1, 0, NULL, 0) != NULL);
	CHECK_INT(outq_flush(q), 0);
	outq_free(q);
	signal(SIGXFSZ, SIG_DFL);
	if (!(r = open_q(path, 100, &restored)))
		return;
	CHECK_INT(restored, 11);
	CHECK_STR(outq_last(r)->topic, "full/after");
	outq_free(r);
}

TEST(journal_compacts_when_it_grows)
{
	char path[256];
	struct outq *q;
	struct outq_msg *keep[5];
	struct snap want[5];
	size_t restored, plen = 60000;
	unsigned char *pl = malloc(plen);
	long long written = 0, max_size = 0, live = 0;
	int shrank = 0, i;

	if (!pl)
		return;
	for (size_t k = 0; k < plen; k++)
		pl[k] = (unsigned char)(k * 31);
	jpath(path, sizeof(path), "compact.q");
	if (!(q = open_q(path, 100, &restored))) {
		free(pl);
		return;
	}
	/* a few stay live throughout, so the file is never emptied, only compacted */
	for (i = 0; i < 3; i++) {
		char t[16];

		snprintf(t, sizeof(t), "keep/%d", i);
		keep[i] = outq_add(q, t, pl, 100 + (size_t)i, 1, 0, NULL, 0);
		if (!keep[i])
			goto out;
		written += (long long)keep[i]->rec_len;
	}
	CHECK_INT(outq_flush(q), 0);
	/* 2.5 x OUTQ_COMPACT_MIN of big records, each done at once, flushed as the loop would */
	while (written < (long long)OUTQ_COMPACT_MIN * 5 / 2) {
		struct outq_msg *m = outq_add(q, "big", pl, plen, 1, 0, NULL, 0);
		long long before, now;

		if (!m)
			goto out;
		written += (long long)m->rec_len + 17;
		outq_mark_sent(q, m, 1, 1);
		outq_remove(q, m);
		before = file_size(path);
		CHECK_INT(outq_flush(q), 0);
		now = file_size(path);
		if (now < before)
			shrank++;
		if (now > max_size)
			max_size = now;
	}
	/* two more live at the end */
	keep[3] = outq_add(q, "keep/3", "\0\0\0", 3, 2, 1, "c", 1);
	keep[4] = outq_add(q, "keep/4", "", 0, 0, 0, NULL, 0);
	if (!keep[3] || !keep[4])
		goto out;
	CHECK_INT(outq_flush(q), 0);
	for (i = 0; i < 3; i++) {
		char t[16];

		snprintf(t, sizeof(t), "keep/%d", i);
		snap_in(&want[i], keep[i]->seq, t, pl, 100 + (size_t)i, NULL, 0, 1, 0);
	}
	snap_in(&want[3], keep[3]->seq, "keep/3", "\0\0\0", 3, "c", 1, 2, 1);
	snap_in(&want[4], keep[4]->seq, "keep/4", "", 0, NULL, 0, 0, 0);
	for (i = 0; i < 5; i++)
		live += (long long)keep[i]->rec_len;
	CHECK(shrank >= 2);
	/* never much past the threshold: at most one write batch and one record over it */
	CHECK(max_size <= (long long)OUTQ_COMPACT_MIN + 64 * 1024 + (long long)plen + 64);
	CHECK(file_size(path) < (long long)OUTQ_COMPACT_MIN + 64 * 1024 + (long long)plen + 64);
	CHECK(file_size(path) >= live);
	printf("# wrote %lld bytes of records, the file peaked at %lld, ends at %lld, %d compactions\n", written,
	       max_size, file_size(path), shrank);
	CHECK(!file_exists(strcat(strcpy((char[300]){0}, path), ".new")));
	outq_free(q);
	q = NULL;
	expect_replay(path, want, 5);
	CHECK_INT(file_size(path), live);
out:
	if (q)
		outq_free(q);
	free(pl);
	unlink(path);
}

TEST(seq_keeps_increasing_after_a_restore)
{
	char path[256];
	struct outq *q;
	struct outq_msg *m[8];
	size_t restored;
	uint64_t max_seq = 0;

	jpath(path, sizeof(path), "seq.q");
	if (!(q = open_q(path, 100, &restored)))
		return;
	add_varied(q, m, 8, NULL);
	/* the oldest ones done, and one in the middle */
	outq_remove(q, m[0]);
	outq_remove(q, m[1]);
	outq_remove(q, m[4]);
	outq_free(q);

	if (!(q = open_q(path, 100, &restored)))
		return;
	CHECK_INT(restored, 5);
	for (struct outq_msg *x = outq_first(q); x; x = x->next)
		if (x->seq > max_seq)
			max_seq = x->seq;
	CHECK_INT(max_seq, 8);
	m[0] = add_named(q, "new/one");
	CHECK(m[0] != NULL && m[0]->seq > max_seq);
	m[1] = add_named(q, "new/two");
	CHECK(m[1] != NULL && m[0] && m[1]->seq > m[0]->seq);
	check_queue(q);
	CHECK_STR(topics_of(q), "dev/2/state dev/3/state dev/5/state dev/6/state dev/7/state new/one new/two");
	/* the new ones are after the restored ones in the file too, and keep their seq */
	{
		uint64_t s0 = m[0] ? m[0]->seq : 0, s1 = m[1] ? m[1]->seq : 0;

		outq_free(q);
		if (!(q = open_q(path, 100, &restored)))
			return;
		CHECK_INT(restored, 7);
		CHECK(outq_last(q) && outq_last(q)->seq == s1 && outq_last(q)->prev && outq_last(q)->prev->seq == s0);
		m[2] = add_named(q, "new/three");
		CHECK(m[2] != NULL && m[2]->seq > s1);
		check_queue(q);
	}
	/* the newest ones done before the restart: the next is still above every restored seq */
	outq_free(q);
	if (!(q = open_q(path, 100, &restored)))
		return;
	CHECK_INT(restored, 8);
	for (int k = 0; k < 3 && outq_last(q); k++)
		outq_remove(q, outq_last(q));
	outq_free(q);
	if (!(q = open_q(path, 100, &restored)))
		return;
	CHECK_INT(restored, 5);
	m[0] = add_named(q, "after");
	CHECK(m[0] != NULL && outq_last(q) && outq_last(q)->prev && m[0]->seq > outq_last(q)->prev->seq);
	check_queue(q);
	outq_free(q);
	unlink(path);
}

/* Reload (issue 14.2): a new buffer.dir gets the queue, in flight or not, and the old file goes. */
TEST(journal_moves_to_a_new_file_on_reload)
{
	char path[256], moved[256], taken[256];
	struct outq *q;
	struct outq_msg *m[8];
	struct snap in[8], want[8];
	size_t restored, nw = 0;
	char err[512];
	int fd, i;

	jpath(path, sizeof(path), "before.q");
	jpath(moved, sizeof(moved), "after.q");
	jpath(taken, sizeof(taken), "taken.q");
	/* a file an earlier run left there (refused below, and left as it was) */
	fd = open(taken, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, "x", 1) == 1);
	close(fd);
	if (!(q = open_q(path, 100, &restored)))
		goto out;
	add_varied(q, m, 8, in);
	if (unit_cur_failed)
		goto out;
	outq_mark_sent(q, m[0], 1, 0);
	outq_mark_sent(q, m[1], 1, 1);
	outq_remove(q, m[3]);
	CHECK_INT(outq_journal_prepare(q, taken, OUTQ_SYNC_BATCH, &fd, err, sizeof(err)), -1);
	CHECK(strstr(err, "already holds a journal") != NULL);
	CHECK_INT(file_size(taken), 1);
	/* prepared, then aborted: the new file goes, the running one is untouched */
	CHECK_INT(outq_journal_prepare(q, moved, OUTQ_SYNC_BATCH, &fd, err, sizeof(err)), 0);
	CHECK(file_exists(moved));
	outq_journal_abort(fd, moved);
	CHECK(!file_exists(moved));
	CHECK(file_exists(path));
	/* prepared and switched: the old file is gone, the new one is the journal from now on */
	CHECK_INT(outq_journal_prepare(q, moved, OUTQ_SYNC_BATCH, &fd, err, sizeof(err)), 0);
	outq_journal_switch(q, fd, strdup(moved));
	CHECK(!file_exists(path));
	outq_remove(q, m[7]);
	for (i = 0; i < 8; i++)
		if (i != 3 && i != 7)
			want[nw++] = in[i];
	outq_free(q);
	if (!(q = open_q(moved, 100, &restored)))
		goto out;
	CHECK_INT(restored, nw);
	check_restored(q, want, nw);
	/* and back to memory only: no file at all */
	outq_journal_switch(q, -1, NULL);
	CHECK(!file_exists(moved));
out:
	outq_free(q);
	unlink(taken);
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
	if (make_tmpdir() != 0) {
		printf("# mkdtemp: cannot make a directory under /tmp\n");
		unit_failed_total++;
		return UNIT_DONE();
	}
	RUN(journal_restores_the_live_messages_exactly);
	RUN(journal_records_removals_of_restored_messages);
	RUN(journal_records_drops_for_max_waiting);
	RUN(journal_emptied_when_the_queue_is);
	RUN(journal_torn_tail_truncated);
	RUN(journal_torn_tail_garbage_appended);
	RUN(journal_corrupt_record_ends_the_replay);
	RUN(journal_nothing_after_a_torn_record_counts);
	RUN(journal_format_is_the_documented_one);
	RUN(journal_well_formed_record_with_bad_content_ends_the_replay);
	RUN(journal_batches_until_flush_and_free_flushes);
	RUN(journal_large_messages_round_trip);
	RUN(journal_in_a_missing_directory_fails_with_a_message);
	RUN(journal_write_failure_is_reported_and_retried);
	RUN(journal_compacts_when_it_grows);
	RUN(seq_keeps_increasing_after_a_restore);
	RUN(journal_moves_to_a_new_file_on_reload);
	remove_tmpdir();
	return UNIT_DONE();
}
