/*
 * gpio.h - the GPIO driver's public half: the config-time probe and the pure
 * parts (payload parsing, debounce) that unit tests call directly.
 *
 * The driver itself is gpio_driver (device.h). What is here does no I/O
 * except gpio_probe, which opens the chip to check that the chip and the
 * line exist without requesting the line, so a typo is a config error at
 * start, not a device that retries forever.
 */
#ifndef MQTTGW_GPIO_H
#define MQTTGW_GPIO_H

#include <stddef.h>
#include <stdint.h>

struct cfg_gpio;

/* Longest pulse an output accepts ("pulse 3600000" = one hour). */
#define GPIO_PULSE_MAX_MS 3600000

/*
 * Check that g's chip and line exist, without requesting the line. 0 ok;
 * -1 with the tail of a config error in err, e.g.
 * "gpio LIMZ: no chip \"gpiochip9\"" (the caller adds "FILE:LINE: ").
 */
int gpio_probe(const struct cfg_gpio *g, char *err, size_t errlen);

/* The GPIO library this build uses, for --version: "libgpiod 2.1.3". */
const char *gpio_library(void);

/*
 * Is a library version "A.B[.C][-suffix]" older than major.minor? 1 yes,
 * 0 no; a version that does not start with a number is never older.
 */
int gpio_version_below(const char *version, long major, long minor);

/* ---- output payloads ---- */

enum gpio_cmd_kind { GPIO_CMD_SET, GPIO_CMD_TOGGLE, GPIO_CMD_PULSE };

struct gpio_cmd {
	enum gpio_cmd_kind kind;
	int value;			/* SET: 0 or 1 */
	unsigned int pulse_ms;		/* PULSE: 1..GPIO_PULSE_MAX_MS */
};

/*
 * Parse an output payload (not NUL-terminated; surrounding whitespace and
 * case ignored): 1/0, on/off, true/false, toggle, and "pulse N" (also
 * "pulse:N", "pulse=N", optional "ms" suffix): drive 1 for N ms, then back
 * to the value before the pulse. 0 ok, -1 refused.
 */
int gpio_parse_payload(const char *data, size_t len, struct gpio_cmd *cmd);

/* ---- input debounce (pure: levels and times in, levels to emit out) ---- */

/*
 * Level mode (edge "both" or "none"): the emitted state follows the line; a
 * new level is emitted once it has held debounce_ms; a bounce back to the
 * emitted level cancels it; the same level is never emitted twice in a row.
 * Edge mode (edge "rising"/"falling", target = the level the edge leads to):
 * each edge that is still at target debounce_ms later emits target once,
 * so every qualifying press is one message.
 */
struct gpio_debounce {
	unsigned int debounce_ms;
	int target;			/* -1 level mode, else 0/1 (edge mode) */
	int stable;			/* last emitted level, -1 none yet */
	int raw;			/* last observed level, -1 none */
	int pending;			/* a change is waiting out debounce_ms */
	uint64_t since;			/* when raw last changed / the last edge */
};

void gpio_debounce_init(struct gpio_debounce *d, unsigned int debounce_ms, int target);
/* The line was read as level at open: that is the emitted state now. */
void gpio_debounce_reset(struct gpio_debounce *d, int level);
/* The line reads level at now. Returns the level to emit (0/1) or -1. */
int gpio_debounce_level(struct gpio_debounce *d, int level, uint64_t now);
/* Edge mode: a qualifying edge happened at now. Returns the level to emit or -1. */
int gpio_debounce_edge(struct gpio_debounce *d, uint64_t now);
/* When gpio_debounce_level must be called again, or UINT64_MAX. */
uint64_t gpio_debounce_deadline(const struct gpio_debounce *d);

#endif
