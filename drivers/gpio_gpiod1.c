/*
 * gpio_gpiod1.c - the GPIO driver's backend on libgpiod 1.x (1.5, 1.6:
 * Debian bookworm, Raspberry Pi OS before October 2025). See
 * gpio_backend.h for the contract; gpio.c has the logic and the messages.
 *
 * libgpiod 1.x hands out a struct gpiod_line per offset, owned by its chip,
 * and does no debounce (the kernel v1 ABI has none): the driver debounces.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <gpiod.h>

#include "gpio_backend.h"

#ifndef MQTTGW_GPIOD_VERSION
#define MQTTGW_GPIOD_VERSION "1"
#endif

struct gpio_be_req {
	struct gpiod_line *line;	/* owned by its chip, which outlives it */
};

const char *gpio_be_version(void)
{
	return "libgpiod " MQTTGW_GPIOD_VERSION;
}

const char *gpio_be_running_version(void)
{
	return gpiod_version_string();
}

struct gpio_be_chip *gpio_be_chip_open(const char *path)
{
	return (struct gpio_be_chip *)gpiod_chip_open(path);
}

void gpio_be_chip_close(struct gpio_be_chip *chip)
{
	if (chip)
		gpiod_chip_close((struct gpiod_chip *)chip);
}

int gpio_be_chip_each(int (*fn)(struct gpio_be_chip *chip, void *arg), void *arg)
{
	struct gpiod_chip_iter *it = gpiod_chip_iter_new();
	struct gpiod_chip *chip;
	int kept = 0;

	if (!it)
		return -1;
	while (!kept && (chip = gpiod_chip_iter_next_noclose(it)) != NULL) {
		kept = fn((struct gpio_be_chip *)chip, arg);
		if (!kept)
			gpiod_chip_close(chip);
	}
	/* closes the chips not visited yet; the kept one is the caller's */
	gpiod_chip_iter_free_noclose(it);
	return kept;
}

const char *gpio_be_chip_name(struct gpio_be_chip *chip)
{
	return gpiod_chip_name((struct gpiod_chip *)chip);
}

const char *gpio_be_chip_label(struct gpio_be_chip *chip)
{
	return gpiod_chip_label((struct gpiod_chip *)chip);
}

unsigned int gpio_be_chip_lines(struct gpio_be_chip *chip)
{
	return gpiod_chip_num_lines((struct gpiod_chip *)chip);
}

int gpio_be_line_find(struct gpio_be_chip *chip, const char *name)
{
	struct gpiod_line *line = gpiod_chip_find_line((struct gpiod_chip *)chip, name);

	return line ? (int)gpiod_line_offset(line) : -1;
}

void gpio_be_line_consumer(struct gpio_be_chip *chip, unsigned int offset, char *buf, size_t len)
{
	struct gpiod_line *line = gpiod_chip_get_line((struct gpiod_chip *)chip, offset);
	const char *who = NULL;

	if (line && gpiod_line_update(line) == 0)
		who = gpiod_line_consumer(line);
	snprintf(buf, len, "%s", who ? who : "?");
}

struct gpio_be_req *gpio_be_request(struct gpio_be_chip *chip, unsigned int offset, const char *consumer,
				    const struct gpio_be_settings *s, int *kernel_debounce)
{
	static const int edge_types[] = { GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES, GPIOD_LINE_REQUEST_EVENT_RISING_EDGE,
					  GPIOD_LINE_REQUEST_EVENT_FALLING_EDGE, GPIOD_LINE_REQUEST_DIRECTION_INPUT };
	static const int bias_flags[] = { 0, GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE,
					  GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP, GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN };
	struct gpiod_line_request_config rc = { consumer, GPIOD_LINE_REQUEST_DIRECTION_OUTPUT, 0 };
	struct gpiod_line *line;
	struct gpio_be_req *req;
	int e;

	*kernel_debounce = 0;
	if ((unsigned int)s->edge > CFG_EDGE_NONE || (unsigned int)s->bias > CFG_BIAS_PULL_DOWN) {
		errno = EINVAL;
		return NULL;
	}
	line = gpiod_chip_get_line((struct gpiod_chip *)chip, offset);
	if (!line)
		return NULL;
	req = calloc(1, sizeof(*req));
	if (!req)
		return NULL;
	if (!s->output)
		rc.request_type = edge_types[s->edge];
	rc.flags = bias_flags[s->bias] | (s->active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0);
	if (gpiod_line_request(line, &rc, s->initial ? 1 : 0) < 0) {
		e = errno;
		free(req);
		errno = e;
		return NULL;
	}
	req->line = line;
	return req;
}

void gpio_be_release(struct gpio_be_req *req)
{
	if (!req)
		return;
	gpiod_line_release(req->line);
	free(req);
}

int gpio_be_fd(struct gpio_be_req *req)
{
	return gpiod_line_event_get_fd(req->line);
}

int gpio_be_get(struct gpio_be_req *req)
{
	return gpiod_line_get_value(req->line);
}

int gpio_be_set(struct gpio_be_req *req, int value)
{
	return gpiod_line_set_value(req->line, value ? 1 : 0);
}

int gpio_be_read_edges(struct gpio_be_req *req, int *rising, int max)
{
	const struct timespec zero = { 0, 0 };
	struct gpiod_line_event ev;
	int n, r;

	for (n = 0; n < max; n++) {
		r = gpiod_line_event_wait(req->line, &zero);
		if (r == 0)
			break;
		if (r < 0 || gpiod_line_event_read(req->line, &ev) < 0)
			return n > 0 ? n : -1;
		rising[n] = ev.event_type == GPIOD_LINE_EVENT_RISING_EDGE;
	}
	return n;
}
