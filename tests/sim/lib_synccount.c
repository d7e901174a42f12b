/*
 * lib_synccount.c - LD_PRELOAD counter of fsync/fdatasync calls (and of
 * write calls to regular files), for `make bench` (buffer.sync's cost:
 * tests/bench/run.py). MQTTGW_SYNCCOUNT names a file that the shim maps
 * shared, three uint64 counters: fsync + fdatasync calls, the subset that
 * were fdatasync, write/pwrite calls to regular files. The harness reads
 * the file before and after a run; the daemon is not slowed by a log.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t *synccount;
static int synccount_ready;

static void synccount_init(void)
{
	const char *p;
	int fd;

	if (__atomic_exchange_n(&synccount_ready, 1, __ATOMIC_SEQ_CST))
		return;
	p = getenv("MQTTGW_SYNCCOUNT");
	if (!p || (fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return;
	if (ftruncate(fd, 4096) == 0) {
		void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		if (m != MAP_FAILED)
			__atomic_store_n(&synccount, (uint64_t *)m, __ATOMIC_SEQ_CST);
	}
	close(fd);
}

static void synccount_add(int i)
{
	uint64_t *c = __atomic_load_n(&synccount, __ATOMIC_SEQ_CST);

	if (c)
		__atomic_add_fetch(&c[i], 1, __ATOMIC_SEQ_CST);
}

static int synccount_regular(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

int fsync(int fd)
{
	static int (*real)(int);

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	synccount_init();
	synccount_add(0);
	return real(fd);
}

int fdatasync(int fd)
{
	static int (*real)(int);

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	synccount_init();
	synccount_add(0);
	synccount_add(1);
	return real(fd);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	static ssize_t (*real)(int, const void *, size_t);

	if (!real)
		real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	synccount_init();
	if (synccount && fd > 2 && synccount_regular(fd))
		synccount_add(2);
	return real(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);

	if (!real)
		real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	synccount_init();
	if (synccount && synccount_regular(fd))
		synccount_add(2);
	return real(fd, buf, n, off);
}
