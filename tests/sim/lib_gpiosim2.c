/*
 * lib_gpiosim2.c - the libgpiod 2.x stand-in: the libgpiod 2 API over the
 * simulated GPIO "kernel" of gpiosim_core.c (the same control socket, trace
 * and line semantics as the 1.6 flavour, lib_gpiosim.c), LD_PRELOADed into
 * the unmodified daemon built against libgpiod 2. Compiled against the real
 * 2.x header (bookworm-backports' libgpiod-dev, or trixie's) and built by
 * the Makefile as lib_gpiosim.so of a 2.x build.
 *
 * What it exports: chips (open, info, line info, line names), requests
 * (values, edge events, fd), edge events and their buffers, line info, and
 * gpiod_is_gpiochip_device. The settings, line config and request config
 * objects stay the real library's: a request reads them through their
 * public getters, so the daemon's calls to build them run unchanged. The
 * chips are found as libgpiod 2 users find them, in /dev: scandir("/dev")
 * is wrapped so the simulated chips are listed beside the real entries.
 * Like the kernel's v2 ABI it refuses edges or debounce on an output, bias
 * without a direction, and (MQTTGW_GPIOSIM_DEBOUNCE=0) any debounce;
 * debounce is simulated as the kernel's software debounce does it. A
 * request holds one line (all the daemon asks for); more fail with EINVAL.
 */
#include <dirent.h>
#include <dlfcn.h>
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

struct gpiod_chip {
	struct sim_chip *sim;
	char path[SIM_NAMELEN + 8];
};

struct gpiod_chip_info {
	char name[SIM_NAMELEN];
	char label[SIM_NAMELEN];
	size_t num_lines;
};

struct gpiod_line_info {
	unsigned int offset;
	char name[SIM_NAMELEN];
	char consumer[SIM_NAMELEN];
	int used, output, active_low;
	enum gpiod_line_edge edge;
	enum gpiod_line_bias bias;
	unsigned long debounce_us;
};

struct gpiod_line_request {
	char chip_name[SIM_NAMELEN];	/* a copy: a request may outlive its chip */
	struct sim_line *line;
	int output;
	int fd;				/* edge events (the pair's read end) or -1 */
	unsigned long seqno;
};

struct gpiod_edge_event {
	enum gpiod_edge_event_type type;
	uint64_t ts;
	unsigned int offset;
	unsigned long global_seqno, line_seqno;
};

struct gpiod_edge_event_buffer {
	size_t capacity, num;
	struct gpiod_edge_event *events;
};

const char *gpiod_api_version(void)
{
	return sim_version("2.1.3-gpiosim");
}

/* ---- chips ---- */

/* The simulated chip at a /dev path, or NULL (no errno change). */
static struct sim_chip *sim_chip_at(const char *path)
{
	struct sim_chip *c;

	if (strncmp(path, "/dev/", 5) != 0)
		return NULL;
	c = sim_chip_find(path + 5);
	return c && strcmp(c->name, path + 5) == 0 ? c : NULL;
}

bool gpiod_is_gpiochip_device(const char *path)
{
	if (sim_chip_at(path))
		return true;
	/* as libgpiod: ENOENT for nothing there, ENOTTY for a file that is not a chip */
	errno = access(path, F_OK) == 0 ? ENOTTY : ENOENT;
	return false;
}

struct gpiod_chip *gpiod_chip_open(const char *path)
{
	struct sim_chip *c = path ? sim_chip_at(path) : NULL;
	struct gpiod_chip *chip;

	if (!c) {
		errno = path && access(path, F_OK) == 0 ? ENOTTY : ENOENT;
		return NULL;
	}
	sim_ensure_server();
	chip = calloc(1, sizeof(*chip));
	if (!chip)
		return NULL;
	chip->sim = c;
	snprintf(chip->path, sizeof(chip->path), "/dev/%s", c->name);
	pthread_mutex_lock(&sim_lock);
	sim_open_chips++;
	pthread_mutex_unlock(&sim_lock);
	return chip;
}

void gpiod_chip_close(struct gpiod_chip *chip)
{
	if (!chip)
		return;
	pthread_mutex_lock(&sim_lock);
	sim_open_chips--;
	pthread_mutex_unlock(&sim_lock);
	free(chip);
}

const char *gpiod_chip_get_path(struct gpiod_chip *chip)
{
	return chip->path;
}

int gpiod_chip_get_fd(struct gpiod_chip *chip)
{
	(void)chip;
	errno = ENOTSUP;	/* line info watches are not simulated */
	return -1;
}

struct gpiod_chip_info *gpiod_chip_get_info(struct gpiod_chip *chip)
{
	struct gpiod_chip_info *info = calloc(1, sizeof(*info));

	if (!info)
		return NULL;
	snprintf(info->name, sizeof(info->name), "%s", chip->sim->name);
	snprintf(info->label, sizeof(info->label), "%s", chip->sim->label);
	info->num_lines = chip->sim->num_lines;
	return info;
}

void gpiod_chip_info_free(struct gpiod_chip_info *info)
{
	free(info);
}

const char *gpiod_chip_info_get_name(struct gpiod_chip_info *info)
{
	return info->name;
}

const char *gpiod_chip_info_get_label(struct gpiod_chip_info *info)
{
	return info->label;
}

size_t gpiod_chip_info_get_num_lines(struct gpiod_chip_info *info)
{
	return info->num_lines;
}

int gpiod_chip_get_line_offset_from_name(struct gpiod_chip *chip, const char *name)
{
	unsigned int i;

	if (!name) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < chip->sim->num_lines; i++)
		if (chip->sim->lines[i].name[0] && strcmp(chip->sim->lines[i].name, name) == 0)
			return (int)i;
	errno = ENOENT;
	return -1;
}

/* ---- line info ---- */

struct gpiod_line_info *gpiod_chip_get_line_info(struct gpiod_chip *chip, unsigned int offset)
{
	static const enum gpiod_line_edge edges[] = { GPIOD_LINE_EDGE_NONE, GPIOD_LINE_EDGE_RISING,
						      GPIOD_LINE_EDGE_FALLING, GPIOD_LINE_EDGE_BOTH };
	static const enum gpiod_line_bias biases[] = { GPIOD_LINE_BIAS_AS_IS, GPIOD_LINE_BIAS_DISABLED,
						       GPIOD_LINE_BIAS_PULL_UP, GPIOD_LINE_BIAS_PULL_DOWN };
	struct gpiod_line_info *info;
	struct sim_line *l;

	if (offset >= chip->sim->num_lines) {
		errno = EINVAL;
		return NULL;
	}
	info = calloc(1, sizeof(*info));
	if (!info)
		return NULL;
	l = &chip->sim->lines[offset];
	sim_holder(l, info->consumer, sizeof(info->consumer), &info->used);
	pthread_mutex_lock(&sim_lock);
	info->offset = offset;
	snprintf(info->name, sizeof(info->name), "%s", l->name);
	info->output = l->out;
	info->active_low = sim_active_low(l);
	info->edge = l->used && l->evt_r >= 0 ? edges[l->edge] : GPIOD_LINE_EDGE_NONE;
	info->bias = l->used ? biases[l->bias] : GPIOD_LINE_BIAS_AS_IS;
	info->debounce_us = l->used ? l->debounce_us : 0;
	pthread_mutex_unlock(&sim_lock);
	return info;
}

struct gpiod_line_info *gpiod_chip_watch_line_info(struct gpiod_chip *chip, unsigned int offset)
{
	(void)chip, (void)offset;
	errno = ENOTSUP;
	return NULL;
}

int gpiod_chip_unwatch_line_info(struct gpiod_chip *chip, unsigned int offset)
{
	(void)chip, (void)offset;
	errno = ENOTSUP;
	return -1;
}

void gpiod_line_info_free(struct gpiod_line_info *info)
{
	free(info);
}

struct gpiod_line_info *gpiod_line_info_copy(struct gpiod_line_info *info)
{
	struct gpiod_line_info *copy = malloc(sizeof(*copy));

	if (copy)
		*copy = *info;
	return copy;
}

unsigned int gpiod_line_info_get_offset(struct gpiod_line_info *info)
{
	return info->offset;
}

const char *gpiod_line_info_get_name(struct gpiod_line_info *info)
{
	return info->name[0] ? info->name : NULL;
}

bool gpiod_line_info_is_used(struct gpiod_line_info *info)
{
	return info->used;
}

const char *gpiod_line_info_get_consumer(struct gpiod_line_info *info)
{
	return info->consumer[0] ? info->consumer : NULL;
}

enum gpiod_line_direction gpiod_line_info_get_direction(struct gpiod_line_info *info)
{
	return info->output ? GPIOD_LINE_DIRECTION_OUTPUT : GPIOD_LINE_DIRECTION_INPUT;
}

enum gpiod_line_edge gpiod_line_info_get_edge_detection(struct gpiod_line_info *info)
{
	return info->edge;
}

enum gpiod_line_bias gpiod_line_info_get_bias(struct gpiod_line_info *info)
{
	return info->bias;
}

enum gpiod_line_drive gpiod_line_info_get_drive(struct gpiod_line_info *info)
{
	(void)info;
	return GPIOD_LINE_DRIVE_PUSH_PULL;
}

bool gpiod_line_info_is_active_low(struct gpiod_line_info *info)
{
	return info->active_low;
}

bool gpiod_line_info_is_debounced(struct gpiod_line_info *info)
{
	return info->debounce_us > 0;
}

unsigned long gpiod_line_info_get_debounce_period_us(struct gpiod_line_info *info)
{
	return info->debounce_us;
}

enum gpiod_line_clock gpiod_line_info_get_event_clock(struct gpiod_line_info *info)
{
	(void)info;
	return GPIOD_LINE_CLOCK_MONOTONIC;
}

/* ---- requests ---- */

/* The kernel's v2 checks on one line's settings; 0 ok, -1 EINVAL. */
static int sim_settings_valid(struct gpiod_line_settings *ls)
{
	enum gpiod_line_direction dir = gpiod_line_settings_get_direction(ls);
	int out = dir == GPIOD_LINE_DIRECTION_OUTPUT;

	if ((out && (gpiod_line_settings_get_edge_detection(ls) != GPIOD_LINE_EDGE_NONE ||
		     gpiod_line_settings_get_debounce_period_us(ls) > 0)) ||
	    (!out && gpiod_line_settings_get_drive(ls) != GPIOD_LINE_DRIVE_PUSH_PULL) ||
	    (dir == GPIOD_LINE_DIRECTION_AS_IS && gpiod_line_settings_get_bias(ls) != GPIOD_LINE_BIAS_AS_IS)) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

struct gpiod_line_request *gpiod_chip_request_lines(struct gpiod_chip *chip, struct gpiod_request_config *rc,
						    struct gpiod_line_config *lc)
{
	struct gpiod_line_settings *ls = NULL;
	struct gpiod_line_request *req;
	enum gpiod_line_direction dir;
	enum gpiod_line_edge edge;
	enum gpiod_line_bias bias;
	unsigned int offset;
	struct sim_req r;
	int fd, e;

	if (!lc || gpiod_line_config_get_num_configured_offsets(lc) != 1 ||
	    gpiod_line_config_get_configured_offsets(lc, &offset, 1) != 1 || offset >= chip->sim->num_lines) {
		if (lc && gpiod_line_config_get_num_configured_offsets(lc) > 1)
			fprintf(stderr, "gpiosim: requests of more than one line are not simulated\n");
		errno = EINVAL;
		return NULL;
	}
	ls = gpiod_line_config_get_line_settings(lc, offset);
	if (!ls)
		return NULL;
	if (sim_settings_valid(ls) < 0) {
		gpiod_line_settings_free(ls);
		return NULL;
	}
	dir = gpiod_line_settings_get_direction(ls);
	edge = gpiod_line_settings_get_edge_detection(ls);
	bias = gpiod_line_settings_get_bias(ls);
	memset(&r, 0, sizeof(r));
	r.consumer = rc ? gpiod_request_config_get_consumer(rc) : NULL;
	r.dir = dir == GPIOD_LINE_DIRECTION_OUTPUT  ? SIM_DIR_OUTPUT
		: dir == GPIOD_LINE_DIRECTION_INPUT ? SIM_DIR_INPUT
						    : SIM_DIR_AS_IS;
	r.initial = gpiod_line_settings_get_output_value(ls) == GPIOD_LINE_VALUE_ACTIVE;
	r.edge = edge == GPIOD_LINE_EDGE_BOTH	     ? SIM_EDGE_BOTH
		 : edge == GPIOD_LINE_EDGE_RISING  ? SIM_EDGE_RISING
		 : edge == GPIOD_LINE_EDGE_FALLING ? SIM_EDGE_FALLING
						   : SIM_EDGE_NONE;
	r.bias = bias == GPIOD_LINE_BIAS_PULL_UP     ? SIM_BIAS_PULL_UP
		 : bias == GPIOD_LINE_BIAS_PULL_DOWN ? SIM_BIAS_PULL_DOWN
		 : bias == GPIOD_LINE_BIAS_DISABLED  ? SIM_BIAS_DISABLE
						     : SIM_BIAS_AS_IS;
	r.active_low = gpiod_line_settings_get_active_low(ls);
	r.debounce_us = gpiod_line_settings_get_debounce_period_us(ls);
	gpiod_line_settings_free(ls);
	req = calloc(1, sizeof(*req));
	if (!req)
		return NULL;
	if (sim_claim(&chip->sim->lines[offset], &r, &fd) < 0) {
		e = errno;
		free(req);
		errno = e;
		return NULL;
	}
	snprintf(req->chip_name, sizeof(req->chip_name), "%s", chip->sim->name);
	req->line = &chip->sim->lines[offset];
	req->output = r.dir == SIM_DIR_OUTPUT;
	req->fd = fd;
	return req;
}

void gpiod_line_request_release(struct gpiod_line_request *req)
{
	if (!req)
		return;
	sim_unclaim(req->line);
	free(req);
}

const char *gpiod_line_request_get_chip_name(struct gpiod_line_request *req)
{
	return req->chip_name;
}

size_t gpiod_line_request_get_num_requested_lines(struct gpiod_line_request *req)
{
	(void)req;
	return 1;
}

size_t gpiod_line_request_get_requested_offsets(struct gpiod_line_request *req, unsigned int *offsets,
						size_t max_offsets)
{
	if (max_offsets < 1)
		return 0;
	offsets[0] = req->line->offset;
	return 1;
}

enum gpiod_line_value gpiod_line_request_get_value(struct gpiod_line_request *req, unsigned int offset)
{
	int v;

	if (offset != req->line->offset) {
		errno = EINVAL;
		return GPIOD_LINE_VALUE_ERROR;
	}
	pthread_mutex_lock(&sim_lock);
	v = sim_read(req->line);
	pthread_mutex_unlock(&sim_lock);
	return v ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE;
}

int gpiod_line_request_get_values_subset(struct gpiod_line_request *req, size_t num_values,
					 const unsigned int *offsets, enum gpiod_line_value *values)
{
	size_t i;

	for (i = 0; i < num_values; i++) {
		values[i] = gpiod_line_request_get_value(req, offsets[i]);
		if (values[i] == GPIOD_LINE_VALUE_ERROR)
			return -1;
	}
	return 0;
}

int gpiod_line_request_get_values(struct gpiod_line_request *req, enum gpiod_line_value *values)
{
	return gpiod_line_request_get_values_subset(req, 1, &req->line->offset, values);
}

int gpiod_line_request_set_value(struct gpiod_line_request *req, unsigned int offset, enum gpiod_line_value value)
{
	struct sim_line *l = req->line;

	if (offset != l->offset) {
		errno = EINVAL;
		return -1;
	}
	if (!req->output) {
		errno = EPERM;	/* the kernel refuses values on an input */
		return -1;
	}
	pthread_mutex_lock(&sim_lock);
	l->outval = (value == GPIOD_LINE_VALUE_ACTIVE ? 1 : 0) ^ sim_active_low(l);
	sim_changed(l);
	pthread_mutex_unlock(&sim_lock);
	return 0;
}

int gpiod_line_request_set_values_subset(struct gpiod_line_request *req, size_t num_values,
					 const unsigned int *offsets, const enum gpiod_line_value *values)
{
	size_t i;

	for (i = 0; i < num_values; i++)
		if (gpiod_line_request_set_value(req, offsets[i], values[i]) < 0)
			return -1;
	return 0;
}

int gpiod_line_request_set_values(struct gpiod_line_request *req, const enum gpiod_line_value *values)
{
	return gpiod_line_request_set_values_subset(req, 1, &req->line->offset, values);
}

int gpiod_line_request_reconfigure_lines(struct gpiod_line_request *req, struct gpiod_line_config *config)
{
	(void)req, (void)config;
	fprintf(stderr, "gpiosim: gpiod_line_request_reconfigure_lines is not simulated\n");
	errno = ENOTSUP;
	return -1;
}

int gpiod_line_request_get_fd(struct gpiod_line_request *req)
{
	if (req->fd < 0)
		errno = EPERM;
	return req->fd;
}

int gpiod_line_request_wait_edge_events(struct gpiod_line_request *req, int64_t timeout_ns)
{
	struct timespec ts, *tsp = NULL;
	struct pollfd pfd;
	int r;

	if (req->fd < 0) {
		errno = EPERM;
		return -1;
	}
	if (timeout_ns >= 0) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000);
		ts.tv_nsec = (long)(timeout_ns % 1000000000);
		tsp = &ts;
	}
	pfd.fd = req->fd;
	pfd.events = POLLIN | POLLPRI;
	r = ppoll(&pfd, 1, tsp, NULL);
	return r < 0 ? -1 : r > 0;
}

int gpiod_line_request_read_edge_events(struct gpiod_line_request *req, struct gpiod_edge_event_buffer *buffer,
					size_t max_events)
{
	struct gpioevent_data ev[SIM_FIFO];
	size_t i, n;
	ssize_t rd;

	if (req->fd < 0) {
		errno = EPERM;
		return -1;
	}
	if (max_events > buffer->capacity)
		max_events = buffer->capacity;
	if (max_events > SIM_FIFO)
		max_events = SIM_FIFO;
	if (max_events == 0)
		max_events = 1;
	rd = read(req->fd, ev, max_events * sizeof(ev[0]));
	if (rd < 0)
		return -1;
	if ((size_t)rd < sizeof(ev[0])) {
		errno = EIO;
		return -1;
	}
	n = (size_t)rd / sizeof(ev[0]);
	for (i = 0; i < n; i++) {
		struct gpiod_edge_event *e = &buffer->events[i];

		e->type = ev[i].id == GPIOEVENT_EVENT_RISING_EDGE ? GPIOD_EDGE_EVENT_RISING_EDGE
								  : GPIOD_EDGE_EVENT_FALLING_EDGE;
		e->ts = ev[i].timestamp;
		e->offset = req->line->offset;
		e->global_seqno = e->line_seqno = ++req->seqno;
	}
	buffer->num = n;
	return (int)n;
}

/* ---- edge events ---- */

void gpiod_edge_event_free(struct gpiod_edge_event *event)
{
	free(event);
}

struct gpiod_edge_event *gpiod_edge_event_copy(struct gpiod_edge_event *event)
{
	struct gpiod_edge_event *copy = malloc(sizeof(*copy));

	if (copy)
		*copy = *event;
	return copy;
}

enum gpiod_edge_event_type gpiod_edge_event_get_event_type(struct gpiod_edge_event *event)
{
	return event->type;
}

uint64_t gpiod_edge_event_get_timestamp_ns(struct gpiod_edge_event *event)
{
	return event->ts;
}

unsigned int gpiod_edge_event_get_line_offset(struct gpiod_edge_event *event)
{
	return event->offset;
}

unsigned long gpiod_edge_event_get_global_seqno(struct gpiod_edge_event *event)
{
	return event->global_seqno;
}

unsigned long gpiod_edge_event_get_line_seqno(struct gpiod_edge_event *event)
{
	return event->line_seqno;
}

struct gpiod_edge_event_buffer *gpiod_edge_event_buffer_new(size_t capacity)
{
	struct gpiod_edge_event_buffer *b;

	if (capacity == 0)
		capacity = 64;
	if (capacity > 1024)
		capacity = 1024;
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->events = calloc(capacity, sizeof(*b->events));
	if (!b->events) {
		free(b);
		return NULL;
	}
	b->capacity = capacity;
	return b;
}

size_t gpiod_edge_event_buffer_get_capacity(struct gpiod_edge_event_buffer *buffer)
{
	return buffer->capacity;
}

void gpiod_edge_event_buffer_free(struct gpiod_edge_event_buffer *buffer)
{
	if (!buffer)
		return;
	free(buffer->events);
	free(buffer);
}

struct gpiod_edge_event *gpiod_edge_event_buffer_get_event(struct gpiod_edge_event_buffer *buffer,
							   unsigned long index)
{
	if (index >= buffer->num) {
		errno = EINVAL;
		return NULL;
	}
	return &buffer->events[index];
}

size_t gpiod_edge_event_buffer_get_num_events(struct gpiod_edge_event_buffer *buffer)
{
	return buffer->num;
}

/* ---- /dev as libgpiod 2 users see it: the simulated chips listed ---- */

/*
 * scandir("/dev") (gpiodetect, the daemon's chip walk) gets the real
 * entries plus one per simulated chip not already there; the caller's
 * filter and sort apply to all. Any other directory goes straight through.
 * Defined for struct dirent and struct dirent64 alike.
 */
#define SIM_SCANDIR(NAME, DIRENT)                                                                              \
	int NAME(const char *dir, struct DIRENT ***list, int (*filter)(const struct DIRENT *),                 \
		 int (*compar)(const struct DIRENT **, const struct DIRENT **))                                \
	{                                                                                                      \
		static int (*real)(const char *, struct DIRENT ***, int (*)(const struct DIRENT *),            \
				   int (*)(const struct DIRENT **, const struct DIRENT **));                   \
		struct DIRENT **grown, *d;                                                                     \
		unsigned int i;                                                                                \
		int n, k;                                                                                      \
                                                                                                               \
		if (!real)                                                                                     \
			*(void **)&real = dlsym(RTLD_NEXT, #NAME);                                             \
		if (!real) {                                                                                   \
			errno = ENOSYS;                                                                        \
			return -1;                                                                             \
		}                                                                                              \
		if (strcmp(dir, "/dev") != 0 && strcmp(dir, "/dev/") != 0)                                     \
			return real(dir, list, filter, compar);                                                \
		n = real(dir, list, filter, NULL);                                                             \
		if (n < 0)                                                                                     \
			return n;                                                                              \
		for (i = 0; i < sim_nchips; i++) {                                                             \
			for (k = 0; k < n; k++)                                                                \
				if (strcmp((*list)[k]->d_name, sim_chips[i].name) == 0)                        \
					break;                                                                 \
			if (k < n)                                                                             \
				continue;                                                                      \
			d = calloc(1, sizeof(*d));                                                             \
			if (!d)                                                                                \
				break;                                                                         \
			d->d_type = DT_CHR;                                                                    \
			d->d_reclen = sizeof(*d);                                                              \
			snprintf(d->d_name, sizeof(d->d_name), "%s", sim_chips[i].name);                       \
			if (filter && !filter(d)) {                                                            \
				free(d);                                                                       \
				continue;                                                                      \
			}                                                                                      \
			grown = realloc(*list, (size_t)(n + 1) * sizeof(**list));                              \
			if (!grown) {                                                                          \
				free(d);                                                                       \
				break;                                                                         \
			}                                                                                      \
			*list = grown;                                                                         \
			(*list)[n++] = d;                                                                      \
		}                                                                                              \
		if (compar)                                                                                    \
			qsort(*list, (size_t)n, sizeof(**list),                                                \
			      (int (*)(const void *, const void *))(void (*)(void))compar);                    \
		return n;                                                                                      \
	}

SIM_SCANDIR(scandir, dirent)
SIM_SCANDIR(scandir64, dirent64)
