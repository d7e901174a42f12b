/*
 * lib_gpiosim.c - the libgpiod 1.6 stand-in: the libgpiod 1.6 API over the
 * simulated GPIO "kernel" of gpiosim_core.c, LD_PRELOADed into the
 * unmodified daemon built against libgpiod 1.x (lib_gpiosim2.c is the 2.x
 * flavour; the Makefile builds the one matching the build as
 * lib_gpiosim.so).
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
 * gpioget, gpioset, gpiomon) run on it too. libgpiod 1.6 has no debounce:
 * nothing here asks the core for it.
 */
#include <ctype.h>
#include <errno.h>
#include <gpiod.h>
#include <linux/gpio.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gpiosim_core.h"

enum { SIM_FREE, SIM_REQ_VALUES, SIM_REQ_EVENTS };

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
		     : l->bias == SIM_BIAS_PULL_UP ? GPIOD_LINE_BIAS_PULL_UP
		     : l->bias == SIM_BIAS_PULL_DOWN ? GPIOD_LINE_BIAS_PULL_DOWN
		     : l->bias == SIM_BIAS_DISABLE ? GPIOD_LINE_BIAS_DISABLE
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
	int rt = config->request_type, f = config->flags, fd;
	struct sim_req r;

	if (line->state != SIM_FREE) {
		errno = EBUSY;
		return -1;
	}
	if (!sim_config_valid(config)) {
		errno = EINVAL;
		return -1;
	}
	memset(&r, 0, sizeof(r));
	r.consumer = config->consumer;
	r.dir = rt == GPIOD_LINE_REQUEST_DIRECTION_OUTPUT ? SIM_DIR_OUTPUT
		: rt == GPIOD_LINE_REQUEST_DIRECTION_AS_IS ? SIM_DIR_AS_IS
							     : SIM_DIR_INPUT;
	r.initial = default_val;
	r.edge = rt == GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES     ? SIM_EDGE_BOTH
		 : rt == GPIOD_LINE_REQUEST_EVENT_RISING_EDGE  ? SIM_EDGE_RISING
		 : rt == GPIOD_LINE_REQUEST_EVENT_FALLING_EDGE ? SIM_EDGE_FALLING
							       : SIM_EDGE_NONE;
	r.bias = f & GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP     ? SIM_BIAS_PULL_UP
		 : f & GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN ? SIM_BIAS_PULL_DOWN
		 : f & GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE   ? SIM_BIAS_DISABLE
							      : SIM_BIAS_AS_IS;
	r.active_low = !!(f & GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW);
	if (sim_claim(line->sim, &r, &fd) < 0)
		return -1;
	line->fd = fd;
	line->state = fd >= 0 ? SIM_REQ_EVENTS : SIM_REQ_VALUES;
	line->req_type = rt;
	line->req_flags = f;
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
	if (line->state == SIM_FREE)
		return;
	sim_unclaim(line->sim);
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
	v = sim_read(line->sim);
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
	return sim_version("1.6.3-gpiosim");
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
