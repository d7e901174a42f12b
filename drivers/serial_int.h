/*
 * serial_int.h - what the serial driver's files share (serial.c, the
 * driver; serial_out.c, the way out; serial_poll.c, the polls): the state of one port and the calls
 * between the two. Internal to drivers/: the rest of the daemon sees the
 * serial driver only through device.h.
 */
#ifndef MQTTGW_SERIAL_INT_H
#define MQTTGW_SERIAL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cmdq.h"
#include "codec.h"
#include "device.h"
#include "framing.h"
#include "pollsched.h"
#include "serial_cfg.h"
#include "serial_journal.h"
#include "serial_port.h"

struct serial_priv {
	struct serial_port port;
	struct framer fr;
	struct cmdq q;
	struct codec codec;		/* checksum and hex encoding */
	int codec_on;			/* anything but plain text */
	char *dec;			/* a decoded inbound frame */
	size_t dec_size;
	char *enc;			/* an encoded outbound frame */
	size_t enc_size;
	char *wq;			/* bytes on their way to the port */
	size_t wq_off, wq_len, wq_cap;
	int wq_failsafe;		/* the buffer holds fail-safe frames, not a command */
	int wq_begun;			/* some of the buffer is on the wire already */
	uint64_t kernel_wait_until;	/* the kernel's output queue was full: look again then */
	int failsafe_on_reopen;		/* the port was lost: the fail-safe first when it is back */
	uint64_t next_open;
	int open_failures_in_row;	/* backoff */
	int missing_logged;
	int link_up;			/* broker connected */
	uint64_t failsafe_at;		/* broker-loss fail-safe due; UINT64_MAX: not armed */
	uint64_t last_cmd_at;		/* deadman: last command; 0: none yet */
	int deadman_fired;
	int rts_on;			/* software RS485 */
	uint64_t rts_hold_until;	/* no bytes before this (delay before send) */
	uint64_t rts_release_at;	/* drop RTS after this, once drained */
	uint64_t now;			/* time of the current callback */
	struct serial_journal rxj;	/* buffer.dir: bytes read, not yet durable upstream */
	int rxj_state;			/* 0: not opened yet, 1: journaling, -1: none */
	int rxj_dirty;			/* read since the last reset */
	int keep_partial;		/* the first open keeps the replayed partial frame */
	struct pollsched ps;		/* poll = ( ... ), serial_poll.c */
	int poll_quiet;			/* a poll failure was logged: quiet until one succeeds */
};

static inline const struct cfg_serial *serial_cfg(const struct device *dev)
{
	return dev->cfg;
}

/* serial.c: the port failed (read or write): close it, report, retry later. */
void serial_lost(struct device *dev, uint64_t now, const char *why);

/* serial_out.c */
/*
 * Payload (text or hex) -> the bytes for the wire, checksum appended. Points
 * *out at the result (the payload itself when there is nothing to do).
 * -1 with the reason in dev->last_error.
 */
int serial_out_encode(struct device *dev, const char *data, size_t len, const char **out, size_t *outlen);
/* The cmdq callback for a command dropped unwritten: DEVICE_EV_DROPPED upward (ctx: the device). */
void serial_out_dropped(const char *data, size_t len, void *ctx);
/* Write what the byte buffer holds, as far as the port takes it. 0, or -1: the port is lost. */
int serial_out_flush(struct device *dev, uint64_t now);
/* Move what the command queue releases onto the wire, one command at a time. */
void serial_out_pump(struct device *dev, uint64_t now);
/* Write the on_disconnect frames now, ahead of every queued command (why: for the log). */
void serial_out_failsafe(struct device *dev, uint64_t now, const char *why);

/* serial_poll.c */
/* The schedule of the device's polls (none started). 0 / -1 (out of memory). */
int serial_poll_init(struct device *dev, struct serial_priv *p);
/* Queue the polls due at now (the port is open); returns the next poll deadline. */
uint64_t serial_poll_run(struct device *dev, struct serial_priv *p, uint64_t now);
/* The reply to poll tag (1..n, the queue's tag) came: failures may be logged again. */
void serial_poll_answered(struct serial_priv *p);
/* Poll tag got no reply in reply_timeout_ms: counted, logged once. */
void serial_poll_timed_out(struct device *dev, struct serial_priv *p, int tag);

#endif
