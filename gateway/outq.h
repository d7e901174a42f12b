/*
 * outq.h - the outbound queue: every QoS 1/2 publish, and QoS 0 ones kept
 * while offline, from mqtt_publish() until the broker has acknowledged it.
 *
 * The MQTT library is only a pipe: the queue hands it a window of messages
 * (outq_next_unsent, outq_mark_sent), forgets a message when the broker
 * acknowledges it (outq_find_sent, outq_remove), and when the link dies puts
 * everything unacknowledged back in line, in order, when the caller starts
 * over with a new client (outq_unsend_all). The oldest message in flight at
 * each loss gets a strike, which the caller may take back (mqtt_pub.c
 * counts only losses right after it went out alone): a message that every
 * connection dies holding is one the broker refuses by hanging up, and the
 * caller drops it (OUTQ_STRIKES_MAX) instead of looping for ever.
 *
 * With a journal (outq_open_journal, buffer.dir), every message added and
 * every message done is appended to one file as a checksummed record; the
 * records are written in batches by outq_flush(), which the loop calls
 * before it sleeps (and a serial port before it forgets bytes it framed;
 * and at 64 KiB), so the cost is a write() a batch, not a file a
 * message. A restart replays the file; a record torn by a kill ends the
 * replay. The file is emptied whenever the queue is, and rewritten with
 * just the live messages when it grows past OUTQ_COMPACT_MIN bytes and four
 * times what is live.
 *
 * Power cuts (buffer.sync): with OUTQ_SYNC_BATCH, outq_flush() returns 0
 * only once what it wrote is fdatasync'ed, and a rewrite syncs the new file
 * before renaming it into place and the directory after, so that what the
 * caller counts as kept (a serial port then forgets the bytes) is on the
 * card. A journal this version cannot read (a newer format, or damage with
 * good records after it: not a torn tail) is renamed FILE.bad-TIMESTAMP and
 * logged, and the gateway starts with what could be read before the damage.
 */
#ifndef MQTTGW_OUTQ_H
#define MQTTGW_OUTQ_H

#include <stddef.h>
#include <stdint.h>

#define OUTQ_STRIKES_MAX 3

/* outq_set_sync() (the values of buffer.sync, CFG_SYNC_*): when the journal is fdatasync'ed */
#define OUTQ_SYNC_NONE 0	/* never: survives a kill, not a power cut */
#define OUTQ_SYNC_BATCH 1	/* at each outq_flush() that wrote, before it returns 0 */
#define OUTQ_SYNC_ALWAYS 2	/* after every record */
#define OUTQ_COMPACT_MIN (8u * 1024 * 1024)

struct outq_msg {
	struct outq_msg *prev, *next;
	uint64_t seq;
	char *topic;
	unsigned char *payload;
	size_t len;
	unsigned char *corr;	/* MQTT 5 correlation data of a reply, or NULL */
	size_t corr_len;
	int qos;
	int retain;
	int sent;		/* handed to the client of generation gen as token */
	uint32_t gen;
	int token;
	int strikes;		/* links lost right after it went out alone (mqtt_pub_link_lost) */
	int suspect;		/* a link died right after it went out: next time alone, on a settled link */
	uint64_t sent_at;	/* ms, set by the caller when it hands it over */
	int resend;		/* it was sent before (a duplicate is possible) */
	size_t rec_len;		/* its journal record's size */
};

/* Opaque: only outq.c sees inside; the rest asks through the functions below. */
struct outq;

/* A queue keeping at most max_waiting unsent messages. NULL: out of memory. */
struct outq *outq_new(size_t max_waiting);
/* Flushes the journal, frees every message. */
void outq_free(struct outq *q);
/*
 * Use FILE as the journal: messages it holds from an earlier run are
 * queued first (their number in *restored), then the file is rewritten
 * with just them. 0 / -1 with a message in err.
 */
int outq_open_journal(struct outq *q, const char *file, size_t *restored, char *err, size_t errlen);

/* Before outq_open_journal(): when the journal is fdatasync'ed (OUTQ_SYNC_*). */
void outq_set_sync(struct outq *q, int sync);
/* Messages queued (waiting or handed over, not yet done). */
size_t outq_count(const struct outq *q);
/* Of them, handed to the library and not yet acknowledged; and of those, QoS 2 ones. */
size_t outq_in_flight(const struct outq *q);
size_t outq_in_flight_qos2(const struct outq *q);
/* Unsent messages dropped so far for max_waiting, the oldest first. */
uint64_t outq_dropped(const struct outq *q);
/* The oldest message (then m->next), the newest; NULL when empty. */
struct outq_msg *outq_first(const struct outq *q);
struct outq_msg *outq_last(const struct outq *q);
/* 1 while a journal (buffer.dir) keeps the queue. */
int outq_has_journal(const struct outq *q);
/* The seq the next message gets (every queued one is below it). */
uint64_t outq_next_seq(const struct outq *q);
/* Journal bookkeeping: bytes of the live messages' records; bytes batched and not yet written. */
uint64_t outq_live_bytes(const struct outq *q);
size_t outq_unwritten(const struct outq *q);

/* Queue a copy; may drop the oldest unsent message. NULL: out of memory. */
struct outq_msg *outq_add(struct outq *q, const char *topic, const void *payload, size_t len, int qos,
			  int retain, const void *corr, size_t corr_len);
struct outq_msg *outq_next_unsent(const struct outq *q);
void outq_mark_sent(struct outq *q, struct outq_msg *m, uint32_t gen, int token);
/* The oldest message handed over and not yet done, or NULL. */
struct outq_msg *outq_oldest_sent(const struct outq *q);
/* The message sent on generation gen as token, or NULL. */
struct outq_msg *outq_find_sent(const struct outq *q, uint32_t gen, int token);
/* Send it again (the library gave it back). */
void outq_unsend(struct outq *q, struct outq_msg *m);
/* The link died: all sent messages wait again; returns the oldest, struck, or NULL. */
struct outq_msg *outq_unsend_all(struct outq *q);
/* Done with it (delivered or dropped): journaled and freed. */
void outq_remove(struct outq *q, struct outq_msg *m);
/*
 * Write the batched journal records. 0: everything queued is on disk (or
 * there is no journal); -1: not now (disk full: logged once, retried at
 * most once a second by later calls, the queue is whole in memory).
 */
int outq_flush(struct outq *q);

/* ---- reload (issue 14.2, outq_reload.c) ---- */
/* buffer.max_messages and buffer.sync of a reloaded config (the oldest beyond are dropped at the next add). */
void outq_set_limits(struct outq *q, size_t max_waiting, int sync);
/*
 * A new buffer.dir: write every live message into FILE (refused when FILE
 * already holds an earlier run's journal); the running journal is not
 * touched. 0 with the new file's fd in *fd_out, or -1 with a message in err.
 */
int outq_journal_prepare(const struct outq *q, const char *file, int sync, int *fd_out, char *err, size_t errlen);
/* 1 when FILE is the running journal (the same file, whatever the spelling of its path). */
int outq_journal_is(const struct outq *q, const char *file);
/* The reload was refused after all: the new file goes. */
void outq_journal_abort(int fd, const char *file);
/* Make fd / file (malloc'ed, taken over; -1 / NULL: no journal) the journal; the old file is removed. */
void outq_journal_switch(struct outq *q, int fd, char *file);

#endif
