/*
 * fdio.c - blocking writes to regular files that finish or fail (see the
 * header). Not for the serial ports or sockets: those are non-blocking and
 * owned by the poll loop, which keeps what could not be written yet.
 */
#include <errno.h>
#include <unistd.h>

#include "fdio.h"

int fdio_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			/* write() on a regular file returns 0 only for n == 0; never loop on it */
			errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}
