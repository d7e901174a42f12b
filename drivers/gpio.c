/*
 * gpio.c - GPIO lines (Raspberry Pi header pins, any Linux gpiochip) as
 * devices, on libgpiod 1.6 or 2.x.
 *
 * All the logic and every message is here; the libgpiod calls are behind
 * gpio_backend.h (gpio_gpiod1.c or gpio_gpiod2.c, one compiled in, chosen by
 * the Makefile from pkg-config's libgpiod version), so a config behaves and
 * fails with the same words on both.
 *
 * One device is one line. Why it is shaped so:
 *  - Inputs are requested for edge events and the event fd goes into the
 *    bridge's poll loop, so an idle input costs nothing: no fd activity, no
 *    deadline, no polling. on_readable drains the pending events and then
 *    reads the current value, so a dropped event (the kernel keeps 16) can
 *    never leave a wrong state behind.
 *  - Debounce is a pure state machine (gpio_debounce_*, in gpio_pure.c)
 *    fed with levels and times; the driver only turns its deadline into
 *    tick(). With libgpiod 2 and edge "both" the kernel debounces instead
 *    where it can (the same rule: a level counts once it has held
 *    debounce_ms; the state machine then runs with 0 ms, and a debounced
 *    line reads its debounced level); where the kernel refuses, for
 *    rising/falling (one message per press, the driver's rule) and on
 *    libgpiod 1.6, the state machine does it. Users see the same messages
 *    either way. Output payloads (gpio_parse_payload) are pure too; both
 *    are unit-tested without a chip.
 *  - Outputs: every time the driver drives the line (a command, the end of a
 *    pulse, a failsafe) it emits the new logical state, so a route from
 *    gpio:NAME publishes it retained. Pulses and the failsafe grace period
 *    are deadlines, never sleeps.
 *  - The chip is found by name (gpiochip0), /dev path, number or label
 *    (pinctrl-bcm2835, pinctrl-rp1; a walk over the chips in /dev, as
 *    libgpiod 2 has no open-by-label), the line by offset or by name
 *    ("GPIO17"); chip "*" searches every chip for the line name, so one config
 *    fits a Pi 3/4 (gpiochip0) and a Pi 5 (pinctrl-rp1, gpiochip4 or 0).
 *  - A chip or line that cannot be had is an error logged once per distinct
 *    cause; tick retries every GPIO_REOPEN_MS.
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "device.h"
#include "gpio.h"
#include "gpio_backend.h"
#include "gpio_cfg.h"
#include "log.h"

#define GPIO_CONSUMER "mqttgw"
#define GPIO_REOPEN_MS 5000
#define GPIO_EVENTS_MAX 64	/* events drained per on_readable; poll says if more wait */
#define GPIO_ERRLEN 256

struct gpio_priv {
	struct gpio_be_chip *chip;
	struct gpio_be_req *req;	/* NULL while closed */
	int fd;				/* event fd of an input with edges, else -1 */
	int kernel_debounce;		/* the kernel debounces: db runs with 0 ms */
	char where[96];			/* "line 17 on gpiochip0", for messages */
	char label[64];			/* the chip's label, for messages */
	struct gpio_debounce db;	/* inputs */
	int value;			/* outputs: logical value driven now */
	int pulse_on;
	int pulse_restore;
	uint64_t pulse_end;
	int fs_armed;			/* broker down: failsafe at fs_at */
	uint64_t fs_at;
	uint64_t retry_at;		/* reopen after a failure, or DEVICE_NO_DEADLINE */
	char last_err[GPIO_ERRLEN];	/* the failure logged last, to log each once */
};

/* ---- finding chips and lines (through the backend's primitives) ---- */

static int gpio_chip_any(const struct cfg_gpio *g)
{
	return g->chip && strcmp(g->chip, "*") == 0;
}

/* What a walk over the chips looks for: a label, or a line name; and what it kept. */
struct gpio_search {
	const char *label;
	const char *line_name;
	int offset;
	struct gpio_be_chip *chip;
};

static int gpio_search_one(struct gpio_be_chip *chip, void *arg)
{
	struct gpio_search *s = arg;

	if (s->label) {
		if (strcmp(gpio_be_chip_label(chip), s->label) != 0)
			return 0;
	} else {
		s->offset = gpio_be_line_find(chip, s->line_name);
		if (s->offset < 0)
			return 0;
	}
	s->chip = chip;
	return 1;
}

/* By /dev path, number, name, then label; NULL with errno (ENOENT: none). */
static struct gpio_be_chip *gpio_chip_open(const char *spec)
{
	struct gpio_search s = { NULL, NULL, -1, NULL };
	struct gpio_be_chip *chip;
	char path[128];
	char *end;
	long n;
	int r;

	if (strncmp(spec, "/dev/", 5) == 0)
		return gpio_be_chip_open(spec);
	if (isdigit((unsigned char)spec[0])) {
		errno = 0;
		n = strtol(spec, &end, 10);
		if (!errno && !*end && n >= 0 && n <= 4096) {
			snprintf(path, sizeof(path), "/dev/gpiochip%ld", n);
			return gpio_be_chip_open(path);
		}
	}
	if (!strchr(spec, '/') && (size_t)snprintf(path, sizeof(path), "/dev/%s", spec) < sizeof(path)) {
		chip = gpio_be_chip_open(path);
		if (chip || errno != ENOENT)
			return chip;
	}
	s.label = spec;
	r = gpio_be_chip_each(gpio_search_one, &s);
	if (r == 0)
		errno = ENOENT;
	return r > 0 ? s.chip : NULL;
}

/* Chip and line offset of g, not requested. 0, or -1 with the message in err. */
static int gpio_lookup(const struct cfg_gpio *g, struct gpio_be_chip **chipp, unsigned int *offsetp, char *err,
		       size_t errlen)
{
	struct gpio_search s = { NULL, NULL, -1, NULL };
	struct gpio_be_chip *chip;
	int e, off;

	*chipp = NULL;
	if (gpio_chip_any(g)) {
		if (!g->line_name) {
			snprintf(err, errlen, "gpio %s: chip \"*\" needs a line name (line = \"GPIO17\")", g->name);
			return -1;
		}
		s.line_name = g->line_name;
		e = gpio_be_chip_each(gpio_search_one, &s);
		if (e <= 0) {
			e = e < 0 ? errno : ENOENT;
			if (e == ENOENT)
				snprintf(err, errlen, "gpio %s: no line named \"%s\" on any chip", g->name, g->line_name);
			else
				snprintf(err, errlen, "gpio %s: cannot search the chips for \"%s\": %s", g->name,
					 g->line_name, strerror(e));
			return -1;
		}
		*chipp = s.chip;
		*offsetp = (unsigned int)s.offset;
		return 0;
	}
	if (!g->chip || !*g->chip) {
		snprintf(err, errlen, "gpio %s: no chip given", g->name);
		return -1;
	}
	chip = gpio_chip_open(g->chip);
	if (!chip) {
		e = errno;
		if (e == ENOENT || e == ENOTTY || e == ENODEV)
			snprintf(err, errlen, "gpio %s: no chip \"%s\"", g->name, g->chip);
		else
			snprintf(err, errlen, "gpio %s: cannot open chip \"%s\": %s", g->name, g->chip, strerror(e));
		return -1;
	}
	if (g->line_name) {
		off = gpio_be_line_find(chip, g->line_name);
		if (off < 0)
			snprintf(err, errlen, "gpio %s: no line named \"%s\" on %s (%s)", g->name, g->line_name,
				 gpio_be_chip_name(chip), gpio_be_chip_label(chip));
	} else {
		off = g->offset >= 0 && (unsigned int)g->offset < gpio_be_chip_lines(chip) ? g->offset : -1;
		if (off < 0)
			snprintf(err, errlen, "gpio %s: no line %d on %s (%s has %u lines)", g->name, g->offset,
				 gpio_be_chip_name(chip), gpio_be_chip_label(chip), gpio_be_chip_lines(chip));
	}
	if (off < 0) {
		gpio_be_chip_close(chip);
		return -1;
	}
	*chipp = chip;
	*offsetp = (unsigned int)off;
	return 0;
}

/*
 * Settings the running libgpiod cannot honour: refused at start (with the
 * line of the config), never found out when the line is requested. The
 * kernel's refusals come later, at request time, and are retried.
 */
static int gpio_check_settings(const struct cfg_gpio *g, char *err, size_t errlen)
{
	static const char *const bias_names[] = { "as-is", "disable", "pull-up", "pull-down" };
	const char *running = gpio_be_running_version();

	/* bias flags came with libgpiod 1.5 (and the kernel's 5.5 ABI) */
	if (g->bias != CFG_BIAS_AS_IS && (unsigned int)g->bias <= CFG_BIAS_PULL_DOWN && running &&
	    gpio_version_below(running, 1, 5)) {
		snprintf(err, errlen, "gpio %s: bias = \"%s\" needs libgpiod 1.5 or later; this is libgpiod %s",
			 g->name, bias_names[g->bias], running);
		return -1;
	}
	return 0;
}

int gpio_probe(const struct cfg_gpio *g, char *err, size_t errlen)
{
	struct gpio_be_chip *chip;
	unsigned int offset;

	if (gpio_check_settings(g, err, errlen) < 0 || gpio_lookup(g, &chip, &offset, err, errlen) < 0)
		return -1;
	gpio_be_chip_close(chip);
	return 0;
}

const char *gpio_library(void)
{
	return gpio_be_version();
}

/* ---- the driver ---- */

static const char *const gpio_edge_names[] = { "both", "rising", "falling", "none" };
static const char *const gpio_bias_names[] = { "as-is", "disable", "pull-up", "pull-down" };

static struct gpio_priv *gpio_priv_get(struct device *dev)
{
	struct gpio_priv *p = dev->priv;

	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->fd = -1;
	p->value = -1;
	p->retry_at = DEVICE_NO_DEADLINE;
	dev->priv = p;
	return p;
}

static void gpio_emit(struct device *dev, int v)
{
	dev->stats.frames_in++;
	dev->stats.bytes_in++;
	if (dev->emit)
		dev->emit(dev, v ? "1" : "0", 1, dev->ctx);
}

static void gpio_release(struct gpio_priv *p)
{
	if (p->req)
		gpio_be_release(p->req);
	if (p->chip)
		gpio_be_chip_close(p->chip);
	p->req = NULL;
	p->chip = NULL;
	p->fd = -1;
	p->pulse_on = 0;
	p->db.pending = 0;
}

static void gpio_where(const struct cfg_gpio *g, struct gpio_priv *p, unsigned int offset)
{
	if (g->line_name)
		snprintf(p->where, sizeof(p->where), "line \"%s\" (%u) on %s", g->line_name, offset,
			 gpio_be_chip_name(p->chip));
	else
		snprintf(p->where, sizeof(p->where), "line %u on %s", offset, gpio_be_chip_name(p->chip));
	snprintf(p->label, sizeof(p->label), "%s", gpio_be_chip_label(p->chip));
}

/* Find and request the line. 0, or -1 with the message in err. */
static int gpio_acquire(const struct cfg_gpio *g, struct gpio_priv *p, char *err, size_t errlen)
{
	struct gpio_be_settings s;
	unsigned int offset;
	int v, kernel_db = 0;

	if ((unsigned int)g->edge > CFG_EDGE_NONE || (unsigned int)g->bias > CFG_BIAS_PULL_DOWN) {
		snprintf(err, errlen, "gpio %s: bad edge or bias setting", g->name);
		return -1;
	}
	if (gpio_lookup(g, &p->chip, &offset, err, errlen) < 0)
		return -1;
	gpio_where(g, p, offset);
	memset(&s, 0, sizeof(s));
	s.output = g->direction == CFG_GPIO_OUTPUT;
	s.initial = g->initial ? 1 : 0;
	s.edge = s.output ? CFG_EDGE_NONE : g->edge;
	s.bias = g->bias;
	s.active_low = g->active_low;
	/*
	 * The kernel's debounce (libgpiod 2) gives what the driver's level mode
	 * gives: a level is reported once it has held debounce_ms. Edge mode
	 * (rising/falling: one message per press) stays the driver's own.
	 */
	if (!s.output && g->edge == CFG_EDGE_BOTH && g->debounce_ms > 0)
		s.debounce_ms = (unsigned int)g->debounce_ms;
	p->req = gpio_be_request(p->chip, offset, GPIO_CONSUMER, &s, &kernel_db);
	if (!p->req) {
		int e = errno;

		if (e == EBUSY) {
			char who[64];

			gpio_be_line_consumer(p->chip, offset, who, sizeof(who));
			snprintf(err, errlen, "gpio %s: %s is busy: used by \"%s\"", g->name, p->where, who);
		} else {
			snprintf(err, errlen, "gpio %s: cannot request %s: %s", g->name, p->where, strerror(e));
		}
		gpio_be_chip_close(p->chip);
		p->chip = NULL;
		return -1;
	}
	if (g->direction == CFG_GPIO_OUTPUT) {
		p->value = g->initial ? 1 : 0;
		return 0;
	}
	if (g->edge != CFG_EDGE_NONE) {
		p->fd = gpio_be_fd(p->req);
		if (p->fd < 0) {
			snprintf(err, errlen, "gpio %s: no event fd for %s: %s", g->name, p->where, strerror(errno));
			gpio_release(p);
			return -1;
		}
	}
	v = gpio_be_get(p->req);
	if (v < 0) {
		snprintf(err, errlen, "gpio %s: cannot read %s: %s", g->name, p->where, strerror(errno));
		gpio_release(p);
		return -1;
	}
	p->kernel_debounce = kernel_db;
	gpio_debounce_init(&p->db, kernel_db ? 0 : (unsigned int)(g->debounce_ms > 0 ? g->debounce_ms : 0),
			   g->edge == CFG_EDGE_RISING ? 1 : g->edge == CFG_EDGE_FALLING ? 0 : -1);
	gpio_debounce_reset(&p->db, v);
	return 0;
}

static int gpio_open(struct device *dev, uint64_t now_ms)
{
	const struct cfg_gpio *g = dev->cfg;
	struct gpio_priv *p = gpio_priv_get(dev);
	char err[GPIO_ERRLEN];

	if (!p) {
		dev->stats.open_failures++;
		log_msg(LOG_ERR, "gpio %s: out of memory", dev->name);
		return -1;
	}
	if (p->req)
		return 0;
	if (gpio_acquire(g, p, err, sizeof(err)) < 0) {
		dev->stats.open_failures++;
		p->retry_at = now_ms + GPIO_REOPEN_MS;
		log_msg(strcmp(err, p->last_err) ? LOG_ERR : LOG_DEBUG, "%s", err);
		snprintf(p->last_err, sizeof(p->last_err), "%s", err);
		return -1;
	}
	p->retry_at = DEVICE_NO_DEADLINE;
	if (p->last_err[0])
		log_msg(LOG_NOTICE, "gpio %s: %s is available now", dev->name, p->where);
	p->last_err[0] = '\0';
	if (g->direction == CFG_GPIO_OUTPUT)
		log_msg(LOG_INFO, "gpio %s: %s (%s): output%s, initial %d", dev->name, p->where,
			p->label, g->active_low ? " active-low" : "", p->value);
	else
		log_msg(LOG_INFO, "gpio %s: %s (%s): input, edge %s, bias %s%s, debounce %d ms: %d", dev->name,
			p->where, p->label, gpio_edge_names[g->edge], gpio_bias_names[g->bias],
			g->active_low ? ", active-low" : "", g->debounce_ms, p->db.stable);
	if (p->kernel_debounce)
		log_msg(LOG_DEBUG, "gpio %s: the kernel debounces %s", dev->name, p->where);
	device_set_online(dev, 1);
	gpio_emit(dev, g->direction == CFG_GPIO_OUTPUT ? p->value : p->db.stable);
	return 0;
}

/* A line that worked stopped working: close it and retry later. */
static void gpio_fail(struct device *dev, struct gpio_priv *p, uint64_t now_ms, const char *what)
{
	snprintf(p->last_err, sizeof(p->last_err), "gpio %s: %s %s: %s", dev->name, what, p->where, strerror(errno));
	log_msg(LOG_ERR, "%s", p->last_err);
	gpio_release(p);
	p->retry_at = now_ms + GPIO_REOPEN_MS;
	device_set_online(dev, 0);
}

static void gpio_close(struct device *dev)
{
	struct gpio_priv *p = dev->priv;

	if (!p)
		return;
	/* a pulse never outlives the daemon: put the line back first */
	if (p->req && p->pulse_on && gpio_be_set(p->req, p->pulse_restore) == 0)
		p->value = p->pulse_restore;
	gpio_release(p);
	p->retry_at = DEVICE_NO_DEADLINE;
	p->fs_armed = 0;
	device_set_online(dev, 0);
}

static int gpio_fd(const struct device *dev)
{
	const struct gpio_priv *p = dev->priv;

	return p && p->req ? p->fd : -1;
}

static short gpio_events(const struct device *dev)
{
	return gpio_fd(dev) >= 0 ? POLLIN : 0;
}

static void gpio_on_readable(struct device *dev, uint64_t now_ms)
{
	struct gpio_priv *p = dev->priv;
	int rising[16];
	int i, n, total, r, v;

	if (!p || !p->req || p->fd < 0)
		return;
	for (total = 0; total < GPIO_EVENTS_MAX; total += n) {
		n = gpio_be_read_edges(p->req, rising, (int)(sizeof(rising) / sizeof(rising[0])));
		if (n == 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
			break;
		if (n < 0) {
			gpio_fail(dev, p, now_ms, "cannot read events from");
			return;
		}
		for (i = 0; i < n; i++) {
			v = rising[i];
			if (p->db.target < 0)
				r = gpio_debounce_level(&p->db, v, now_ms);
			else
				r = v == p->db.target ? gpio_debounce_edge(&p->db, now_ms) : -1;
			if (r >= 0)
				gpio_emit(dev, r);
		}
	}
	v = gpio_be_get(p->req);
	if (v < 0) {
		gpio_fail(dev, p, now_ms, "cannot read");
		return;
	}
	r = gpio_debounce_level(&p->db, v, now_ms);
	if (r >= 0)
		gpio_emit(dev, r);
}

static void gpio_on_writable(struct device *dev, uint64_t now_ms)
{
	(void)dev;
	(void)now_ms;
}

/* Drive an output and report the new state. */
static int gpio_drive(struct device *dev, struct gpio_priv *p, int v)
{
	v = v ? 1 : 0;
	if (gpio_be_set(p->req, v) < 0) {
		log_msg(LOG_ERR, "gpio %s: cannot set %s to %d: %s", dev->name, p->where, v, strerror(errno));
		return -1;
	}
	p->value = v;
	gpio_emit(dev, v);
	return 0;
}

static void gpio_apply_failsafe(struct device *dev, struct gpio_priv *p, int level, const char *why)
{
	const struct cfg_gpio *g = dev->cfg;

	p->pulse_on = 0;
	log_msg(level, "gpio %s: %s: failsafe, %s -> %d", dev->name, why, p->where, g->failsafe);
	gpio_drive(dev, p, g->failsafe);
}

/* Copy a payload for a log line: at most 32 bytes, unprintables as '?'. */
static void gpio_printable(char *dst, size_t dstlen, const char *src, size_t len)
{
	size_t i, n = len < dstlen - 1 ? len : dstlen - 1;

	if (n > 32)
		n = 32;
	for (i = 0; i < n; i++)
		dst[i] = isprint((unsigned char)src[i]) ? src[i] : '?';
	dst[n] = '\0';
}

/*
 * Refusals are counted and explained in dev->last_error; the bridge logs
 * them with the topic, so here they are only debug lines with the payload.
 */
static int gpio_write(struct device *dev, const char *data, size_t len, uint64_t now_ms)
{
	const struct cfg_gpio *g = dev->cfg;
	struct gpio_priv *p = dev->priv;
	struct gpio_cmd cmd;
	char shown[40];
	int r;

	gpio_printable(shown, sizeof(shown), data ? data : "", data ? len : 0);
	if (g->direction != CFG_GPIO_OUTPUT) {
		dev->stats.refused++;
		dev->last_error = "the line is an input";
		log_msg(LOG_DEBUG, "gpio %s: refused \"%s\": the line is an input", dev->name, shown);
		return -1;
	}
	if (gpio_parse_payload(data, len, &cmd) < 0) {
		dev->stats.refused++;
		dev->last_error = "want 1/0/on/off/true/false/toggle or \"pulse MS\"";
		log_msg(LOG_DEBUG, "gpio %s: refused \"%s\": %s", dev->name, shown, dev->last_error);
		return -1;
	}
	if (!p || !p->req) {
		dev->stats.refused++;
		dev->last_error = "the line is not open";
		log_msg(LOG_DEBUG, "gpio %s: refused \"%s\": the line is not open", dev->name, shown);
		return -1;
	}
	switch (cmd.kind) {
	case GPIO_CMD_PULSE:
		if (!p->pulse_on)
			p->pulse_restore = p->value;
		p->pulse_on = 1;
		p->pulse_end = now_ms + cmd.pulse_ms;
		r = gpio_drive(dev, p, cmd.value);
		break;
	case GPIO_CMD_TOGGLE:
		p->pulse_on = 0;
		r = gpio_drive(dev, p, !p->value);
		break;
	default:
		p->pulse_on = 0;
		r = gpio_drive(dev, p, cmd.value);
		break;
	}
	if (r < 0) {
		dev->stats.refused++;
		dev->last_error = "cannot set the line";
		return -1;
	}
	dev->stats.frames_out++;
	dev->stats.bytes_out += len;
	return 0;
}

static uint64_t gpio_deadline(const struct device *dev, const struct gpio_priv *p)
{
	const struct cfg_gpio *g = dev->cfg;
	uint64_t d = DEVICE_NO_DEADLINE;

	if (!p->req)
		d = p->retry_at;
	else if (g->direction == CFG_GPIO_INPUT)
		d = gpio_debounce_deadline(&p->db);
	else if (p->pulse_on)
		d = p->pulse_end;
	if (p->fs_armed && p->fs_at < d)
		d = p->fs_at;
	return d;
}

static uint64_t gpio_tick(struct device *dev, uint64_t now_ms)
{
	const struct cfg_gpio *g = dev->cfg;
	struct gpio_priv *p = dev->priv;
	int v, r;

	if (!p)
		return DEVICE_NO_DEADLINE;
	if (!p->req && p->retry_at != DEVICE_NO_DEADLINE && now_ms >= p->retry_at)
		gpio_open(dev, now_ms);
	if (p->fs_armed && now_ms >= p->fs_at) {
		char why[64];

		p->fs_armed = 0;
		snprintf(why, sizeof(why), "broker down for %d ms", g->failsafe_grace_ms);
		if (p->req)
			gpio_apply_failsafe(dev, p, LOG_WARNING, why);
		else
			log_msg(LOG_WARNING, "gpio %s: %s, but the line is not open: no failsafe", dev->name, why);
	}
	if (!p->req)
		return gpio_deadline(dev, p);
	if (g->direction == CFG_GPIO_INPUT) {
		if (p->db.pending && now_ms >= gpio_debounce_deadline(&p->db)) {
			v = gpio_be_get(p->req);
			if (v < 0) {
				gpio_fail(dev, p, now_ms, "cannot read");
				return gpio_deadline(dev, p);
			}
			r = gpio_debounce_level(&p->db, v, now_ms);
			if (r >= 0)
				gpio_emit(dev, r);
		}
	} else if (p->pulse_on && now_ms >= p->pulse_end) {
		p->pulse_on = 0;
		gpio_drive(dev, p, p->pulse_restore);
	}
	return gpio_deadline(dev, p);
}

static void gpio_link(struct device *dev, int up, uint64_t now_ms)
{
	const struct cfg_gpio *g = dev->cfg;
	struct gpio_priv *p = dev->priv;
	int v;

	if (!p)
		return;
	if (!up) {
		if (g->direction != CFG_GPIO_OUTPUT || g->failsafe < 0 || p->fs_armed)
			return;
		if (g->failsafe_grace_ms <= 0) {
			if (p->req)
				gpio_apply_failsafe(dev, p, LOG_WARNING, "broker down");
			return;
		}
		p->fs_armed = 1;
		p->fs_at = now_ms + (uint64_t)g->failsafe_grace_ms;
		return;
	}
	p->fs_armed = 0;
	if (!p->req)
		return;
	if (g->direction == CFG_GPIO_OUTPUT) {
		gpio_emit(dev, p->value);
		return;
	}
	/* inputs: the debounced state; a line without both edges is read now */
	if (g->edge == CFG_EDGE_BOTH && p->db.stable >= 0) {
		gpio_emit(dev, p->db.stable);
		return;
	}
	v = gpio_be_get(p->req);
	if (v < 0) {
		gpio_fail(dev, p, now_ms, "cannot read");
		return;
	}
	if (g->edge == CFG_EDGE_NONE || g->edge == CFG_EDGE_BOTH)
		gpio_debounce_reset(&p->db, v);
	gpio_emit(dev, v);
}

static void gpio_failsafe(struct device *dev, uint64_t now_ms)
{
	(void)now_ms;
	const struct cfg_gpio *g = dev->cfg;
	struct gpio_priv *p = dev->priv;

	if (g->direction != CFG_GPIO_OUTPUT || g->failsafe < 0 || !p || !p->req)
		return;
	p->fs_armed = 0;
	gpio_apply_failsafe(dev, p, LOG_INFO, "shutdown");
}

static void gpio_destroy(struct device *dev)
{
	struct gpio_priv *p = dev->priv;

	if (!p)
		return;
	gpio_release(p);
	free(p);
	dev->priv = NULL;
}

/*
 * Edges are read as they come (the kernel keeps only 16), never held back;
 * link(up) emits every line's state again. No topics of its own, no replies.
 */
const struct device_driver gpio_driver = {
	.kind = "gpio",
	.closed = "released",
	.caps = DEVICE_CAP_REEMITS,
	.open = gpio_open,
	.close = gpio_close,
	.fd = gpio_fd,
	.events = gpio_events,
	.on_readable = gpio_on_readable,
	.on_writable = gpio_on_writable,
	.write = gpio_write,
	.tick = gpio_tick,
	.link = gpio_link,
	.failsafe = gpio_failsafe,
	.destroy = gpio_destroy,
};
