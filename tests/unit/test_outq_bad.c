/*
 * test_outq_bad.c - a journal outq cannot trust (issue 18, "bad input"):
 * one of a newer format, one damaged in the middle, one that is not a
 * journal at all. Each is set aside as FILE.bad-TIMESTAMP with the bytes it
 * had, the messages before the damage are replayed and nothing after it,
 * and outq_open_journal() still succeeds (refusing to start would make
 * systemd restart the gateway into the same file for ever). A torn tail (a
 * kill or a power cut during the last write: short, or zeros the file
 * system allocated and never wrote) is not damage: replayed up to it,
 * nothing set aside. And buffer.sync = batch changes nothing of the format.
 *
 * Apart from test_outq.c, which is long already; the records are forged
 * to the layout documented at the top of gateway/outq.c.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "journal_crc.h"
#include "outq.h"
#include "unit.h"

static char tmpdir[64];

static void put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* An M record: qos 1, topic t/SEQ, payload "pSEQ". */
static size_t m_rec(unsigned char *r, uint64_t seq)
{
	char topic[32], pay[32];
	size_t tl = (size_t)snprintf(topic, sizeof(topic), "t/%llu", (unsigned long long)seq);
	size_t pl = (size_t)snprintf(pay, sizeof(pay), "p%llu", (unsigned long long)seq);
	size_t body = 20 + tl + pl;

	r[0] = 'M';
	put_le(r + 1, body, 4);
	put_le(r + 5, seq, 8);
	r[13] = 1;
	r[14] = 0;
	put_le(r + 15, tl, 2);
	put_le(r + 17, pl, 4);
	put_le(r + 21, 0, 4);
	memcpy(r + 25, topic, tl);
	memcpy(r + 25 + tl, pay, pl);
	put_le(r + 5 + body, crc32_of(r, 5 + body), 4);
	return 5 + body + 4;
}

static size_t v_rec(unsigned char *r, uint32_t version)
{
	r[0] = 'V';
	put_le(r + 1, 4, 4);
	put_le(r + 5, version, 4);
	put_le(r + 9, crc32_of(r, 9), 4);
	return 13;
}

static void write_file(const char *path, const unsigned char *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0 && write(fd, p, n) == (ssize_t)n);
	if (fd >= 0)
		close(fd);
}

/* The one FILE.bad-* in tmpdir (its name in out), or 0 if none; -1 if several. */
static int aside_of(const char *base, char *out, size_t outlen)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char prefix[128];
	int found = 0;

	snprintf(prefix, sizeof(prefix), "%s.bad-", base);
	while (d && (e = readdir(d)))
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
			snprintf(out, outlen, "%s/%s", tmpdir, e->d_name);
			found = found ? -1 : 1;
		}
	if (d)
		closedir(d);
	return found;
}

static void clear_dir(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char path[512];

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
}

/* Open the journal holding the n bytes p; expect `want` messages t/1.. and an aside file or none. */
static void expect_open_at(const unsigned char *p, size_t n, size_t want, int aside, int sync, int line)
{
	char path[256], bad[512];
	struct outq *q = outq_new(100);
	size_t restored = 99;
	char err[256];
	struct stat st;

	clear_dir();
	snprintf(path, sizeof(path), "%s/outq.journal", tmpdir);
	write_file(path, p, n);
	outq_set_sync(q, sync);
	if (outq_open_journal(q, path, &restored, err, sizeof(err)) != 0) {
		printf("# line %d: outq_open_journal: %s\n", line, err);
		unit_cur_failed = 1;
		outq_free(q);
		return;
	}
	if (restored != want) {
		printf("# line %d: %zu messages restored, expected %zu\n", line, restored, want);
		unit_cur_failed = 1;
	}
	{
		size_t k = 1;
		char t[32];

		for (struct outq_msg *m = outq_first(q); m; m = m->next, k++) {
			snprintf(t, sizeof(t), "t/%zu", k);
			if (strcmp(m->topic, t) != 0 || m->seq != k) {
				printf("# line %d: message %zu is %s (seq %llu)\n", line, k, m->topic,
				       (unsigned long long)m->seq);
				unit_cur_failed = 1;
			}
		}
	}
	outq_free(q);
	if (aside_of("outq.journal", bad, sizeof(bad)) != aside) {
		printf("# line %d: expected %s file set aside\n", line, aside ? "one" : "no");
		unit_cur_failed = 1;
	} else if (aside && (stat(bad, &st) != 0 || (size_t)st.st_size != n)) {
		printf("# line %d: %s is not the original %zu bytes\n", line, bad, n);
		unit_cur_failed = 1;
	}
	/* and the journal left behind replays what was restored, with nothing set aside again */
	q = outq_new(100);
	if (outq_open_journal(q, path, &restored, err, sizeof(err)) != 0 || restored != want) {
		printf("# line %d: second open restored %zu, expected %zu\n", line, restored, want);
		unit_cur_failed = 1;
	}
	outq_free(q);
	CHECK(aside_of("outq.journal", bad, sizeof(bad)) == aside);
}
#define expect_open(p, n, want, aside) expect_open_at(p, n, want, aside, OUTQ_SYNC_NONE, __LINE__)

static unsigned char buf[4096];

/* Three good records; their ends in ends[] */
static size_t three(size_t ends[3])
{
	size_t n = 0;

	for (int i = 0; i < 3; i++) {
		n += m_rec(buf + n, (uint64_t)i + 1);
		ends[i] = n;
	}
	return n;
}

TEST(newer_format_is_set_aside_not_replayed)
{
	size_t n = v_rec(buf, 2);

	for (int i = 0; i < 3; i++)
		n += m_rec(buf + n, (uint64_t)i + 1);
	expect_open(buf, n, 0, 1);
}

TEST(format_1_version_record_is_read)
{
	size_t n = v_rec(buf, 1);

	for (int i = 0; i < 3; i++)
		n += m_rec(buf + n, (uint64_t)i + 1);
	expect_open(buf, n, 3, 0);
}

TEST(damage_in_the_middle_is_set_aside_prefix_replayed)
{
	size_t ends[3], n = three(ends);

	buf[ends[0] + 20] ^= 0x40; /* a flipped bit in record 2: record 3 is still whole after it */
	expect_open(buf, n, 1, 1);
}

TEST(not_a_journal_is_set_aside)
{
	static const unsigned char text[] = "hello, I am a text file someone left here\n";

	expect_open(text, sizeof(text) - 1, 0, 1);
}

TEST(torn_tail_is_not_damage)
{
	size_t ends[3], n = three(ends);

	for (size_t cut = ends[1] + 1; cut < n; cut += 7)
		expect_open(buf, cut, 2, 0);
	expect_open(buf, ends[1], 2, 0);
}

TEST(zeros_after_the_last_record_are_a_torn_tail)
{
	size_t ends[3], n = three(ends);

	memset(buf + ends[1], 0, n - ends[1]);
	memset(buf + n, 0, 4096 - n);
	expect_open(buf, 4096, 2, 0);
}

TEST(sync_batch_reads_and_writes_the_same_format)
{
	size_t ends[3], n = three(ends);

	expect_open_at(buf, n, 3, 0, OUTQ_SYNC_BATCH, __LINE__);
	expect_open_at(buf, n, 3, 0, OUTQ_SYNC_ALWAYS, __LINE__);
}

TEST(sync_always_writes_each_record_at_once)
{
	char path[256], err[256];
	struct outq *q = outq_new(100);
	size_t restored;
	struct stat st;

	clear_dir();
	snprintf(path, sizeof(path), "%s/outq.journal", tmpdir);
	outq_set_sync(q, OUTQ_SYNC_ALWAYS);
	CHECK(outq_open_journal(q, path, &restored, err, sizeof(err)) == 0);
	CHECK(outq_add(q, "t/1", "p1", 2, 1, 0, NULL, 0) != NULL);
	/* no outq_flush(): the record is in the file already */
	CHECK(stat(path, &st) == 0 && st.st_size == (off_t)m_rec(buf, 1));
	outq_free(q);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mqttgw-outqbad-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	RUN(newer_format_is_set_aside_not_replayed);
	RUN(format_1_version_record_is_read);
	RUN(damage_in_the_middle_is_set_aside_prefix_replayed);
	RUN(not_a_journal_is_set_aside);
	RUN(torn_tail_is_not_damage);
	RUN(zeros_after_the_last_record_are_a_torn_tail);
	RUN(sync_batch_reads_and_writes_the_same_format);
	RUN(sync_always_writes_each_record_at_once);
	clear_dir();
	rmdir(tmpdir);
	return UNIT_DONE();
}
