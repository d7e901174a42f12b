/*
 * test_serial_journal.c - unit tests for drivers/serial_journal.c, the
 * per-port journal of raw reads that buffer.dir replays at start.
 *
 * What matters is what a restart replays: each test writes, resets and
 * damages the journal the way the serial driver and a full disk would,
 * then opens it again as a restarted daemon does and compares the bytes it
 * hands back with what the framer must see. A full disk is RLIMIT_FSIZE
 * (with SIGXFSZ ignored), in a private mkdtemp directory removed at the end.
 *
 * A SIGKILL is a forked child killing itself where the daemon can meet
 * one: this file defines read() and write(), which the journal's calls
 * reach (the executable's definitions come first), and kills the child just
 * before a read, as it returns with the bytes, or half-way through the
 * append. The port is a pipe (FIONREAD works on it as on a tty).
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "serial_journal.h"
#include "unit.h"

static char tmpdir[64];

enum { KILL_NONE, KILL_BEFORE_READ, KILL_AFTER_READ, KILL_IN_APPEND };
static int kill_at;

ssize_t read(int fd, void *buf, size_t n)
{
	ssize_t r;

	if (kill_at == KILL_BEFORE_READ)
		raise(SIGKILL);
	r = syscall(SYS_read, fd, buf, n);
	if (kill_at == KILL_AFTER_READ && r > 0)
		raise(SIGKILL);
	return r;
}

ssize_t write(int fd, const void *buf, size_t n)
{
	if (kill_at == KILL_IN_APPEND && n > 1) {
		if (syscall(SYS_write, fd, buf, n / 2) < 0)
			_exit(3);
		raise(SIGKILL);
	}
	return syscall(SYS_write, fd, buf, n);
}

/* What a restart replays, as a NUL-terminated string (the tests write text). */
static void replayed(const char *name, char *out, size_t outlen)
{
	struct serial_journal j = { .fd = -1 };
	char *data = NULL;
	size_t len = 0;

	out[0] = '\0';
	if (serial_journal_open(&j, tmpdir, name, &data, &len) < 0) {
		snprintf(out, outlen, "(open failed)");
		return;
	}
	snprintf(out, outlen, "%.*s", (int)len, data ? data : "");
	free(data);
	serial_journal_close(&j);
}

static int open_fresh(struct serial_journal *j, const char *name)
{
	char *data = NULL;
	size_t len = 0;
	char path[128];

	snprintf(path, sizeof(path), "%s/rx-%s", tmpdir, name);
	unlink(path);
	j->fd = -1;
	if (serial_journal_open(j, tmpdir, name, &data, &len) < 0)
		return -1;
	free(data);
	return len == 0 ? 0 : -1;
}

TEST(reads_since_the_last_reset_are_replayed)
{
	struct serial_journal j;
	char got[256];

	if (open_fresh(&j, "a") < 0) {
		CHECK(0);
		return;
	}
	serial_journal_append(&j, "a", "LINE0\n", 6);
	serial_journal_reset(&j, "a", NULL, 0);		/* LINE0 is queued */
	serial_journal_append(&j, "a", "LINE1\nLI", 8);
	serial_journal_reset(&j, "a", "LI", 2);		/* LINE1 queued; "LI" is the partial frame */
	serial_journal_append(&j, "a", "NE2\n", 4);
	serial_journal_close(&j);
	replayed("a", got, sizeof(got));
	CHECK_STR(got, "LINE2\n");
}

/*
 * The disk fills part way through a read, and frees up again before the
 * next one (the outbound journal's failed rewrite removes its .new file).
 * The file must not end up with the piece of the first read followed by
 * the second: a replay would frame "LILINE2", a line the device never sent.
 */
TEST(a_short_append_leaves_no_hole_for_the_replay)
{
	struct serial_journal j;
	struct rlimit old, small;
	char got[256];

	if (open_fresh(&j, "b") < 0 || getrlimit(RLIMIT_FSIZE, &old) < 0) {
		CHECK(0);
		return;
	}
	signal(SIGXFSZ, SIG_IGN);
	serial_journal_append(&j, "b", "LINE0\n", 6);
	serial_journal_reset(&j, "b", NULL, 0);
	small = old;
	small.rlim_cur = 2;				/* room for 2 bytes */
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &small), 0);
	serial_journal_append(&j, "b", "LINE1\n", 6);	/* "LI" gets in, then EFBIG */
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
	CHECK_INT(j.failed, 1);
	serial_journal_append(&j, "b", "LINE2\n", 6);	/* room again; no reset came between */
	serial_journal_close(&j);
	signal(SIGXFSZ, SIG_DFL);
	replayed("b", got, sizeof(got));
	/* LINE1 and LINE2 are not in the file (lost if the daemon dies now), but nothing is invented */
	CHECK_STR(got, "");
}

/* After the failure, the next successful reset makes the file whole again and appends resume. */
TEST(appends_resume_after_the_next_reset)
{
	struct serial_journal j;
	struct rlimit old, small;
	char got[256];

	if (open_fresh(&j, "c") < 0 || getrlimit(RLIMIT_FSIZE, &old) < 0) {
		CHECK(0);
		return;
	}
	signal(SIGXFSZ, SIG_IGN);
	serial_journal_append(&j, "c", "A1\nA", 4);
	small = old;
	small.rlim_cur = 5;
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &small), 0);
	serial_journal_append(&j, "c", "2\nA3", 4);	/* one byte gets in: cut back to "A1\nA" */
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
	serial_journal_append(&j, "c", "\n", 1);	/* not journaled: the file stops at the last whole read */
	replayed("c", got, sizeof(got));
	CHECK_STR(got, "A1\nA");
	serial_journal_reset(&j, "c", "A3", 2);		/* A1, A2 queued; the framer holds "A3" */
	serial_journal_append(&j, "c", "\nA4\n", 4);
	serial_journal_close(&j);
	signal(SIGXFSZ, SIG_DFL);
	replayed("c", got, sizeof(got));
	CHECK_STR(got, "A3\nA4\n");
}

/*
 * A daemon whose journal for NAME holds `before` reads `port` from a pipe
 * and is killed at `where`. Returns the bytes left in the pipe (the port),
 * or -1 if the child was not killed.
 */
static int killed_reading(const char *name, const char *before, const char *port, int where)
{
	int pfd[2], status, left = -1;
	pid_t pid;

	if (pipe(pfd) < 0)
		return -1;
	if (write(pfd[1], port, strlen(port)) != (ssize_t)strlen(port))
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct serial_journal j;
		char buf[4096];
		const char *data;

		if (open_fresh(&j, name) < 0)
			_exit(2);
		serial_journal_append(&j, name, before, strlen(before));
		kill_at = where;
		serial_journal_read(&j, name, pfd[0], buf, sizeof(buf), &data);
		_exit(0);
	}
	if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL &&
	    ioctl(pfd[0], FIONREAD, &left) < 0)
		left = -1;
	close(pfd[0]);
	close(pfd[1]);
	return left;
}

/* The flake: killed as read() returns, the bytes are out of the port and in no file but the slot. */
TEST(a_kill_as_read_returns_loses_nothing)
{
	char got[256];

	CHECK_INT(killed_reading("d", "A1\nA", "2\nA3\n", KILL_AFTER_READ), 0);
	replayed("d", got, sizeof(got));
	CHECK_STR(got, "A1\nA2\nA3\n");
	/* and the next open does not recover it a second time */
	replayed("d", got, sizeof(got));
	CHECK_STR(got, "A1\nA2\nA3\n");
}

/* Killed with the slot armed but before read(): the bytes are still in the port, none are invented. */
TEST(a_kill_before_the_read_replays_nothing_new)
{
	char got[256];

	CHECK_INT(killed_reading("e", "A1\nA", "2\nA3\n", KILL_BEFORE_READ), 5);
	replayed("e", got, sizeof(got));
	CHECK_STR(got, "A1\nA");
}

/* Killed with half the read appended: the recovery puts it in once, whole. */
TEST(a_kill_in_the_append_leaves_the_read_once)
{
	char got[256];

	CHECK_INT(killed_reading("f", "A1\nA", "2\nA3\nA4\n", KILL_IN_APPEND), 0);
	replayed("f", got, sizeof(got));
	CHECK_STR(got, "A1\nA2\nA3\nA4\n");
}

/* No kill: the bytes are handed back, journaled once, and a reset forgets them. */
TEST(a_read_is_handed_back_and_journaled_once)
{
	struct serial_journal j;
	char buf[4096], got[256];
	const char *data = NULL;
	int pfd[2];

	if (open_fresh(&j, "g") < 0 || pipe(pfd) < 0) {
		CHECK(0);
		return;
	}
	CHECK_INT(write(pfd[1], "L1\nL", 4), 4);
	CHECK_INT(serial_journal_read(&j, "g", pfd[0], buf, sizeof(buf), &data), 4);
	CHECK(data && memcmp(data, "L1\nL", 4) == 0);
	CHECK(j.slot != NULL);
	replayed("g", got, sizeof(got));
	CHECK_STR(got, "L1\nL");
	serial_journal_reset(&j, "g", "L", 1);
	serial_journal_close(&j);
	replayed("g", got, sizeof(got));
	CHECK_STR(got, "L");
	close(pfd[0]);
	close(pfd[1]);
}

TEST(a_slot_of_another_format_is_set_aside)
{
	struct serial_journal j = { .fd = -1 };
	char path[128], found[400] = "", *data = NULL;
	unsigned char slot[sizeof(struct serial_journal_slot)];
	size_t len = 0;
	int fd, n_aside = 0;
	DIR *d;
	struct dirent *e;

	/* a newer format's slot claiming a landed read: not ours to recover */
	memset(slot, 'Z', sizeof(slot));
	memcpy(slot, "mqgwrd2", 8);
	snprintf(path, sizeof(path), "%s/rx-h", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/rx-h.read", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, slot, sizeof(slot)) == (ssize_t)sizeof(slot));
	if (fd >= 0)
		close(fd);
	CHECK(serial_journal_open(&j, tmpdir, "h", &data, &len) == 0);
	CHECK_INT(len, 0);
	free(data);
	CHECK(j.slot != NULL);
	serial_journal_close(&j);
	d = opendir(tmpdir);
	while (d && (e = readdir(d)))
		if (strncmp(e->d_name, "rx-h.read.bad-", 14) == 0) {
			n_aside++;
			snprintf(found, sizeof(found), "%s/%s", tmpdir, e->d_name);
		}
	if (d)
		closedir(d);
	CHECK_INT(n_aside, 1);
	if (n_aside == 1) {
		struct stat st;

		CHECK(stat(found, &st) == 0 && st.st_size == (off_t)sizeof(slot));
		unlink(found);
	}
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mqttgw-unit-rxj.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		printf("# mkdtemp: cannot make a directory under /tmp\n");
		return 1;
	}
	RUN(reads_since_the_last_reset_are_replayed);
	RUN(a_short_append_leaves_no_hole_for_the_replay);
	RUN(appends_resume_after_the_next_reset);
	RUN(a_kill_as_read_returns_loses_nothing);
	RUN(a_kill_before_the_read_replays_nothing_new);
	RUN(a_kill_in_the_append_leaves_the_read_once);
	RUN(a_read_is_handed_back_and_journaled_once);
	RUN(a_slot_of_another_format_is_set_aside);
	{
		const char *names[] = { "a", "b", "c", "d", "e", "f", "g", "h" };
		char path[128];
		size_t i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			snprintf(path, sizeof(path), "%s/rx-%s", tmpdir, names[i]);
			unlink(path);
			snprintf(path, sizeof(path), "%s/rx-%s.new", tmpdir, names[i]);
			unlink(path);
			snprintf(path, sizeof(path), "%s/rx-%s.read", tmpdir, names[i]);
			unlink(path);
		}
		rmdir(tmpdir);
	}
	return UNIT_DONE();
}
