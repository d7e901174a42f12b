/*
 * test_sdnotify.c - the sd_notify client against a real unix datagram socket.
 *
 * Each test plays systemd: it binds a SOCK_DGRAM socket (a file in a
 * private temp dir, or an abstract name), points NOTIFY_SOCKET at it, calls
 * the sdnotify_* function and reads back the datagram, with SO_PASSCRED on
 * so that the sender's pid can be checked as systemd checks it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "sdnotify.h"
#include "unit.h"

static char test_dir[64];
static char test_path[128];

/* Bind a datagram socket at NAME ("@x" = abstract) with a 2 s receive timeout. */
static int test_listen(const char *name)
{
	struct sockaddr_un sa;
	struct timeval tv = { 2, 0 };
	socklen_t len;
	int fd, one = 1;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", name);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	else
		len++;
	if (bind(fd, (struct sockaddr *)&sa, len) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read one datagram into buf (NUL-terminated); its sender's pid into *pid. */
static ssize_t test_recv(int fd, char *buf, size_t size, pid_t *pid)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	struct iovec iov = { buf, size - 1 };
	struct msghdr mh;
	struct cmsghdr *c;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	*pid = 0;
	n = recvmsg(fd, &mh, 0);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred uc;

			memcpy(&uc, CMSG_DATA(c), sizeof(uc));
			*pid = uc.pid;
		}
	}
	return n;
}

/* A socket at name (as test_listen) named in NOTIFY_SOCKET; -1 and a failed check if it cannot be made. */
static int notify_socket(const char *name)
{
	int fd = test_listen(name);

	CHECK(fd >= 0);
	if (fd >= 0)
		setenv("NOTIFY_SOCKET", name, 1);
	return fd;
}

/* sdnotify_ready() sends READY=1 to fd, from this process. */
static void expect_ready(int fd)
{
	char buf[256];
	pid_t pid;

	CHECK_INT(sdnotify_ready(), 0);
	CHECK_INT(test_recv(fd, buf, sizeof(buf), &pid), 7);
	CHECK_STR(buf, "READY=1");
	CHECK_INT(pid, getpid());
}

TEST(unset_is_silent)
{
	unsetenv("NOTIFY_SOCKET");
	CHECK_INT(sdnotify_ready(), 0);
	CHECK_INT(sdnotify_watchdog(), 0);
	CHECK_INT(sdnotify_status("x %d", 1), 0);
	CHECK_INT(sdnotify_stopping(), 0);
	CHECK_INT(sdnotify_reloading(), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	CHECK_INT(sdnotify_ready(), 0);
	unsetenv("NOTIFY_SOCKET");
}

TEST(filesystem_socket)
{
	char buf[1024];
	pid_t pid;
	int fd = notify_socket(test_path);

	if (fd < 0)
		return;

	expect_ready(fd);

	CHECK_INT(sdnotify_watchdog(), 0);
	test_recv(fd, buf, sizeof(buf), &pid);
	CHECK_STR(buf, "WATCHDOG=1");

	CHECK_INT(sdnotify_stopping(), 0);
	test_recv(fd, buf, sizeof(buf), &pid);
	CHECK_STR(buf, "STOPPING=1");

	CHECK_INT(sdnotify_status("%d serial, %s", 2, "broker up"), 0);
	test_recv(fd, buf, sizeof(buf), &pid);
	CHECK_STR(buf, "STATUS=2 serial, broker up");

	unsetenv("NOTIFY_SOCKET");
	close(fd);
	unlink(test_path);
}

TEST(abstract_socket)
{
	char name[64];
	int fd;

	snprintf(name, sizeof(name), "@mqttgw-test-sdnotify-%ld", (long)getpid());
	fd = notify_socket(name);
	if (fd < 0)
		return;
	expect_ready(fd);
	unsetenv("NOTIFY_SOCKET");
	close(fd);
}

TEST(reloading_carries_monotonic_usec)
{
	static const char want[] = "RELOADING=1\nMONOTONIC_USEC=";
	char buf[256], *end;
	unsigned long long usec;
	pid_t pid;
	int fd = notify_socket(test_path);

	if (fd < 0)
		return;
	CHECK_INT(sdnotify_reloading(), 0);
	CHECK(test_recv(fd, buf, sizeof(buf), &pid) > (ssize_t)sizeof(want));
	CHECK(strncmp(buf, want, sizeof(want) - 1) == 0);
	usec = strtoull(buf + sizeof(want) - 1, &end, 10);
	CHECK(usec > 0);
	CHECK(*end == '\0');
	unsetenv("NOTIFY_SOCKET");
	close(fd);
	unlink(test_path);
}

/* A status is one assignment: newlines cannot smuggle in READY=1. Long text is cut. */
TEST(status_is_one_line)
{
	char buf[2048], big[1500];
	pid_t pid;
	ssize_t n;
	int fd = notify_socket(test_path);

	if (fd < 0)
		return;
	CHECK_INT(sdnotify_status("port lost\nREADY=1\r"), 0);
	test_recv(fd, buf, sizeof(buf), &pid);
	CHECK_STR(buf, "STATUS=port lost READY=1 ");

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_INT(sdnotify_status("%s", big), 0);
	n = test_recv(fd, buf, sizeof(buf), &pid);
	CHECK(n > 100 && n < 1024);
	CHECK(strncmp(buf, "STATUS=xxx", 10) == 0);
	CHECK(strchr(buf, '\n') == NULL);
	unsetenv("NOTIFY_SOCKET");
	close(fd);
	unlink(test_path);
}

TEST(errors_are_reported)
{
	char gone[200];

	snprintf(gone, sizeof(gone), "%s/nobody-listens", test_dir);
	setenv("NOTIFY_SOCKET", gone, 1);
	CHECK_INT(sdnotify_ready(), -1);
	CHECK(errno == ENOENT || errno == ECONNREFUSED);
	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	CHECK_INT(sdnotify_watchdog(), -1);
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	CHECK_INT(sdnotify_watchdog(), -1);
	unsetenv("NOTIFY_SOCKET");
}

TEST(watchdog_interval)
{
	char pid[32];

	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	CHECK_INT(sdnotify_watchdog_interval_ms(), 0);

	setenv("WATCHDOG_USEC", "30000000", 1);		/* WatchdogSec=30 */
	CHECK_INT(sdnotify_watchdog_interval_ms(), 15000);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	CHECK_INT(sdnotify_watchdog_interval_ms(), 15000);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	CHECK_INT(sdnotify_watchdog_interval_ms(), 0);	/* meant for another process */
	setenv("WATCHDOG_PID", "12x", 1);
	CHECK_INT(sdnotify_watchdog_interval_ms(), 0);
	unsetenv("WATCHDOG_PID");

	setenv("WATCHDOG_USEC", "1000", 1);		/* 1 ms: half is rounded up to 1 */
	CHECK_INT(sdnotify_watchdog_interval_ms(), 1);
	setenv("WATCHDOG_USEC", "0", 1);
	CHECK_INT(sdnotify_watchdog_interval_ms(), 0);
	setenv("WATCHDOG_USEC", "-5", 1);
	CHECK_INT(sdnotify_watchdog_interval_ms(), 0);
	setenv("WATCHDOG_USEC", "30s", 1);
	CHECK_INT(sdnotify_watchdog_interval_ms(), 0);
	setenv("WATCHDOG_USEC", "", 1);
	CHECK_INT(sdnotify_watchdog_interval_ms(), 0);
	setenv("WATCHDOG_USEC", "99999999999999999999999", 1);
	CHECK_INT(sdnotify_watchdog_interval_ms(), 0);
	unsetenv("WATCHDOG_USEC");
}

int main(void)
{
	snprintf(test_dir, sizeof(test_dir), "/tmp/mqttgw-sdnotify-XXXXXX");
	if (!mkdtemp(test_dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(test_path, sizeof(test_path), "%s/notify", test_dir);

	RUN(unset_is_silent);
	RUN(filesystem_socket);
	RUN(abstract_socket);
	RUN(reloading_carries_monotonic_usec);
	RUN(status_is_one_line);
	RUN(errors_are_reported);
	RUN(watchdog_interval);

	unlink(test_path);
	rmdir(test_dir);
	return UNIT_DONE();
}
