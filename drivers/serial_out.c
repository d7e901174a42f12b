/*
 * serial_out.c - the serial driver's way out: commands to the wire, and the
 * fail-safe frames that jump ahead of them.
 *
 * Writing: every command goes through the command queue, which keeps order,
 * applies the rate limit and, with a reply pattern, keeps one command in
 * flight. The queue releases one command at a time into a byte buffer,
 * which is written at once (a command reaches the wire in the same loop
 * turn); whatever the port does not take waits for POLLOUT, so a slow port
 * never blocks the loop. The next command leaves the queue only when the
 * buffer is empty and the kernel's own output queue (TIOCOUTQ, a UART's
 * 4 KiB ring: seconds at 9600 baud) holds less than SERIAL_KERNEL_MS of
 * wire time: commands wait where a fail-safe can still take them back.
 *
 * Fail-safe: the on_disconnect frames are written when the broker has been
 * unreachable for failsafe_grace_ms (link down), when no command came for
 * command_timeout_ms (deadman), when a lost port comes back, and at
 * shutdown. They jump the queue: queued commands are dropped (and
 * reported), so is a command in the buffer not begun on the wire; one
 * half-written is finished first (cut short, its tail would run into STOP
 * and make a different command). With a reply pattern their answers are
 * owed (cmdq_owe): the next command waits for them, so STOP's answer is
 * never taken for the answer to the command after it.
 *
 * RS485: the kernel's RS485 mode when the UART driver has it; otherwise RTS
 * is raised before a write, and dropped once the output queue has drained
 * plus rs485_delay_after_ms (timers, not sleeps).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "serial_int.h"

/* Bytes a port may have waiting to be written before commands are refused. */
#define SERIAL_OUT_MAX (64 * 1024)
/* At most this much wire time waits in the kernel's output queue (a fail-safe cannot take it back). */
#define SERIAL_KERNEL_MS 20

static int serial_out_sw_rts(const struct device *dev, const struct serial_priv *p)
{
	return serial_cfg(dev)->rs485 && !p->port.rs485_kernel && !p->port.rts_broken;
}

/*
 * Payload (text or hex) -> the bytes for the wire, checksum appended. Points
 * *out at the result (the payload itself when there is nothing to do).
 */
int serial_out_encode(struct device *dev, const char *data, size_t len, const char **out, size_t *outlen)
{
	const struct cfg_serial *c = serial_cfg(dev);
	struct serial_priv *p = dev->priv;
	enum codec_status why = CODEC_OK;

	if (!p->codec_on) {
		if (len > (size_t)c->max_frame) {
			dev->last_error = "too long";
			return -1;
		}
		*out = data;
		*outlen = len;
		return 0;
	}
	if (codec_encode_outbound(&p->codec, data, len, p->enc, p->enc_size, outlen, &why) < 0) {
		dev->last_error = codec_strerror(why);
		return -1;
	}
	/*
	 * eol framing: hex-decoded bytes (or a binary checksum) holding a byte
	 * of the eol would end the frame early at the device: one message, two
	 * commands. Text payloads were checked for CR/LF/NUL by the mapping.
	 */
	if (c->framing == FRAMING_EOL) {
		size_t i;

		for (i = 0; i < *outlen; i++)
			if (memchr(c->eol, (unsigned char)p->enc[i], c->eol_len)) {
				dev->last_error = "the encoded frame holds a byte of the eol";
				return -1;
			}
	}
	*out = p->enc;
	return 0;
}

void serial_out_dropped(const char *data, size_t len, void *ctx)
{
	struct device *dev = ctx;
	const struct serial_priv *p = dev->priv;

	/* a poll (tag > 0, serial_poll.c) was nobody's command: nothing to report */
	if (dev->event && !p->q.tag)
		dev->event(dev, DEVICE_EV_DROPPED, data, len, dev->ctx);
}

static void serial_out_expired(const char *data, size_t len, void *ctx)
{
	struct device *dev = ctx;

	if (dev->event)
		dev->event(dev, DEVICE_EV_EXPIRED, data, len, dev->ctx);
}

/* ---- writing ---- */

int serial_out_flush(struct device *dev, uint64_t now)
{
	struct serial_priv *p = dev->priv;

	if (p->wq_off >= p->wq_len)
		return 0;
	if (serial_out_sw_rts(dev, p)) {
		if (!p->rts_on) {
			if (serial_port_set_rts(&p->port, 1) == 0) {
				p->rts_on = 1;
				p->rts_hold_until = now + (uint64_t)serial_cfg(dev)->rs485_delay_before_ms;
			}
		}
		if (now < p->rts_hold_until)
			return 0;
	}
	while (p->wq_off < p->wq_len) {
		ssize_t n = write(p->port.fd, p->wq + p->wq_off, p->wq_len - p->wq_off);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			serial_lost(dev, now, strerror(errno));
			return -1;
		}
		p->wq_off += (size_t)n;
		p->wq_begun = 1;
		dev->stats.bytes_out += (uint64_t)n;
	}
	p->wq_off = p->wq_len = 0;
	p->wq_begun = 0;
	if (p->rts_on) {
		/* time for the UART to shift out what the kernel still holds */
		const struct cfg_serial *c = serial_cfg(dev);
		int outq = serial_port_outq(&p->port);
		uint64_t bits = (uint64_t)(outq > 0 ? outq : 0) * (uint64_t)(1 + c->data_bits + c->stop_bits + 1);

		p->rts_release_at = now + bits * 1000 / (uint64_t)c->baud + 1 + (uint64_t)c->rs485_delay_after_ms;
	}
	return 0;
}

/* Append one frame and its eol to the byte buffer. 0 / -1 (full). */
static int serial_out_put(struct device *dev, const char *data, size_t len)
{
	const struct cfg_serial *c = serial_cfg(dev);
	struct serial_priv *p = dev->priv;
	size_t need = len + c->eol_len;

	if (p->wq_len - p->wq_off + need > SERIAL_OUT_MAX)
		return -1;
	if (p->wq_off > 0 && p->wq_len + need > p->wq_cap) {
		memmove(p->wq, p->wq + p->wq_off, p->wq_len - p->wq_off);
		p->wq_len -= p->wq_off;
		p->wq_off = 0;
	}
	if (p->wq_len + need > p->wq_cap) {
		size_t cap = p->wq_cap ? p->wq_cap : 512;
		char *nq;

		while (cap < p->wq_len + need)
			cap *= 2;
		nq = realloc(p->wq, cap);
		if (!nq)
			return -1;
		p->wq = nq;
		p->wq_cap = cap;
	}
	memcpy(p->wq + p->wq_len, data, len);
	memcpy(p->wq + p->wq_len + len, c->eol, c->eol_len);
	p->wq_len += need;
	dev->stats.frames_out++;
	return 0;
}

/*
 * Room in the kernel's output queue for the next command: less than
 * SERIAL_KERNEL_MS of wire time waiting there (ptys report 0). Else 0, and
 * kernel_wait_until says when to look again.
 */
static int serial_out_kernel_room(struct device *dev, struct serial_priv *p, uint64_t now)
{
	const struct cfg_serial *c = serial_cfg(dev);
	uint64_t bytes_per_s = (uint64_t)c->baud / 10 + 1, limit = bytes_per_s * SERIAL_KERNEL_MS / 1000;
	int outq = serial_port_outq(&p->port);

	if (limit < 32)
		limit = 32;
	if (outq <= 0 || (uint64_t)outq < limit) {
		p->kernel_wait_until = UINT64_MAX;
		return 1;
	}
	p->kernel_wait_until = now + 1 + ((uint64_t)outq - limit / 2) * 1000 / bytes_per_s;
	return 0;
}

/*
 * Move what the command queue releases onto the wire, one command at a
 * time: the next leaves the queue only once the one before is written.
 */
void serial_out_pump(struct device *dev, uint64_t now)
{
	struct serial_priv *p = dev->priv;
	const char *cmd;
	size_t len;

	serial_out_flush(dev, now);
	/* MQTT 5 message expiry: a command that waited past it is never written */
	if (p->wq_off >= p->wq_len)
		cmdq_drop_expired(&p->q, now, serial_out_expired, dev);
	while (p->port.fd >= 0 && p->wq_off >= p->wq_len && serial_out_kernel_room(dev, p, now) &&
	       (cmd = cmdq_take(&p->q, &len, now)) != NULL) {
		p->wq_failsafe = 0;
		if (serial_out_put(dev, cmd, len) < 0) {
			/* out of memory */
			dev->stats.refused++;
			serial_out_dropped(cmd, len, dev);
			cmdq_reply(&p->q);
			continue;
		}
		serial_out_flush(dev, now);
	}
}

/*
 * A fail-safe is about to be written: a command in the buffer not begun on
 * the wire is dropped; one begun is finished (its tail stays).
 */
static void serial_out_drop_unwritten(struct device *dev, struct serial_priv *p)
{
	size_t eol = serial_cfg(dev)->eol_len;

	if (p->wq_begun || p->wq_len <= p->wq_off)
		return;
	if (!p->wq_failsafe && !serial_cfg(dev)->has_reply) {
		/* with a reply pattern cmdq_clear reports it, as the command in flight */
		dev->stats.frames_out--;
		serial_out_dropped(p->wq, p->wq_len >= eol ? p->wq_len - eol : p->wq_len, dev);
	}
	p->wq_off = p->wq_len = 0;
}

void serial_out_failsafe(struct device *dev, uint64_t now, const char *why)
{
	const struct cfg_serial *c = serial_cfg(dev);
	struct serial_priv *p = dev->priv;
	int i;

	if (!p || !c->n_on_disconnect)
		return;
	if (p->port.fd >= 0)
		serial_out_drop_unwritten(dev, p);
	cmdq_clear(&p->q, serial_out_dropped, dev);
	/* a command half on the wire is finished before the STOP: its answer is owed too */
	if (c->has_reply && p->wq_begun && !p->wq_failsafe)
		cmdq_owe(&p->q, 1, now);
	if (p->port.fd < 0) {
		log_msg(LOG_WARNING, "serial %s: fail-safe (%s) not written: port is not open", dev->name, why);
		return;
	}
	for (i = 0; i < c->n_on_disconnect; i++) {
		const char *bytes;
		size_t n;

		if (serial_out_encode(dev, c->on_disconnect[i], strlen(c->on_disconnect[i]), &bytes, &n) < 0 ||
		    serial_out_put(dev, bytes, n) < 0)
			log_msg(LOG_ERR, "serial %s: fail-safe frame \"%s\" not written: %s", dev->name,
				c->on_disconnect[i], dev->last_error ? dev->last_error : "output full");
		else
			cmdq_owe(&p->q, 1, now);	/* one command on the bus at a time, fail-safe too */
	}
	p->wq_failsafe = 1;
	log_msg(LOG_WARNING, "serial %s: fail-safe (%s): wrote %s%s", dev->name, why, c->on_disconnect[0],
		c->n_on_disconnect > 1 ? " ..." : "");
	serial_out_flush(dev, now);
}
