/*
 * lib_fsrec.c - LD_PRELOAD recorder of what the daemon does to the files
 * under one directory (buffer.dir), for the crash-consistency test
 * (tests/integration/test_crash_states.py, ALICE / CrashMonkey style).
 *
 * MQTTGW_FSREC_DIR: the directory watched (an absolute path, as the config
 * gives buffer.dir); MQTTGW_FSREC_LOG: the log, appended to. Each operation
 * on a file or the directory itself is one line, with the bytes of a write
 * after it:
 *   O fd created truncated name    (open of name; "." is the directory)
 *   W fd offset length \n bytes   (write, pwrite: where the bytes went)
 *   T fd length                   (ftruncate)
 *   S fd                          (fsync, fdatasync: the file or directory)
 *   R from to / U name            (rename, unlink; names relative to the dir)
 *   C fd                          (close)
 * The test rebuilds from it every state a power cut can leave. The shim
 * does not judge, and it keeps the daemon's errno; mapped stores (the
 * rx-NAME.read slot) are not seen, the test models that file itself.
 * One write() per line and a lock, so paho's threads cannot interleave.
 * The wrappers below share one shape on purpose (lock, call the real
 * function, keep its errno, record on success, unlock): that shape is the
 * recorder's rule, written out in each so that each reads with its own
 * arguments and record line (`duplicates` lists them as near-copies).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define FSREC_FDS 4096

static pthread_mutex_t fsrec_lock = PTHREAD_MUTEX_INITIALIZER;
static char fsrec_tracked[FSREC_FDS];
static int fsrec_log = -2;
static char fsrec_dir[4096];
static size_t fsrec_dirlen;

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_ftruncate)(int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_unlink)(const char *);
static int (*real_close)(int);

static void fsrec_init(void)
{
	const char *d, *l;

	if (fsrec_log != -2)
		return;
	real_write = dlsym(RTLD_NEXT, "write");
	real_pwrite = dlsym(RTLD_NEXT, "pwrite");
	real_open = dlsym(RTLD_NEXT, "open");
	real_openat = dlsym(RTLD_NEXT, "openat");
	real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
	real_fsync = dlsym(RTLD_NEXT, "fsync");
	real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
	real_rename = dlsym(RTLD_NEXT, "rename");
	real_unlink = dlsym(RTLD_NEXT, "unlink");
	real_close = dlsym(RTLD_NEXT, "close");
	d = getenv("MQTTGW_FSREC_DIR");
	l = getenv("MQTTGW_FSREC_LOG");
	fsrec_log = -1;
	if (!d || !l)
		return;
	snprintf(fsrec_dir, sizeof(fsrec_dir), "%s", d);
	fsrec_dirlen = strlen(fsrec_dir);
	while (fsrec_dirlen > 1 && fsrec_dir[fsrec_dirlen - 1] == '/')
		fsrec_dir[--fsrec_dirlen] = 0;
	fsrec_log = real_open(l, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

/* name relative to the watched directory ("." for itself), or NULL if outside it */
static const char *fsrec_rel(const char *path)
{
	if (fsrec_log < 0 || !path || strncmp(path, fsrec_dir, fsrec_dirlen) != 0)
		return NULL;
	if (path[fsrec_dirlen] == 0)
		return ".";
	if (path[fsrec_dirlen] != '/' || strchr(path + fsrec_dirlen + 1, '/'))
		return NULL;
	return path + fsrec_dirlen + 1;
}

static void fsrec_emit(const void *data, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fsrec_emit(const void *data, size_t n, const char *fmt, ...)
{
	char head[9000];
	char *buf;
	va_list ap;
	int h;

	va_start(ap, fmt);
	h = vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	if (h < 0 || (size_t)h >= sizeof(head) || !(buf = malloc((size_t)h + n)))
		return;
	memcpy(buf, head, (size_t)h);
	if (n)
		memcpy(buf + h, data, n);
	(void)real_write(fsrec_log, buf, (size_t)h + n);
	free(buf);
}

static int fsrec_is(int fd)
{
	return fsrec_log >= 0 && fd >= 0 && fd < FSREC_FDS && fsrec_tracked[fd];
}

static int fsrec_do_open(int dirfd, const char *path, int flags, mode_t mode, int at)
{
	const char *rel;
	int existed, fd, e;

	fsrec_init();
	rel = fsrec_rel(path);
	if (!rel)
		return at ? real_openat(dirfd, path, flags, mode) : real_open(path, flags, mode);
	pthread_mutex_lock(&fsrec_lock);
	existed = access(path, F_OK) == 0;
	fd = at ? real_openat(dirfd, path, flags, mode) : real_open(path, flags, mode);
	e = errno;
	if (fd >= 0 && fd < FSREC_FDS) {
		fsrec_tracked[fd] = 1;
		fsrec_emit(NULL, 0, "O %d %d %d %s\n", fd, !existed, existed && (flags & O_TRUNC) ? 1 : 0, rel);
	}
	pthread_mutex_unlock(&fsrec_lock);
	errno = e;
	return fd;
}

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return fsrec_do_open(AT_FDCWD, path, flags, mode, 0);
}

int open64(const char *path, int flags, ...) __attribute__((alias("open")));

int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return fsrec_do_open(dirfd, path, flags, mode, 1);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	ssize_t w;
	int e;

	fsrec_init();
	if (!fsrec_is(fd))
		return real_write(fd, buf, n);
	pthread_mutex_lock(&fsrec_lock);
	w = real_write(fd, buf, n);
	e = errno;
	if (w > 0)
		fsrec_emit(buf, (size_t)w, "W %d %lld %zd\n", fd, (long long)lseek(fd, 0, SEEK_CUR) - (long long)w, w);
	pthread_mutex_unlock(&fsrec_lock);
	errno = e;
	return w;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	ssize_t w;
	int e;

	fsrec_init();
	if (!fsrec_is(fd))
		return real_pwrite(fd, buf, n, off);
	pthread_mutex_lock(&fsrec_lock);
	w = real_pwrite(fd, buf, n, off);
	e = errno;
	if (w > 0)
		fsrec_emit(buf, (size_t)w, "W %d %lld %zd\n", fd, (long long)off, w);
	pthread_mutex_unlock(&fsrec_lock);
	errno = e;
	return w;
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) __attribute__((alias("pwrite")));

int ftruncate(int fd, off_t len)
{
	int rc, e;

	fsrec_init();
	if (!fsrec_is(fd))
		return real_ftruncate(fd, len);
	pthread_mutex_lock(&fsrec_lock);
	rc = real_ftruncate(fd, len);
	e = errno;
	if (rc == 0)
		fsrec_emit(NULL, 0, "T %d %lld\n", fd, (long long)len);
	pthread_mutex_unlock(&fsrec_lock);
	errno = e;
	return rc;
}

int ftruncate64(int fd, off_t len) __attribute__((alias("ftruncate")));

static int fsrec_sync(int fd, int (*fn)(int))
{
	int rc, e;

	fsrec_init();
	if (!fsrec_is(fd))
		return fn(fd);
	pthread_mutex_lock(&fsrec_lock);
	rc = fn(fd);
	e = errno;
	if (rc == 0)
		fsrec_emit(NULL, 0, "S %d\n", fd);
	pthread_mutex_unlock(&fsrec_lock);
	errno = e;
	return rc;
}

int fsync(int fd)
{
	fsrec_init();
	return fsrec_sync(fd, real_fsync);
}

int fdatasync(int fd)
{
	fsrec_init();
	return fsrec_sync(fd, real_fdatasync);
}

int rename(const char *from, const char *to)
{
	const char *a, *b;
	int rc, e;

	fsrec_init();
	a = fsrec_rel(from);
	b = fsrec_rel(to);
	if (!a || !b)
		return real_rename(from, to);
	pthread_mutex_lock(&fsrec_lock);
	rc = real_rename(from, to);
	e = errno;
	if (rc == 0)
		fsrec_emit(NULL, 0, "R %s %s\n", a, b);
	pthread_mutex_unlock(&fsrec_lock);
	errno = e;
	return rc;
}

int unlink(const char *path)
{
	const char *a;
	int rc, e;

	fsrec_init();
	a = fsrec_rel(path);
	if (!a)
		return real_unlink(path);
	pthread_mutex_lock(&fsrec_lock);
	rc = real_unlink(path);
	e = errno;
	if (rc == 0)
		fsrec_emit(NULL, 0, "U %s\n", a);
	pthread_mutex_unlock(&fsrec_lock);
	errno = e;
	return rc;
}

int close(int fd)
{
	int rc, e;

	fsrec_init();
	if (!fsrec_is(fd))
		return real_close(fd);
	pthread_mutex_lock(&fsrec_lock);
	fsrec_tracked[fd] = 0;
	fsrec_emit(NULL, 0, "C %d\n", fd);
	rc = real_close(fd);
	e = errno;
	pthread_mutex_unlock(&fsrec_lock);
	errno = e;
	return rc;
}
