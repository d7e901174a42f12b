/*
 * gpiosim_ctl.c - the GPIO stand-ins' control socket (MQTTGW_GPIOSIM_SOCKET):
 * the line protocol tests drive the simulated kernel of gpiosim_core.c
 * with (set, bounce, wait, info, ...; tests/sim/README.md), served by one
 * thread inside the daemon's process, started when the process opens its
 * first chip. Apart from the core so that neither file grows past a
 * screenful of concerns: the core is the "kernel", this is the test bench.
 * The thread also confirms debounced levels on time (its poll timeout).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/gpio.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "gpiosim_core.h"

#define SIM_CLIENTS 16
#define SIM_CMDLEN 512

static int sim_listen_fd = -1;
static int sim_wake[2] = { -1, -1 };
static pthread_mutex_t sim_server_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t sim_thread;
static int sim_thread_on;
static pid_t sim_thread_pid;	/* the process the control thread runs in */
static pid_t sim_owner;		/* the process that set the server up */
static volatile int sim_stop;

/* ---- control socket ---- */

#define REPLY(...) snprintf(out, outlen, __VA_ARGS__)

static const char *sim_bias_name(const struct sim_line *l)
{
	static const char *const names[] = { "as-is", "disable", "pull-up", "pull-down" };

	return l->used ? names[l->bias] : "as-is";
}

static const char *sim_edge_name(const struct sim_line *l)
{
	static const char *const names[] = { "none", "rising", "falling", "both" };

	return l->used && l->evt_w >= 0 ? names[l->edge] : "none";
}

static void sim_info(struct sim_chip *c, struct sim_line *l, char *out, size_t outlen)
{
	int queued = 0;

	if (l->evt_r >= 0 && ioctl(l->evt_r, FIONREAD, &queued) < 0)
		queued = 0;
	REPLY("ok chip=%s offset=%u name=%s used=%d consumer=%s direction=%s edge=%s active_low=%d "
	      "bias=%s drive=%s value=%d logical=%d events=%lu dropped=%lu queued=%d requests=%lu debounce_us=%lu",
	      c->name, l->offset, l->name[0] ? l->name : "-", l->used || l->foreign[0],
	      l->used ? l->consumer : l->foreign[0] ? l->foreign : "-", l->out ? "output" : "input",
	      sim_edge_name(l), sim_active_low(l), sim_bias_name(l),
	      l->out ? "output" : l->ext < 0 ? "z" : l->ext ? "1" : "0", sim_phys(l),
	      sim_phys(l) ^ sim_active_low(l), l->events, l->dropped, queued / (int)sizeof(struct gpioevent_data),
	      l->requests, l->used ? l->debounce_us : 0ul);
}

static int sim_cond_met(const struct sim_line *l, const char *cond)
{
	if (strcmp(cond, "used") == 0)
		return l->used;
	if (strcmp(cond, "free") == 0)
		return !l->used;
	return sim_phys(l) == cond[0] - '0';
}

static void sim_wait(struct sim_line *l, const char *cond, long ms, char *out, size_t outlen)
{
	uint64_t end = sim_now_ns() + (uint64_t)ms * 1000000ull, now, next, until;
	struct timespec ts;

	for (;;) {
		now = sim_now_ns();
		next = sim_debounce_run(now);
		if (sim_cond_met(l, cond)) {
			REPLY("ok %d", sim_phys(l));
			return;
		}
		if (sim_stop || now >= end) {
			REPLY("err timeout (value=%d used=%d)", sim_phys(l), l->used);
			return;
		}
		/* wake for the next debounce confirmation too: nobody else runs it now */
		until = next && next < end ? next : end;
		ts.tv_sec = (time_t)(until / 1000000000ull);
		ts.tv_nsec = (long)(until % 1000000000ull);
		pthread_cond_timedwait(&sim_cond, &sim_lock, &ts);
	}
}

/* Drive l from outside; refused while the daemon drives it as an output. */
static int sim_drive(struct sim_chip *c, struct sim_line *l, int level, char *out, size_t outlen)
{
	if (l->out && l->used) {
		REPLY("err line %u on %s is an output driven by \"%s\"", l->offset, c->name, l->consumer);
		return -1;
	}
	l->out = 0;
	l->ext = level;
	sim_changed(l);
	REPLY("ok %d", sim_phys(l));
	return 0;
}

static void sim_bounce(struct sim_chip *c, struct sim_line *l, int level, long n, long us, char *out,
		       size_t outlen)
{
	long i;

	for (i = 0; i < n && !sim_stop; i++) {
		if (sim_drive(c, l, level ^ (int)((n - 1 - i) & 1), out, outlen) < 0)
			return;
		if (i + 1 < n && us > 0) {
			pthread_mutex_unlock(&sim_lock);
			usleep((useconds_t)us);
			pthread_mutex_lock(&sim_lock);
			sim_debounce_run(sim_now_ns());
		}
	}
}

static const char sim_help[] =
	"ok commands: list | stats | set CHIP LINE 0|1 | float CHIP LINE | get CHIP LINE | "
	"info CHIP LINE | bounce CHIP LINE LEVEL N US | claim CHIP LINE CONSUMER | unclaim CHIP LINE | "
	"wait CHIP LINE 0|1|used|free MS | quit";

static void sim_command(char *cmd, char *out, size_t outlen)
{
	char *t[8] = { NULL }, *save = NULL, *tok;
	struct sim_chip *c = NULL;
	struct sim_line *l = NULL;
	long a = 0, b = 0, v = 0;
	int n = 0;
	size_t len;
	unsigned int i, j;

	for (tok = strtok_r(cmd, " \t\r\n", &save); tok && n < 8; tok = strtok_r(NULL, " \t\r\n", &save))
		t[n++] = tok;
	if (n == 0 || strcmp(t[0], "help") == 0) {
		REPLY("%s", sim_help);
		return;
	}
	if (strcmp(t[0], "list") == 0) {
		len = (size_t)REPLY("ok");
		for (i = 0; i < sim_nchips && len < outlen; i++)
			len += (size_t)snprintf(out + len, outlen - len, " %s:%s:%u", sim_chips[i].name,
						sim_chips[i].label, sim_chips[i].num_lines);
		return;
	}
	if (strcmp(t[0], "stats") == 0) {
		for (i = 0, a = 0; i < sim_nchips; i++)
			for (j = 0; j < sim_chips[i].num_lines; j++)
				a += sim_chips[i].lines[j].used;
		REPLY("ok chips_open=%lu lines_requested=%ld", sim_open_chips, a);
		return;
	}
	if (n < 3) {
		REPLY("err usage: %s CHIP LINE ... (try help)", t[0]);
		return;
	}
	c = sim_chip_find(t[1]);
	if (!c) {
		REPLY("err no chip \"%s\"", t[1]);
		return;
	}
	l = sim_line_find(c, t[2]);
	if (!l) {
		REPLY("err no line \"%s\" on %s (%u lines)", t[2], c->name, c->num_lines);
		return;
	}
	if (strcmp(t[0], "set") == 0 && n == 4 && sim_parse_long(t[3], 0, 1, &v) == 0) {
		sim_drive(c, l, (int)v, out, outlen);
	} else if (strcmp(t[0], "float") == 0 && n == 3) {
		sim_drive(c, l, -1, out, outlen);
	} else if (strcmp(t[0], "get") == 0 && n == 3) {
		REPLY("ok %d", sim_phys(l));
	} else if (strcmp(t[0], "info") == 0 && n == 3) {
		sim_info(c, l, out, outlen);
	} else if (strcmp(t[0], "bounce") == 0 && n == 6 && sim_parse_long(t[3], 0, 1, &v) == 0 &&
		   sim_parse_long(t[4], 1, 10000, &a) == 0 && sim_parse_long(t[5], 0, 1000000, &b) == 0) {
		if (a * b > 10000000L)
			REPLY("err a bounce may last 10 s at most");
		else
			sim_bounce(c, l, (int)v, a, b, out, outlen);
	} else if (strcmp(t[0], "claim") == 0 && n == 4 && strlen(t[3]) < SIM_NAMELEN) {
		if (l->used)
			REPLY("err line %u on %s is requested by \"%s\"", l->offset, c->name, l->consumer);
		else {
			strcpy(l->foreign, t[3]);
			REPLY("ok");
		}
	} else if (strcmp(t[0], "unclaim") == 0 && n == 3) {
		l->foreign[0] = '\0';
		REPLY("ok");
	} else if (strcmp(t[0], "wait") == 0 && n == 5 &&
		   (strcmp(t[3], "used") == 0 || strcmp(t[3], "free") == 0 || strcmp(t[3], "0") == 0 ||
		    strcmp(t[3], "1") == 0) &&
		   sim_parse_long(t[4], 0, 600000, &a) == 0) {
		sim_wait(l, t[3], a, out, outlen);
	} else {
		REPLY("err bad command or arguments (try help)");
	}
}

struct sim_client {
	int fd;
	size_t len;
	char buf[SIM_CMDLEN];
};

/* Serve the complete lines in cl; -1 when the client is done. */
static int sim_client_lines(struct sim_client *cl)
{
	char reply[1024];
	char *nl;

	while ((nl = memchr(cl->buf, '\n', cl->len))) {
		size_t n = (size_t)(nl - cl->buf) + 1;

		*nl = '\0';
		if (strncmp(cl->buf, "quit", 4) == 0)
			return -1;
		pthread_mutex_lock(&sim_lock);
		sim_command(cl->buf, reply, sizeof(reply) - 1);
		pthread_mutex_unlock(&sim_lock);
		strcat(reply, "\n");
		if (send(cl->fd, reply, strlen(reply), MSG_NOSIGNAL) < 0)
			return -1;
		memmove(cl->buf, cl->buf + n, cl->len - n);
		cl->len -= n;
	}
	if (cl->len == sizeof(cl->buf)) {
		send(cl->fd, "err line too long\n", 18, MSG_NOSIGNAL);
		return -1;
	}
	return 0;
}

static void *sim_serve(void *arg)
{
	struct sim_client cl[SIM_CLIENTS];
	struct pollfd pfd[SIM_CLIENTS + 2];
	int i, ncl = 0, timeout;
	uint64_t now, next;

	(void)arg;
	while (!sim_stop) {
		pthread_mutex_lock(&sim_lock);
		now = sim_now_ns();
		next = sim_debounce_run(now);
		pthread_mutex_unlock(&sim_lock);
		timeout = next ? (int)((next - now + 999999ull) / 1000000ull) : -1;
		pfd[0].fd = sim_wake[0];
		pfd[0].events = POLLIN;
		pfd[1].fd = sim_listen_fd;
		pfd[1].events = ncl < SIM_CLIENTS ? POLLIN : 0;
		for (i = 0; i < ncl; i++) {
			pfd[i + 2].fd = cl[i].fd;
			pfd[i + 2].events = POLLIN;
		}
		if (poll(pfd, (nfds_t)ncl + 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents)
			break;
		for (i = ncl - 1; i >= 0; i--) {
			ssize_t r;

			if (!pfd[i + 2].revents)
				continue;
			r = recv(cl[i].fd, cl[i].buf + cl[i].len, sizeof(cl[i].buf) - cl[i].len, 0);
			if (r > 0) {
				cl[i].len += (size_t)r;
				if (sim_client_lines(&cl[i]) == 0)
					continue;
			} else if (r < 0 && errno == EINTR) {
				continue;
			}
			close(cl[i].fd);
			cl[i] = cl[--ncl];
		}
		if (pfd[1].revents & POLLIN) {
			int fd = accept4(sim_listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0) {
				cl[ncl].fd = fd;
				cl[ncl].len = 0;
				ncl++;
			}
		}
	}
	for (i = 0; i < ncl; i++)
		close(cl[i].fd);
	return NULL;
}

/*
 * The thread starts with every signal blocked: it may well exist before the
 * daemon blocks SIGTERM for its signalfd, and a thread that leaves a signal
 * unblocked gets the process-directed ones, whose default action kills.
 */
static void sim_start_thread(void)
{
	sigset_t all, old;
	int rc;

	if (pipe2(sim_wake, O_CLOEXEC) < 0)
		return;
	sim_stop = 0;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&sim_thread, NULL, sim_serve, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		fprintf(stderr, "gpiosim: cannot start the control thread\n");
		close(sim_wake[0]);
		close(sim_wake[1]);
		return;
	}
	sim_thread_on = 1;
	sim_thread_pid = getpid();
}

static void sim_listen(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "gpiosim: MQTTGW_GPIOSIM_SOCKET path too long: %s\n", path);
		_exit(97);
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	/* Someone serves it already (a child we exec'd inherits LD_PRELOAD): leave it. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		fprintf(stderr, "gpiosim: %s is served by another process; not serving it\n", path);
		close(fd);
		return;
	}
	close(fd);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
		fprintf(stderr, "gpiosim: cannot listen on %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	sim_listen_fd = fd;
	sim_start_thread();
}

/*
 * Serve the control socket from the first process that opens a chip, not
 * from every process the library is loaded into: a wrapper (timeout, sh,
 * valgrind's launcher) inherits LD_PRELOAD but never touches GPIO, and must
 * not take the socket from the daemon it starts. A daemonizing child takes
 * over the listening socket it inherited.
 */
void sim_ensure_server(void)
{
	const char *path = getenv("MQTTGW_GPIOSIM_SOCKET");

	pthread_mutex_lock(&sim_server_lock);
	if (sim_owner != getpid()) {
		sim_owner = getpid();
		if (sim_listen_fd >= 0)
			sim_start_thread();
		else if (path && *path)
			sim_listen(path);
	}
	pthread_mutex_unlock(&sim_server_lock);
}

static void sim_atfork_prepare(void)
{
	pthread_mutex_lock(&sim_server_lock);
	pthread_mutex_lock(&sim_lock);
}

static void sim_atfork_parent(void)
{
	pthread_mutex_unlock(&sim_lock);
	pthread_mutex_unlock(&sim_server_lock);
}

static void sim_atfork_child(void)
{
	pthread_mutex_unlock(&sim_lock);
	pthread_mutex_unlock(&sim_server_lock);
	if (sim_thread_on) {
		close(sim_wake[0]);
		close(sim_wake[1]);
		sim_wake[0] = sim_wake[1] = -1;
	}
	sim_thread_on = 0;
}

void sim_ctl_init(void)
{
	pthread_atfork(sim_atfork_prepare, sim_atfork_parent, sim_atfork_child);
}

void sim_ctl_fini(void)
{
	if (sim_thread_on && sim_thread_pid == getpid()) {
		pthread_mutex_lock(&sim_lock);
		sim_stop = 1;
		pthread_cond_broadcast(&sim_cond);
		pthread_mutex_unlock(&sim_lock);
		if (write(sim_wake[1], "x", 1) == 1)
			pthread_join(sim_thread, NULL);
		sim_thread_on = 0;
		/* the socket file stays: a daemonizing child may still serve it */
		close(sim_wake[0]);
		close(sim_wake[1]);
		close(sim_listen_fd);
		sim_listen_fd = -1;
	}
}
