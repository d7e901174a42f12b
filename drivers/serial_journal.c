/*
 * serial_journal.c - the raw-read journal of a serial port (see the header).
 *
 * One small file a port, opened O_APPEND: an append is one write(), a reset
 * an ftruncate(), or with a partial frame pending a small file written and
 * renamed over it. buffer.sync "none": no fsync, the point is surviving a
 * kill or crash of the daemon (the kernel keeps the page cache). "batch":
 * the partial frame's new file is fdatasync'ed before its rename, so a power
 * cut finds the old file or the new one whole, never an empty one, and the
 * reset itself (truncate, or the rename: the directory) is synced, so that
 * a power cut cannot bring back frames that the outbound journal holds
 * (the replay would send them again after later ones: out of order).
 * Appends are not synced, because what they hold is either framed and
 * synced in the outbound journal before the reset, or a frame whose rest
 * died with the power in the port's kernel buffer (a partial frame is
 * dropped at the first start after a reboot). "always": every append too.
 *
 * Beside it, rx-NAME.read: the landing place of each read, mapped shared
 * so that the bytes are in a file the instant read() copies them (see the
 * header). Its blocks are allocated at open (posix_fallocate), so a store
 * into the mapping cannot meet a full disk (SIGBUS); without it (no space,
 * no mmap) the port still journals, with the old window between read() and
 * the append.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
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

static const char serial_journal_magic[8] = "mqgwrd1";

/* The pattern a slot is filled with before a read: xorshift64* from the nonce. */
static void serial_journal_fill(unsigned char *p, size_t n, uint64_t nonce)
{
	uint64_t x = nonce | 1;

	for (size_t i = 0; i < n; i++) {
		if (i % 8 == 0) {
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
		}
		p[i] = (unsigned char)((x * 0x2545F4914F6CDD1DULL) >> (8 * (i % 8)));
	}
}

/* This boot's id (a power cut or a reboot changes it); "" if unknown. */
static void serial_journal_boot_id(char boot[24])
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, boot, 24) : -1;

	if (n < 24)
		memset(boot, 0, 24);
	if (fd >= 0)
		close(fd);
}

/* Did the read of a slot left set happen? Only if it changed the pattern. */
static int serial_journal_landed(const struct serial_journal_slot *s)
{
	unsigned char fill[SERIAL_JOURNAL_SLOT];

	serial_journal_fill(fill, s->len, s->nonce);
	return memcmp(fill, s->data, s->len) != 0;
}

/* A slot of another format (a newer mqttgw's): renamed PATH.bad-TIMESTAMP, never read as ours. */
static void serial_journal_slot_check(const char *name, const char *path)
{
	char magic[8], aside[sizeof(((struct serial_journal *)0)->path) + 64], stamp[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? pread(fd, magic, sizeof(magic), 0) : -1;
	time_t now = time(NULL);
	struct tm tm;

	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)sizeof(magic) || memcmp(magic, serial_journal_magic, 6) != 0 ||
	    memcmp(magic, serial_journal_magic, sizeof(magic)) == 0)
		return;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	if ((size_t)snprintf(aside, sizeof(aside), "%.4200s.bad-%.31s", path, stamp) < sizeof(aside) &&
	    rename(path, aside) == 0)
		log_msg(LOG_ERR, "serial %s: %s is of another format (%.7s, this version reads %s: a newer mqttgw?); "
			"not recovered, set aside as %s", name, path, magic, serial_journal_magic, aside);
	else
		log_msg(LOG_ERR, "serial %s: %s is of another format (%.7s); not recovered, overwritten", name, path,
			magic);
}

/* rx-NAME.read: mapped, and a read a kill interrupted put into rx-NAME (open already). */
static void serial_journal_slot_open(struct serial_journal *j, const char *name)
{
	char path[sizeof(j->path) + 8];
	struct serial_journal_slot *s;
	struct stat st;
	char boot[24];
	int fd, e;

	snprintf(path, sizeof(path), "%s.read", j->path);
	serial_journal_slot_check(name, path);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || fstat(fd, &st) < 0) {
		log_msg(LOG_WARNING, "serial %s: cannot open %s: %s; a kill just after a read can lose it", name,
			path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	/* not ours (or torn at creation): start afresh */
	if (st.st_size != (off_t)sizeof(*s) && ftruncate(fd, 0) < 0)
		e = errno;
	else
		e = posix_fallocate(fd, 0, (off_t)sizeof(*s));
	s = e ? MAP_FAILED : mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (s == MAP_FAILED && !e)
		e = errno;
	close(fd);
	if (s == MAP_FAILED) {
		log_msg(LOG_WARNING, "serial %s: cannot set up %s: %s; a kill just after a read can lose it",
			name, path, strerror(e));
		return;
	}
	serial_journal_boot_id(boot);
	j->rebooted = memcmp(s->magic, serial_journal_magic, sizeof(s->magic)) == 0 &&
		      memcmp(s->boot, boot, sizeof(boot)) != 0;
	if (memcmp(s->magic, serial_journal_magic, sizeof(s->magic)) != 0) {
		memset(s, 0, offsetof(struct serial_journal_slot, data));
		memcpy(s->magic, serial_journal_magic, sizeof(s->magic));
	} else if (s->state == 1 && memcmp(s->boot, boot, sizeof(boot)) != 0) {
		log_msg(LOG_INFO, "serial %s: a read interrupted before the last boot (power cut) is not "
			"recovered from %s: the page cache holding it did not survive", name, path);
	} else if (s->state == 1 && s->len > 0 && s->len <= SERIAL_JOURNAL_SLOT && serial_journal_landed(s)) {
		/* killed between read() and the end of the append: the append again, whole */
		size_t n = s->got != SERIAL_JOURNAL_GOT_UNKNOWN && s->got < s->len ? s->got : s->len;

		if (s->base < (uint64_t)j->size && ftruncate(j->fd, (off_t)s->base) == 0)
			j->size = (size_t)s->base;
		if (fdio_write_all(j->fd, s->data, n) == 0) {
			j->size += n;
			log_msg(LOG_INFO, "serial %s: %zu bytes read just before the stop recovered from %s", name, n,
				path);
		} else {
			log_msg(LOG_ERR, "serial %s: cannot recover %zu bytes from %s into %s: %s", name, n, path,
				j->path, strerror(errno));
		}
	}
	__atomic_store_n(&s->state, 0, __ATOMIC_SEQ_CST);
	memcpy(s->boot, boot, sizeof(boot));
	j->slot = s;
	j->nonce = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
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
	j->slot = NULL;
	j->rebooted = 0;
	snprintf(j->path, sizeof(j->path), "%s/rx-%s", dir, name);
	j->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (j->fd < 0 || fstat(j->fd, &st) < 0) {
		log_msg(LOG_ERR, "serial %s: cannot open %s: %s; bytes read are not journaled", name, path,
			strerror(errno));
		serial_journal_close(j);
		return -1;
	}
	j->size = (size_t)st.st_size;
	serial_journal_slot_open(j, name);
	/* the recovery of a read may have changed its length */
	st.st_size = (off_t)j->size;
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
	if (fdio_write_all(j->fd, p, n) == 0 && (j->sync < SERIAL_JOURNAL_SYNC_ALWAYS || fdatasync(j->fd) == 0)) {
		j->size += n;
		return;
	}
	serial_journal_fail(j, name, "write");
	/* whatever part of this read got in goes again (shrinking needs no space) */
	if (ftruncate(j->fd, (off_t)j->size) < 0)
		log_msg(LOG_ERR, "serial %s: cannot cut %s back: %s", name, j->path, strerror(errno));
	j->stopped = 1;
}

ssize_t serial_journal_read(struct serial_journal *j, const char *name, int fd, char *buf, size_t cap,
			    const char **data)
{
	struct serial_journal_slot *s = j->slot;
	int avail = 0;
	size_t k;
	ssize_t n;

	*data = buf;
	if (j->fd < 0 || j->stopped || !s || ioctl(fd, FIONREAD, &avail) < 0 || avail <= 0) {
		/* end of file, an error, or no slot: nothing or the old window */
		n = read(fd, buf, cap);
		if (n > 0)
			serial_journal_append(j, name, buf, (size_t)n);
		return n;
	}
	k = (size_t)avail < cap ? (size_t)avail : cap;
	if (k > SERIAL_JOURNAL_SLOT)
		k = SERIAL_JOURNAL_SLOT;
	j->nonce = j->nonce * 6364136223846793005ULL + 1442695040888963407ULL;
	serial_journal_fill(s->data, k, j->nonce);
	s->nonce = j->nonce;
	s->len = (uint32_t)k;
	s->got = SERIAL_JOURNAL_GOT_UNKNOWN;
	s->base = j->size;
	/* from here until the store of 0 below, a kill leaves the read to the next open */
	__atomic_store_n(&s->state, 1, __ATOMIC_SEQ_CST);
	n = read(fd, s->data, k);
	if (n > 0) {
		__atomic_store_n(&s->got, (uint32_t)n, __ATOMIC_SEQ_CST);
		serial_journal_append(j, name, s->data, (size_t)n);
	}
	__atomic_store_n(&s->state, 0, __ATOMIC_SEQ_CST);
	*data = (const char *)s->data;
	return n;
}

/* buffer.sync: a rename in the directory is on the card (else the old file, with framed bytes, comes back). */
static int serial_journal_sync_dir(const struct serial_journal *j)
{
	char dir[sizeof(j->path)];
	char *slash;
	int fd, rc;

	snprintf(dir, sizeof(dir), "%s", j->path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
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
			return;
		}
		j->failed = 0;
		j->stopped = 0;
		j->size = 0;
		/* synced: a power cut must not bring back frames the outbound journal has (replayed after them) */
		if (j->sync >= SERIAL_JOURNAL_SYNC_BATCH && fdatasync(j->fd) < 0)
			serial_journal_fail(j, name, "fdatasync after the truncate");
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s.new", j->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0 || fdio_write_all(fd, left, n) < 0 || (j->sync >= SERIAL_JOURNAL_SYNC_BATCH && fdatasync(fd) < 0) ||
	    rename(tmp, j->path) < 0) {
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
	if (j->sync >= SERIAL_JOURNAL_SYNC_BATCH && serial_journal_sync_dir(j) < 0)
		serial_journal_fail(j, name, "sync of the directory");
}

void serial_journal_close(struct serial_journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	if (j->slot)
		munmap(j->slot, sizeof(*j->slot));
	j->slot = NULL;
}
