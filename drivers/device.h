/*
 * device.h - the one interface every device driver implements.
 *
 * A device is a serial port or a GPIO line named in the config. The bridge
 * owns the poll loop; it asks each device for its fd and the poll events it
 * wants, calls on_readable/on_writable when poll says so, and calls tick when
 * the device's deadline has passed (reopen after unplug, debounce, pulses).
 * Drivers never block and never own a thread.
 *
 * Drivers report upward through two callbacks the bridge installs:
 *   emit(dev, frame, len)   a complete inbound frame (a serial line without
 *                           its eol, or "1"/"0" for a GPIO input)
 *   state(dev, online)      the device became available / unavailable
 *
 * Everything in which kinds of device differ is said here, by the driver:
 * capabilities (DEVICE_CAP_*), the device's own topics and how many replies
 * it owes. The bridge keeps one array of devices and never asks which kind
 * one is, and only the driver reads dev->cfg (its own settings struct:
 * serial_cfg.h, gpio_cfg.h).
 *
 * The table of drivers is fixed at compile time (device_driver_find); there
 * is no dlopen. Return conventions: 0 ok, -1 failure (logged by the driver,
 * where the context is known).
 */
#ifndef MQTTGW_DEVICE_H
#define MQTTGW_DEVICE_H

#include <stddef.h>
#include <stdint.h>

struct device;

#define DEVICE_NO_DEADLINE UINT64_MAX

/* struct device_driver.caps */
/* Input waits in the kernel unharmed (a tty's buffer): the bridge stops reading it while the broker lags. */
#define DEVICE_CAP_HOLD_INPUT 0x1u
/* link(up) emits the current state again: nothing the device published needs repeating after a reconnect. */
#define DEVICE_CAP_REEMITS 0x2u
/* Input is frames cut from a byte stream: over-long and bad frames are counted (dev->stats). */
#define DEVICE_CAP_FRAMES 0x4u

struct device_driver {
	const char *kind;		/* "serial", "gpio": the prefix in routes */
	const char *closed;		/* what closing it is called in logs: "closed", "released" */
	unsigned caps;			/* DEVICE_CAP_* */
	/* Acquire the device. -1: not available now; tick retries later. */
	int (*open)(struct device *dev, uint64_t now_ms);
	/* Release everything open acquired; safe on a closed device. */
	void (*close)(struct device *dev);
	/* The fd to poll, or -1 while closed. */
	int (*fd)(const struct device *dev);
	/* POLLIN / POLLOUT wanted right now (POLLOUT only with queued output). */
	short (*events)(const struct device *dev);
	void (*on_readable)(struct device *dev, uint64_t now_ms);
	void (*on_writable)(struct device *dev, uint64_t now_ms);
	/*
	 * Queue one outbound frame (serial: eol is appended; gpio: the payload
	 * is parsed as 1/0/on/off/true/false/toggle/...). 0 accepted, -1
	 * refused (counted by the driver in dev->stats.refused, the reason in
	 * dev->last_error). A serial device with a reply pattern reports each
	 * accepted command back exactly once: REPLY, TIMEOUT or DROPPED.
	 */
	int (*write)(struct device *dev, const char *data, size_t len, uint64_t now_ms);
	/* Do timed work; return the next deadline (ms) or DEVICE_NO_DEADLINE. */
	uint64_t (*tick)(struct device *dev, uint64_t now_ms);
	/*
	 * The broker connection went up (up = 1) or down (up = 0). Drivers
	 * re-emit their current state on up (retained dashboards stay true)
	 * and arm their fail-safe grace timer on down. May be NULL.
	 */
	void (*link)(struct device *dev, int up, uint64_t now_ms);
	/* Apply fail-safe output now (shutdown, at now_ms). May be NULL. */
	void (*failsafe)(struct device *dev, uint64_t now_ms);
	/* Free driver state (after close). */
	void (*destroy)(struct device *dev);
	/*
	 * The device's own topics, from its settings: availability (retained
	 * "online"/"offline", for each state() change) and errors (refusals,
	 * timeouts, drops); "" when none is set. NULL: the kind has none.
	 */
	const char *(*status_topic)(const struct device *dev);
	const char *(*error_topic)(const struct device *dev);
	/*
	 * How many accepted commands may wait at once for their REPLY, TIMEOUT
	 * or DROPPED event; 0 (or NULL): the device reports no replies.
	 */
	int (*reply_slots)(const struct device *dev);
};

struct device_stats {
	uint64_t frames_in;		/* frames emitted upward */
	uint64_t frames_out;		/* frames written to the device */
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t dropped_overlong;	/* inbound frames longer than max_frame (or torn) */
	uint64_t bad_frames;		/* inbound frames failing the checksum */
	uint64_t refused;		/* outbound frames refused */
	uint64_t open_failures;
	uint64_t polls;			/* poll commands queued (serial poll = ...) */
	uint64_t polls_skipped;		/* due while the previous one was still queued or unanswered */
	uint64_t poll_timeouts;		/* polls that got no reply in reply_timeout_ms */
};

/* What happened to a command, for devices that match replies (serial reply). */
enum device_event {
	DEVICE_EV_REPLY,	/* data = the reply frame to the oldest command in flight */
	DEVICE_EV_TIMEOUT,	/* data = the command that got no reply in time */
	DEVICE_EV_DROPPED,	/* data = a queued command dropped (port lost, fail-safe) */
	DEVICE_EV_EXPIRED	/* data = a queued command whose MQTT 5 message expiry came first */
};

typedef void (*device_emit_fn)(struct device *dev, const char *frame, size_t len, void *ctx);
typedef void (*device_event_fn)(struct device *dev, enum device_event ev, const char *data, size_t len, void *ctx);
typedef void (*device_state_fn)(struct device *dev, int online, void *ctx);
/*
 * Make what emit() was given so far durable (buffer.dir) before the driver
 * forgets the bytes: 0 done, -1 not now (the driver keeps them).
 */
typedef int (*device_sync_fn)(struct device *dev, void *ctx);

struct device {
	const struct device_driver *drv;
	const char *name;		/* points into the config */
	const void *cfg;		/* the driver's settings (serial_cfg.h, gpio_cfg.h): for the driver only */
	int index;			/* the owner's number for it (the bridge: its place in its config list) */
	void *priv;			/* driver state */
	int online;			/* 1 while open and usable */
	device_emit_fn emit;
	device_state_fn state;
	device_event_fn event;		/* may be NULL */
	device_sync_fn sync;		/* may be NULL */
	const char *spool_dir;		/* buffer.dir, or NULL: where a driver journals input */
	int spool_sync;			/* buffer.sync (CFG_SYNC_*): fdatasync of that journal */
	void *ctx;			/* passed to emit, state and event */
	const char *last_error;		/* why the last write() was refused */
	void *owner;			/* the bridge's per-device state */
	/*
	 * Set by the bridge around write(): the command must not reach the
	 * device at or after this time (MQTT 5 message expiry; UINT64_MAX:
	 * none). A driver that queues commands honours it while they wait.
	 */
	uint64_t write_expires_at;
	struct device_stats stats;
};

/* The entries of the compile-time driver table: outside drivers/, find them by kind. */
extern const struct device_driver serial_driver;
extern const struct device_driver gpio_driver;

/* Look a driver up by kind ("serial", "gpio"); NULL if unknown. */
const struct device_driver *device_driver_find(const char *kind);

/* new/free pair. device_new does not open the device. */
struct device *device_new(const struct device_driver *drv, const char *name, const void *cfg,
			  device_emit_fn emit, device_state_fn state, void *ctx);
void device_free(struct device *dev);

/* Helpers for drivers: report upward and keep dev->online in step. */
void device_set_online(struct device *dev, int online);

/* What the driver says of dev (NULL-safe about the optional entries). */
int device_has(const struct device *dev, unsigned cap);
/* The topics: NULL when the kind has none, "" when none is set. */
const char *device_status_topic(const struct device *dev);
const char *device_error_topic(const struct device *dev);
int device_reply_slots(const struct device *dev);

#endif
