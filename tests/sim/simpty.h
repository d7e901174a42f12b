/*
 * simpty.h - what the device simulators share: a raw pty published under a
 * symlink, a signalfd, a monotonic clock and a timestamped log line.
 *
 * Header-only (static functions) because the Makefile builds each
 * tests/sim/prog_NAME.c as one translation unit. prog_motorsim.c predates
 * it and keeps its own copy; prog_sensorsim.c and prog_modbussim.c use
 * this one. The rules are the motor simulator's (tests/sim/README.md): the
 * simulator keeps its own slave fd open so clients may come and go, the
 * slave is in true raw mode, a stale symlink is replaced, the link is
 * removed at exit only if it still points at this pty.
 */
#ifndef MQTTGW_SIMPTY_H
#define MQTTGW_SIMPTY_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

struct simpty {
	const char *prog;	/* "sensorsim": the prefix of messages */
	const char *link;
	int master_fd, slave_fd, signal_fd;
	char slave_name[128];
	int link_made;
};

static uint64_t simpty_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* "PROG: MONOTONIC_MS message" on stderr, flushed (tests read it as it comes). */
__attribute__((format(printf, 2, 3))) static void simpty_log(const struct simpty *s, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: %llu ", s->prog, (unsigned long long)simpty_now_ms());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

static int simpty_parse_long(const char *str, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(str, &end, 0);
	if (errno || end == str || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int simpty_open(struct simpty *s)
{
	struct termios tio;
	int flags;

	s->master_fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s->master_fd < 0 || grantpt(s->master_fd) < 0 || unlockpt(s->master_fd) < 0 ||
	    ptsname_r(s->master_fd, s->slave_name, sizeof(s->slave_name)) != 0) {
		fprintf(stderr, "%s: pty: %s\n", s->prog, strerror(errno));
		return -1;
	}
	s->slave_fd = open(s->slave_name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s->slave_fd < 0 || tcgetattr(s->slave_fd, &tio) < 0) {
		fprintf(stderr, "%s: %s: %s\n", s->prog, s->slave_name, strerror(errno));
		return -1;
	}
	cfmakeraw(&tio);
	tio.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
	tio.c_cflag |= CLOCAL | CREAD;
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	cfsetispeed(&tio, B9600);
	cfsetospeed(&tio, B9600);
	if (tcsetattr(s->slave_fd, TCSANOW, &tio) < 0) {
		fprintf(stderr, "%s: tcsetattr: %s\n", s->prog, strerror(errno));
		return -1;
	}
	flags = fcntl(s->master_fd, F_GETFL);
	if (flags < 0 || fcntl(s->master_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		fprintf(stderr, "%s: fcntl: %s\n", s->prog, strerror(errno));
		return -1;
	}
	return 0;
}

static int simpty_make_link(struct simpty *s)
{
	struct stat st;

	if (lstat(s->link, &st) == 0) {
		if (!S_ISLNK(st.st_mode)) {
			fprintf(stderr, "%s: %s exists and is not a symlink\n", s->prog, s->link);
			return -1;
		}
		unlink(s->link);
	}
	if (symlink(s->slave_name, s->link) < 0) {
		fprintf(stderr, "%s: symlink %s: %s\n", s->prog, s->link, strerror(errno));
		return -1;
	}
	s->link_made = 1;
	return 0;
}

static int simpty_signals(struct simpty *s)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
	    (s->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		fprintf(stderr, "%s: signals: %s\n", s->prog, strerror(errno));
		return -1;
	}
	return 0;
}

/* Open everything and print "ready LINK" on stdout. 0 / -1. */
static int simpty_start(struct simpty *s)
{
	if (simpty_signals(s) < 0 || simpty_open(s) < 0 || simpty_make_link(s) < 0)
		return -1;
	printf("ready %s\n", s->link);
	return fflush(stdout) == 0 ? 0 : -1;
}

/* A signal came: 1 (exit), 0 (nothing). */
static int simpty_signalled(struct simpty *s)
{
	struct signalfd_siginfo si;

	return read(s->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si);
}

static void simpty_close(struct simpty *s)
{
	char target[sizeof(s->slave_name)];
	ssize_t n;

	if (s->link_made) {
		n = readlink(s->link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			if (strcmp(target, s->slave_name) == 0)
				unlink(s->link);
		}
		s->link_made = 0;
	}
	if (s->signal_fd >= 0)
		close(s->signal_fd);
	if (s->slave_fd >= 0)
		close(s->slave_fd);
	if (s->master_fd >= 0)
		close(s->master_fd);
	s->signal_fd = s->slave_fd = s->master_fd = -1;
}

/* Write all of buf to the master (a pty master takes 4 KiB at once; answers are short). */
static void simpty_send(struct simpty *s, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(s->master_fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			simpty_log(s, "write: %s (answer dropped)", strerror(errno));
			return;
		}
		p += n;
		len -= (size_t)n;
	}
}

#endif
