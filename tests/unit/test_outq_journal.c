/*
 * test_outq_journal.c - unit tests for the on-disk journal of gateway/outq.c
 * through a queue's life: what a second queue restores is what the first
 * held live, removals and drops are recorded, the file empties, batches until
 * flush, compacts, reports a full disk and moves on reload. Damaged files are
 * tested in test_outq_journal_damage.c, the queue in memory in test_outq.c;
 * the helpers they share are in outq_fixture.h.
 *
 * The tests work in a private directory made with mkdtemp under /tmp and
 * removed at the end; they compare what a second queue restores from the
 * file byte for byte with what the first one held live.
 */
#include <signal.h>
#include <sys/resource.h>
#include <time.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "outq.h"
#include "outq_fixture.h"
#include "unit.h"

/* ---- the journal ---- */

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
	if (tmpdir_or_fail() != 0)
		return UNIT_DONE();
	RUN(journal_restores_the_live_messages_exactly);
	RUN(journal_records_removals_of_restored_messages);
	RUN(journal_records_drops_for_max_waiting);
	RUN(journal_emptied_when_the_queue_is);
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
