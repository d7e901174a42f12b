/*
 * lib_killread.c - an LD_PRELOAD shim that SIGKILLs the daemon at the
 * worst moment for buffer.dir: just as read() returns bytes from a
 * terminal. Once the file named by $MQTTGW_KILLREAD_ARM exists, the next
 * read() of a tty that returns data raises SIGKILL before returning, so
 * the bytes have left the kernel's tty buffer and the daemon never runs
 * another instruction with them. Under load a real SIGKILL lands there
 * often: reading a full pty wakes its writer, and the reader is preempted
 * on the way out of read() with the bytes in hand.
 *
 * $MQTTGW_KILLREAD_DELAY_US instead only widens that window: each tty
 * read() that returns data sleeps that long before returning, so a SIGKILL
 * from the test itself lands there as it would on a loaded machine.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

typedef ssize_t (*killread_read_fn)(int, void *, size_t);

ssize_t read(int fd, void *buf, size_t n)
{
	static killread_read_fn real;
	const char *arm = getenv("MQTTGW_KILLREAD_ARM");
	const char *delay = getenv("MQTTGW_KILLREAD_DELAY_US");
	ssize_t r;

	if (!real)
		real = (killread_read_fn)dlsym(RTLD_NEXT, "read");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	r = real(fd, buf, n);
	if (r > 0 && arm && *arm && isatty(fd) && access(arm, F_OK) == 0)
		raise(SIGKILL);
	if (r > 0 && delay && *delay && isatty(fd))
		usleep((useconds_t)strtoul(delay, NULL, 10));
	return r;
}
