/*
 * gpio_gpiod2.c - the GPIO driver's backend on libgpiod 2.x (Debian trixie,
 * Raspberry Pi OS since October 2025; bookworm-backports). See
 * gpio_backend.h for the contract; gpio.c has the logic and the messages.
 *
 * libgpiod 2 opens chips by path only and has no chip iterator: the chips
 * are the entries of /dev that gpiod_is_gpiochip_device accepts, walked in
 * version order (gpiochip2 before gpiochip10), as gpiodetect does. A line
 * is a one-line gpiod_line_request. The v2 kernel ABI debounces: a request
 * asks for it when the driver wants it, and if the kernel refuses (a chip
 * that cannot, a kernel that will not) the line is requested again without
 * it and the driver debounces itself.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gpiod.h>

#include "gpio_backend.h"

#ifndef MQTTGW_GPIOD_VERSION
#define MQTTGW_GPIOD_VERSION "2"
#endif

#define GPIO_BE_EVENTS 16	/* the kernel's default event queue per line */

struct gpio_be_chip {
	struct gpiod_chip *chip;
	struct gpiod_chip_info *info;
};

struct gpio_be_req {
	struct gpiod_line_request *req;
	struct gpiod_edge_event_buffer *events;	/* inputs with edges, else NULL */
	unsigned int offset;
};

const char *gpio_be_version(void)
{
	return "libgpiod " MQTTGW_GPIOD_VERSION;
}

const char *gpio_be_running_version(void)
{
	return gpiod_api_version();
}

struct gpio_be_chip *gpio_be_chip_open(const char *path)
{
	struct gpio_be_chip *c;
	int e;

	/* libgpiod 2 says EINVAL for a file that is not a chip; 1.x ENOTTY */
	if (!gpiod_is_gpiochip_device(path)) {
		if (errno != ENOENT)
			errno = ENOTTY;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->chip = gpiod_chip_open(path);
	if (c->chip)
		c->info = gpiod_chip_get_info(c->chip);
	if (!c->info) {
		e = errno;
		gpio_be_chip_close(c);
		errno = e;
		return NULL;
	}
	return c;
}

void gpio_be_chip_close(struct gpio_be_chip *c)
{
	if (!c)
		return;
	if (c->info)
		gpiod_chip_info_free(c->info);
	if (c->chip)
		gpiod_chip_close(c->chip);
	free(c);
}

static int gpio_be_is_chip(const struct dirent *d)
{
	char path[300];

	if (snprintf(path, sizeof(path), "/dev/%s", d->d_name) >= (int)sizeof(path))
		return 0;
	return gpiod_is_gpiochip_device(path);
}

int gpio_be_chip_each(int (*fn)(struct gpio_be_chip *chip, void *arg), void *arg)
{
	struct dirent **names;
	struct gpio_be_chip *c;
	char path[300];
	int i, n, kept = 0;

	n = scandir("/dev", &names, gpio_be_is_chip, versionsort);
	if (n < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (!kept) {
			snprintf(path, sizeof(path), "/dev/%s", names[i]->d_name);
			c = gpio_be_chip_open(path);
			if (c) {
				kept = fn(c, arg);
				if (!kept)
					gpio_be_chip_close(c);
			}
		}
		free(names[i]);
	}
	free(names);
	return kept;
}

const char *gpio_be_chip_name(struct gpio_be_chip *c)
{
	return gpiod_chip_info_get_name(c->info);
}

const char *gpio_be_chip_label(struct gpio_be_chip *c)
{
	return gpiod_chip_info_get_label(c->info);
}

unsigned int gpio_be_chip_lines(struct gpio_be_chip *c)
{
	return (unsigned int)gpiod_chip_info_get_num_lines(c->info);
}

int gpio_be_line_find(struct gpio_be_chip *c, const char *name)
{
	return gpiod_chip_get_line_offset_from_name(c->chip, name);
}

void gpio_be_line_consumer(struct gpio_be_chip *c, unsigned int offset, char *buf, size_t len)
{
	struct gpiod_line_info *info = gpiod_chip_get_line_info(c->chip, offset);
	const char *who = info ? gpiod_line_info_get_consumer(info) : NULL;

	snprintf(buf, len, "%s", who && *who ? who : "?");
	if (info)
		gpiod_line_info_free(info);
}

/* One request with these settings; debounce_us 0 for none. NULL + errno. */
static struct gpiod_line_request *gpio_be_request_once(struct gpio_be_chip *c, unsigned int offset,
						       const char *consumer, const struct gpio_be_settings *s,
						       unsigned long debounce_us)
{
	static const enum gpiod_line_edge edges[] = { GPIOD_LINE_EDGE_BOTH, GPIOD_LINE_EDGE_RISING,
						      GPIOD_LINE_EDGE_FALLING, GPIOD_LINE_EDGE_NONE };
	static const enum gpiod_line_bias biases[] = { GPIOD_LINE_BIAS_AS_IS, GPIOD_LINE_BIAS_DISABLED,
						       GPIOD_LINE_BIAS_PULL_UP, GPIOD_LINE_BIAS_PULL_DOWN };
	struct gpiod_line_settings *ls = gpiod_line_settings_new();
	struct gpiod_line_config *lc = gpiod_line_config_new();
	struct gpiod_request_config *rc = gpiod_request_config_new();
	struct gpiod_line_request *req = NULL;
	int e = ENOMEM;

	if (!ls || !lc || !rc)
		goto out;
	e = EINVAL;
	if (gpiod_line_settings_set_bias(ls, biases[s->bias]) < 0)
		goto out;
	gpiod_line_settings_set_active_low(ls, s->active_low ? true : false);
	if (s->output) {
		if (gpiod_line_settings_set_direction(ls, GPIOD_LINE_DIRECTION_OUTPUT) < 0 ||
		    gpiod_line_settings_set_output_value(ls, s->initial ? GPIOD_LINE_VALUE_ACTIVE
									: GPIOD_LINE_VALUE_INACTIVE) < 0)
			goto out;
	} else {
		if (gpiod_line_settings_set_direction(ls, GPIOD_LINE_DIRECTION_INPUT) < 0 ||
		    gpiod_line_settings_set_edge_detection(ls, edges[s->edge]) < 0)
			goto out;
		gpiod_line_settings_set_debounce_period_us(ls, debounce_us);
	}
	if (gpiod_line_config_add_line_settings(lc, &offset, 1, ls) < 0) {
		e = errno;
		goto out;
	}
	gpiod_request_config_set_consumer(rc, consumer);
	if (!s->output && s->edge != CFG_EDGE_NONE)
		gpiod_request_config_set_event_buffer_size(rc, GPIO_BE_EVENTS);
	req = gpiod_chip_request_lines(c->chip, rc, lc);
	e = req ? 0 : errno;
out:
	gpiod_request_config_free(rc);
	gpiod_line_config_free(lc);
	gpiod_line_settings_free(ls);
	errno = e;
	return req;
}

struct gpio_be_req *gpio_be_request(struct gpio_be_chip *c, unsigned int offset, const char *consumer,
				    const struct gpio_be_settings *s, int *kernel_debounce)
{
	struct gpio_be_req *r;
	int e;

	*kernel_debounce = 0;
	if ((unsigned int)s->edge > CFG_EDGE_NONE || (unsigned int)s->bias > CFG_BIAS_PULL_DOWN) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->offset = offset;
	if (!s->output && s->debounce_ms > 0) {
		r->req = gpio_be_request_once(c, offset, consumer, s, (unsigned long)s->debounce_ms * 1000ul);
		if (r->req)
			*kernel_debounce = 1;
		else if (errno == EBUSY)
			goto fail;
	}
	if (!r->req)
		r->req = gpio_be_request_once(c, offset, consumer, s, 0);
	if (!r->req)
		goto fail;
	if (!s->output && s->edge != CFG_EDGE_NONE) {
		r->events = gpiod_edge_event_buffer_new(GPIO_BE_EVENTS);
		if (!r->events)
			goto fail;
	}
	return r;
fail:
	e = errno;
	gpio_be_release(r);
	errno = e;
	return NULL;
}

void gpio_be_release(struct gpio_be_req *r)
{
	if (!r)
		return;
	if (r->events)
		gpiod_edge_event_buffer_free(r->events);
	if (r->req)
		gpiod_line_request_release(r->req);
	free(r);
}

int gpio_be_fd(struct gpio_be_req *r)
{
	if (!r->events) {
		errno = EPERM;
		return -1;
	}
	return gpiod_line_request_get_fd(r->req);
}

int gpio_be_get(struct gpio_be_req *r)
{
	enum gpiod_line_value v = gpiod_line_request_get_value(r->req, r->offset);

	return v == GPIOD_LINE_VALUE_ERROR ? -1 : v == GPIOD_LINE_VALUE_ACTIVE;
}

int gpio_be_set(struct gpio_be_req *r, int value)
{
	return gpiod_line_request_set_value(r->req, r->offset,
					    value ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE);
}

int gpio_be_read_edges(struct gpio_be_req *r, int *rising, int max)
{
	struct gpiod_edge_event *ev;
	int i, n;

	if (!r->events) {
		errno = EPERM;
		return -1;
	}
	n = gpiod_line_request_wait_edge_events(r->req, 0);
	if (n <= 0)
		return n;
	if (max > GPIO_BE_EVENTS)
		max = GPIO_BE_EVENTS;
	n = gpiod_line_request_read_edge_events(r->req, r->events, (size_t)max);
	for (i = 0; i < n; i++) {
		ev = gpiod_edge_event_buffer_get_event(r->events, (unsigned long)i);
		rising[i] = ev && gpiod_edge_event_get_event_type(ev) == GPIOD_EDGE_EVENT_RISING_EDGE;
	}
	return n;
}
