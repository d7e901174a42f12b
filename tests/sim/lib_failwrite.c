/*
 * lib_failwrite.c - an LD_PRELOAD shim that pulls a USB-serial adapter at
 * the worst moment: a write() to a terminal whose data starts with the
 * bytes in $MQTTGW_FAILWRITE_PREFIX fails with EIO, as the kernel answers
 * a write to a tty whose device just went away. Everything else goes to
 * the real write(). Tests use it to see what a port lost in the middle of
 * a command does to the command queue and to request/response routing.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef ssize_t (*failwrite_write_fn)(int, const void *, size_t);

ssize_t write(int fd, const void *buf, size_t n)
{
	static failwrite_write_fn real;
	const char *prefix = getenv("MQTTGW_FAILWRITE_PREFIX");
	size_t plen = prefix ? strlen(prefix) : 0;

	if (!real)
		real = (failwrite_write_fn)dlsym(RTLD_NEXT, "write");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	if (plen > 0 && n >= plen && memcmp(buf, prefix, plen) == 0 && isatty(fd)) {
		errno = EIO;
		return -1;
	}
	return real(fd, buf, n);
}
