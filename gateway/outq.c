/*
 * outq.c - the outbound queue and its journal (see outq.h for the why);
 * what a reload changes in a running queue is outq_reload.c's (outq_int.h).
 *
 * A doubly linked list in publish order: the messages handed to the MQTT
 * library come first, those waiting their turn after them (next_send points
 * at the first of those). Acknowledgements nearly always come in order, so
 * outq_find_sent() walking from the head finds them at once.
 *
 * Journal records, integers little-endian:
 *   type (1: 'M' a message, 'D' done), body length (4), body, CRC-32 (4) of
 *   type, length and body.
 *   M body: seq (8), qos (1), retain (1), topic length (2), payload length
 *   (4), correlation length (4), topic, payload, correlation.
 *   D body: seq (8).
 *   V body: format version (4). This version writes none and reads only
 *   format 1; a later format starts its files with a V record, so that this
 *   version refuses them instead of replaying garbage.
 * Replay stops at the first record that is short, too long or fails its
 * CRC: that is where a kill or a power cut interrupted a write, and nothing
 * after it was ever complete. If a good record follows further on, it was
 * not a torn tail but damage (or a format we do not know): the file is set
 * aside (FILE.bad-TIMESTAMP) for the operator, never replayed past it, and
 * never a reason to refuse to start (systemd would restart us into the
 * same file for ever).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "log.h"
#include "clock.h"
#include "outq_int.h"

#define OUTQ_VERSION 1
#define OUTQ_SCAN_MAX (256u * 1024)
#define OUTQ_HDR 5
#define OUTQ_CRC 4
#define OUTQ_M_FIXED 20
#define OUTQ_BODY_MAX (64u * 1024 * 1024)

/* After a failed rewrite (disk full), the next try no sooner than this. */
#define OUTQ_RETRY_MS 1000



static uint32_t outq_crc_table[256];

static uint32_t outq_crc32(uint32_t crc, const unsigned char *p, size_t n)
{
	if (!outq_crc_table[1]) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
			outq_crc_table[i] = c;
		}
	}
	crc = ~crc;
	while (n--)
		crc = outq_crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void outq_put(unsigned char *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t outq_get(const unsigned char *p, int bytes)
{
	uint64_t v = 0;

	for (int i = bytes - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

struct outq *outq_new(size_t max_waiting)
{
	struct outq *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->max_waiting = max_waiting;
	q->next_seq = 1;
	q->fd = -1;
	return q;
}

static void outq_msg_free(struct outq_msg *m)
{
	free(m->topic);
	free(m->payload);
	free(m->corr);
	free(m);
}

void outq_free(struct outq *q)
{
	struct outq_msg *m, *next;

	if (!q)
		return;
	outq_flush(q);
	for (m = q->head; m; m = next) {
		next = m->next;
		outq_msg_free(m);
	}
	if (q->fd >= 0)
		close(q->fd);
	free(q->path);
	free(q->wbuf);
	free(q);
}

/* ---- journal records ---- */

static size_t outq_m_size(const struct outq_msg *m)
{
	return OUTQ_HDR + OUTQ_M_FIXED + strlen(m->topic) + m->len + m->corr_len + OUTQ_CRC;
}

/* Room for n more bytes in the write buffer; NULL: the file will be rewritten instead. */
static unsigned char *outq_reserve(struct outq *q, size_t n)
{
	if (q->wlen + n > q->wcap) {
		size_t cap = q->wcap ? q->wcap : 4096;
		unsigned char *p;

		while (cap < q->wlen + n)
			cap *= 2;
		p = realloc(q->wbuf, cap);
		if (!p) {
			q->rewrite = 1;
			return NULL;
		}
		q->wbuf = p;
		q->wcap = cap;
	}
	return q->wbuf + q->wlen;
}

static void outq_encode_m(unsigned char *p, const struct outq_msg *m)
{
	size_t tlen = strlen(m->topic), body = OUTQ_M_FIXED + tlen + m->len + m->corr_len;
	unsigned char *b = p + OUTQ_HDR;

	p[0] = 'M';
	outq_put(p + 1, body, 4);
	outq_put(b, m->seq, 8);
	b[8] = (unsigned char)m->qos;
	b[9] = (unsigned char)m->retain;
	outq_put(b + 10, tlen, 2);
	outq_put(b + 12, m->len, 4);
	outq_put(b + 16, m->corr_len, 4);
	memcpy(b + OUTQ_M_FIXED, m->topic, tlen);
	if (m->len)
		memcpy(b + OUTQ_M_FIXED + tlen, m->payload, m->len);
	if (m->corr_len)
		memcpy(b + OUTQ_M_FIXED + tlen + m->len, m->corr, m->corr_len);
	outq_put(p + OUTQ_HDR + body, outq_crc32(0, p, OUTQ_HDR + body), 4);
}

static void outq_journal_m(struct outq *q, const struct outq_msg *m)
{
	unsigned char *p;

	if (q->fd < 0 || q->rewrite || !(p = outq_reserve(q, m->rec_len)))
		return;
	outq_encode_m(p, m);
	q->wlen += m->rec_len;
	q->unsynced = 1;
	if (q->wlen >= OUTQ_WBUF_FLUSH || q->sync >= OUTQ_SYNC_ALWAYS)
		outq_flush(q);
}

static void outq_journal_d(struct outq *q, uint64_t seq)
{
	unsigned char *p;

	if (q->fd < 0 || q->rewrite || !(p = outq_reserve(q, OUTQ_HDR + 8 + OUTQ_CRC)))
		return;
	p[0] = 'D';
	outq_put(p + 1, 8, 4);
	outq_put(p + OUTQ_HDR, seq, 8);
	outq_put(p + OUTQ_HDR + 8, outq_crc32(0, p, OUTQ_HDR + 8), 4);
	q->wlen += OUTQ_HDR + 8 + OUTQ_CRC;
	/* batch: a D record alone is not worth a sync (lost, the message goes again, in order) */
	if (q->sync >= OUTQ_SYNC_ALWAYS)
		q->unsynced = 1;
	if (q->wlen >= OUTQ_WBUF_FLUSH || q->sync >= OUTQ_SYNC_ALWAYS)
		outq_flush(q);
}

/* A rewrite failed: the old file stays (it may end torn), nothing is appended, retried later. */
static int outq_rewrite_failed(struct outq *q, const char *what)
{
	if (!q->warned)
		log_msg(LOG_ERR, "buffer.dir: %s %s: %s; the queue is kept in memory and written again when it can be",
			what, q->path, strerror(errno));
	q->warned = 1;
	q->rewrite = 1;
	q->wlen = 0;
	q->retry_at = clock_now_ms() + OUTQ_RETRY_MS;
	return -1;
}

/* buffer.sync batch/always: the directory entry of a rename of file is on the card. */
int outq_sync_dir(const char *file)
{
	char dir[4200];
	int fd, rc;

	snprintf(dir, sizeof(dir), "%s", file);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int outq_write_live(const struct outq *q, const char *tmp, const char *file, int sync)
{
	unsigned char *buf = NULL;
	size_t cap = 0, len = 0;
	struct outq_msg *m;
	int e, fd, rc = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	for (m = q->head; m && rc == 0; m = m->next) {
		if (m->rec_len > cap) {
			unsigned char *p = realloc(buf, m->rec_len > OUTQ_WBUF_FLUSH ? m->rec_len : OUTQ_WBUF_FLUSH);

			if (!p) {
				errno = ENOMEM;
				rc = -1;
				break;
			}
			buf = p;
			cap = m->rec_len > OUTQ_WBUF_FLUSH ? m->rec_len : OUTQ_WBUF_FLUSH;
		}
		if (len + m->rec_len > cap) {
			rc = fdio_write_all(fd, buf, len);
			len = 0;
		}
		outq_encode_m(buf + len, m);
		len += m->rec_len;
	}
	if (rc == 0 && len && fdio_write_all(fd, buf, len) < 0)
		rc = -1;
	free(buf);
	/* a power cut after the rename must find the new file whole, not empty */
	if (rc == 0 && sync >= OUTQ_SYNC_BATCH && fdatasync(fd) < 0)
		rc = -1;
	if (rc == 0 && rename(tmp, file) == 0)
		return fd;
	e = errno;
	close(fd);
	unlink(tmp);
	errno = e;
	return -1;
}

/* Write the live messages to a new file and put it in place of the old. */
static int outq_rewrite(struct outq *q)
{
	char tmp[4200];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.new", q->path);
	fd = outq_write_live(q, tmp, q->path, q->sync);
	if (fd < 0)
		return outq_rewrite_failed(q, "cannot rewrite");
	/* the new file stays open: O_APPEND was not needed, every write goes at its end */
	close(q->fd);
	q->fd = fd;
	q->file_size = q->live_bytes;
	q->wlen = 0;
	q->unsynced = 0;
	/* and the rename itself, or later appends would go to a file a power cut unnames */
	if (q->sync >= OUTQ_SYNC_BATCH && outq_sync_dir(q->path) < 0)
		return outq_rewrite_failed(q, "cannot sync the directory of");
	if (q->rewrite && q->warned)
		log_msg(LOG_NOTICE, "buffer.dir: %s written again", q->path);
	q->rewrite = 0;
	q->warned = 0;
	return 0;
}

int outq_flush(struct outq *q)
{
	if (q->fd < 0)
		return 0;
	if (q->rewrite)
		return clock_now_ms() < q->retry_at ? -1 : outq_rewrite(q);
	if (q->file_size + q->wlen > OUTQ_COMPACT_MIN && q->file_size + q->wlen > 4 * q->live_bytes &&
	    clock_now_ms() >= q->retry_at) {
		/* compaction is optional: when it fails the file is still whole, appending goes on */
		unsigned char *keep = q->wbuf;
		size_t n = q->wlen;

		if (outq_rewrite(q) == 0)
			return 0;
		q->rewrite = 0;
		q->wlen = n;
		q->wbuf = keep;
	}
	if (q->wlen > 0) {
		if (fdio_write_all(q->fd, q->wbuf, q->wlen) < 0) {
			/* maybe a torn batch: only a clean file of the live messages is safe now */
			q->rewrite = 1;
			q->retry_at = 0;
			return outq_rewrite(q);
		}
		q->file_size += q->wlen;
		q->wlen = 0;
	}
	/* buffer.sync: one fdatasync a batch, before the caller counts it as kept */
	if (q->unsynced && q->sync >= OUTQ_SYNC_BATCH) {
		if (fdatasync(q->fd) < 0) {
			/* what the kernel held may be gone (EIO): a whole new file, synced, or -1 */
			if (!q->warned)
				log_msg(LOG_ERR, "buffer.dir: fdatasync %s: %s", q->path, strerror(errno));
			q->rewrite = 1;
			q->retry_at = 0;
			return outq_rewrite(q);
		}
	}
	q->unsynced = 0;
	return 0;
}

/* ---- the queue ---- */

static void outq_link_tail(struct outq *q, struct outq_msg *m)
{
	m->prev = q->tail;
	m->next = NULL;
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	if (!q->next_send)
		q->next_send = m;
	q->count++;
	q->live_bytes += m->rec_len;
}

static void outq_unlink(struct outq *q, struct outq_msg *m)
{
	if (q->next_send == m) {
		struct outq_msg *n = m->next;

		while (n && n->sent)
			n = n->next;
		q->next_send = n;
	}
	if (m->prev)
		m->prev->next = m->next;
	else
		q->head = m->next;
	if (m->next)
		m->next->prev = m->prev;
	else
		q->tail = m->prev;
	q->count--;
	if (m->sent)
		q->n_sent--;
	if (m->sent && m->qos == 2)
		q->n_sent2--;
	q->live_bytes -= m->rec_len;
}

static struct outq_msg *outq_msg_new(const char *topic, size_t tlen, const void *payload, size_t len, int qos,
				     int retain, const void *corr, size_t corr_len)
{
	struct outq_msg *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->topic = strndup(topic, tlen);
	m->payload = malloc(len ? len : 1);
	m->corr = corr_len ? malloc(corr_len) : NULL;
	if (!m->topic || !m->payload || (corr_len && !m->corr)) {
		outq_msg_free(m);
		return NULL;
	}
	if (len)
		memcpy(m->payload, payload, len);
	if (corr_len)
		memcpy(m->corr, corr, corr_len);
	m->len = len;
	m->corr_len = corr_len;
	m->qos = qos;
	m->retain = retain;
	m->rec_len = outq_m_size(m);
	return m;
}

struct outq_msg *outq_add(struct outq *q, const char *topic, const void *payload, size_t len, int qos,
			  int retain, const void *corr, size_t corr_len)
{
	struct outq_msg *m = outq_msg_new(topic, strlen(topic), payload, len, qos, retain, corr, corr_len);

	if (!m)
		return NULL;
	/* the oldest message not yet sent makes room; those in flight are the broker's now */
	while (q->count - q->n_sent >= q->max_waiting && q->next_send) {
		q->dropped++;
		outq_remove(q, q->next_send);
	}
	m->seq = q->next_seq++;
	outq_link_tail(q, m);
	outq_journal_m(q, m);
	return m;
}

/* The accessors of the opaque struct: one-line getters, alike by nature. */

void outq_set_sync(struct outq *q, int sync)
{
	q->sync = sync;
}

size_t outq_count(const struct outq *q)
{
	return q->count;
}

size_t outq_in_flight(const struct outq *q)
{
	return q->n_sent;
}

size_t outq_in_flight_qos2(const struct outq *q)
{
	return q->n_sent2;
}

uint64_t outq_dropped(const struct outq *q)
{
	return q->dropped;
}

struct outq_msg *outq_first(const struct outq *q)
{
	return q->head;
}

struct outq_msg *outq_last(const struct outq *q)
{
	return q->tail;
}

int outq_has_journal(const struct outq *q)
{
	return q->fd >= 0;
}

uint64_t outq_next_seq(const struct outq *q)
{
	return q->next_seq;
}

uint64_t outq_live_bytes(const struct outq *q)
{
	return q->live_bytes;
}

size_t outq_unwritten(const struct outq *q)
{
	return q->wlen;
}

struct outq_msg *outq_next_unsent(const struct outq *q)
{
	return q->next_send;
}

void outq_mark_sent(struct outq *q, struct outq_msg *m, uint32_t gen, int token)
{
	m->sent = 1;
	m->gen = gen;
	m->token = token;
	q->n_sent++;
	if (m->qos == 2)
		q->n_sent2++;
	if (q->next_send == m) {
		struct outq_msg *n = m->next;

		while (n && n->sent)
			n = n->next;
		q->next_send = n;
	}
}

struct outq_msg *outq_oldest_sent(const struct outq *q)
{
	struct outq_msg *m;

	if (q->n_sent == 0)
		return NULL;
	for (m = q->head; m && !m->sent; m = m->next)
		;
	return m;
}

struct outq_msg *outq_find_sent(const struct outq *q, uint32_t gen, int token)
{
	struct outq_msg *m;

	for (m = q->head; m; m = m->next)
		if (m->sent && m->gen == gen && m->token == token)
			return m;
	return NULL;
}

void outq_unsend(struct outq *q, struct outq_msg *m)
{
	if (!m->sent)
		return;
	m->sent = 0;
	m->resend = 1;
	q->n_sent--;
	if (m->qos == 2)
		q->n_sent2--;
	if (!q->next_send || q->next_send->seq > m->seq)
		q->next_send = m;
}

struct outq_msg *outq_unsend_all(struct outq *q)
{
	struct outq_msg *m, *oldest = NULL;

	for (m = q->head; m; m = m->next) {
		if (m->sent && !oldest)
			oldest = m;
		if (m->sent)
			m->resend = 1;
		m->sent = 0;
	}
	q->n_sent = 0;
	q->n_sent2 = 0;
	q->next_send = q->head;
	if (oldest)
		oldest->strikes++;
	return oldest;
}

void outq_remove(struct outq *q, struct outq_msg *m)
{
	outq_unlink(q, m);
	if (q->count == 0 && q->fd >= 0 && !q->rewrite) {
		/* nothing live: an empty file says it, whatever the batch held (and nothing needs a sync) */
		q->wlen = 0;
		q->unsynced = 0;
		if (ftruncate(q->fd, 0) == 0 && lseek(q->fd, 0, SEEK_SET) == 0)
			q->file_size = 0;
		else
			q->rewrite = 1;
	} else {
		outq_journal_d(q, m->seq);
	}
	outq_msg_free(m);
}

/* ---- replay ---- */

/* One record from f into *body (grown as needed): its type, or 0 at the end / a torn record. */
static int outq_read_record(FILE *f, unsigned char **body, size_t *cap, size_t *blen)
{
	unsigned char hdr[OUTQ_HDR], crc[OUTQ_CRC];
	size_t n;

	if (fread(hdr, 1, OUTQ_HDR, f) != OUTQ_HDR || (hdr[0] != 'M' && hdr[0] != 'D' && hdr[0] != 'V'))
		return 0;
	n = (size_t)outq_get(hdr + 1, 4);
	if (n > OUTQ_BODY_MAX || (hdr[0] == 'D' && n != 8) || (hdr[0] == 'V' && n != 4) ||
	    (hdr[0] == 'M' && n < OUTQ_M_FIXED))
		return 0;
	if (n > *cap) {
		unsigned char *p = realloc(*body, n);

		if (!p)
			return 0;
		*body = p;
		*cap = n;
	}
	if (fread(*body, 1, n, f) != n || fread(crc, 1, OUTQ_CRC, f) != OUTQ_CRC)
		return 0;
	if (outq_crc32(outq_crc32(0, hdr, OUTQ_HDR), *body, n) != (uint32_t)outq_get(crc, 4))
		return 0;
	*blen = n;
	return hdr[0];
}

/*
 * The replay stopped at byte pos of f (not its end): 1 if that is damage, not
 * a torn tail: a record with a good CRC starts somewhere in the next
 * OUTQ_SCAN_MAX bytes (a kill or a power cut tears only the last write, so
 * nothing whole follows a torn record); 2 if the file does not even start
 * like a journal of ours.
 */
static int outq_damaged(FILE *f, long pos, long size)
{
	size_t n = (size_t)(size - pos) < OUTQ_SCAN_MAX ? (size_t)(size - pos) : OUTQ_SCAN_MAX;
	unsigned char *b = malloc(n ? n : 1);
	int damaged = 0, zeros = 1;

	if (!b || fseek(f, pos, SEEK_SET) != 0 || fread(b, 1, n, f) != n) {
		free(b);
		return 0;
	}
	for (size_t i = 0; i < n && zeros; i++)
		zeros = b[i] == 0;
	/* a file of ours starts with a record; zeros are blocks a power cut allocated and never wrote */
	if (pos == 0 && !zeros && b[0] != 'M' && b[0] != 'D' && b[0] != 'V')
		damaged = 2;
	for (size_t i = 1; !damaged && i + OUTQ_HDR + OUTQ_CRC <= n; i++) {
		size_t len = (size_t)outq_get(b + i + 1, 4);

		if ((b[i] != 'M' && b[i] != 'D' && b[i] != 'V') || len > n - i - OUTQ_HDR - OUTQ_CRC ||
		    (b[i] == 'D' && len != 8) || (b[i] == 'V' && len != 4) || (b[i] == 'M' && len < OUTQ_M_FIXED))
			continue;
		damaged = outq_crc32(0, b + i, OUTQ_HDR + len) == (uint32_t)outq_get(b + i + OUTQ_HDR + len, 4);
	}
	free(b);
	return damaged;
}

/* A journal we must not replay (further): renamed FILE.bad-TIMESTAMP for the operator. */
static void outq_set_aside(const char *file, const char *why, long pos, long size, size_t kept)
{
	char aside[4300], stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(aside, sizeof(aside), "%s.bad-%s", file, stamp);
	for (int k = 1; access(aside, F_OK) == 0 && k < 100; k++)
		snprintf(aside, sizeof(aside), "%s.bad-%s.%d", file, stamp, k);
	if (rename(file, aside) == 0)
		log_msg(LOG_ERR,
			"buffer.dir: %s %s at byte %ld of %ld; the %zu messages before it are replayed, "
			"the file is set aside as %s for you to inspect (nothing after byte %ld is sent)",
			file, why, pos, size, kept, aside, pos);
	else
		log_msg(LOG_ERR, "buffer.dir: %s %s at byte %ld of %ld; the %zu messages before it are replayed; "
			"cannot set it aside as %s (%s), it is overwritten", file, why, pos, size, kept, aside,
			strerror(errno));
}

static int outq_replay_m(struct outq *q, const unsigned char *b, size_t n)
{
	size_t tlen = (size_t)outq_get(b + 10, 2), plen = (size_t)outq_get(b + 12, 4);
	size_t clen = (size_t)outq_get(b + 16, 4);
	struct outq_msg *m;

	uint64_t seq = outq_get(b, 8);

	/* not as outq writes them (a foreign or damaged file with a valid CRC): the replay ends here */
	if (OUTQ_M_FIXED + tlen + plen + clen != n || b[8] > 2 || b[9] > 1 || tlen == 0 ||
	    memchr(b + OUTQ_M_FIXED, 0, tlen) || seq == UINT64_MAX || (q->tail && seq <= q->tail->seq))
		return 0;
	m = outq_msg_new((const char *)b + OUTQ_M_FIXED, tlen, b + OUTQ_M_FIXED + tlen, plen, b[8], b[9],
			 b + OUTQ_M_FIXED + tlen + plen, clen);
	if (!m)
		return -1;
	m->seq = seq;
	m->resend = 1;	/* it may have reached the broker before the restart */
	outq_link_tail(q, m);
	if (m->seq >= q->next_seq)
		q->next_seq = m->seq + 1;
	return 1;
}

static void outq_replay_d(struct outq *q, uint64_t seq)
{
	struct outq_msg *m;

	for (m = q->head; m; m = m->next)
		if (m->seq == seq) {
			outq_unlink(q, m);
			outq_msg_free(m);
			return;
		}
}

int outq_open_journal(struct outq *q, const char *file, size_t *restored, char *err, size_t errlen)
{
	unsigned char *body = NULL;
	size_t cap = 0, n = 0;
	const char *bad = NULL;
	long pos = 0, size = 0;
	FILE *f;
	int type, rc = 1;

	*restored = 0;
	q->path = strdup(file);
	if (!q->path) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	f = fopen(file, "rbe");
	if (!f && errno != ENOENT) {
		snprintf(err, errlen, "buffer.dir: cannot read %s: %s", file, strerror(errno));
		return -1;
	}
	while (f && rc > 0 && (pos = ftell(f)) >= 0 && (type = outq_read_record(f, &body, &cap, &n)) != 0) {
		if (type == 'M') {
			rc = outq_replay_m(q, body, n);
			if (rc == 0)
				bad = "holds a record this version does not write (damaged, or not a journal of ours)";
		} else if (type == 'V' && outq_get(body, 4) != OUTQ_VERSION) {
			bad = "was written by a newer mqttgw (another journal format; this version reads format 1)";
			rc = 0;
		} else if (type == 'D') {
			outq_replay_d(q, outq_get(body, 8));
		}
	}
	free(body);
	if (f && rc >= 0 && fseek(f, 0, SEEK_END) == 0)
		size = ftell(f);
	if (f && rc >= 0 && !bad && pos >= 0 && pos < size) {
		int d = outq_damaged(f, pos, size);

		if (d == 1)
			bad = "is damaged (a good record follows a bad one: not a torn tail)";
		else if (d == 2)
			bad = "is not a journal of mqttgw (or is damaged from its first byte)";
	}
	if (f)
		fclose(f);
	if (rc < 0) {
		snprintf(err, errlen, "buffer.dir: out of memory replaying %s", file);
		return -1;
	}
	if (bad)
		outq_set_aside(file, bad, pos, size, q->count);
	*restored = q->count;
	/* the live ones into a fresh file: what a torn tail held is gone from it too */
	q->fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (q->fd < 0) {
		snprintf(err, errlen, "buffer.dir: cannot open %s: %s", file, strerror(errno));
		return -1;
	}
	/* a failure (disk full) is logged and retried: the replayed messages are in memory */
	outq_rewrite(q);
	return 0;
}

