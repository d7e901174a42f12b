/*
 * gpio_backend.h - the seam between the GPIO driver and the libgpiod it was
 * built against. Internal to drivers/: nothing above the driver interface
 * includes it.
 *
 * libgpiod 1.x (Debian bookworm, Raspberry Pi OS before October 2025) and
 * 2.x (trixie and later) share no API: 2.0 removed gpiod_line_* and every
 * open-by-name helper. So gpio.c holds all the logic and writes every
 * message (finding chips by name, label or "*", debounce, outputs, retries),
 * and one small file per libgpiod major version implements the primitives
 * below: gpio_gpiod1.c or gpio_gpiod2.c. The Makefile compiles exactly one,
 * chosen from pkg-config's libgpiod version, so both speak the same words.
 *
 * Conventions: functions returning a pointer give NULL with errno set;
 * int functions 0 (or a value >= 0) and -1 with errno set. Backends never
 * log: the driver knows the device name and logs once.
 */
#ifndef MQTTGW_GPIO_BACKEND_H
#define MQTTGW_GPIO_BACKEND_H

#include <stddef.h>

#include "gpio_cfg.h"

struct gpio_be_chip;	/* an open chip */
struct gpio_be_req;	/* one requested line */

/* What to request a line as (values are logical: active_low applies). */
struct gpio_be_settings {
	int output;			/* 1 output, 0 input */
	int initial;			/* output: value at request */
	enum cfg_gpio_edge edge;	/* input: edge events wanted (NONE: none, no fd) */
	enum cfg_gpio_bias bias;
	int active_low;
	unsigned int debounce_ms;	/* input: ask the kernel to debounce, 0 no */
};

/* "libgpiod 2.1.3": the version built against (pkg-config's, at build time). */
const char *gpio_be_version(void);

/* The version of the libgpiod running now ("1.6.3", "2.1.3"): it may differ from the build's. */
const char *gpio_be_running_version(void);

/* Open the chip at a /dev path. ENOENT: nothing there; ENOTTY/ENODEV: not a chip. */
struct gpio_be_chip *gpio_be_chip_open(const char *path);
void gpio_be_chip_close(struct gpio_be_chip *chip);

/*
 * Open each chip of the system in turn, in /dev name order, and call fn.
 * fn returns 1 to keep the chip (the walk stops; the chip is the caller's
 * now) or 0 to go on (the backend closes it). Returns 1 if fn kept one,
 * 0 if not, -1 with errno if the chips cannot be listed.
 */
int gpio_be_chip_each(int (*fn)(struct gpio_be_chip *chip, void *arg), void *arg);

const char *gpio_be_chip_name(struct gpio_be_chip *chip);	/* "gpiochip0" */
const char *gpio_be_chip_label(struct gpio_be_chip *chip);	/* "pinctrl-bcm2835" */
unsigned int gpio_be_chip_lines(struct gpio_be_chip *chip);

/* The offset of the line called name on chip, or -1 (ENOENT: none). */
int gpio_be_line_find(struct gpio_be_chip *chip, const char *name);

/* Who holds line offset (after a request failed with EBUSY); "?" if unknown. */
void gpio_be_line_consumer(struct gpio_be_chip *chip, unsigned int offset, char *buf, size_t len);

/*
 * Request line offset of chip for consumer. *kernel_debounce says whether
 * the kernel debounces it now (s->debounce_ms honoured: the driver then
 * does not debounce again); 0 means the driver must debounce itself.
 */
struct gpio_be_req *gpio_be_request(struct gpio_be_chip *chip, unsigned int offset, const char *consumer,
				    const struct gpio_be_settings *s, int *kernel_debounce);
void gpio_be_release(struct gpio_be_req *req);

/* The edge event fd of an input requested with edges, else -1. */
int gpio_be_fd(struct gpio_be_req *req);
/* Logical value 0/1, or -1. */
int gpio_be_get(struct gpio_be_req *req);
int gpio_be_set(struct gpio_be_req *req, int value);
/*
 * Read up to max pending edge events without blocking; rising[i] = 1 for a
 * rising (to logical 1) edge. Returns how many (0: none pending), or -1.
 */
int gpio_be_read_edges(struct gpio_be_req *req, int *rising, int max);

#endif
