/*
 * serial_poll.c - a serial device's polls (poll = ( ... ), issue 15.1):
 * commands the driver queues on its own schedule while the port is open.
 *
 * When they are due is pollsched.c's business (pure, on a fake clock in
 * its test); this file hooks it into the driver. A poll goes into the
 * command queue like an MQTT command, tagged 1..n (cmdq.h), so that one
 * still queued or unanswered makes the next instance skip (counted), and
 * so that its reply, timeout or drop is not reported upward as an event:
 * nobody on MQTT asked for it. Its reply is an ordinary frame and takes
 * the device's routes. Kept apart from serial.c (the driver) and
 * serial_out.c (the way out) so that each stays one concern.
 */
#include <string.h>

#include "log.h"
#include "serial_int.h"

int serial_poll_init(struct device *dev, struct serial_priv *p)
{
	const struct cfg_serial *c = serial_cfg(dev);

	if (pollsched_init(&p->ps, c->n_polls) < 0)
		return -1;
	for (int i = 0; i < c->n_polls; i++)
		pollsched_set(&p->ps, i, c->polls[i].every_ms, c->polls[i].offset_ms);
	return 0;
}

/*
 * Poll i failed: logged once until a poll succeeds again (a dead sensor
 * polled every 100 ms must not flood the log), with the command as the
 * config spells it (the queue holds the encoded bytes).
 */
static void serial_poll_failed(struct device *dev, struct serial_priv *p, int i, const char *why)
{
	if (p->poll_quiet)
		return;
	p->poll_quiet = 1;
	log_msg(LOG_WARNING, "serial %s: poll \"%.80s\" %s (logged once until a poll succeeds)", dev->name,
		serial_cfg(dev)->polls[i].command, why);
}

void serial_poll_answered(struct serial_priv *p)
{
	p->poll_quiet = 0;
}

void serial_poll_timed_out(struct device *dev, struct serial_priv *p, int tag)
{
	dev->stats.poll_timeouts++;
	serial_poll_failed(dev, p, tag - 1, "got no reply in time");
}

/* Poll i's previous instance is still queued or waiting for its reply. */
static int serial_poll_busy(int i, void *ctx)
{
	struct device *dev = ctx;

	return cmdq_tag_busy(&((struct serial_priv *)dev->priv)->q, i + 1);
}

/* Poll i is due: into the command queue like an MQTT command, tagged i + 1 (no expiry, no deadman). */
static void serial_poll_fire(int i, void *ctx)
{
	struct device *dev = ctx;
	struct serial_priv *p = dev->priv;
	const char *cmd = serial_cfg(dev)->polls[i].command, *data;
	size_t len;
	enum cmdq_result rc;

	if (serial_out_encode(dev, cmd, strlen(cmd), &data, &len) < 0) {
		dev->stats.refused++;
		serial_poll_failed(dev, p, i, dev->last_error);
		return;
	}
	rc = cmdq_submit_tagged(&p->q, data, len, p->now, UINT64_MAX, i + 1);
	if (rc != CMDQ_OK) {
		dev->stats.refused++;
		serial_poll_failed(dev, p, i, rc == CMDQ_RATE ? "refused: rate limit" : "refused: queue full");
		return;
	}
	dev->stats.polls++;
	if (!serial_cfg(dev)->has_reply)
		p->poll_quiet = 0;	/* nothing to wait for: queued is success */
	serial_out_pump(dev, p->now);
}

uint64_t serial_poll_run(struct device *dev, struct serial_priv *p, uint64_t now)
{
	uint64_t next = pollsched_run(&p->ps, now, serial_poll_busy, serial_poll_fire, dev);

	dev->stats.polls_skipped = p->ps.skipped;
	return next;
}
