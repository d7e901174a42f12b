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
 * (MQTTGW_GPIOSIM_SOCKET) that gpiosim_ctl.c serves from one thread in the
 * daemon's process; one mutex guards the table; that thread also confirms
 * debounced levels on time. tests/sim/README.md ("GPIO stand-in")
 * documents the env syntax and the commands; prog_gpioctl is the
 * command-line client.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/gpio.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gpiosim_core.h"

pthread_mutex_t sim_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t sim_cond = PTHREAD_COND_INITIALIZER;
struct sim_chip *sim_chips;
unsigned int sim_nchips;
unsigned long sim_open_chips;	/* chip handles open in this process */
static int sim_no_debounce;	/* MQTTGW_GPIOSIM_DEBOUNCE=0: the kernel refuses debounce */
static int sim_trace_fd = -1;	/* MQTTGW_GPIOSIM_TRACE: what happened, for after exit */

/* ---- the simulated kernel (all under sim_lock) ---- */

const char *sim_version(const char *dflt)
{
	const char *v = getenv("MQTTGW_GPIOSIM_VERSION");

	return v && *v ? v : dflt;
}

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
uint64_t sim_debounce_run(uint64_t now)
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

int sim_parse_long(const char *s, long min, long max, long *out)
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

struct sim_line *sim_line_find(struct sim_chip *c, const char *s)
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
	sim_ctl_init();
	if (trace && *trace) {
		sim_trace_fd = open(trace, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (sim_trace_fd < 0)
			fprintf(stderr, "gpiosim: cannot open MQTTGW_GPIOSIM_TRACE %s: %s\n", trace, strerror(errno));
	}
}

__attribute__((destructor)) static void sim_fini(void)
{
	sim_ctl_fini();
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
