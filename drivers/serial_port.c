/*
 * serial_port.c - open a serial port the way it needs to be opened.
 *
 * The configured path is resolved first: udev names and
 * /dev/serial/by-id/... are symlinks, and libserialport 0.1.1 looks the name
 * up in sysfs, which fails on a symlink. libserialport opens and configures
 * real ports; when it refuses (pseudo-terminals have no sysfs entry and no
 * modem-line ioctls) the port is opened and configured with termios. Either
 * way the result is one non-blocking fd in true raw mode: no echo, no CR/LF
 * translation, no XON/XOFF unless flow = "xonxoff", or random binary input
 * would swallow bytes.
 *
 * A port is ours alone, as serial tools make it: flock(LOCK_EX) on a
 * descriptor held for as long as the port is open (taken before the port is
 * configured, so a second gateway never touches a port in use) and TIOCEXCL
 * on the port itself (later open()s fail with EBUSY, root excepted). A port
 * in use is retried like a missing one, and the message names who holds it
 * (the pid from /proc/locks). Errors name the configured path, and say
 * what to do about a permission problem.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/serial.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include <libserialport.h>

#include "serial_cfg.h"
#include "log.h"
#include "serial_port.h"

static speed_t serial_port_speed(int baud)
{
	static const struct {
		int baud;
		speed_t speed;
	} t[] = {
		{ 50, B50 },	       { 75, B75 },	      { 110, B110 },	     { 134, B134 },
		{ 150, B150 },	       { 200, B200 },	      { 300, B300 },	     { 600, B600 },
		{ 1200, B1200 },       { 1800, B1800 },	      { 2400, B2400 },	     { 4800, B4800 },
		{ 9600, B9600 },       { 19200, B19200 },     { 38400, B38400 },     { 57600, B57600 },
		{ 115200, B115200 },   { 230400, B230400 },   { 460800, B460800 },   { 500000, B500000 },
		{ 576000, B576000 },   { 921600, B921600 },   { 1000000, B1000000 }, { 1152000, B1152000 },
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
static int serial_port_termios(int fd, const struct cfg_serial *c, int keep_line)
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
		speed_t sp = serial_port_speed(c->baud);

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

/* 0 opened, -1 not for libserialport (try termios), -2 opened but unusable. */
static int serial_port_open_sp(struct serial_port *p, const struct cfg_serial *c, const char *path, char *err,
			       size_t errlen)
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
	/* flow control is always set: sp_open keeps IXON from the last user */
	if (sp_set_baudrate(sp, c->baud) != SP_OK || sp_set_bits(sp, c->data_bits) != SP_OK ||
	    sp_set_parity(sp, par[c->parity]) != SP_OK || sp_set_stopbits(sp, c->stop_bits) != SP_OK ||
	    sp_set_flowcontrol(sp, flow[c->flow]) != SP_OK || sp_get_port_handle(sp, &p->fd) != SP_OK) {
		char *msg = sp_last_error_message();

		snprintf(err, errlen, "%s: cannot apply the port settings: %s", path, msg ? msg : "?");
		sp_free_error_message(msg);
		sp_close(sp);
		sp_free_port(sp);
		p->fd = -1;
		return -2;
	}
	p->sp = sp;
	return 0;
}

static void serial_port_rs485(struct serial_port *p, const struct cfg_serial *c)
{
	struct serial_rs485 rs;

	p->rs485_kernel = 0;
	if (!c->rs485)
		return;
	memset(&rs, 0, sizeof(rs));
	rs.flags = SER_RS485_ENABLED | SER_RS485_RTS_ON_SEND;
	rs.delay_rts_before_send = (unsigned)c->rs485_delay_before_ms;
	rs.delay_rts_after_send = (unsigned)c->rs485_delay_after_ms;
	if (ioctl(p->fd, TIOCSRS485, &rs) == 0) {
		p->rs485_kernel = 1;
		log_msg(LOG_INFO, "serial %s: RS485 direction driven by the UART driver", c->name);
	} else {
		log_msg(LOG_INFO, "serial %s: no kernel RS485 mode (%s); RTS driven around each write", c->name,
			strerror(errno));
		serial_port_set_rts(p, 0);
	}
}

/*
 * Who holds a lock on the file at path: "pid 1234, mqttgw" from /proc/locks
 * (flock and POSIX locks list the inode as MAJ:MIN:INODE of the file's
 * filesystem). 0, or -1 when nobody is listed.
 */
static int serial_port_holder(const char *path, char *out, size_t outlen)
{
	char line[256], comm[64] = "", fn[64];
	unsigned maj, min;
	unsigned long ino;
	struct stat st;
	FILE *f;
	int pid, found = 0;

	if (stat(path, &st) < 0 || !(f = fopen("/proc/locks", "re")))
		return -1;
	while (!found && fgets(line, sizeof(line), f)) {
		/* "1: FLOCK  ADVISORY  WRITE 1234 00:05:123 0 EOF"; waiters have "->" after the number */
		if (strstr(line, "->"))
			continue;
		if (sscanf(line, "%*d: %*s %*s %*s %d %x:%x:%lu", &pid, &maj, &min, &ino) == 4 &&
		    maj == major(st.st_dev) && min == minor(st.st_dev) && ino == (unsigned long)st.st_ino &&
		    pid != getpid())
			found = 1;
	}
	fclose(f);
	if (!found)
		return -1;
	snprintf(fn, sizeof(fn), "/proc/%d/comm", pid);
	if ((f = fopen(fn, "re")) != NULL) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	snprintf(out, outlen, "pid %d%s%s", pid, *comm ? ", " : "", comm);
	return 0;
}

/* The configured path, and where its symlink leads when that differs: "/dev/ttyMOT (/dev/pts/3)". */
static void serial_port_name(const struct cfg_serial *c, const char *path, char *out, size_t outlen)
{
	if (strcmp(c->port, path) == 0)
		snprintf(out, outlen, "%s", c->port);
	else
		snprintf(out, outlen, "%s (%s)", c->port, path);
}

/* Why path cannot be opened, in words that say what to do. */
static void serial_port_open_error(const struct cfg_serial *c, const char *path, int e, char *err, size_t errlen)
{
	char name[2 * PATH_MAX + 4], who[128];
	struct stat st;
	struct group *g;

	serial_port_name(c, path, name, sizeof(name));
	if (e == EACCES || e == EPERM) {
		g = stat(path, &st) == 0 ? getgrgid(st.st_gid) : NULL;
		if (g && st.st_gid != 0)
			snprintf(err, errlen,
				 "%s: Permission denied: add the user mqttgw runs as to the group \"%s\" that owns "
				 "it (sudo usermod -aG %s USER; log in again) or fix the port's permissions",
				 name, g->gr_name, g->gr_name);
		else
			snprintf(err, errlen,
				 "%s: Permission denied: serial ports belong to the group \"dialout\" (sudo usermod "
				 "-aG dialout USER; log in again) or fix the port's permissions",
				 name);
	} else if (e == EBUSY || e == EWOULDBLOCK) {
		if (serial_port_holder(path, who, sizeof(who)) == 0)
			snprintf(err, errlen, "%s: in use by another program (%s; a second mqttgw with this config?)",
				 name, who);
		else
			snprintf(err, errlen, "%s: in use by another program (it opened the port exclusively)", name);
	} else {
		snprintf(err, errlen, "%s: %s", name, strerror(e));
	}
}

/* Lock path for us alone (the lock fd lives as long as the port is open). 0 / -1 with err. */
static int serial_port_lock(struct serial_port *p, const struct cfg_serial *c, const char *path, char *err,
			    size_t errlen)
{
	int e;

	p->lock_fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (p->lock_fd < 0 || flock(p->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		e = errno;
		if (p->lock_fd >= 0)
			close(p->lock_fd);
		p->lock_fd = -1;
		serial_port_open_error(c, path, e, err, errlen);
		return -1;
	}
	return 0;
}

static void serial_port_unlock(struct serial_port *p)
{
	if (p->lock_fd >= 0)
		close(p->lock_fd);
	p->lock_fd = -1;
}

int serial_port_open(struct serial_port *p, const struct cfg_serial *c, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int rc, flags, e;

	p->sp = NULL;
	p->fd = -1;
	p->lock_fd = -1;
	p->rts_broken = 0;
	if (!realpath(c->port, path)) {
		snprintf(err, errlen, "%s: %s", c->port, strerror(errno));
		return -1;
	}
	if (serial_port_lock(p, c, path, err, errlen) < 0)
		return -1;
	rc = serial_port_open_sp(p, c, path, err, errlen);
	if (rc == -2) {
		serial_port_unlock(p);
		return -1;
	}
	if (rc == -1) {
		/* ptys and anything else libserialport will not take */
		p->fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		if (p->fd < 0) {
			serial_port_open_error(c, path, errno, err, errlen);
			serial_port_unlock(p);
			return -1;
		}
		if (!isatty(p->fd) || serial_port_termios(p->fd, c, 0) < 0) {
			e = errno;
			snprintf(err, errlen, "%s: %s", c->port, !isatty(p->fd) ? "not a tty" : strerror(e));
			close(p->fd);
			p->fd = -1;
			serial_port_unlock(p);
			return -1;
		}
		log_msg(LOG_DEBUG, "serial %s: %s opened with termios", c->name, path);
	} else {
		if (serial_port_termios(p->fd, c, 1) < 0)
			log_msg(LOG_WARNING, "serial %s: cannot enforce raw mode: %s", c->name, strerror(errno));
		log_msg(LOG_DEBUG, "serial %s: %s opened with libserialport", c->name, path);
	}
	flags = fcntl(p->fd, F_GETFL);
	if (flags < 0 || fcntl(p->fd, F_SETFL, flags | O_NONBLOCK) < 0)
		log_msg(LOG_WARNING, "serial %s: cannot make the port non-blocking: %s", c->name, strerror(errno));
	(void)fcntl(p->fd, F_SETFD, FD_CLOEXEC);
	/* later opens fail with EBUSY (root excepted: the flock covers another mqttgw) */
	if (ioctl(p->fd, TIOCEXCL) < 0)
		log_msg(LOG_DEBUG, "serial %s: TIOCEXCL: %s", c->name, strerror(errno));
	serial_port_rs485(p, c);
	return 0;
}

void serial_port_close(struct serial_port *p)
{
	if (p->fd < 0)
		return;
	if (p->sp) {
		sp_close(p->sp);
		sp_free_port(p->sp);
		p->sp = NULL;
	} else {
		close(p->fd);
	}
	p->fd = -1;
	serial_port_unlock(p);
}

int serial_port_set_rts(struct serial_port *p, int on)
{
	int bit = TIOCM_RTS;

	if (p->fd < 0 || p->rts_broken)
		return -1;
	if (ioctl(p->fd, on ? TIOCMBIS : TIOCMBIC, &bit) < 0) {
		log_msg(LOG_WARNING, "serial: cannot drive RTS: %s (RS485 direction control off)", strerror(errno));
		p->rts_broken = 1;
		return -1;
	}
	return 0;
}

int serial_port_outq(const struct serial_port *p)
{
	int n = 0;

	if (p->fd < 0 || ioctl(p->fd, TIOCOUTQ, &n) < 0)
		return -1;
	return n;
}
