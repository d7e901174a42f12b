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
 */
#ifndef MQTTGW_SERIAL_JOURNAL_H
#define MQTTGW_SERIAL_JOURNAL_H

#include <stddef.h>

/* Longest replay read back at start; a file can only be longer if it is not ours. */
#define SERIAL_JOURNAL_MAX (32u * 1024 * 1024)

struct serial_journal {
	int fd;			/* -1: no journal */
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
 * The frames are durable: the file becomes the framer's partial frame (a
 * truncate, or with a partial frame a new file renamed over the old one, so
 * that a kill in between leaves one or the other, whole).
 */
void serial_journal_reset(struct serial_journal *j, const char *name, const void *left, size_t n);
void serial_journal_close(struct serial_journal *j);

#endif
