/*
 * gpio_pure.c - the pure half of the GPIO driver (gpio.c): output payload
 * parsing, the debounce state machine and library version comparison. No I/O and no libgpiod, so the
 * unit tests (tests/unit/test_gpio.c) drive them with made-up payloads,
 * levels and times, and both libgpiod backends share them as they are.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gpio.h"

static int gpio_parse_pulse(const char *s, struct gpio_cmd *cmd)
{
	const char *p = s;
	char *end;
	long v;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == ':' || *p == '=') {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
	}
	if (p == s || !isdigit((unsigned char)*p))
		return -1;
	errno = 0;
	v = strtol(p, &end, 10);
	if (errno || end == p)
		return -1;
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end && strcasecmp(end, "ms") != 0)
		return -1;
	if (v < 1 || v > GPIO_PULSE_MAX_MS)
		return -1;
	cmd->kind = GPIO_CMD_PULSE;
	cmd->value = 1;
	cmd->pulse_ms = (unsigned int)v;
	return 0;
}

int gpio_parse_payload(const char *data, size_t len, struct gpio_cmd *cmd)
{
	static const struct {
		const char *word;
		enum gpio_cmd_kind kind;
		int value;
	} words[] = {
		{ "1", GPIO_CMD_SET, 1 },     { "0", GPIO_CMD_SET, 0 },	     { "on", GPIO_CMD_SET, 1 },
		{ "off", GPIO_CMD_SET, 0 },   { "true", GPIO_CMD_SET, 1 },   { "false", GPIO_CMD_SET, 0 },
		{ "toggle", GPIO_CMD_TOGGLE, -1 },
	};
	char buf[48];
	size_t i;

	if (!data || !cmd)
		return -1;
	while (len && isspace((unsigned char)*data)) {
		data++;
		len--;
	}
	while (len && isspace((unsigned char)data[len - 1]))
		len--;
	if (len == 0 || len >= sizeof(buf) || memchr(data, '\0', len))
		return -1;
	memcpy(buf, data, len);
	buf[len] = '\0';
	memset(cmd, 0, sizeof(*cmd));
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(buf, words[i].word) == 0) {
			cmd->kind = words[i].kind;
			cmd->value = words[i].value;
			return 0;
		}
	if (strncasecmp(buf, "pulse", 5) == 0)
		return gpio_parse_pulse(buf + 5, cmd);
	return -1;
}

void gpio_debounce_init(struct gpio_debounce *d, unsigned int debounce_ms, int target)
{
	memset(d, 0, sizeof(*d));
	d->debounce_ms = debounce_ms;
	d->target = target;
	d->stable = -1;
	d->raw = -1;
}

void gpio_debounce_reset(struct gpio_debounce *d, int level)
{
	d->stable = d->raw = level ? 1 : 0;
	d->pending = 0;
}

static int gpio_debounce_held(const struct gpio_debounce *d, uint64_t now)
{
	return now >= d->since && now - d->since >= d->debounce_ms;
}

int gpio_debounce_level(struct gpio_debounce *d, int level, uint64_t now)
{
	level = level ? 1 : 0;
	if (d->target >= 0) {
		/* edge mode: a pending edge is confirmed if the line is still there */
		if (!d->pending)
			return -1;
		if (level != d->target) {
			d->pending = 0;
			return -1;
		}
	} else {
		if (level != d->raw) {
			d->raw = level;
			d->since = now;
		}
		if (d->raw == d->stable) {
			d->pending = 0;
			return -1;
		}
		d->pending = 1;
	}
	if (!gpio_debounce_held(d, now))
		return -1;
	d->pending = 0;
	d->stable = d->raw;
	return d->stable;
}

int gpio_debounce_edge(struct gpio_debounce *d, uint64_t now)
{
	if (d->target < 0)
		return -1;
	d->raw = d->target;
	d->since = now;
	d->pending = 1;
	if (d->debounce_ms > 0)
		return -1;
	d->pending = 0;
	d->stable = d->target;
	return d->stable;
}

uint64_t gpio_debounce_deadline(const struct gpio_debounce *d)
{
	return d->pending ? d->since + d->debounce_ms : UINT64_MAX;
}

int gpio_version_below(const char *version, long major, long minor)
{
	char *end;
	long a, b = 0;

	if (!version || !isdigit((unsigned char)version[0]))
		return 0;
	errno = 0;
	a = strtol(version, &end, 10);
	if (errno || end == version)
		return 0;
	if (*end == '.') {
		const char *p = end + 1;

		b = strtol(p, &end, 10);
		if (errno || end == p)
			b = 0;
	}
	return a < major || (a == major && b < minor);
}
