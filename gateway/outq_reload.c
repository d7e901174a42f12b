/*
 * outq_reload.c - what a reload (SIGHUP, issue 14.2) changes in the running
 * queue: buffer.max_messages and buffer.sync, and a journal moved to
 * another buffer.dir. Apart from outq.c, which is the queue, so that each
 * stays a file one can read; the struct is shared through outq_int.h.
 *
 * A move is two steps so that a reload can still be refused after the
 * first: outq_journal_prepare() writes every live message into the new
 * file (synced as buffer.sync says) and leaves the running journal as it
 * is; outq_journal_switch() then makes it the journal and removes the old
 * file, or outq_journal_abort() removes the new one. Nothing may be queued
 * between the two (the reload runs in one loop turn). Until the switch
 * both files hold the queue: a crash in between restarts from either.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "outq_int.h"

void outq_set_limits(struct outq *q, size_t max_waiting, int sync)
{
	q->max_waiting = max_waiting;
	q->sync = sync;
}

int outq_journal_is(const struct outq *q, const char *file)
{
	struct stat a, b;

	return q->fd >= 0 && stat(file, &a) == 0 && fstat(q->fd, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

int outq_journal_prepare(const struct outq *q, const char *file, int sync, int *fd_out, char *err, size_t errlen)
{
	char tmp[4200];
	struct stat st;
	int fd;

	*fd_out = -1;
	if (stat(file, &st) == 0 && st.st_size > 0) {
		/* an earlier run's queue: older than ours, it cannot go behind it, nor be dropped */
		snprintf(err, errlen,
			 "buffer.dir: %s already holds a journal (%lld bytes, from an earlier run): move it away, "
			 "or restart to send what it holds",
			 file, (long long)st.st_size);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s.new", file);
	fd = outq_write_live(q, tmp, file, sync);
	if (fd < 0) {
		snprintf(err, errlen, "buffer.dir: cannot write %s: %s", file, strerror(errno));
		return -1;
	}
	if (sync >= OUTQ_SYNC_BATCH && outq_sync_dir(file) < 0) {
		snprintf(err, errlen, "buffer.dir: cannot sync the directory of %s: %s", file, strerror(errno));
		close(fd);
		unlink(file);
		return -1;
	}
	*fd_out = fd;
	return 0;
}

void outq_journal_abort(int fd, const char *file)
{
	if (fd < 0)
		return;
	close(fd);
	unlink(file);
}

void outq_journal_switch(struct outq *q, int fd, char *file)
{
	if (q->fd >= 0) {
		close(q->fd);
		/* the old journal goes: its messages are in the new one (or, with no dir, in memory only) */
		if (unlink(q->path) < 0 && errno != ENOENT)
			log_msg(LOG_WARNING, "buffer.dir: cannot remove the old journal %s: %s", q->path, strerror(errno));
		else if (q->sync >= OUTQ_SYNC_BATCH)
			outq_sync_dir(q->path);
	}
	free(q->path);
	q->path = file;
	q->fd = fd;
	q->wlen = 0;
	q->file_size = fd >= 0 ? q->live_bytes : 0;
	q->rewrite = 0;
	q->warned = 0;
	q->retry_at = 0;
	q->unsynced = 0;
}
