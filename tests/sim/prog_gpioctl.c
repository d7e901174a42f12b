/*
 * prog_gpioctl.c - command-line client for the GPIO stand-in's control
 * socket (lib_gpiosim.so, see tests/sim/README.md "GPIO stand-in").
 *
 *   prog_gpioctl [-t MS] SOCKET COMMAND [ARG...]   send one command, print the reply
 *   prog_gpioctl [-t MS] SOCKET < script           one command per stdin line
 *
 * Exit status: 0 when every reply was "ok ...", 1 when one was "err ...",
 * 2 for usage or connection errors. -t MS keeps retrying the connection for
 * up to MS milliseconds, because the daemon creates the socket as it starts
 * and a test script should not have to sleep and hope.
 *
 * Kept this small on purpose: the protocol is one line out, one line back,
 * so shell scripts can also use socat; this exists so nothing else is needed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int gpioctl_connect(const char *path, long timeout_ms)
{
	struct sockaddr_un sa;
	struct timespec start, now, nap = { 0, 20 * 1000000L };
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "prog_gpioctl: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			break;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >= timeout_ms)
			break;
		nanosleep(&nap, NULL);
	}
	fprintf(stderr, "prog_gpioctl: cannot connect to %s: %s\n", path, strerror(errno));
	return -1;
}

/* Send one command line and print the reply. 0 ok, 1 err reply, 2 failure. */
static int gpioctl_command(int fd, const char *cmd)
{
	char reply[2048];
	size_t len = 0, n = strlen(cmd);
	ssize_t r;

	if (send(fd, cmd, n, MSG_NOSIGNAL) != (ssize_t)n || send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
		fprintf(stderr, "prog_gpioctl: send: %s\n", strerror(errno));
		return 2;
	}
	while (len < sizeof(reply) - 1) {
		r = recv(fd, reply + len, 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "prog_gpioctl: connection closed before the reply\n");
			return 2;
		}
		if (reply[len] == '\n')
			break;
		len++;
	}
	reply[len] = '\0';
	printf("%s\n", reply);
	fflush(stdout);
	return strncmp(reply, "ok", 2) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	char cmd[512], line[512];
	long timeout_ms = 0;
	char *end;
	int i, fd, rc = 0, r;
	size_t len = 0;

	if (argc > 2 && strcmp(argv[1], "-t") == 0) {
		errno = 0;
		timeout_ms = strtol(argv[2], &end, 10);
		if (errno || *end || timeout_ms < 0) {
			fprintf(stderr, "prog_gpioctl: bad -t value \"%s\"\n", argv[2]);
			return 2;
		}
		argv += 2;
		argc -= 2;
	}
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fprintf(stderr, "usage: prog_gpioctl [-t MS] SOCKET [COMMAND ARG...]\n"
				"       (no COMMAND: one command per stdin line; try the command \"help\")\n");
		return 2;
	}
	fd = gpioctl_connect(argv[1], timeout_ms);
	if (fd < 0)
		return 2;
	if (argc > 2) {
		cmd[0] = '\0';
		for (i = 2; i < argc; i++) {
			int w = snprintf(cmd + len, sizeof(cmd) - len, "%s%s", i > 2 ? " " : "", argv[i]);

			if (w < 0 || (size_t)w >= sizeof(cmd) - len) {
				fprintf(stderr, "prog_gpioctl: command too long\n");
				close(fd);
				return 2;
			}
			len += (size_t)w;
		}
		rc = gpioctl_command(fd, cmd);
	} else {
		while (fgets(line, sizeof(line), stdin)) {
			line[strcspn(line, "\r\n")] = '\0';
			if (!line[0] || line[0] == '#')
				continue;
			r = gpioctl_command(fd, line);
			if (r > rc)
				rc = r;
			if (r == 2)
				break;
		}
	}
	close(fd);
	return rc;
}
