/*
 * serial.c - serial ports (RS232, RS485, USB-serial, ptys) as devices.
 *
 * Opening: the configured path is resolved first (udev names and
 * /dev/serial/by-id/... are symlinks, and libserialport 0.1.1 looks the name
 * up in sysfs, which fails on a symlink). libserialport opens and configures
 * real ports; when it refuses (pseudo-terminals have no sysfs entry and no
 * modem-line ioctls) the port is opened and configured with termios. Either
 * way the result is one non-blocking fd in true raw mode, and from there both
 * share the same read/write path, so a socat pty tests what a USB adapter
 * runs.
 *
 * Reading feeds the pure framer (framing.c); writing goes through a bounded
 * byte queue: a write is tried at once (a command reaches the wire in the
 * same loop turn) and whatever the port does not take waits for POLLOUT, so
 * a slow port never blocks the loop. A port that vanishes (EOF, EIO, HUP) is
 * closed and retried every reopen_ms.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <libserialport.h>

#include "config.h"
#include "device.h"
#include "framing.h"
#include "log.h"

/* Bytes a port may have waiting to be written before commands are refused. */
#define SERIAL_QUEUE_MAX (64 * 1024)
#define SERIAL_READ_CHUNK 4096

struct serial_priv {
	struct sp_port *sp;	/* NULL when opened with termios */
	int fd;
	struct framer fr;
	char *wq;		/* write queue */
	size_t wq_off, wq_len, wq_cap;
	uint64_t next_open;
	int missing_logged;
};

static const struct cfg_serial *serial_cfg(const struct device *dev)
{
	return dev->cfg;
}

static struct serial_priv *serial_priv_get(struct device *dev)
{
	struct serial_priv *p = dev->priv;
	const struct cfg_serial *c = serial_cfg(dev);

	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->fd = -1;
	if (framing_init(&p->fr, c->eol, c->eol_len, (size_t)c->max_frame) < 0) {
		free(p);
		return NULL;
	}
	dev->priv = p;
	return p;
}

static speed_t serial_speed(int baud)
{
	static const struct {
		int baud;
		speed_t speed;
	} t[] = {
		{ 50, B50 },	     { 75, B75 },	    { 110, B110 },	   { 134, B134 },
		{ 150, B150 },	     { 200, B200 },	    { 300, B300 },	   { 600, B600 },
		{ 1200, B1200 },     { 1800, B1800 },	    { 2400, B2400 },	   { 4800, B4800 },
		{ 9600, B9600 },     { 19200, B19200 },	    { 38400, B38400 },	   { 57600, B57600 },
		{ 115200, B115200 }, { 230400, B230400 },   { 460800, B460800 },   { 500000, B500000 },
		{ 576000, B576000 }, { 921600, B921600 },   { 1000000, B1000000 }, { 1152000, B1152000 },
		{ 1500000, B1500000 }, { 2000000, B2000000 }, { 2500000, B2500000 }, { 3000000, B3000000 },
		{ 3500000, B3500000 }, { 4000000, B4000000 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].baud == baud)
			return t[i].speed;
	return 0;
}

/*
 * Put fd in true raw mode with the configured line settings. With keep_line
 * set (libserialport configured speed and format already), only the raw
 * flags are enforced.
 */
static int serial_termios(int fd, const struct cfg_serial *c, int keep_line)
{
	struct termios t;

	if (tcgetattr(fd, &t) < 0)
		return -1;
	t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON | IXOFF |
				 IXANY | IMAXBEL | IUCLC);
	t.c_oflag &= ~(tcflag_t)OPOST;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ECHOE | ECHOK | ICANON | ISIG | IEXTEN);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (c->flow == CFG_FLOW_XONXOFF)
		t.c_iflag |= IXON | IXOFF;
	if (!keep_line) {
		speed_t sp = serial_speed(c->baud);

		if (!sp) {
			errno = EINVAL;
			return -1;
		}
		cfsetispeed(&t, sp);
		cfsetospeed(&t, sp);
		t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CMSPAR | CSTOPB | CRTSCTS);
		t.c_cflag |= CREAD | CLOCAL;
		t.c_cflag |= c->data_bits == 5 ? CS5 : c->data_bits == 6 ? CS6 : c->data_bits == 7 ? CS7 : CS8;
		if (c->parity != CFG_PARITY_NONE)
			t.c_cflag |= PARENB;
		if (c->parity == CFG_PARITY_ODD || c->parity == CFG_PARITY_MARK)
			t.c_cflag |= PARODD;
		if (c->parity == CFG_PARITY_MARK || c->parity == CFG_PARITY_SPACE)
			t.c_cflag |= CMSPAR;
		if (c->stop_bits == 2)
			t.c_cflag |= CSTOPB;
		if (c->flow == CFG_FLOW_RTSCTS)
			t.c_cflag |= CRTSCTS;
	}
	return tcsetattr(fd, TCSANOW, &t);
}

static int serial_open_libserialport(struct serial_priv *p, const struct cfg_serial *c, const char *path)
{
	static const enum sp_parity par[] = { SP_PARITY_NONE, SP_PARITY_ODD, SP_PARITY_EVEN, SP_PARITY_MARK,
					      SP_PARITY_SPACE };
	static const enum sp_flowcontrol flow[] = { SP_FLOWCONTROL_NONE, SP_FLOWCONTROL_RTSCTS,
						    SP_FLOWCONTROL_XONXOFF };
	struct sp_port *sp = NULL;

	if (sp_get_port_by_name(path, &sp) != SP_OK)
		return -1;
	if (sp_open(sp, SP_MODE_READ_WRITE) != SP_OK) {
		sp_free_port(sp);
		return -1;
	}
	if (sp_set_baudrate(sp, c->baud) != SP_OK || sp_set_bits(sp, c->data_bits) != SP_OK ||
	    sp_set_parity(sp, par[c->parity]) != SP_OK || sp_set_stopbits(sp, c->stop_bits) != SP_OK ||
	    sp_set_flowcontrol(sp, flow[c->flow]) != SP_OK) {
		char *msg = sp_last_error_message();

		log_msg(LOG_ERR, "serial %s: %s: cannot apply settings: %s", c->name, path, msg ? msg : "?");
		sp_free_error_message(msg);
		sp_close(sp);
		sp_free_port(sp);
		errno = EINVAL;
		return -2;
	}
	if (sp_get_port_handle(sp, &p->fd) != SP_OK) {
		sp_close(sp);
		sp_free_port(sp);
		return -1;
	}
	p->sp = sp;
	return 0;
}

static void serial_schedule(struct device *dev, struct serial_priv *p, uint64_t now)
{
	p->next_open = now + (uint64_t)serial_cfg(dev)->reopen_ms;
}

static int serial_open(struct device *dev, uint64_t now)
{
	const struct cfg_serial *c = serial_cfg(dev);
	struct serial_priv *p = serial_priv_get(dev);
	char path[PATH_MAX];
	int rc, flags;

	if (!p)
		return -1;
	if (p->fd >= 0)
		return 0;
	serial_schedule(dev, p, now);
	if (!realpath(c->port, path)) {
		if (!p->missing_logged)
			log_msg(LOG_WARNING, "serial %s: %s: %s; retrying every %d ms", c->name, c->port,
				strerror(errno), c->reopen_ms);
		p->missing_logged = 1;
		dev->stats.open_failures++;
		return -1;
	}
	rc = serial_open_libserialport(p, c, path);
	if (rc == -1) {
		/* ptys and anything else libserialport will not take */
		p->fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		if (p->fd < 0 || !isatty(p->fd) || serial_termios(p->fd, c, 0) < 0) {
			if (!p->missing_logged)
				log_msg(LOG_WARNING, "serial %s: cannot open %s: %s; retrying every %d ms", c->name,
					path, p->fd >= 0 && !isatty(p->fd) ? "not a tty" : strerror(errno),
					c->reopen_ms);
			p->missing_logged = 1;
			if (p->fd >= 0)
				close(p->fd);
			p->fd = -1;
			dev->stats.open_failures++;
			return -1;
		}
		log_msg(LOG_DEBUG, "serial %s: %s opened with termios", c->name, path);
	} else if (rc < 0) {
		dev->stats.open_failures++;
		return -1;
	} else {
		if (serial_termios(p->fd, c, 1) < 0)
			log_msg(LOG_WARNING, "serial %s: cannot enforce raw mode: %s", c->name, strerror(errno));
		log_msg(LOG_DEBUG, "serial %s: %s opened with libserialport", c->name, path);
	}
	flags = fcntl(p->fd, F_GETFL);
	if (flags < 0 || fcntl(p->fd, F_SETFL, flags | O_NONBLOCK) < 0)
		log_msg(LOG_WARNING, "serial %s: cannot make the port non-blocking: %s", c->name, strerror(errno));
	(void)fcntl(p->fd, F_SETFD, FD_CLOEXEC);
	/* what the device said before we were listening is not a frame of ours */
	tcflush(p->fd, TCIFLUSH);
	framing_reset(&p->fr);
	p->missing_logged = 0;
	log_msg(LOG_INFO, "serial %s: %s open at %d baud", c->name, strcmp(path, c->port) ? c->port : path,
		c->baud);
	device_set_online(dev, 1);
	return 0;
}

static void serial_close_fd(struct device *dev)
{
	struct serial_priv *p = dev->priv;

	if (!p || p->fd < 0)
		return;
	if (p->sp) {
		sp_close(p->sp);
		sp_free_port(p->sp);
		p->sp = NULL;
	} else {
		close(p->fd);
	}
	p->fd = -1;
	p->wq_off = p->wq_len = 0;
	device_set_online(dev, 0);
}

static void serial_close(struct device *dev)
{
	serial_close_fd(dev);
}

static void serial_lost(struct device *dev, uint64_t now, const char *why)
{
	struct serial_priv *p = dev->priv;

	log_msg(LOG_WARNING, "serial %s: port lost (%s); retrying every %d ms", dev->name, why,
		serial_cfg(dev)->reopen_ms);
	serial_close_fd(dev);
	serial_schedule(dev, p, now);
	p->missing_logged = 1;
}

static int serial_fd(const struct device *dev)
{
	const struct serial_priv *p = dev->priv;

	return p ? p->fd : -1;
}

static short serial_events(const struct device *dev)
{
	const struct serial_priv *p = dev->priv;

	if (!p || p->fd < 0)
		return 0;
	return (short)(POLLIN | (p->wq_len > p->wq_off ? POLLOUT : 0));
}

static void serial_frame(const char *frame, size_t len, void *ctx)
{
	struct device *dev = ctx;

	dev->stats.frames_in++;
	dev->emit(dev, frame, len, dev->ctx);
}

static void serial_on_readable(struct device *dev, uint64_t now)
{
	struct serial_priv *p = dev->priv;
	char buf[SERIAL_READ_CHUNK];
	int rounds;

	/* bounded, so one chatty port cannot starve the others */
	for (rounds = 0; rounds < 16 && p->fd >= 0; rounds++) {
		ssize_t n = read(p->fd, buf, sizeof(buf));

		if (n > 0) {
			uint64_t before = p->fr.dropped;

			dev->stats.bytes_in += (uint64_t)n;
			framing_feed(&p->fr, buf, (size_t)n, serial_frame, dev);
			if (p->fr.dropped != before) {
				dev->stats.dropped_overlong += p->fr.dropped - before;
				log_msg(LOG_WARNING, "serial %s: frame longer than max_frame (%d) dropped",
					dev->name, serial_cfg(dev)->max_frame);
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

static int serial_flush(struct device *dev, uint64_t now)
{
	struct serial_priv *p = dev->priv;

	while (p->wq_off < p->wq_len) {
		ssize_t n = write(p->fd, p->wq + p->wq_off, p->wq_len - p->wq_off);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			serial_lost(dev, now, strerror(errno));
			return -1;
		}
		p->wq_off += (size_t)n;
		dev->stats.bytes_out += (uint64_t)n;
	}
	p->wq_off = p->wq_len = 0;
	return 0;
}

static void serial_on_writable(struct device *dev, uint64_t now)
{
	serial_flush(dev, now);
}

static int serial_write(struct device *dev, const char *data, size_t len, uint64_t now)
{
	const struct cfg_serial *c = serial_cfg(dev);
	struct serial_priv *p = dev->priv;
	size_t need;

	if (!p || p->fd < 0) {
		dev->stats.refused++;
		log_msg(LOG_WARNING, "serial %s: command refused: port is not open", dev->name);
		return -1;
	}
	need = len + c->eol_len;
	if (p->wq_len - p->wq_off + need > SERIAL_QUEUE_MAX) {
		dev->stats.refused++;
		log_msg(LOG_WARNING, "serial %s: command refused: write queue full", dev->name);
		return -1;
	}
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
		if (!nq) {
			dev->stats.refused++;
			return -1;
		}
		p->wq = nq;
		p->wq_cap = cap;
	}
	memcpy(p->wq + p->wq_len, data, len);
	memcpy(p->wq + p->wq_len + len, c->eol, c->eol_len);
	p->wq_len += need;
	dev->stats.frames_out++;
	return serial_flush(dev, now) < 0 ? -1 : 0;
}

static uint64_t serial_tick(struct device *dev, uint64_t now)
{
	struct serial_priv *p = serial_priv_get(dev);

	if (!p)
		return DEVICE_NO_DEADLINE;
	if (p->fd >= 0)
		return DEVICE_NO_DEADLINE;
	if (now >= p->next_open)
		serial_open(dev, now);
	return p->fd >= 0 ? DEVICE_NO_DEADLINE : p->next_open;
}

static void serial_destroy(struct device *dev)
{
	struct serial_priv *p = dev->priv;

	if (!p)
		return;
	framing_free(&p->fr);
	free(p->wq);
	free(p);
	dev->priv = NULL;
}

const struct device_driver serial_driver = {
	.kind = "serial",
	.open = serial_open,
	.close = serial_close,
	.fd = serial_fd,
	.events = serial_events,
	.on_readable = serial_on_readable,
	.on_writable = serial_on_writable,
	.write = serial_write,
	.tick = serial_tick,
	.link = NULL,
	.failsafe = NULL,
	.destroy = serial_destroy,
};
