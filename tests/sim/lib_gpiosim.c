/*
 * lib_gpiosim.c - a libgpiod 1.6 stand-in, LD_PRELOADed into the unmodified
 * daemon so GPIO runs end to end on a box without GPIO (the kernel's gpio-sim
 * is not available here).
 *
 * It exports the libgpiod 1.6 API (chips, lines, requests, values, events,
 * iterators) with libgpiod's semantics and errno values: ENOENT for a
 * missing chip or line name, EINVAL for an offset out of range or a bad
 * request, EBUSY for a line already requested, EPERM for values or events on
 * a line not requested that way. Preloaded, its symbols win over the real
 * -lgpiod the daemon links. The real library's helpers that only use the
 * public API (ctxless, bulk request wrappers) still run, calling back into
 * these; the set_config family, which would touch the real library's own
 * structs, fails with ENOTSUP. The unmodified libgpiod tools (gpioinfo,
 * gpioget, gpioset, gpiomon) run on it too.
 *
 * The simulated "kernel" is a table of chips built from MQTTGW_GPIOSIM at
 * load time; each line has a physical level: driven by the daemon (outputs),
 * else driven from outside through the control socket, else its bias.
 * Logical = physical ^ active_low, as the kernel does it. Every requested
 * event line gets a socket pair whose read end is the daemon's event fd: an
 * edge writes one struct gpioevent_data (the kernel v1 ABI libgpiod 1.6
 * reads), so poll() on that fd behaves as on real hardware, including a
 * 16-event FIFO that drops on overflow.
 *
 * Tests drive it through a line protocol on a Unix socket
 * (MQTTGW_GPIOSIM_SOCKET), served by one thread in the daemon's process; one
 * mutex guards the table. tests/sim/README.md ("GPIO stand-in") documents the
 * env syntax and the commands; prog_gpioctl is the command-line client.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gpiod.h>
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

#define SIM_NAMELEN 32
#define SIM_FIFO 16		/* events a line holds before dropping, as the kernel */
#define SIM_CLIENTS 16
#define SIM_CMDLEN 512

enum { SIM_FREE, SIM_REQ_VALUES, SIM_REQ_EVENTS };

struct sim_line {
	unsigned int offset;
	char name[SIM_NAMELEN];
	int ext;			/* driven from outside: -1 floating, 0, 1 */
	int out;			/* the pin is an output (stays so after release) */
	int outval;			/* physical level the output drives */
	int pull;			/* -1 none, 0 pull-down, 1 pull-up */
	int used;			/* requested through this library */
	char foreign[SIM_NAMELEN];	/* held by another consumer, "" if not */
	char consumer[SIM_NAMELEN];
	int req_type, req_flags;
	int evt_w, evt_r;		/* event socket pair while requested for events */
	int last;			/* physical level at the last edge check */
	unsigned long events, dropped, requests;
};

struct sim_chip {
	char name[SIM_NAMELEN];
	char label[SIM_NAMELEN];
	unsigned int num_lines;
	struct sim_line *lines;
};

struct gpiod_chip {
	struct sim_chip *sim;
	struct gpiod_line **lines;
};

struct gpiod_line {
	struct gpiod_chip *chip;
	struct sim_line *sim;
	int state;
	int fd;				/* event fd (the pair's read end) or -1 */
	int req_type, req_flags;
	/* info cache, refreshed by gpiod_line_update() as libgpiod does */
	char name[SIM_NAMELEN];
	char consumer[SIM_NAMELEN];
	int direction, active_state, bias, used;
};

struct gpiod_chip_iter {
	struct gpiod_chip **chips;
	unsigned int num, offset;
};

struct gpiod_line_iter {
	struct gpiod_line **lines;
	unsigned int num, offset;
};

static pthread_mutex_t sim_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sim_cond = PTHREAD_COND_INITIALIZER;
static struct sim_chip *sim_chips;
static unsigned int sim_nchips;
static unsigned long sim_open_chips;	/* chip handles open in this process */
static int sim_listen_fd = -1;
static int sim_wake[2] = { -1, -1 };
static pthread_mutex_t sim_server_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t sim_thread;
static int sim_thread_on;
static pid_t sim_thread_pid;	/* the process the control thread runs in */
static pid_t sim_owner;		/* the process that set the server up */
static volatile int sim_stop;
static int sim_trace_fd = -1;	/* MQTTGW_GPIOSIM_TRACE: what happened, for after exit */

/* ---- the simulated kernel (all under sim_lock) ---- */

static int sim_phys(const struct sim_line *l)
{
	if (l->out)
		return l->outval;
	if (l->ext >= 0)
		return l->ext;
	return l->pull == 1;
}

static int sim_active_low(const struct sim_line *l)
{
	return l->used && (l->req_flags & GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) ? 1 : 0;
}

/* One trace line: "MS CHIP OFFSET WHAT [DETAIL] LEVEL" (under sim_lock). */
static void sim_trace(const struct sim_line *l, const char *what, const char *detail)
{
	const struct sim_chip *c;
	struct timespec ts;
	unsigned int i;

	if (sim_trace_fd < 0)
		return;
	for (i = 0, c = sim_chips; i < sim_nchips; i++, c++)
		if (l >= c->lines && l < c->lines + c->num_lines)
			break;
	if (i == sim_nchips)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	dprintf(sim_trace_fd, "%lld %s %u %s%s%s %d\n", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, c->name,
		l->offset, what, detail ? " " : "", detail ? detail : "", sim_phys(l));
}

static void sim_push(struct sim_line *l, int rising)
{
	struct gpioevent_data ev;
	struct timespec ts;
	int queued = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	memset(&ev, 0, sizeof(ev));
	ev.timestamp = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	ev.id = rising ? GPIOEVENT_EVENT_RISING_EDGE : GPIOEVENT_EVENT_FALLING_EDGE;
	if (ioctl(l->evt_r, FIONREAD, &queued) == 0 && queued / (int)sizeof(ev) >= SIM_FIFO) {
		l->dropped++;
		return;
	}
	if (send(l->evt_w, &ev, sizeof(ev), MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(ev))
		l->events++;
	else
		l->dropped++;
}

/* Something about l changed: queue an edge event if its level did, wake waiters. */
static void sim_changed(struct sim_line *l)
{
	int phys = sim_phys(l);

	if (phys != l->last) {
		int logical = phys ^ sim_active_low(l);

		l->last = phys;
		sim_trace(l, "value", NULL);
		if (l->evt_w >= 0 &&
		    (l->req_type == GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES ||
		     (l->req_type == GPIOD_LINE_REQUEST_EVENT_RISING_EDGE && logical) ||
		     (l->req_type == GPIOD_LINE_REQUEST_EVENT_FALLING_EDGE && !logical)))
			sim_push(l, logical);
	}
	pthread_cond_broadcast(&sim_cond);
}

static struct sim_chip *sim_chip_find(const char *s)
{
	unsigned int i;

	if (strncmp(s, "/dev/", 5) == 0)
		s += 5;
	for (i = 0; i < sim_nchips; i++)
		if (strcmp(sim_chips[i].name, s) == 0 || strcmp(sim_chips[i].label, s) == 0)
			return &sim_chips[i];
	return NULL;
}

static int sim_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static struct sim_line *sim_line_find(struct sim_chip *c, const char *s)
{
	unsigned int i;
	long v;

	if (sim_parse_long(s, 0, (long)c->num_lines - 1, &v) == 0)
		return &c->lines[v];
	for (i = 0; i < c->num_lines; i++)
		if (c->lines[i].name[0] && strcmp(c->lines[i].name, s) == 0)
			return &c->lines[i];
	return NULL;
}

/* ---- MQTTGW_GPIOSIM: "NAME:LABEL:NUM[:LINE,...];..." (see README) ---- */

static int sim_parse_line(struct sim_chip *c, char *spec)
{
	char *eq = strchr(spec, '='), *at, *bang, *num = spec;
	struct sim_line *l;
	long off;

	bang = strchr(spec, '!');
	if (bang)
		*bang++ = '\0';
	at = strchr(spec, '@');
	if (at)
		*at++ = '\0';
	if (eq && (!bang || eq < bang)) {
		*eq = '\0';
		num = eq + 1;
	} else {
		eq = NULL;
	}
	if (sim_parse_long(num, 0, (long)c->num_lines - 1, &off) < 0)
		return -1;
	l = &c->lines[off];
	if (eq) {
		if (!*spec || strlen(spec) >= SIM_NAMELEN)
			return -1;
		strcpy(l->name, spec);
	}
	if (at) {
		if (strcmp(at, "0") == 0 || strcmp(at, "1") == 0)
			l->ext = at[0] - '0';
		else if (strcmp(at, "z") != 0)
			return -1;
	}
	if (bang) {
		if (!*bang || strlen(bang) >= SIM_NAMELEN)
			return -1;
		strcpy(l->foreign, bang);
	}
	l->last = sim_phys(l);
	return 0;
}

static int sim_parse_chip(char *spec)
{
	char *f[4] = { NULL }, *save = NULL, *tok;
	struct sim_chip *c, *grown;
	unsigned int i;
	long n;
	int k = 0;

	f[0] = spec;
	for (k = 1; k < 4; k++) {
		f[k] = strchr(f[k - 1], ':');
		if (!f[k])
			break;
		*f[k]++ = '\0';
	}
	if (k < 3 || !*f[0] || strlen(f[0]) >= SIM_NAMELEN || strlen(f[1]) >= SIM_NAMELEN ||
	    sim_parse_long(f[2], 1, 1024, &n) < 0 || sim_chip_find(f[0]))
		return -1;
	grown = realloc(sim_chips, (sim_nchips + 1) * sizeof(*sim_chips));
	if (!grown)
		return -1;
	sim_chips = grown;
	c = &sim_chips[sim_nchips];
	memset(c, 0, sizeof(*c));
	strcpy(c->name, f[0]);
	strcpy(c->label, *f[1] ? f[1] : "unknown");
	c->num_lines = (unsigned int)n;
	c->lines = calloc(c->num_lines, sizeof(*c->lines));
	if (!c->lines)
		return -1;
	for (i = 0; i < c->num_lines; i++) {
		c->lines[i].offset = i;
		c->lines[i].ext = -1;
		c->lines[i].pull = -1;
		c->lines[i].evt_w = c->lines[i].evt_r = -1;
	}
	sim_nchips++;
	if (k == 4)
		for (tok = strtok_r(f[3], ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			if (sim_parse_line(c, tok) < 0) {
				fprintf(stderr, "gpiosim: MQTTGW_GPIOSIM: bad line \"%s\" on %s\n", tok, c->name);
				return -1;
			}
	return 0;
}

static void sim_parse_env(void)
{
	const char *env = getenv("MQTTGW_GPIOSIM");
	char *copy, *save = NULL, *tok;

	if (!env || !*env) {
		fprintf(stderr, "gpiosim: MQTTGW_GPIOSIM is not set: no GPIO chips\n");
		return;
	}
	copy = strdup(env);
	if (!copy)
		_exit(97);
	for (tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		while (isspace((unsigned char)*tok))
			tok++;
		if (!*tok)
			continue;
		if (sim_parse_chip(tok) < 0) {
			fprintf(stderr, "gpiosim: bad MQTTGW_GPIOSIM near \"%s\" "
				"(want NAME:LABEL:NUM_LINES[:[LINENAME=]OFFSET[@0|1|z][!CONSUMER],...];...)\n", tok);
			_exit(97);
		}
	}
	free(copy);
}

/* ---- control socket ---- */

#define REPLY(...) snprintf(out, outlen, __VA_ARGS__)

static const char *sim_bias_name(int flags)
{
	if (flags & GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP)
		return "pull-up";
	if (flags & GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN)
		return "pull-down";
	if (flags & GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE)
		return "disable";
	return "as-is";
}

static const char *sim_edge_name(const struct sim_line *l)
{
	if (!l->used || l->evt_w < 0)
		return "none";
	if (l->req_type == GPIOD_LINE_REQUEST_EVENT_RISING_EDGE)
		return "rising";
	if (l->req_type == GPIOD_LINE_REQUEST_EVENT_FALLING_EDGE)
		return "falling";
	return "both";
}

static void sim_info(struct sim_chip *c, struct sim_line *l, char *out, size_t outlen)
{
	int queued = 0;

	if (l->evt_r >= 0 && ioctl(l->evt_r, FIONREAD, &queued) < 0)
		queued = 0;
	REPLY("ok chip=%s offset=%u name=%s used=%d consumer=%s direction=%s edge=%s active_low=%d "
	      "bias=%s drive=%s value=%d logical=%d events=%lu dropped=%lu queued=%d requests=%lu",
	      c->name, l->offset, l->name[0] ? l->name : "-", l->used || l->foreign[0],
	      l->used ? l->consumer : l->foreign[0] ? l->foreign : "-", l->out ? "output" : "input",
	      sim_edge_name(l), sim_active_low(l), l->used ? sim_bias_name(l->req_flags) : "as-is",
	      l->out ? "output" : l->ext < 0 ? "z" : l->ext ? "1" : "0", sim_phys(l),
	      sim_phys(l) ^ sim_active_low(l), l->events, l->dropped, queued / (int)sizeof(struct gpioevent_data),
	      l->requests);
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
	struct timespec end, now;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += ms / 1000;
	end.tv_nsec += (ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	for (;;) {
		if (sim_cond_met(l, cond)) {
			REPLY("ok %d", sim_phys(l));
			return;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (sim_stop || now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec)) {
			REPLY("err timeout (value=%d used=%d)", sim_phys(l), l->used);
			return;
		}
		pthread_cond_timedwait(&sim_cond, &sim_lock, &end);
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
	int i, ncl = 0;

	(void)arg;
	while (!sim_stop) {
		pfd[0].fd = sim_wake[0];
		pfd[0].events = POLLIN;
		pfd[1].fd = sim_listen_fd;
		pfd[1].events = ncl < SIM_CLIENTS ? POLLIN : 0;
		for (i = 0; i < ncl; i++) {
			pfd[i + 2].fd = cl[i].fd;
			pfd[i + 2].events = POLLIN;
		}
		if (poll(pfd, (nfds_t)ncl + 2, -1) < 0) {
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
static void sim_ensure_server(void)
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

__attribute__((constructor)) static void sim_init(void)
{
	const char *trace = getenv("MQTTGW_GPIOSIM_TRACE");
	pthread_condattr_t ca;

	/* waits measure CLOCK_MONOTONIC, immune to clock steps */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sim_cond, &ca);
	pthread_condattr_destroy(&ca);
	sim_parse_env();
	pthread_atfork(sim_atfork_prepare, sim_atfork_parent, sim_atfork_child);
	if (trace && *trace) {
		sim_trace_fd = open(trace, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (sim_trace_fd < 0)
			fprintf(stderr, "gpiosim: cannot open MQTTGW_GPIOSIM_TRACE %s: %s\n", trace, strerror(errno));
	}
}

__attribute__((destructor)) static void sim_fini(void)
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
	if (sim_trace_fd >= 0)
		close(sim_trace_fd);
	sim_trace_fd = -1;
}

/* ---- libgpiod 1.6: chips ---- */

static struct gpiod_chip *sim_chip_open(struct sim_chip *sc)
{
	struct gpiod_chip *chip;

	sim_ensure_server();
	chip = calloc(1, sizeof(*chip));
	if (!chip)
		return NULL;
	chip->lines = calloc(sc->num_lines, sizeof(*chip->lines));
	if (!chip->lines) {
		free(chip);
		return NULL;
	}
	chip->sim = sc;
	pthread_mutex_lock(&sim_lock);
	sim_open_chips++;
	pthread_mutex_unlock(&sim_lock);
	return chip;
}

struct gpiod_chip *gpiod_chip_open(const char *path)
{
	unsigned int i;

	if (strncmp(path, "/dev/", 5) == 0)
		for (i = 0; i < sim_nchips; i++)
			if (strcmp(sim_chips[i].name, path + 5) == 0)
				return sim_chip_open(&sim_chips[i]);
	/* libgpiod: ENOENT from open(), ENOTTY for a file that is not a chip */
	errno = access(path, F_OK) == 0 ? ENOTTY : ENOENT;
	return NULL;
}

struct gpiod_chip *gpiod_chip_open_by_name(const char *name)
{
	char path[64];

	if (snprintf(path, sizeof(path), "/dev/%s", name) >= (int)sizeof(path)) {
		errno = ENOENT;
		return NULL;
	}
	return gpiod_chip_open(path);
}

struct gpiod_chip *gpiod_chip_open_by_number(unsigned int num)
{
	char path[64];

	snprintf(path, sizeof(path), "/dev/gpiochip%u", num);
	return gpiod_chip_open(path);
}

struct gpiod_chip *gpiod_chip_open_by_label(const char *label)
{
	unsigned int i;

	for (i = 0; i < sim_nchips; i++)
		if (strcmp(sim_chips[i].label, label) == 0)
			return sim_chip_open(&sim_chips[i]);
	errno = ENOENT;
	return NULL;
}

/* As libgpiod 1.6: a number, else a label, else a name or a /dev path. */
struct gpiod_chip *gpiod_chip_open_lookup(const char *descr)
{
	struct gpiod_chip *chip;
	const char *p;

	for (p = descr; *p && isdigit((unsigned char)*p); p++)
		;
	if (!*p)
		return gpiod_chip_open_by_number((unsigned int)strtoul(descr, NULL, 10));
	chip = gpiod_chip_open_by_label(descr);
	if (chip)
		return chip;
	return strncmp(descr, "/dev/", 5) ? gpiod_chip_open_by_name(descr) : gpiod_chip_open(descr);
}

void gpiod_chip_close(struct gpiod_chip *chip)
{
	unsigned int i;

	if (!chip)
		return;
	for (i = 0; i < chip->sim->num_lines; i++)
		if (chip->lines[i]) {
			gpiod_line_release(chip->lines[i]);
			free(chip->lines[i]);
		}
	free(chip->lines);
	pthread_mutex_lock(&sim_lock);
	sim_open_chips--;
	pthread_mutex_unlock(&sim_lock);
	free(chip);
}

const char *gpiod_chip_name(struct gpiod_chip *chip)
{
	return chip->sim->name;
}

const char *gpiod_chip_label(struct gpiod_chip *chip)
{
	return chip->sim->label;
}

unsigned int gpiod_chip_num_lines(struct gpiod_chip *chip)
{
	return chip->sim->num_lines;
}

struct gpiod_line *gpiod_chip_get_line(struct gpiod_chip *chip, unsigned int offset)
{
	struct gpiod_line *line;

	if (offset >= chip->sim->num_lines) {
		errno = EINVAL;
		return NULL;
	}
	line = chip->lines[offset];
	if (!line) {
		line = calloc(1, sizeof(*line));
		if (!line)
			return NULL;
		line->chip = chip;
		line->sim = &chip->sim->lines[offset];
		line->fd = -1;
		chip->lines[offset] = line;
	}
	gpiod_line_update(line);
	return line;
}

int gpiod_chip_get_lines(struct gpiod_chip *chip, unsigned int *offsets, unsigned int num_offsets,
			 struct gpiod_line_bulk *bulk)
{
	unsigned int i;

	gpiod_line_bulk_init(bulk);
	for (i = 0; i < num_offsets && i < GPIOD_LINE_BULK_MAX_LINES; i++) {
		struct gpiod_line *line = gpiod_chip_get_line(chip, offsets[i]);

		if (!line)
			return -1;
		gpiod_line_bulk_add(bulk, line);
	}
	return 0;
}

int gpiod_chip_get_all_lines(struct gpiod_chip *chip, struct gpiod_line_bulk *bulk)
{
	unsigned int i;

	gpiod_line_bulk_init(bulk);
	for (i = 0; i < chip->sim->num_lines && i < GPIOD_LINE_BULK_MAX_LINES; i++) {
		struct gpiod_line *line = gpiod_chip_get_line(chip, i);

		if (!line)
			return -1;
		gpiod_line_bulk_add(bulk, line);
	}
	return 0;
}

struct gpiod_line *gpiod_chip_find_line(struct gpiod_chip *chip, const char *name)
{
	unsigned int i;

	for (i = 0; i < chip->sim->num_lines; i++)
		if (strcmp(chip->sim->lines[i].name, name) == 0)
			return gpiod_chip_get_line(chip, i);
	errno = ENOENT;
	return NULL;
}

int gpiod_chip_find_lines(struct gpiod_chip *chip, const char **names, struct gpiod_line_bulk *bulk)
{
	unsigned int i;

	gpiod_line_bulk_init(bulk);
	for (i = 0; names[i] && i < GPIOD_LINE_BULK_MAX_LINES; i++) {
		struct gpiod_line *line = gpiod_chip_find_line(chip, names[i]);

		if (!line)
			return -1;
		gpiod_line_bulk_add(bulk, line);
	}
	return 0;
}

struct gpiod_chip_iter *gpiod_chip_iter_new(void)
{
	struct gpiod_chip_iter *it = calloc(1, sizeof(*it));
	unsigned int i;

	if (!it)
		return NULL;
	it->chips = calloc(sim_nchips ? sim_nchips : 1, sizeof(*it->chips));
	if (!it->chips) {
		free(it);
		return NULL;
	}
	for (i = 0; i < sim_nchips; i++) {
		it->chips[i] = sim_chip_open(&sim_chips[i]);
		if (!it->chips[i]) {
			it->num = i;
			gpiod_chip_iter_free_noclose(it);
			return NULL;
		}
	}
	it->num = sim_nchips;
	return it;
}

void gpiod_chip_iter_free_noclose(struct gpiod_chip_iter *iter)
{
	unsigned int i;

	for (i = iter->offset; i < iter->num; i++)
		gpiod_chip_close(iter->chips[i]);
	free(iter->chips);
	free(iter);
}

void gpiod_chip_iter_free(struct gpiod_chip_iter *iter)
{
	if (iter->offset > 0 && iter->offset < iter->num)
		gpiod_chip_close(iter->chips[iter->offset - 1]);
	gpiod_chip_iter_free_noclose(iter);
}

struct gpiod_chip *gpiod_chip_iter_next_noclose(struct gpiod_chip_iter *iter)
{
	return iter->offset < iter->num ? iter->chips[iter->offset++] : NULL;
}

struct gpiod_chip *gpiod_chip_iter_next(struct gpiod_chip_iter *iter)
{
	if (iter->offset > 0) {
		gpiod_chip_close(iter->chips[iter->offset - 1]);
		iter->chips[iter->offset - 1] = NULL;
	}
	return gpiod_chip_iter_next_noclose(iter);
}

struct gpiod_line_iter *gpiod_line_iter_new(struct gpiod_chip *chip)
{
	struct gpiod_line_iter *it = calloc(1, sizeof(*it));
	unsigned int i;

	if (!it)
		return NULL;
	it->lines = calloc(chip->sim->num_lines, sizeof(*it->lines));
	if (!it->lines) {
		free(it);
		return NULL;
	}
	for (i = 0; i < chip->sim->num_lines; i++) {
		it->lines[i] = gpiod_chip_get_line(chip, i);
		if (!it->lines[i]) {
			gpiod_line_iter_free(it);
			return NULL;
		}
	}
	it->num = chip->sim->num_lines;
	return it;
}

void gpiod_line_iter_free(struct gpiod_line_iter *iter)
{
	free(iter->lines);
	free(iter);
}

struct gpiod_line *gpiod_line_iter_next(struct gpiod_line_iter *iter)
{
	return iter->offset < iter->num ? iter->lines[iter->offset++] : NULL;
}

/* ---- lines: info ---- */

int gpiod_line_update(struct gpiod_line *line)
{
	struct sim_line *l = line->sim;

	pthread_mutex_lock(&sim_lock);
	snprintf(line->name, sizeof(line->name), "%s", l->name);
	snprintf(line->consumer, sizeof(line->consumer), "%s", l->used ? l->consumer : l->foreign);
	line->used = l->used || l->foreign[0];
	line->direction = l->out ? GPIOD_LINE_DIRECTION_OUTPUT : GPIOD_LINE_DIRECTION_INPUT;
	line->active_state = sim_active_low(l) ? GPIOD_LINE_ACTIVE_STATE_LOW : GPIOD_LINE_ACTIVE_STATE_HIGH;
	line->bias = !l->used ? GPIOD_LINE_BIAS_AS_IS
		     : l->req_flags & GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP ? GPIOD_LINE_BIAS_PULL_UP
		     : l->req_flags & GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN ? GPIOD_LINE_BIAS_PULL_DOWN
		     : l->req_flags & GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE ? GPIOD_LINE_BIAS_DISABLE
		     : GPIOD_LINE_BIAS_AS_IS;
	pthread_mutex_unlock(&sim_lock);
	return 0;
}

bool gpiod_line_needs_update(struct gpiod_line *line)
{
	(void)line;
	return false;
}

unsigned int gpiod_line_offset(struct gpiod_line *line)
{
	return line->sim->offset;
}

const char *gpiod_line_name(struct gpiod_line *line)
{
	return line->name[0] ? line->name : NULL;
}

const char *gpiod_line_consumer(struct gpiod_line *line)
{
	return line->consumer[0] ? line->consumer : NULL;
}

int gpiod_line_direction(struct gpiod_line *line)
{
	return line->direction;
}

int gpiod_line_active_state(struct gpiod_line *line)
{
	return line->active_state;
}

int gpiod_line_bias(struct gpiod_line *line)
{
	return line->bias;
}

bool gpiod_line_is_used(struct gpiod_line *line)
{
	return line->used;
}

bool gpiod_line_is_open_drain(struct gpiod_line *line)
{
	return line->state != SIM_FREE && (line->req_flags & GPIOD_LINE_REQUEST_FLAG_OPEN_DRAIN);
}

bool gpiod_line_is_open_source(struct gpiod_line *line)
{
	return line->state != SIM_FREE && (line->req_flags & GPIOD_LINE_REQUEST_FLAG_OPEN_SOURCE);
}

struct gpiod_chip *gpiod_line_get_chip(struct gpiod_line *line)
{
	return line->chip;
}

void gpiod_line_close_chip(struct gpiod_line *line)
{
	gpiod_chip_close(line->chip);
}

struct gpiod_line *gpiod_line_get(const char *device, unsigned int offset)
{
	struct gpiod_chip *chip = gpiod_chip_open_lookup(device);
	struct gpiod_line *line;

	if (!chip)
		return NULL;
	line = gpiod_chip_get_line(chip, offset);
	if (!line) {
		int e = errno;

		gpiod_chip_close(chip);
		errno = e;
	}
	return line;
}

struct gpiod_line *gpiod_line_find(const char *name)
{
	unsigned int i;

	for (i = 0; i < sim_nchips; i++) {
		struct gpiod_chip *chip = sim_chip_open(&sim_chips[i]);
		struct gpiod_line *line;

		if (!chip)
			return NULL;
		line = gpiod_chip_find_line(chip, name);
		if (line)
			return line;
		gpiod_chip_close(chip);
	}
	errno = ENOENT;
	return NULL;
}

/* ---- lines: requests ---- */

static int sim_config_valid(const struct gpiod_line_request_config *config)
{
	int f = config->flags, bias = 0, rt = config->request_type;

	if (rt < GPIOD_LINE_REQUEST_DIRECTION_AS_IS || rt > GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES)
		return 0;
	if (rt != GPIOD_LINE_REQUEST_DIRECTION_OUTPUT &&
	    (f & (GPIOD_LINE_REQUEST_FLAG_OPEN_DRAIN | GPIOD_LINE_REQUEST_FLAG_OPEN_SOURCE)))
		return 0;
	if ((f & GPIOD_LINE_REQUEST_FLAG_OPEN_DRAIN) && (f & GPIOD_LINE_REQUEST_FLAG_OPEN_SOURCE))
		return 0;
	bias = !!(f & GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE) + !!(f & GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP) +
	       !!(f & GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN);
	if (bias > 1)
		return 0;
	/* the kernel: bias needs a direction */
	if (bias && rt == GPIOD_LINE_REQUEST_DIRECTION_AS_IS)
		return 0;
	return 1;
}

int gpiod_line_request(struct gpiod_line *line, const struct gpiod_line_request_config *config, int default_val)
{
	struct sim_line *l = line->sim;
	int rt = config->request_type, sv[2] = { -1, -1 };

	if (line->state != SIM_FREE) {
		errno = EBUSY;
		return -1;
	}
	if (!sim_config_valid(config)) {
		errno = EINVAL;
		return -1;
	}
	if (rt >= GPIOD_LINE_REQUEST_EVENT_FALLING_EDGE &&
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pthread_mutex_lock(&sim_lock);
	if (l->used || l->foreign[0]) {
		pthread_mutex_unlock(&sim_lock);
		if (sv[0] >= 0) {
			close(sv[0]);
			close(sv[1]);
		}
		errno = EBUSY;
		return -1;
	}
	l->used = 1;
	l->requests++;
	snprintf(l->consumer, sizeof(l->consumer), "%s",
		 config->consumer && config->consumer[0] ? config->consumer : "?");
	l->req_type = rt;
	l->req_flags = config->flags;
	if (config->flags & GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP)
		l->pull = 1;
	else if (config->flags & GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN)
		l->pull = 0;
	else if (config->flags & GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE)
		l->pull = -1;
	if (rt == GPIOD_LINE_REQUEST_DIRECTION_OUTPUT) {
		l->out = 1;
		l->outval = (default_val ? 1 : 0) ^ sim_active_low(l);
	} else if (rt != GPIOD_LINE_REQUEST_DIRECTION_AS_IS) {
		l->out = 0;
	}
	l->evt_r = sv[0];
	l->evt_w = sv[1];
	l->last = sim_phys(l);	/* no edge for what the request itself did */
	sim_trace(l, rt == GPIOD_LINE_REQUEST_DIRECTION_OUTPUT ? "request output" : "request input", l->consumer);
	pthread_cond_broadcast(&sim_cond);
	pthread_mutex_unlock(&sim_lock);
	line->fd = sv[0];
	line->state = sv[0] >= 0 ? SIM_REQ_EVENTS : SIM_REQ_VALUES;
	line->req_type = rt;
	line->req_flags = config->flags;
	gpiod_line_update(line);
	return 0;
}

static int sim_request(struct gpiod_line *line, const char *consumer, int type, int flags, int value)
{
	struct gpiod_line_request_config c = { consumer, type, flags };

	return gpiod_line_request(line, &c, value);
}

int gpiod_line_request_input_flags(struct gpiod_line *line, const char *consumer, int flags)
{
	return sim_request(line, consumer, GPIOD_LINE_REQUEST_DIRECTION_INPUT, flags, 0);
}

int gpiod_line_request_output_flags(struct gpiod_line *line, const char *consumer, int flags, int default_val)
{
	return sim_request(line, consumer, GPIOD_LINE_REQUEST_DIRECTION_OUTPUT, flags, default_val);
}

int gpiod_line_request_rising_edge_events_flags(struct gpiod_line *line, const char *consumer, int flags)
{
	return sim_request(line, consumer, GPIOD_LINE_REQUEST_EVENT_RISING_EDGE, flags, 0);
}

int gpiod_line_request_falling_edge_events_flags(struct gpiod_line *line, const char *consumer, int flags)
{
	return sim_request(line, consumer, GPIOD_LINE_REQUEST_EVENT_FALLING_EDGE, flags, 0);
}

int gpiod_line_request_both_edges_events_flags(struct gpiod_line *line, const char *consumer, int flags)
{
	return sim_request(line, consumer, GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES, flags, 0);
}

int gpiod_line_request_input(struct gpiod_line *line, const char *consumer)
{
	return gpiod_line_request_input_flags(line, consumer, 0);
}

int gpiod_line_request_output(struct gpiod_line *line, const char *consumer, int default_val)
{
	return gpiod_line_request_output_flags(line, consumer, 0, default_val);
}

int gpiod_line_request_rising_edge_events(struct gpiod_line *line, const char *consumer)
{
	return gpiod_line_request_rising_edge_events_flags(line, consumer, 0);
}

int gpiod_line_request_falling_edge_events(struct gpiod_line *line, const char *consumer)
{
	return gpiod_line_request_falling_edge_events_flags(line, consumer, 0);
}

int gpiod_line_request_both_edges_events(struct gpiod_line *line, const char *consumer)
{
	return gpiod_line_request_both_edges_events_flags(line, consumer, 0);
}

void gpiod_line_release(struct gpiod_line *line)
{
	struct sim_line *l = line->sim;

	if (line->state == SIM_FREE)
		return;
	pthread_mutex_lock(&sim_lock);
	l->used = 0;
	l->consumer[0] = '\0';
	if (l->evt_w >= 0)
		close(l->evt_w);
	if (l->evt_r >= 0)
		close(l->evt_r);
	l->evt_w = l->evt_r = -1;
	l->req_flags = 0;	/* active-low goes with the request; bias stays */
	l->last = sim_phys(l);
	sim_trace(l, "release", NULL);
	pthread_cond_broadcast(&sim_cond);
	pthread_mutex_unlock(&sim_lock);
	line->fd = -1;
	line->state = SIM_FREE;
}

bool gpiod_line_is_requested(struct gpiod_line *line)
{
	return line->state != SIM_FREE;
}

bool gpiod_line_is_free(struct gpiod_line *line)
{
	return line->state == SIM_FREE;
}

int gpiod_line_request_bulk(struct gpiod_line_bulk *bulk, const struct gpiod_line_request_config *config,
			    const int *default_vals)
{
	unsigned int i;

	for (i = 0; i < bulk->num_lines; i++)
		if (gpiod_line_request(bulk->lines[i], config, default_vals ? default_vals[i] : 0) < 0) {
			int e = errno;

			while (i-- > 0)
				gpiod_line_release(bulk->lines[i]);
			errno = e;
			return -1;
		}
	return 0;
}

void gpiod_line_release_bulk(struct gpiod_line_bulk *bulk)
{
	unsigned int i;

	for (i = 0; i < bulk->num_lines; i++)
		gpiod_line_release(bulk->lines[i]);
}

/* ---- lines: values ---- */

int gpiod_line_get_value(struct gpiod_line *line)
{
	int v;

	if (line->state == SIM_FREE) {
		errno = EPERM;
		return -1;
	}
	pthread_mutex_lock(&sim_lock);
	v = sim_phys(line->sim) ^ sim_active_low(line->sim);
	pthread_mutex_unlock(&sim_lock);
	return v;
}

int gpiod_line_set_value(struct gpiod_line *line, int value)
{
	struct sim_line *l = line->sim;

	if (line->state == SIM_FREE || (line->state == SIM_REQ_VALUES && !l->out)) {
		errno = EPERM;	/* the kernel refuses values on an input handle */
		return -1;
	}
	if (line->state == SIM_REQ_EVENTS) {
		errno = EINVAL;	/* an event fd takes no set ioctl */
		return -1;
	}
	pthread_mutex_lock(&sim_lock);
	l->outval = (value ? 1 : 0) ^ sim_active_low(l);
	sim_changed(l);
	pthread_mutex_unlock(&sim_lock);
	return 0;
}

int gpiod_line_get_value_bulk(struct gpiod_line_bulk *bulk, int *values)
{
	unsigned int i;

	for (i = 0; i < bulk->num_lines; i++) {
		values[i] = gpiod_line_get_value(bulk->lines[i]);
		if (values[i] < 0)
			return -1;
	}
	return 0;
}

int gpiod_line_set_value_bulk(struct gpiod_line_bulk *bulk, const int *values)
{
	unsigned int i;

	for (i = 0; i < bulk->num_lines; i++)
		if (gpiod_line_set_value(bulk->lines[i], values ? values[i] : 0) < 0)
			return -1;
	return 0;
}

/* ---- lines: events ---- */

int gpiod_line_event_get_fd(struct gpiod_line *line)
{
	if (line->state != SIM_REQ_EVENTS) {
		errno = EPERM;
		return -1;
	}
	return line->fd;
}

int gpiod_line_event_wait(struct gpiod_line *line, const struct timespec *timeout)
{
	struct pollfd pfd;
	int r;

	if (line->state != SIM_REQ_EVENTS) {
		errno = EPERM;
		return -1;
	}
	pfd.fd = line->fd;
	pfd.events = POLLIN | POLLPRI;
	r = ppoll(&pfd, 1, timeout, NULL);
	return r < 0 ? -1 : r > 0;
}

int gpiod_line_event_wait_bulk(struct gpiod_line_bulk *bulk, const struct timespec *timeout,
			       struct gpiod_line_bulk *event_bulk)
{
	struct pollfd pfd[GPIOD_LINE_BULK_MAX_LINES];
	unsigned int i;
	int r;

	for (i = 0; i < bulk->num_lines; i++) {
		if (bulk->lines[i]->state != SIM_REQ_EVENTS) {
			errno = EPERM;
			return -1;
		}
		pfd[i].fd = bulk->lines[i]->fd;
		pfd[i].events = POLLIN | POLLPRI;
	}
	r = ppoll(pfd, bulk->num_lines, timeout, NULL);
	if (r <= 0)
		return r;
	if (event_bulk) {
		gpiod_line_bulk_init(event_bulk);
		for (i = 0; i < bulk->num_lines; i++)
			if (pfd[i].revents)
				gpiod_line_bulk_add(event_bulk, bulk->lines[i]);
	}
	return 1;
}

int gpiod_line_event_read_fd_multiple(int fd, struct gpiod_line_event *events, unsigned int num_events)
{
	struct gpioevent_data ev[16];
	ssize_t rd;
	unsigned int i, n;

	if (num_events > 16)
		num_events = 16;
	rd = read(fd, ev, num_events * sizeof(ev[0]));
	if (rd < 0)
		return -1;
	if ((size_t)rd < sizeof(ev[0])) {
		errno = EIO;
		return -1;
	}
	n = (unsigned int)((size_t)rd / sizeof(ev[0]));
	for (i = 0; i < n; i++) {
		events[i].event_type = ev[i].id == GPIOEVENT_EVENT_RISING_EDGE ? GPIOD_LINE_EVENT_RISING_EDGE
									      : GPIOD_LINE_EVENT_FALLING_EDGE;
		events[i].ts.tv_sec = (time_t)(ev[i].timestamp / 1000000000ull);
		events[i].ts.tv_nsec = (long)(ev[i].timestamp % 1000000000ull);
	}
	return (int)n;
}

int gpiod_line_event_read_fd(int fd, struct gpiod_line_event *event)
{
	return gpiod_line_event_read_fd_multiple(fd, event, 1) < 0 ? -1 : 0;
}

int gpiod_line_event_read_multiple(struct gpiod_line *line, struct gpiod_line_event *events, unsigned int num)
{
	int fd = gpiod_line_event_get_fd(line);

	return fd < 0 ? -1 : gpiod_line_event_read_fd_multiple(fd, events, num);
}

int gpiod_line_event_read(struct gpiod_line *line, struct gpiod_line_event *event)
{
	return gpiod_line_event_read_multiple(line, event, 1) < 0 ? -1 : 0;
}

const char *gpiod_version_string(void)
{
	return "1.6.3-gpiosim";
}

/*
 * ---- not simulated ----
 * The real library's set_config family reads its own struct gpiod_line, so it
 * must never see one of ours: these fail loudly. What is left out on purpose
 * (gpiod_ctxless_*, gpiod_line_request_bulk_* wrappers) uses only the public
 * API, and the real library calls it through the PLT, so it lands here.
 */

static int sim_unsupported(const char *fn)
{
	fprintf(stderr, "gpiosim: %s is not simulated\n", fn);
	errno = ENOTSUP;
	return -1;
}

int gpiod_line_set_config(struct gpiod_line *line, int direction, int flags, int value)
{
	(void)line, (void)direction, (void)flags, (void)value;
	return sim_unsupported(__func__);
}

int gpiod_line_set_flags(struct gpiod_line *line, int flags)
{
	(void)line, (void)flags;
	return sim_unsupported(__func__);
}

int gpiod_line_set_direction_input(struct gpiod_line *line)
{
	(void)line;
	return sim_unsupported(__func__);
}

int gpiod_line_set_direction_output(struct gpiod_line *line, int value)
{
	(void)line, (void)value;
	return sim_unsupported(__func__);
}

int gpiod_line_set_config_bulk(struct gpiod_line_bulk *bulk, int direction, int flags, const int *values)
{
	(void)bulk, (void)direction, (void)flags, (void)values;
	return sim_unsupported(__func__);
}

int gpiod_line_set_flags_bulk(struct gpiod_line_bulk *bulk, int flags)
{
	(void)bulk, (void)flags;
	return sim_unsupported(__func__);
}

int gpiod_line_set_direction_input_bulk(struct gpiod_line_bulk *bulk)
{
	(void)bulk;
	return sim_unsupported(__func__);
}

int gpiod_line_set_direction_output_bulk(struct gpiod_line_bulk *bulk, const int *values)
{
	(void)bulk, (void)values;
	return sim_unsupported(__func__);
}
