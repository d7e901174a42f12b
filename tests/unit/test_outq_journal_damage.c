/*
 * test_outq_journal_damage.c - unit tests for replaying a damaged journal of
 * gateway/outq.c: torn tails, flipped bytes, garbage and well-formed records
 * with bad content end the replay at the last good record, and the format on
 * disk is the one outq.c's header comment documents. A queue's life on disk
 * is tested in test_outq_journal.c; the helpers they share (the five-message
 * journal, byte flips and appends, expect_replay) are in outq_fixture.h.
 *
 * The tests work in a private directory made with mkdtemp under /tmp and
 * removed at the end, and damage the file the ways a kill or a bad disk
 * would.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "outq.h"
#include "journal_crc.h"
#include "outq_fixture.h"
#include "unit.h"

/* ---- damaged journals ---- */


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


int main(void)
{
	if (tmpdir_or_fail() != 0)
		return UNIT_DONE();
	RUN(journal_torn_tail_truncated);
	RUN(journal_torn_tail_garbage_appended);
	RUN(journal_corrupt_record_ends_the_replay);
	RUN(journal_nothing_after_a_torn_record_counts);
	RUN(journal_format_is_the_documented_one);
	RUN(journal_well_formed_record_with_bad_content_ends_the_replay);
	remove_tmpdir();
	return UNIT_DONE();
}
