/*
 * serial_journal.c - the raw-read journal of a serial port (see the header).
 *
 * One small file a port, opened O_APPEND: an append is one write(), a reset
 * an ftruncate(), or with a partial frame pending a small file written and
 * renamed over it. No
 * fsync: the point is surviving a kill or crash of the daemon; the kernel
 * keeps the page cache (a power cut is another matter, see mqttgw.cfg(5)).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"
#include "log.h"
#include "serial_journal.h"

static void serial_journal_fail(struct serial_journal *j, const char *name, const char *what)
{
	if (!j->failed)
		log_msg(LOG_ERR, "serial %s: buffer.dir journal: %s: %s", name, what, strerror(errno));
	j->failed = 1;
}

int serial_journal_open(struct serial_journal *j, const char *dir, const char *name, char **data, size_t *len)
{
	char *path = j->path;
	struct stat st;
	char *buf = NULL;
	size_t got = 0;

	*data = NULL;
	*len = 0;
	j->failed = 0;
	j->stopped = 0;
	j->size = 0;
	snprintf(j->path, sizeof(j->path), "%s/rx-%s", dir, name);
	j->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (j->fd < 0 || fstat(j->fd, &st) < 0) {
		log_msg(LOG_ERR, "serial %s: cannot open %s: %s; bytes read are not journaled", name, path,
			strerror(errno));
		serial_journal_close(j);
		return -1;
	}
	j->size = (size_t)st.st_size;
	if (st.st_size > 0) {
		size_t want = (size_t)st.st_size < SERIAL_JOURNAL_MAX ? (size_t)st.st_size : SERIAL_JOURNAL_MAX;

		if ((size_t)st.st_size > want)
			log_msg(LOG_WARNING, "serial %s: %s holds %lld bytes; only the first %zu are replayed",
				name, path, (long long)st.st_size, want);

		buf = malloc(want);
		while (buf && got < want) {
			ssize_t r = pread(j->fd, buf + got, want - got, (off_t)got);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		if (!buf || got == 0) {
			log_msg(LOG_ERR, "serial %s: cannot read %s: %s", name, path, buf ? strerror(errno) : "out of memory");
			free(buf);
			buf = NULL;
			got = 0;
		}
	}
	*data = buf;
	*len = got;
	return 0;
}

void serial_journal_append(struct serial_journal *j, const char *name, const void *p, size_t n)
{
	if (j->fd < 0 || j->stopped)
		return;
	if (fdio_write_all(j->fd, p, n) == 0) {
		j->size += n;
		return;
	}
	serial_journal_fail(j, name, "write");
	/* whatever part of this read got in goes again (shrinking needs no space) */
	if (ftruncate(j->fd, (off_t)j->size) < 0)
		log_msg(LOG_ERR, "serial %s: cannot cut %s back: %s", name, j->path, strerror(errno));
	j->stopped = 1;
}

void serial_journal_reset(struct serial_journal *j, const char *name, const void *left, size_t n)
{
	char tmp[sizeof(j->path) + 8];
	int fd;

	if (j->fd < 0)
		return;
	if (n == 0) {
		if (ftruncate(j->fd, 0) < 0) {
			serial_journal_fail(j, name, "truncate");
		} else {
			j->failed = 0;
			j->stopped = 0;
			j->size = 0;
		}
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s.new", j->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0 || fdio_write_all(fd, left, n) < 0 || rename(tmp, j->path) < 0) {
		serial_journal_fail(j, name, "rewrite");
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		return;
	}
	close(j->fd);
	j->fd = fd;
	j->failed = 0;
	j->stopped = 0;
	j->size = n;
}

void serial_journal_close(struct serial_journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
}
