/*
 * fuzz_outq.c - libFuzzer target for gateway/outq.c's journal (buffer.dir).
 *
 * Three kinds of input, told apart by the first byte:
 *
 *   'C': the rest is a journal whose CRCs the target fixes first: each
 *   record whose length fits gets the CRC-32 it needs (the type byte stays
 *   as it is). This lets mutations of seq, qos, lengths, topics reach the
 *   replay instead of dying on the checksum.
 *
 *   'O': a script of queue operations on top of a journal (CRCs fixed too):
 *     'O', max_waiting (1), journal length (2, LE), journal, operations.
 *   An operation is a byte mod 9 and its arguments: 0 add and 1 add big
 *   (topic length, payload length (x64 for big), correlation, qos/retain,
 *   then the topic's bytes), 2 remove (index), 3 mark sent, 4 acknowledge
 *   (index), 5 unsend (index), 6 unsend all, 7 flush, 8 restart.
 *
 *   anything else: the whole input is the journal, as is.
 *
 * The journal is written to a file in a private temp dir (made once per
 * process with mkdtemp, on /dev/shm when it can be, removed at exit and
 * before an abort) and replayed by outq_open_journal() into a fresh queue.
 * Then:
 *   - the list invariants: count is what the list holds, prev/next agree
 *     and tail is the last, seq strictly increases, qos is 0..2, retain
 *     0..1, the topic is not empty, next_seq is above every seq, rec_len is
 *     the record's size and live_bytes their sum; after a replay nothing is
 *     sent (n_sent 0, next_send the head), and *restored is the count;
 *   - the queue holds exactly what a reference reader written from the
 *     format in outq.c's opening comment finds: records up to the first
 *     short / unknown / too long / bad-CRC / inconsistent one, every 'M'
 *     queued in file order, every 'D' removing the first message of its
 *     seq. Topic, payload, correlation data, qos, retain and seq must be the
 *     record's, byte for byte. The reference gives no verdict on a file
 *     holding an 'M' that outq itself never writes: a topic holding NUL, a
 *     seq of UINT64_MAX, a seq not above every 'M' before it. What outq
 *     makes of those is its choice, as long as the invariants above and the
 *     second replay below hold;
 *   - the file outq_open_journal() rewrote replays, in a second queue, to
 *     exactly the same messages in the same order.
 *
 * With 'O', the operations then run against the queue and a model of it
 * (an array in publish order): add (dropping the oldest unsent while
 * max_waiting wait), remove, mark the next unsent sent, acknowledge a sent
 * one (outq_find_sent + remove), unsend one, unsend all (the oldest in
 * flight gets a strike; a new gen), flush, and restart (outq_free, then a
 * new queue on the same file). After every operation the queue must equal
 * the model (content, seq, sent, gen, token, strikes, resend, dropped,
 * next_seq) and keep the list invariants. After a flush, a copy of the file
 * must replay to exactly the live messages; after a restart (and at the end
 * of the script) the file itself must. The script keeps to the callers'
 * side of the contract: topics are non-empty and NUL-free, qos 0..2, retain
 * 0..1, only the next unsent message is marked sent. For speed a script runs
 * at most MAX_STEPS operations, and flushes and restarts beyond a budget
 * (MAX_FILE_OPS, MAX_FILE_BYTES live summed over them) are skipped.
 *
 * A broken property prints "outq property broken: ..." and aborts.
 *
 *   clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Igateway -Icommon \
 *       tests/fuzz/fuzz_outq.c gateway/outq.c common/log.c common/fdio.c
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "outq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OPS_MARKER 'O'
#define CRC_MARKER 'C'
#define MAX_STEPS 300
#define BIG_LIVE_MAX (96u * 1024)
/*
 * Flushes and restarts read, checksum and write whole files: a script gets
 * at most this many, and this many bytes live summed over them.
 */
#define MAX_FILE_OPS 24
#define MAX_FILE_BYTES (256u * 1024)
#define REC_HDR 5
#define REC_CRC 4
#define M_FIXED 20
#define BODY_MAX (64u * 1024 * 1024)

/* ---- helpers ---- */

static char dir[64], jpath[128], cpath[128];

static void cleanup(void)
{
	char p[160];
	const char *files[] = { jpath, cpath };

	for (size_t i = 0; i < 2; i++) {
		unlink(files[i]);
		snprintf(p, sizeof(p), "%s.new", files[i]);
		unlink(p);
	}
	rmdir(dir);
}

/* abort() skips atexit: the temp dir goes first */
static void fail(const char *what, uint64_t seq)
{
	fprintf(stderr, "outq property broken: %s (seq %llu)\n", what, (unsigned long long)seq);
	cleanup();
	abort();
}

static void check(int cond, const char *what, uint64_t seq)
{
	if (!cond)
		fail(what, seq);
}

static void setup(void)
{
	if (dir[0])
		return;
	/*
	 * tmpfs when there is one: on ext4 a rename over the journal and a
	 * truncation to 0 start a writeback (auto_da_alloc); with /tmp on disk
	 * a run did ten times fewer executions.
	 */
	snprintf(dir, sizeof(dir), "/dev/shm/fuzz_outq.XXXXXX");
	if (!mkdtemp(dir)) {
		snprintf(dir, sizeof(dir), "/tmp/fuzz_outq.XXXXXX");
		if (!mkdtemp(dir)) {
			perror("fuzz_outq: mkdtemp");
			exit(1);
		}
	}
	snprintf(jpath, sizeof(jpath), "%s/journal", dir);
	snprintf(cpath, sizeof(cpath), "%s/copy", dir);
	atexit(cleanup);
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const unsigned char *b = p;

	if (fd < 0) {
		perror("fuzz_outq: open");
		exit(1);
	}
	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			perror("fuzz_outq: write");
			exit(1);
		}
		b += w;
		n -= (size_t)w;
	}
	close(fd);
}

static void copy_file(const char *from, const char *to)
{
	static unsigned char *buf;
	static size_t cap;
	size_t n = 0;
	FILE *f = fopen(from, "rb");

	if (!f) {
		perror("fuzz_outq: fopen");
		exit(1);
	}
	for (;;) {
		size_t r;

		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (!buf)
				exit(1);
		}
		r = fread(buf + n, 1, cap - n, f);
		if (r == 0)
			break;
		n += r;
	}
	fclose(f);
	write_file(to, buf, n);
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = bytes - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* CRC-32 (IEEE, reflected), bit by bit: not outq.c's table. */
static uint32_t ref_crc32(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
	}
	return ~c;
}

/* Give every record whose length fits the CRC it needs (type byte as is). */
static void fix_crcs(uint8_t *b, size_t n)
{
	size_t pos = 0;

	while (n - pos >= REC_HDR + REC_CRC) {
		uint64_t len = get_le(b + pos + 1, 4);
		uint32_t crc;

		if (len > n - pos - REC_HDR - REC_CRC)
			break;
		crc = ref_crc32(b + pos, REC_HDR + len);
		for (int i = 0; i < 4; i++)
			b[pos + REC_HDR + len + i] = (uint8_t)(crc >> (8 * i));
		pos += REC_HDR + len + REC_CRC;
	}
}

/* ---- one message, whoever holds it ---- */

struct view {
	uint64_t seq;
	const char *topic;
	size_t tlen;
	const unsigned char *payload;
	size_t plen;
	const unsigned char *corr;
	size_t clen;
	int qos, retain;
};

static struct view view_of(const struct outq_msg *m)
{
	struct view v = { m->seq, m->topic, strlen(m->topic), m->payload, m->len, m->corr, m->corr_len,
			  m->qos, m->retain };

	return v;
}

static void same_msg(const struct view *got, const struct view *want, const char *what)
{
	char buf[160];

#define SAME(cond, field)                                                          \
	do {                                                                       \
		if (!(cond)) {                                                     \
			snprintf(buf, sizeof(buf), "%s: %s differs", what, field); \
			fail(buf, want->seq);                                      \
		}                                                                  \
	} while (0)
	SAME(got->seq == want->seq, "seq");
	SAME(got->tlen == want->tlen && memcmp(got->topic, want->topic, want->tlen) == 0, "topic");
	SAME(got->plen == want->plen && (!want->plen || memcmp(got->payload, want->payload, want->plen) == 0),
	     "payload");
	SAME(got->clen == want->clen && (!want->clen || memcmp(got->corr, want->corr, want->clen) == 0),
	     "correlation data");
	SAME(got->qos == want->qos, "qos");
	SAME(got->retain == want->retain, "retain");
#undef SAME
}

/* ---- the list invariants ---- */

static void check_list(const struct outq *q, int replayed)
{
	const struct outq_msg *m, *prev = NULL, *first_unsent = NULL;
	size_t n = 0, n_sent = 0;
	uint64_t live = 0;

	for (m = outq_first(q); m; prev = m, m = m->next) {
		check(++n <= outq_count(q), "count is smaller than the list", m->seq);
		check(m->prev == prev, "prev link disagrees with next", m->seq);
		check(!prev || prev->seq < m->seq, "seq does not strictly increase", m->seq);
		check(m->qos >= 0 && m->qos <= 2, "qos outside 0..2", m->seq);
		check(m->retain == 0 || m->retain == 1, "retain outside 0..1", m->seq);
		check(m->topic && m->topic[0], "empty topic", m->seq);
		check(m->payload != NULL, "NULL payload", m->seq);
		check(!m->corr_len || m->corr, "NULL correlation data with a length", m->seq);
		check(m->seq < outq_next_seq(q), "next_seq is not above every seq", m->seq);
		check(m->rec_len == REC_HDR + M_FIXED + strlen(m->topic) + m->len + m->corr_len + REC_CRC,
		      "rec_len is not the record's size", m->seq);
		live += m->rec_len;
		if (m->sent)
			n_sent++;
		else if (!first_unsent)
			first_unsent = m;
	}
	check(outq_last(q) == prev, "tail is not the last message", 0);
	check(outq_count(q) == n, "count is larger than the list", n);
	check(outq_in_flight(q) == n_sent, "n_sent is not the number of sent messages", n_sent);
	check(outq_next_unsent(q) == first_unsent, "next_send is not the first unsent message", 0);
	check(outq_live_bytes(q) == live, "live_bytes is not the sum of rec_len", live);
	if (replayed) {
		check(outq_in_flight(q) == 0, "replayed queue has sent messages", 0);
		check(outq_next_unsent(q) == outq_first(q), "replayed queue: next_send is not the head", 0);
	}
}

static struct outq *open_checked(const char *path, size_t max_waiting)
{
	struct outq *q = outq_new(max_waiting);
	size_t restored = (size_t)-1;
	char err[256] = "", what[300];

	if (!q)
		exit(1);
	if (outq_open_journal(q, path, &restored, err, sizeof(err)) < 0) {
		snprintf(what, sizeof(what), "outq_open_journal failed: %s", err);
		fail(what, 0);
	}
	check(restored == outq_count(q), "restored is not the number queued", restored);
	check(outq_has_journal(q), "journal not open after outq_open_journal", 0);
	check_list(q, 1);
	return q;
}

/* Both replays of one file hold the same messages in the same order. */
static void same_queue(const struct outq *got, const struct outq *want, const char *what)
{
	const struct outq_msg *a, *b;

	for (a = outq_first(got), b = outq_first(want); a && b; a = a->next, b = b->next) {
		struct view va = view_of(a), vb = view_of(b);

		same_msg(&va, &vb, what);
	}
	check(outq_count(got) == outq_count(want), "second replay: count differs", outq_count(got));
}

/* ---- the reference reader ---- */

struct ref {
	struct view *v;
	size_t n;
	int exotic;	/* met a record outq never writes: no verdict */
};

static void ref_replay(const uint8_t *d, size_t size, struct ref *r)
{
	size_t pos = 0;
	uint64_t last_m = 0;
	int any_m = 0;

	r->v = malloc((size / (REC_HDR + M_FIXED + 1 + REC_CRC) + 1) * sizeof(*r->v));
	r->n = 0;
	r->exotic = 0;
	if (!r->v)
		exit(1);
	while (size - pos >= REC_HDR) {
		const uint8_t *rec = d + pos, *b = rec + REC_HDR;
		uint64_t len = get_le(rec + 1, 4);

		if (rec[0] != 'M' && rec[0] != 'D')
			break;
		if (len > BODY_MAX || (rec[0] == 'D' && len != 8) || (rec[0] == 'M' && len < M_FIXED))
			break;
		if (size - pos - REC_HDR < len + REC_CRC)
			break;
		if (ref_crc32(rec, REC_HDR + len) != (uint32_t)get_le(b + len, 4))
			break;
		if (rec[0] == 'M') {
			uint64_t tlen = get_le(b + 10, 2), plen = get_le(b + 12, 4), clen = get_le(b + 16, 4);
			struct view *v = &r->v[r->n];

			if (M_FIXED + tlen + plen + clen != len || b[8] > 2 || b[9] > 1 || tlen == 0)
				break;
			/* outq never writes these: what it makes of them is its own business */
			if (memchr(b + M_FIXED, 0, tlen) || get_le(b, 8) == UINT64_MAX ||
			    (any_m && get_le(b, 8) <= last_m)) {
				r->exotic = 1;
				break;
			}
			any_m = 1;
			last_m = get_le(b, 8);
			v->seq = last_m;
			v->qos = b[8];
			v->retain = b[9];
			v->topic = (const char *)b + M_FIXED;
			v->tlen = tlen;
			v->payload = b + M_FIXED + tlen;
			v->plen = plen;
			v->corr = b + M_FIXED + tlen + plen;
			v->clen = clen;
			r->n++;
		} else {
			uint64_t seq = get_le(b, 8);

			for (size_t i = 0; i < r->n; i++)
				if (r->v[i].seq == seq) {
					memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof(*r->v));
					r->n--;
					break;
				}
		}
		pos += REC_HDR + len + REC_CRC;
	}
}

/* Replay the journal in jpath and check it (against the input it came from). */
static struct outq *replay_input(const uint8_t *d, size_t size, size_t max_waiting)
{
	struct outq *q, *q2;
	const struct outq_msg *m;
	struct ref r;
	size_t i;

	if (size == 0)
		unlink(jpath);	/* no file at all: a first start */
	else
		write_file(jpath, d, size);
	q = open_checked(jpath, max_waiting);
	ref_replay(d, size, &r);
	for (m = outq_first(q), i = 0; !r.exotic && m && i < r.n; m = m->next, i++) {
		struct view v = view_of(m);

		same_msg(&v, &r.v[i], "replay vs the records");
	}
	if (r.exotic)
		;	/* only the invariants and the second replay hold it */
	else if (m)
		fail("replay accepted a record the reference stops at (first extra message)", m->seq);
	else if (i < r.n)
		fail("replay lost a message the reference keeps", r.v[i].seq);
	free(r.v);
	/* the file it rewrote gives the same messages */
	q2 = open_checked(jpath, max_waiting);
	same_queue(q2, q, "second replay");
	/* q's descriptor points at the file q2 replaced: go on with q2 */
	outq_free(q);
	return q2;
}

/* ---- the model, for the operations ---- */

struct mmsg {
	struct view v;		/* its pointers are this struct's own copies */
	int sent, strikes, resend;
	uint32_t gen;
	int token;
};

struct model {
	struct mmsg *m;
	size_t n, cap;
	uint64_t next_seq;
	uint64_t dropped;
	size_t bytes;		/* payload bytes live */
};

static void *dup_bytes(const void *p, size_t n)
{
	unsigned char *c = malloc(n ? n : 1);

	if (!c)
		exit(1);
	if (n)
		memcpy(c, p, n);
	return c;
}

static void model_append(struct model *md, const struct view *v)
{
	struct mmsg *mm;

	if (md->n == md->cap) {
		md->cap = md->cap ? md->cap * 2 : 16;
		md->m = realloc(md->m, md->cap * sizeof(*md->m));
		if (!md->m)
			exit(1);
	}
	mm = &md->m[md->n++];
	memset(mm, 0, sizeof(*mm));
	mm->v = *v;
	mm->v.topic = dup_bytes(v->topic, v->tlen);
	mm->v.payload = dup_bytes(v->payload, v->plen);
	mm->v.corr = dup_bytes(v->corr, v->clen);
	md->bytes += v->plen;
}

static void model_remove(struct model *md, size_t i)
{
	free((void *)md->m[i].v.topic);
	free((void *)md->m[i].v.payload);
	free((void *)md->m[i].v.corr);
	md->bytes -= md->m[i].v.plen;
	memmove(&md->m[i], &md->m[i + 1], (md->n - i - 1) * sizeof(*md->m));
	md->n--;
}

static void model_free(struct model *md)
{
	while (md->n)
		model_remove(md, md->n - 1);
	free(md->m);
}

/* The model is what q holds right after a replay. */
static void model_load(struct model *md, const struct outq *q)
{
	const struct outq_msg *m;

	while (md->n)
		model_remove(md, md->n - 1);
	for (m = outq_first(q); m; m = m->next) {
		struct view v = view_of(m);

		model_append(md, &v);
		md->m[md->n - 1].resend = 1;	/* it may have reached the broker before */
	}
	md->next_seq = outq_next_seq(q);
	md->dropped = outq_dropped(q);
}

static void same_as_model(const struct outq *q, const struct model *md, const char *what)
{
	const struct outq_msg *m, *oldest = NULL;
	size_t i;

	check_list(q, 0);
	check(outq_count(q) == md->n, "count differs from the model", md->n);
	check(outq_next_seq(q) == md->next_seq, "next_seq differs from the model", outq_next_seq(q));
	check(outq_dropped(q) == md->dropped, "dropped differs from the model", outq_dropped(q));
	for (m = outq_first(q), i = 0; m && i < md->n; m = m->next, i++) {
		const struct mmsg *mm = &md->m[i];
		struct view v = view_of(m);

		same_msg(&v, &mm->v, what);
		check(!m->sent == !mm->sent, "sent differs from the model", m->seq);
		check(!mm->sent || (m->gen == mm->gen && m->token == mm->token), "gen/token differ from the model",
		      m->seq);
		check(m->strikes == mm->strikes, "strikes differ from the model", m->seq);
		check(!m->resend == !mm->resend, "resend differs from the model", m->seq);
		if (mm->sent && !oldest)
			oldest = m;
	}
	check(outq_oldest_sent(q) == oldest, "outq_oldest_sent is not the first sent message", 0);
}

/* A replay of path gives exactly the model's messages (all unsent now). */
static struct outq *replay_matches_model(const char *path, size_t max_waiting, const struct model *md,
					 const char *what)
{
	struct outq *q = open_checked(path, max_waiting);
	const struct outq_msg *m;
	size_t i;

	for (m = outq_first(q), i = 0; m && i < md->n; m = m->next, i++) {
		struct view v = view_of(m);

		same_msg(&v, &md->m[i].v, what);
	}
	check(outq_count(q) == md->n, what, md->n);
	return q;
}

/* ---- the operations ---- */

struct script {
	const uint8_t *p;
	size_t n, pos;
};

static unsigned next_byte(struct script *s)
{
	return s->pos < s->n ? s->p[s->pos++] : 0;
}

static struct outq_msg *nth(const struct outq *q, size_t i)
{
	struct outq_msg *m = outq_first(q);

	while (m && i--)
		m = m->next;
	return m;
}

enum { OP_ADD, OP_ADD2, OP_REMOVE, OP_MARK, OP_ACK, OP_UNSEND, OP_UNSEND_ALL, OP_FLUSH, OP_RESTART, OP_COUNT };

static void run_ops(struct outq *q, size_t max_waiting, struct script *s)
{
	struct model md = { NULL, 0, 0, 0, 0, 0 };
	uint32_t gen = 1;
	int token = 0;
	unsigned steps = 0, file_ops = 0;
	size_t file_bytes = 0;

	model_load(&md, q);
	while (s->pos < s->n && steps++ < MAX_STEPS) {
		unsigned op = next_byte(s) % OP_COUNT;

		if (op == OP_FLUSH || op == OP_RESTART) {
			file_bytes += md.bytes;
			if (++file_ops > MAX_FILE_OPS || file_bytes > MAX_FILE_BYTES)
				continue;
		}

		switch (op) {
		case OP_ADD:
		case OP_ADD2: {
			unsigned tb = next_byte(s), pb = next_byte(s), cb = next_byte(s), fb = next_byte(s);
			char topic[64];
			static unsigned char payload[255 * 64];
			unsigned char corr[32];
			/*
			 * OP_ADD2: up to 16 KiB, so that the 64 KiB batch and rewrite
			 * buffers fill, while what is live stays small enough for speed
			 */
			size_t tlen = 1 + tb % 40, plen = pb * (op == OP_ADD2 && md.bytes < BIG_LIVE_MAX ? 64u : 1u);
			size_t clen = cb & 0x80 ? cb & 0x1f : 0;
			size_t unsent = 0;
			struct outq_msg *m;
			struct view v;

			for (size_t i = 0; i < tlen; i++) {
				unsigned c = next_byte(s);

				topic[i] = (char)(c ? c : '/');
			}
			topic[tlen] = '\0';
			for (size_t i = 0; i < plen; i++)
				payload[i] = (unsigned char)(i * 31 + pb);
			for (size_t i = 0; i < clen; i++)
				corr[i] = (unsigned char)(i * 17 + cb);
			/* the model: the oldest unsent go while max_waiting are waiting */
			for (size_t i = 0; i < md.n; i++)
				unsent += !md.m[i].sent;
			while (unsent >= max_waiting && unsent > 0) {
				size_t i = 0;

				while (md.m[i].sent)
					i++;
				model_remove(&md, i);
				md.dropped++;
				unsent--;
			}
			v = (struct view){ md.next_seq++, topic, tlen, payload, plen, corr, clen, (int)(fb & 3) % 3,
					   (int)(fb >> 2) & 1 };
			model_append(&md, &v);
			m = outq_add(q, topic, payload, plen, v.qos, v.retain, clen ? corr : NULL, clen);
			check(m != NULL, "outq_add failed", v.seq);
			check(m == outq_last(q), "outq_add did not queue at the tail", v.seq);
			break;
		}
		case OP_REMOVE: {
			unsigned b = next_byte(s);

			if (md.n) {
				size_t i = b % md.n;

				outq_remove(q, nth(q, i));
				model_remove(&md, i);
			}
			break;
		}
		case OP_MARK: {
			struct outq_msg *m = outq_next_unsent(q);
			size_t i = 0;

			while (i < md.n && md.m[i].sent)
				i++;
			check(m == (i < md.n ? nth(q, i) : NULL), "outq_next_unsent is not the first unsent", i);
			if (m) {
				outq_mark_sent(q, m, gen, ++token);
				md.m[i].sent = 1;
				md.m[i].gen = gen;
				md.m[i].token = token;
			}
			break;
		}
		case OP_ACK: {
			unsigned b = next_byte(s);

			if (md.n) {
				size_t i = b % md.n;
				struct outq_msg *want = nth(q, i);

				if (md.m[i].sent) {
					check(outq_find_sent(q, md.m[i].gen, md.m[i].token) == want,
					      "outq_find_sent missed a sent message", md.m[i].v.seq);
					outq_remove(q, want);
					model_remove(&md, i);
				} else {
					check(outq_find_sent(q, gen, token + 1) == NULL, "outq_find_sent found a token never used",
					      0);
				}
			}
			break;
		}
		case OP_UNSEND: {
			unsigned b = next_byte(s);

			if (md.n) {
				size_t i = b % md.n;

				outq_unsend(q, nth(q, i));
				if (md.m[i].sent) {
					md.m[i].sent = 0;
					md.m[i].resend = 1;
				}
			}
			break;
		}
		case OP_UNSEND_ALL: {
			struct outq_msg *oldest = outq_unsend_all(q);
			size_t i = 0;

			while (i < md.n && !md.m[i].sent)
				i++;
			check(oldest == (i < md.n ? nth(q, i) : NULL), "outq_unsend_all: not the oldest sent", i);
			if (i < md.n)
				md.m[i].strikes++;
			for (; i < md.n; i++)
				if (md.m[i].sent) {
					md.m[i].sent = 0;
					md.m[i].resend = 1;
				}
			gen++;	/* a new client */
			break;
		}
		case OP_FLUSH: {
			struct outq *q2;

			check(outq_flush(q) == 0, "outq_flush failed", 0);
			check(outq_unwritten(q) == 0, "outq_flush left bytes in the batch", outq_unwritten(q));
			/* a kill now loses nothing: a copy of the file replays to what is live */
			copy_file(jpath, cpath);
			q2 = replay_matches_model(cpath, max_waiting, &md, "replay after a flush differs from the live messages");
			outq_free(q2);
			break;
		}
		case OP_RESTART:
			outq_free(q);
			q = replay_matches_model(jpath, max_waiting, &md, "replay after a restart differs from the live messages");
			model_load(&md, q);
			gen++;
			break;
		}
		same_as_model(q, &md, "after an operation");
	}
	outq_free(q);
	q = replay_matches_model(jpath, max_waiting, &md, "replay at the end differs from the live messages");
	outq_free(q);
	model_free(&md);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *j;

	setup();
	if (size >= 4 && data[0] == OPS_MARKER) {
		size_t max_waiting = data[1], jlen = (size_t)get_le(data + 2, 2);
		struct script s;
		struct outq *q;

		if (jlen > size - 4)
			jlen = size - 4;
		j = dup_bytes(data + 4, jlen);
		fix_crcs(j, jlen);
		q = replay_input(j, jlen, max_waiting);
		s = (struct script){ data + 4 + jlen, size - 4 - jlen, 0 };
		run_ops(q, max_waiting, &s);
		free(j);
	} else if (size >= 1 && data[0] == CRC_MARKER) {
		j = dup_bytes(data + 1, size - 1);
		fix_crcs(j, size - 1);
		outq_free(replay_input(j, size - 1, 1000));
		free(j);
	} else {
		outq_free(replay_input(data, size, 1000));
	}
	return 0;
}
