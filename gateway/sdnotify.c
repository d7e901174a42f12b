/*
 * sdnotify.c - the sd_notify protocol in ~150 lines, so that the daemon
 * needs no libsystemd (one dependency less on the Pi, and nothing that
 * differs between distributions).
 *
 * The protocol (sd_notify(3)): systemd puts the path of a unix datagram
 * socket in $NOTIFY_SOCKET ("/run/systemd/notify", or "@name" for the
 * abstract namespace); the service sends newline-separated VAR=value
 * assignments to it, one datagram per message. systemd learns the sender
 * from the kernel's SCM_CREDENTIALS, so nothing else has to be sent.
 *
 * Shaped so: every call opens a fresh SOCK_DGRAM socket, sends and closes
 * it. There is no state to initialise or to share between threads, the
 * socket never leaks into anything exec'd, and the cost (a few syscalls
 * every WatchdogSec/2) is nothing next to the loop's own work. When
 * NOTIFY_SOCKET is unset (run by hand, in tests, under another init)
 * every call is a silent no-op that returns 0.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sdnotify.h"

/* Longest message: "STATUS=" and a line of text. Longer status text is cut. */
#define SDNOTIFY_MAX 512

/* Send one datagram to $NOTIFY_SOCKET; 0 when sent or when nobody listens. */
static int sdnotify_send(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t salen;
	size_t len;
	ssize_t n;
	int fd, saved;

	if (!path || !*path)
		return 0;
	len = strlen(path);
	/* only a filesystem path or an abstract name; "vsock:..." is not for us */
	if ((path[0] != '/' && path[0] != '@') || len < 2 || len > sizeof(sa.sun_path)) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@') {
		/* abstract: a leading NUL, and the length counts no trailing NUL */
		sa.sun_path[0] = '\0';
		salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	} else {
		salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
				    (len < sizeof(sa.sun_path) ? 1 : 0));
	}

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	do
		n = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (const struct sockaddr *)&sa, salen);
	while (n < 0 && errno == EINTR);
	saved = errno;
	close(fd);
	if (n < 0) {
		errno = saved;
		return -1;
	}
	if ((size_t)n != strlen(msg)) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

int sdnotify_ready(void)
{
	return sdnotify_send("READY=1");
}

int sdnotify_watchdog(void)
{
	return sdnotify_send("WATCHDOG=1");
}

int sdnotify_stopping(void)
{
	return sdnotify_send("STOPPING=1");
}

int sdnotify_reloading(void)
{
	char msg[64];
	struct timespec ts;

	/* MONOTONIC_USEC lets newer systemd (Type=notify-reload) match the reload */
	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return sdnotify_send("RELOADING=1");
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL);
	return sdnotify_send(msg);
}

int sdnotify_status(const char *fmt, ...)
{
	static const char prefix[] = "STATUS=";
	char msg[SDNOTIFY_MAX];
	va_list ap;
	char *p;

	if (!getenv("NOTIFY_SOCKET"))
		return 0;
	memcpy(msg, prefix, sizeof(prefix));
	va_start(ap, fmt);
	if (vsnprintf(msg + sizeof(prefix) - 1, sizeof(msg) - (sizeof(prefix) - 1), fmt, ap) < 0) {
		va_end(ap);
		return -1;
	}
	va_end(ap);
	/* one line: a newline in the text (device names, errors) would start a new assignment */
	for (p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return sdnotify_send(msg);
}

/* strtoull with end checks: the whole string, a plain decimal, > 0. */
static int sdnotify_parse_u64(const char *s, unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v == 0)
		return -1;
	*out = v;
	return 0;
}

uint64_t sdnotify_watchdog_interval_ms(void)
{
	const char *pid = getenv("WATCHDOG_PID");
	unsigned long long usec, p;

	if (sdnotify_parse_u64(getenv("WATCHDOG_USEC"), &usec) < 0)
		return 0;
	/* systemd sets WATCHDOG_PID to the main process; a child must not answer for it */
	if (pid && (sdnotify_parse_u64(pid, &p) < 0 || p != (unsigned long long)getpid()))
		return 0;
	usec /= 2000;	/* half the timeout, in milliseconds */
	return usec ? (uint64_t)usec : 1;
}
