/*
 * gpiosim_core.c - the simulated GPIO "kernel" under both libgpiod
 * stand-ins (lib_gpiosim.c: libgpiod 1.6 API; lib_gpiosim2.c: 2.x API),
 * LD_PRELOADed into the unmodified daemon so GPIO runs end to end on a box
 * without GPIO (the kernel's gpio-sim is not available here). Shared, so
 * both flavours have one control socket protocol, one trace and one set of
 * line semantics, and one test suite drives the daemon on either libgpiod.
 *
 * The simulated "kernel" is a table of chips built from MQTTGW_GPIOSIM at
 * load time; each line has a physical level: driven by the daemon (outputs),
 * else driven from outside through the control socket, else its bias.
 * Logical = physical ^ active_low, as the kernel does it. Every requested
 * event line gets a socket pair whose read end is the daemon's event fd: an
 * edge writes one struct gpioevent_data (the kernel v1 ABI; the 2.x flavour
 * reads the same records back itself), so poll() on that fd behaves as on
 * real hardware, including a 16-event FIFO that drops on overflow. A
 * request may ask for the kernel's debounce (libgpiod 2): an edge is then
 * reported once the level has held the period, as the kernel's software
 * debounce does; MQTTGW_GPIOSIM_DEBOUNCE=0 makes the "kernel" refuse it.
 *
 * Tests drive it through a line protocol on a Unix socket
 * (MQTTGW_GPIOSIM_SOCKET), served by one thread in the daemon's process; one
 * mutex guards the table; that thread also confirms debounced levels on
 * time. tests/sim/README.md ("GPIO stand-in") documents the env syntax and
 * the commands; prog_gpioctl is the command-line client.
 */
#include <ctype.h>
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

pthread_mutex_t sim_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sim_cond = PTHREAD_COND_INITIALIZER;
struct sim_chip *sim_chips;
unsigned int sim_nchips;
unsigned long sim_open_chips;	/* chip handles open in this process */
static int sim_no_debounce;	/* MQTTGW_GPIOSIM_DEBOUNCE=0: the kernel refuses debounce */
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

uint64_t sim_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int sim_phys(const struct sim_line *l)
{
	if (l->out)
		return l->outval;
	if (l->ext >= 0)
		return l->ext;
	return l->pull == 1;
}

int sim_active_low(const struct sim_line *l)
{
	return l->used && l->active_low ? 1 : 0;
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

/* An edge to physical level phys: queue an event if the request wants it. */
static void sim_edge(struct sim_line *l, int phys)
{
	int logical = phys ^ sim_active_low(l);

	if (l->evt_w >= 0 && (l->edge == SIM_EDGE_BOTH || (l->edge == SIM_EDGE_RISING && logical) ||
			      (l->edge == SIM_EDGE_FALLING && !logical)))
		sim_push(l, logical);
}

/*
 * Something about l changed: queue an edge event if its level did, wake
 * waiters. A debounced line (libgpiod 2) reports the change only once the
 * level has held debounce_us, as the kernel's software debounce does: each
 * change restarts the period, sim_debounce_run confirms it.
 */
void sim_changed(struct sim_line *l)
{
	int phys = sim_phys(l);

	if (phys != l->last) {
		l->last = phys;
		sim_trace(l, "value", NULL);
		if (l->debounce_us)
			l->db_due = sim_now_ns() + (uint64_t)l->debounce_us * 1000ull;
		else
			sim_edge(l, phys);
	}
	pthread_cond_broadcast(&sim_cond);
}

/* Confirm the debounced levels due by now; the earliest pending due, or 0. */
static uint64_t sim_debounce_run(uint64_t now)
{
	uint64_t next = 0;
	unsigned int i, j;

	for (i = 0; i < sim_nchips; i++)
		for (j = 0; j < sim_chips[i].num_lines; j++) {
			struct sim_line *l = &sim_chips[i].lines[j];

			if (!l->db_due)
				continue;
			if (now < l->db_due) {
				if (!next || l->db_due < next)
					next = l->db_due;
				continue;
			}
			l->db_due = 0;
			if (sim_phys(l) != l->db_level) {
				l->db_level = sim_phys(l);
				sim_edge(l, l->db_level);
				pthread_cond_broadcast(&sim_cond);
			}
		}
	return next;
}

int sim_read(struct sim_line *l)
{
	if (l->debounce_us) {
		sim_debounce_run(sim_now_ns());
		return l->db_level ^ sim_active_low(l);
	}
	return sim_phys(l) ^ sim_active_low(l);
}

struct sim_chip *sim_chip_find(const char *s)
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

__attribute__((constructor)) static void sim_init(void)
{
	const char *trace = getenv("MQTTGW_GPIOSIM_TRACE");
	const char *db = getenv("MQTTGW_GPIOSIM_DEBOUNCE");
	pthread_condattr_t ca;

	/* waits measure CLOCK_MONOTONIC, immune to clock steps */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sim_cond, &ca);
	pthread_condattr_destroy(&ca);
	sim_parse_env();
	sim_no_debounce = db && strcmp(db, "0") == 0;
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


/* ---- requests, for both flavours ---- */

int sim_claim(struct sim_line *l, const struct sim_req *r, int *evt_fd)
{
	int sv[2] = { -1, -1 };

	*evt_fd = -1;
	if (r->debounce_us && sim_no_debounce) {
		errno = EINVAL;
		return -1;
	}
	if (r->edge != SIM_EDGE_NONE && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
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
	snprintf(l->consumer, sizeof(l->consumer), "%s", r->consumer && r->consumer[0] ? r->consumer : "?");
	l->edge = r->edge;
	l->bias = r->bias;
	l->active_low = r->active_low;
	l->debounce_us = r->debounce_us;
	l->db_due = 0;
	if (r->bias == SIM_BIAS_PULL_UP)
		l->pull = 1;
	else if (r->bias == SIM_BIAS_PULL_DOWN)
		l->pull = 0;
	else if (r->bias == SIM_BIAS_DISABLE)
		l->pull = -1;
	if (r->dir == SIM_DIR_OUTPUT) {
		l->out = 1;
		l->outval = (r->initial ? 1 : 0) ^ sim_active_low(l);
	} else if (r->dir == SIM_DIR_INPUT) {
		l->out = 0;
	}
	l->evt_r = sv[0];
	l->evt_w = sv[1];
	l->last = l->db_level = sim_phys(l);	/* no edge for what the request itself did */
	sim_trace(l, r->dir == SIM_DIR_OUTPUT ? "request output" : "request input", l->consumer);
	pthread_cond_broadcast(&sim_cond);
	pthread_mutex_unlock(&sim_lock);
	*evt_fd = sv[0];
	return 0;
}

void sim_unclaim(struct sim_line *l)
{
	pthread_mutex_lock(&sim_lock);
	l->used = 0;
	l->consumer[0] = '\0';
	if (l->evt_w >= 0)
		close(l->evt_w);
	if (l->evt_r >= 0)
		close(l->evt_r);
	l->evt_w = l->evt_r = -1;
	/* active-low, edges and debounce go with the request; bias stays */
	l->active_low = 0;
	l->edge = SIM_EDGE_NONE;
	l->bias = SIM_BIAS_AS_IS;
	l->debounce_us = 0;
	l->db_due = 0;
	l->last = sim_phys(l);
	sim_trace(l, "release", NULL);
	pthread_cond_broadcast(&sim_cond);
	pthread_mutex_unlock(&sim_lock);
}

void sim_holder(struct sim_line *l, char *buf, size_t len, int *used)
{
	pthread_mutex_lock(&sim_lock);
	snprintf(buf, len, "%s", l->used ? l->consumer : l->foreign);
	*used = l->used || l->foreign[0];
	pthread_mutex_unlock(&sim_lock);
}
