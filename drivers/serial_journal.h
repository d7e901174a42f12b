/*
 * serial_journal.h - bytes read from a serial port and not yet safely
 * published, kept in buffer.dir/rx-NAME so that a SIGKILL between read()
 * and the broker (or buffer.dir's outbound journal) loses nothing.
 *
 * The file always holds what the framer holds plus what was read since:
 * every read is appended before it is framed; once the frames it made are
 * durable (the bridge's sync hook wrote the outbound journal), the file is
 * cut back to the framer's partial frame. At the first open after a start
 * the driver replays the file through the framer. A kill in between
 * replays a read whose frames were already queued: a duplicate, never a
 * loss (at least once, like QoS 1).
 *
 * read() takes the bytes out of the kernel's tty buffer; a SIGKILL after it
 * returns and before the append lost them (one whole read, 4 KiB: the kill
 * lands there often under load, since reading a full port wakes its writer
 * and the reader is preempted on its way out of read()). So
 * serial_journal_read() reads into rx-NAME.read, a small file mapped
 * shared: the kernel copies the bytes straight into that file's page cache,
 * which outlives the process. A header in the same mapping says "a read of
 * LEN bytes may have landed here, rx-NAME was BASE bytes long" before the
 * read, and is cleared once the bytes are appended to rx-NAME. The data
 * area is filled with a pattern first (which also faults its pages in, so
 * the copy cannot fail half-way): at the next open, a header still set
 * whose data differs from the pattern is a read that happened, and rx-NAME
 * is cut back to BASE and the bytes appended; data equal to the pattern is
 * a read that never happened (its bytes are still in the port). LEN is what
 * the port had waiting (FIONREAD), which read() then returns in full.
 *
 * That only holds while the page cache lives: after a power cut the mapped
 * pages may have reached the card in any mix (a new header with an old
 * read's data would "recover" bytes the device never sent). So the header
 * carries the boot it was written in (/proc/sys/kernel/random/boot_id), and
 * a slot from another boot is never recovered: those bytes died with the
 * power, like the rest of the port's kernel buffer.
 */
#ifndef MQTTGW_SERIAL_JOURNAL_H
#define MQTTGW_SERIAL_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Longest replay read back at start; a file can only be longer if it is not ours. */
#define SERIAL_JOURNAL_MAX (32u * 1024 * 1024)

/* Largest read that serial_journal_read() protects; larger reads are cut to it. */
#define SERIAL_JOURNAL_SLOT 4096

#define SERIAL_JOURNAL_GOT_UNKNOWN 0xffffffffu

/* struct serial_journal.sync: the values of buffer.sync (CFG_SYNC_*) */
#define SERIAL_JOURNAL_SYNC_BATCH 1	/* the partial frame a reset leaves is synced before its rename */
#define SERIAL_JOURNAL_SYNC_ALWAYS 2	/* and every append is */

/* rx-NAME.read, mapped (native byte order: the file never leaves the machine). */
struct serial_journal_slot {
	char magic[8];
	uint32_t state;		/* 1: a read may have landed in data[] and not be in rx-NAME yet */
	uint32_t len;		/* bytes asked for */
	uint32_t got;		/* what read() returned, or SERIAL_JOURNAL_GOT_UNKNOWN */
	uint32_t pad0;
	uint64_t base;		/* rx-NAME's length before this read */
	uint64_t nonce;		/* seeds the fill pattern */
	char boot[24];		/* the boot it was set in (boot_id): page cache does not outlive one */
	unsigned char data[SERIAL_JOURNAL_SLOT];
};

struct serial_journal {
	int fd;			/* -1: no journal */
	struct serial_journal_slot *slot;	/* NULL: reads land in the caller's buffer (unprotected) */
	uint64_t nonce;
	int sync;		/* SERIAL_JOURNAL_SYNC_* (buffer.sync), set before serial_journal_open() */
	int rebooted;		/* set by open: the last run was in another boot (a partial frame is dead) */
	int failed;		/* a write failed (logged once) */
	int stopped;		/* an append failed: none until the next reset rewrites the file whole */
	size_t size;		/* the file's length: whole reads only */
	char path[4200];
};

/*
 * Open DIR/rx-NAME (created 0600) and return what it holds in *data (to be
 * freed; NULL and 0 when empty). 0, or -1 logged (the port then runs
 * without a journal).
 */
int serial_journal_open(struct serial_journal *j, const char *dir, const char *name, char **data, size_t *len);
/*
 * Bytes just read, before they are framed. A failed append (disk full) is
 * cut off again and stops appending until the next reset: the file may
 * then miss the latest reads (lost if killed before the reset), but never
 * holds a read with a hole in it, which a replay would frame into a line
 * the device never sent.
 */
void serial_journal_append(struct serial_journal *j, const char *name, const void *p, size_t n);
/*
 * read(2) from the port fd, journaled: up to cap bytes (at most
 * SERIAL_JOURNAL_SLOT), which are in rx-NAME (or recoverable from
 * rx-NAME.read) from the instant read() takes them. Returns read()'s
 * result (errno kept); the bytes are at *data, valid until the next call.
 * buf (cap bytes) is used when the journal has no slot or the port cannot
 * say how much it holds; those reads are appended as before.
 */
ssize_t serial_journal_read(struct serial_journal *j, const char *name, int fd, char *buf, size_t cap,
			    const char **data);
/*
 * The frames are durable: the file becomes the framer's partial frame (a
 * truncate, or with a partial frame a new file renamed over the old one, so
 * that a kill in between leaves one or the other, whole).
 */
void serial_journal_reset(struct serial_journal *j, const char *name, const void *left, size_t n);
void serial_journal_close(struct serial_journal *j);

#endif
