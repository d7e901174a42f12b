/*
 * serial.c - serial ports (RS232, RS485, USB-serial, ptys) as devices.
 *
 * Opening and port settings are in serial_port.c, the way out (the
 * command queue, the byte buffer, RS485 and the fail-safe frames) in
 * serial_out.c; this file is the driver: reading into the pure framer
 * (framing.c), journaling what was read (buffer.dir), reopening after an
 * unplug, and the timers (replies, deadman, broker loss, RTS, polls).
 * Polls (poll = ( ... )) are serial_poll.c's: started with the port,
 * stopped when it goes, run from the tick.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "serial_int.h"

#define SERIAL_READ_CHUNK 4096

static void serial_frame(const char *frame, size_t len, void *ctx);

static void serial_priv_free(struct serial_priv *p)
{
	serial_journal_close(&p->rxj);
	framing_free(&p->fr);
	cmdq_free(&p->q);
	pollsched_free(&p->ps);
	free(p->dec);
	free(p->enc);
	free(p->wq);
	free(p);
}

static struct serial_priv *serial_priv_get(struct device *dev)
{
	struct serial_priv *p = dev->priv;
	const struct cfg_serial *c = serial_cfg(dev);
	struct framing_params fp;

	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->port.fd = -1;
	p->rxj.fd = -1;
	p->failsafe_at = UINT64_MAX;
	p->kernel_wait_until = UINT64_MAX;
	memset(&fp, 0, sizeof(fp));
	fp.mode = c->framing;
	fp.eol = c->eol;
	fp.eol_len = c->eol_len;
	fp.max_frame = (size_t)c->max_frame;
	fp.frame_len = (size_t)c->frame_len;
	fp.idle_ms = (uint32_t)c->idle_ms;
	fp.timeout_ms = c->framing == FRAMING_IDLE ? 0 : (uint32_t)c->frame_timeout_ms;
	p->codec.encoding = c->encoding;
	p->codec.checksum = c->checksum;
	p->codec.checksum_format = c->checksum_format;
	p->codec.checksum_order = c->checksum_order;
	p->codec.checksum_prefix_len = strlen(c->checksum_prefix);
	memcpy(p->codec.checksum_prefix, c->checksum_prefix, p->codec.checksum_prefix_len);
	p->codec.checksum_skip = (size_t)c->checksum_skip;
	p->codec_on = c->encoding != CODEC_ENCODING_TEXT || c->checksum != CODEC_CHECKSUM_NONE;
	if (p->codec_on) {
		p->dec_size = codec_decoded_max(&p->codec, (size_t)c->max_frame);
		p->enc_size = (size_t)c->max_frame + 1;
		p->dec = malloc(p->dec_size);
		p->enc = malloc(p->enc_size);
	}
	if (framing_init_mode(&p->fr, &fp) < 0 ||
	    cmdq_init(&p->q, c->queue_max, (size_t)c->max_frame, c->has_reply, c->reply_timeout_ms, c->rate_limit,
		      c->rate_burst) < 0 ||
	    (p->codec_on && (codec_check(&p->codec) < 0 || !p->dec || !p->enc)) || serial_poll_init(dev, p) < 0) {
		log_msg(LOG_ERR, "serial %s: cannot set up framing (out of memory or bad settings)", c->name);
		serial_priv_free(p);
		return NULL;
	}
	dev->priv = p;
	return p;
}

/* ---- open / close ---- */

/* Retry after reopen_ms, doubling on each failure up to 5 x reopen_ms. */
static void serial_schedule(struct device *dev, struct serial_priv *p, uint64_t now)
{
	uint64_t step = (uint64_t)serial_cfg(dev)->reopen_ms;
	int n = p->open_failures_in_row > 1 ? p->open_failures_in_row - 1 : 0;
	uint64_t delay = step << (n < 3 ? n : 3);

	if (delay > 5 * step)
		delay = 5 * step;
	p->next_open = now + delay;
}

/* buffer.dir: the frames made so far are durable upstream; keep only the partial one. */
static void serial_commit(struct device *dev, struct serial_priv *p)
{
	if (p->rxj_state != 1)
		return;
	/* not on disk upstream (disk full): the bytes stay here, and the next commit tries again */
	if (dev->sync && dev->sync(dev, dev->ctx) < 0)
		return;
	serial_journal_reset(&p->rxj, dev->name, p->fr.buf, p->fr.len);
	p->rxj_dirty = 0;
}

/* First open after a start: what was read but not yet durable before a kill goes through again. */
static void serial_replay(struct device *dev, struct serial_priv *p, uint64_t now)
{
	char *data;
	size_t len;

	p->rxj_state = -1;
	p->rxj.sync = dev->spool_sync;
	if (!dev->spool_dir || !*dev->spool_dir ||
	    serial_journal_open(&p->rxj, dev->spool_dir, dev->name, &data, &len) < 0)
		return;
	p->rxj_state = 1;
	if (!len)
		return;
	log_msg(LOG_INFO, "serial %s: %zu bytes read before the restart are framed again (buffer.dir)", dev->name, len);
	dev->stats.bytes_in += len;
	framing_feed_at(&p->fr, data, len, now, serial_frame, dev);
	free(data);
	/* after a reboot (a power cut) the rest of a partial frame died with the port's buffer */
	p->keep_partial = !p->rxj.rebooted;
	serial_commit(dev, p);
}

static int serial_open(struct device *dev, uint64_t now)
{
	const struct cfg_serial *c = serial_cfg(dev);
	struct serial_priv *p = serial_priv_get(dev);
	char err[512];

	if (!p)
		return -1;
	if (p->port.fd >= 0)
		return 0;
	if (p->rxj_state == 0)
		serial_replay(dev, p, now);
	serial_schedule(dev, p, now);
	if (p->failsafe_at == UINT64_MAX && !p->link_up && c->n_on_disconnect)
		p->failsafe_at = now + (uint64_t)c->failsafe_grace_ms;	/* not connected yet */
	if (serial_port_open(&p->port, c, err, sizeof(err)) < 0) {
		if (!p->missing_logged)
			log_msg(LOG_WARNING, "serial %s: %s; retrying from every %d ms up to every %d ms", c->name, err,
				c->reopen_ms, 5 * c->reopen_ms);
		p->missing_logged = 1;
		p->open_failures_in_row++;
		serial_schedule(dev, p, now);
		dev->stats.open_failures++;
		if (p->keep_partial) {
			/* the port was gone at the restart: the rest of that frame is too */
			p->keep_partial = 0;
			framing_reset(&p->fr);
			serial_commit(dev, p);
		}
		return -1;
	}
	p->open_failures_in_row = 0;
	/*
	 * No input flush: bytes the device sent while we were away are still
	 * frames (a restart loses nothing); the framer drops a torn first one
	 * only if it is over-long.
	 */
	if (!p->keep_partial) {
		framing_reset(&p->fr);
		serial_commit(dev, p);
	}
	p->keep_partial = 0;
	p->missing_logged = 0;
	p->rts_on = 0;
	log_msg(LOG_INFO, "serial %s: %s open at %d baud", c->name, c->port, c->baud);
	device_set_online(dev, 1);
	pollsched_start(&p->ps, now);	/* the first polls right away (the tick runs them) */
	if (p->failsafe_on_reopen) {
		/* the device was out of reach: it may still run the last command it got */
		p->failsafe_on_reopen = 0;
		serial_out_failsafe(dev, now, "port back after it was lost");
	}
	return 0;
}

static void serial_close_fd(struct device *dev)
{
	struct serial_priv *p = dev->priv;

	if (!p || p->port.fd < 0)
		return;
	serial_port_close(&p->port);
	p->wq_off = p->wq_len = 0;
	p->wq_begun = 0;
	p->kernel_wait_until = UINT64_MAX;
	cmdq_clear(&p->q, serial_out_dropped, dev);
	pollsched_stop(&p->ps);
	device_set_online(dev, 0);
}

static void serial_close(struct device *dev)
{
	serial_close_fd(dev);
}

void serial_lost(struct device *dev, uint64_t now, const char *why)
{
	struct serial_priv *p = dev->priv;

	log_msg(LOG_WARNING, "serial %s: port lost (%s); retrying from every %d ms", dev->name, why,
		serial_cfg(dev)->reopen_ms);
	serial_close_fd(dev);
	serial_schedule(dev, p, now);
	p->missing_logged = 1;
	p->failsafe_on_reopen = serial_cfg(dev)->n_on_disconnect > 0;
}

/* ---- poll ---- */

static int serial_fd(const struct device *dev)
{
	const struct serial_priv *p = dev->priv;

	return p ? p->port.fd : -1;
}

static short serial_events(const struct device *dev)
{
	const struct serial_priv *p = dev->priv;

	if (!p || p->port.fd < 0)
		return 0;
	if (p->wq_len > p->wq_off && !(p->rts_on && p->now < p->rts_hold_until))
		return POLLIN | POLLOUT;
	return POLLIN;
}

static void serial_frame(const char *frame, size_t len, void *ctx)
{
	struct device *dev = ctx;
	const struct cfg_serial *c = serial_cfg(dev);
	struct serial_priv *p = dev->priv;

	if (p->codec_on) {
		enum codec_status why = CODEC_OK;
		size_t n;

		if (codec_decode_inbound(&p->codec, frame, len, p->dec, p->dec_size, &n, &why) < 0) {
			dev->stats.bad_frames++;
			log_msg(LOG_WARNING, "serial %s: frame dropped: %s", dev->name, codec_strerror(why));
			return;
		}
		frame = p->dec;
		len = n;
	}
	dev->stats.frames_in++;
	dev->emit(dev, frame, len, dev->ctx);
	if (c->has_reply && cmdq_waiting(&p->q)) {
		if (pattern_match(&c->reply, frame, len, NULL, 0)) {
			/* an answer owed to a fail-safe frame completes no command: no reply event */
			if (cmdq_reply(&p->q)) {
				if (p->q.tag)
					serial_poll_answered(p);	/* a poll's: nobody's command */
				else if (dev->event)
					dev->event(dev, DEVICE_EV_REPLY, frame, len, dev->ctx);
			}
			serial_out_pump(dev, p->now);
		}
	}
}

static void serial_read_port(struct device *dev, struct serial_priv *p, uint64_t now)
{
	char buf[SERIAL_READ_CHUNK];
	int rounds;

	p->now = now;
	/* bounded, so one chatty port cannot starve the others */
	for (rounds = 0; rounds < 16 && p->port.fd >= 0; rounds++) {
		const char *data = buf;
		ssize_t n;

		/* buffer.dir: journaled from the instant read() takes the bytes (serial_journal.h) */
		if (p->rxj_state == 1)
			n = serial_journal_read(&p->rxj, dev->name, p->port.fd, buf, sizeof(buf), &data);
		else
			n = read(p->port.fd, buf, sizeof(buf));
		if (n > 0) {
			uint64_t before = p->fr.dropped;

			dev->stats.bytes_in += (uint64_t)n;
			if (p->rxj_state == 1)
				p->rxj_dirty = 1;
			framing_feed_at(&p->fr, data, (size_t)n, now, serial_frame, dev);
			if (p->fr.dropped != before) {
				dev->stats.dropped_overlong += p->fr.dropped - before;
				log_msg(LOG_WARNING, "serial %s: frame longer than max_frame (%d) dropped", dev->name,
					serial_cfg(dev)->max_frame);
			}
			if ((size_t)n < sizeof(buf))
				return;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		serial_lost(dev, now, n == 0 ? "end of file" : strerror(errno));
		return;
	}
}

static void serial_on_readable(struct device *dev, uint64_t now)
{
	struct serial_priv *p = dev->priv;

	serial_read_port(dev, p, now);
	if (p->rxj_dirty)
		serial_commit(dev, p);
}

static void serial_on_writable(struct device *dev, uint64_t now)
{
	((struct serial_priv *)dev->priv)->now = now;
	/* the buffer written, the next command may go */
	serial_out_pump(dev, now);
}

static int serial_write(struct device *dev, const char *data, size_t len, uint64_t now)
{
	struct serial_priv *p = dev->priv;
	enum cmdq_result rc;

	if (!p || p->port.fd < 0) {
		dev->stats.refused++;
		dev->last_error = "port offline";
		return -1;
	}
	p->now = now;
	if (serial_out_encode(dev, data, len, &data, &len) < 0) {
		dev->stats.refused++;
		return -1;
	}
	rc = cmdq_submit_until(&p->q, data, len, now, dev->write_expires_at);
	if (rc != CMDQ_OK) {
		dev->stats.refused++;
		dev->last_error = rc == CMDQ_RATE ? "rate limit" : rc == CMDQ_FULL ? "queue full" : "too long";
		return -1;
	}
	p->last_cmd_at = now;
	p->deadman_fired = 0;
	serial_out_pump(dev, now);
	return 0;
}

/* ---- time ---- */

static uint64_t serial_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t serial_tick(struct device *dev, uint64_t now)
{
	const struct cfg_serial *c = serial_cfg(dev);
	struct serial_priv *p = serial_priv_get(dev);
	uint64_t next = DEVICE_NO_DEADLINE, deadman, poll_next;
	const char *cmd;
	size_t len;

	if (!p)
		return DEVICE_NO_DEADLINE;
	p->now = now;
	if (p->port.fd < 0) {
		if (now >= p->next_open)
			serial_open(dev, now);
		if (p->port.fd < 0)
			return p->next_open;
	}
	if (framing_deadline(&p->fr) <= now) {
		uint64_t before = p->fr.incomplete + p->fr.dropped;

		framing_tick(&p->fr, now, serial_frame, dev);
		if (p->fr.incomplete + p->fr.dropped != before)
			dev->stats.dropped_overlong += p->fr.incomplete + p->fr.dropped - before;
		serial_commit(dev, p);
	}
	while (cmdq_expired(&p->q, now, &cmd, &len)) {
		if (p->q.tag)
			serial_poll_timed_out(dev, p, p->q.tag);
		else if (dev->event)
			dev->event(dev, DEVICE_EV_TIMEOUT, cmd, len, dev->ctx);
		serial_out_pump(dev, now);
	}
	poll_next = serial_poll_run(dev, p, now);
	if (p->port.fd < 0)
		return p->next_open;	/* a poll's write lost the port */
	/* owed fail-safe answers that never came, or the kernel's queue has room again: the queue moves on */
	if (!cmdq_waiting(&p->q) && p->q.count > 0 && p->wq_off >= p->wq_len)
		serial_out_pump(dev, now);
	next = serial_min(serial_min(cmdq_deadline(&p->q), framing_deadline(&p->fr)), poll_next);
	if (p->q.count > 0 && p->kernel_wait_until != UINT64_MAX)
		next = serial_min(next, p->kernel_wait_until);
	if (!p->link_up && p->failsafe_at != UINT64_MAX) {
		if (now >= p->failsafe_at) {
			p->failsafe_at = UINT64_MAX;
			serial_out_failsafe(dev, now, "broker unreachable");
		} else {
			next = serial_min(next, p->failsafe_at);
		}
	}
	if (c->command_timeout_ms && p->last_cmd_at && !p->deadman_fired) {
		deadman = p->last_cmd_at + (uint64_t)c->command_timeout_ms;
		if (now >= deadman) {
			p->deadman_fired = 1;
			serial_out_failsafe(dev, now, "no command within command_timeout_ms");
		} else {
			next = serial_min(next, deadman);
		}
	}
	if (p->rts_on) {
		if (p->wq_len > p->wq_off) {
			if (now >= p->rts_hold_until)
				serial_out_flush(dev, now);
			else
				next = serial_min(next, p->rts_hold_until);
			/* written now: the driver is released after the last bit, not at the next wake-up */
			if (p->rts_on && p->wq_len == p->wq_off)
				next = serial_min(next, p->rts_release_at);
		} else if (now >= p->rts_release_at) {
			if (serial_port_outq(&p->port) > 0) {
				p->rts_release_at = now + 1;
				next = serial_min(next, p->rts_release_at);
			} else {
				serial_port_set_rts(&p->port, 0);
				p->rts_on = 0;
			}
		} else {
			next = serial_min(next, p->rts_release_at);
		}
	}
	return next;
}

static void serial_link(struct device *dev, int up, uint64_t now)
{
	const struct cfg_serial *c = serial_cfg(dev);
	struct serial_priv *p = serial_priv_get(dev);

	if (!p)
		return;
	p->link_up = up;
	p->failsafe_at = up || !c->n_on_disconnect ? UINT64_MAX : now + (uint64_t)c->failsafe_grace_ms;
}

/*
 * Shutdown: the fail-safe frames go out now. The shutdown flush only waits
 * for ports that want POLLOUT: a software-RTS port holding its bytes for
 * rs485_delay_before_ms would be closed with them unwritten, so the hold
 * (at most 1 s, config) is slept here, once, at exit.
 */
static void serial_failsafe(struct device *dev, uint64_t now)
{
	struct serial_priv *p = dev->priv;
	struct timespec ts;

	if (!p)
		return;
	p->now = now;
	serial_out_failsafe(dev, now, "shutdown");
	if (p->port.fd >= 0 && p->rts_on && p->wq_len > p->wq_off && now < p->rts_hold_until) {
		uint64_t ms = p->rts_hold_until - now;

		ts.tv_sec = (time_t)(ms / 1000);
		ts.tv_nsec = (long)(ms % 1000) * 1000000L;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		p->now = p->rts_hold_until;
		serial_out_flush(dev, p->now);
	}
}

static const char *serial_status_topic(const struct device *dev)
{
	return serial_cfg(dev)->status_topic;
}

static const char *serial_error_topic(const struct device *dev)
{
	return serial_cfg(dev)->error_topic;
}

/* With a reply pattern: every command the queue holds, and the one in flight. */
static int serial_reply_slots(const struct device *dev)
{
	const struct cfg_serial *c = serial_cfg(dev);

	return c->has_reply ? c->queue_max + 1 : 0;
}

static void serial_destroy(struct device *dev)
{
	struct serial_priv *p = dev->priv;

	if (!p)
		return;
	serial_priv_free(p);
	dev->priv = NULL;
}

/*
 * Input waits in the tty's buffer while the broker lags (back-pressure);
 * states are not re-emitted on connect: the bridge repeats the retained ones.
 */
const struct device_driver serial_driver = {
	.kind = "serial",
	.closed = "closed",
	.caps = DEVICE_CAP_HOLD_INPUT | DEVICE_CAP_FRAMES,
	.open = serial_open,
	.close = serial_close,
	.fd = serial_fd,
	.events = serial_events,
	.on_readable = serial_on_readable,
	.on_writable = serial_on_writable,
	.write = serial_write,
	.tick = serial_tick,
	.link = serial_link,
	.failsafe = serial_failsafe,
	.destroy = serial_destroy,
	.status_topic = serial_status_topic,
	.error_topic = serial_error_topic,
	.reply_slots = serial_reply_slots,
};
