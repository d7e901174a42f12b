/*
 * outq_fixture.h - what the unit tests of gateway/outq.c share (test_outq.c,
 * test_outq_journal.c, test_outq_journal_damage.c): check_queue() and the
 * list helpers, the private directory under /tmp the journal tests work in,
 * snapshots of what was added and the replay checks that compare a restored
 * queue with them byte for byte, and the journals of every message shape.
 * Header-only and static inline, like unit.h: each test binary is one file
 * plus libmqttgw.a, and each uses only some of these.
 */
#ifndef MQTTGW_OUTQ_FIXTURE_H
#define MQTTGW_OUTQ_FIXTURE_H

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outq.h"
#include "unit.h"


static char tmpdir[64] __attribute__((unused));

/* The list invariants; a broken one prints what and where. */
#define check_queue(q) check_queue_at((q), __LINE__)
static inline void check_queue_at(const struct outq *q, int line)
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
static inline size_t list_of(const struct outq *q, struct outq_msg **out, size_t max)
{
	size_t n = 0;

	for (struct outq_msg *m = outq_first(q); m && n < max; m = m->next)
		out[n++] = m;
	return n;
}

static inline struct outq_msg *add_named(struct outq *q, const char *topic)
{
	return outq_add(q, topic, topic, strlen(topic), 1, 0, NULL, 0);
}

/* The topics from head to tail, joined by spaces. */
static inline const char *topics_of(const struct outq *q)
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
static inline const char *send_all(struct outq *q, uint32_t gen, int first_token)
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
static inline void ack_at(struct outq *q, uint32_t gen, int token, int line)
{
	struct outq_msg *m = outq_find_sent(q, gen, token);

	if (!m) {
		printf("# line %d: no message sent on generation %u as token %d\n", line, gen, token);
		unit_cur_failed = 1;
		return;
	}
	outq_remove(q, m);
}

static inline int make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mqttgw-outq-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

/* The journal tests' directory, or a failure counted and said (main then stops). */
static inline int tmpdir_or_fail(void)
{
	if (make_tmpdir() == 0)
		return 0;
	printf("# mkdtemp: cannot make a directory under /tmp\n");
	unit_failed_total++;
	return -1;
}

/* Remove the files in tmpdir (flat: the tests make no subdirectories), then it. */
static inline void remove_tmpdir(void)
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

static inline void jpath(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", tmpdir, name);
}

static inline long long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static inline int file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* A queue on journal path; *restored what it replayed. NULL (and a diagnostic) on failure. */
static inline struct outq *open_q(const char *path, size_t max_waiting, size_t *restored)
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
static inline void snap_in(struct snap *s, uint64_t seq, const char *topic, const void *payload, size_t len,
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
static inline void check_content_at(const struct outq *q, const struct snap *s, size_t n, int restored, int line)
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

/* ---- journals ---- */

/* Some messages of every shape: binary payloads with NULs, correlation data, qos 0/1/2, retain. */
static inline void add_varied(struct outq *q, struct outq_msg **m, int n, struct snap *in)
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

/* Write a journal of 5 messages and return their snapshots and the offsets where each record starts. */
static inline int write_five(const char *path, struct snap *want, long long *start)
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

static inline void flip_byte(const char *path, long long at)
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

static inline void append_bytes(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	if (fd < 0 || write(fd, p, n) != (ssize_t)n)
		unit_cur_failed = 1;
	if (fd >= 0)
		close(fd);
}

/* Open path: expect exactly want[0..n-1]; then the file holds just them. */
#define expect_replay(path, want, n) expect_replay_at((path), (want), (n), __LINE__)
static inline void expect_replay_at(const char *path, const struct snap *want, size_t n, int line)
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

#endif
