/*
 * lib_spshim.c - LD_PRELOAD shim that lets libserialport 0.1.1 open ptys.
 *
 * The tests run the unmodified daemon on pseudo-terminals. The daemon's own
 * termios path opens ptys fine, but libserialport 0.1.1 refuses them, at
 * two places (found in its source and confirmed with strace on Debian's
 * libserialport0 0.1.1-4):
 *
 *  1. sp_get_port_by_name() -> get_port_details() (linux.c) takes the name
 *     after "/dev/" ("pts/3"), lstat()s /sys/class/tty/pts/3 (the binary
 *     calls the old glibc entry point __lxstat), and, if that is a symlink,
 *     readlink()s it to tell USB and Bluetooth ports from native ones; if it
 *     is not a symlink it reads /sys/class/tty/pts/3/device instead. Ptys
 *     have no /sys/class/tty entry, so this fails with "Device not found"
 *     before the port is even opened.
 *  2. sp_open() -> get_config() does ioctl(TIOCMGET) and set_config() does
 *     ioctl(TIOCMBIS/TIOCMBIC) for RTS and DTR (also sp_set_rts/dtr/
 *     flowcontrol, sp_get_signals). The pty driver has no modem lines and
 *     answers ENOTTY, so sp_open() fails.
 *  3. (Only for other framings than 8N1/8N2.) The pty driver forces CS8 and
 *     clears PARENB, and glibc's tcsetattr() reads the result back and
 *     reports EINVAL when they changed, so sp_set_bits(7) and
 *     sp_set_parity(EVEN...) fail on a pty.
 *
 * So this shim answers exactly those lookups, and only for Unix98 pty
 * slaves, as a plain native serial port with nothing attached:
 *  - lstat/__lxstat (and the 64-bit variants) of /sys/class/tty/pts/N and
 *    /sys/class/tty/pts/N/device report a symlink, and readlink of either
 *    gives ../../devices/platform/spshim/tty/ptsN (neither "usb" nor
 *    "bluetooth" in it, so the transport is SP_TRANSPORT_NATIVE). Only if
 *    /dev/pts/N exists: a missing pty still fails as it should.
 *  - ioctl TIOCMGET/TIOCMSET/TIOCMBIS/TIOCMBIC on a pty slave fd is first
 *    passed to the kernel; only if that fails with ENOTTY/EINVAL is it
 *    answered here: the outputs (RTS, DTR) keep what was last set (per pty,
 *    initially both on, as Linux raises them on open), the inputs (CTS, DSR,
 *    DCD, RI) read 0.
 *  - tcsetattr on a pty slave remembers the requested character size and
 *    parity (CSIZE, PARENB, PARODD, CMSPAR) and hands the kernel CS8 without
 *    parity, which is what it would keep anyway; tcgetattr puts the
 *    remembered bits back. Bytes still pass 8-bit clean.
 * Everything else, and every other path and fd, goes to the real function
 * found with dlsym(RTLD_NEXT). The only state is a small per-process table
 * of those per-pty settings, keyed by the pty's device number and inode
 * change time, so a new pty that reuses a number starts from the defaults.
 *
 * Limits: the port name must be the /dev/pts/N path itself (libserialport
 * rejects names outside /dev/, so resolve a simulator's symlink first);
 * sp_list_ports() still does not list ptys; modem-line waits (TIOCMIWAIT)
 * and counters (TIOCGICOUNT) are not faked; baud rate, stop bits and flow
 * control are real termios settings, which a pty keeps and ignores; the
 * faked framing is only visible inside the preloaded process.
 */
#undef _FORTIFY_SOURCE          /* we define readlink; no fortify wrapper */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define SPSHIM_SYS_PREFIX "/sys/class/tty/pts/"
#define SPSHIM_PTY_MAJOR_MIN 136        /* UNIX98_PTY_SLAVE_MAJOR */
#define SPSHIM_PTY_MAJOR_MAX 143
#define SPSHIM_PTYS_MAX 64
#define SPSHIM_FRAMING (CSIZE | PARENB | PARODD | CMSPAR)

/* Old glibc stat entry points: no longer declared by the headers, but
 * libserialport 0.1.1 binaries built against older glibc call them. */
int __lxstat(int ver, const char *path, struct stat *buf);
int __lxstat64(int ver, const char *path, struct stat64 *buf);

typedef int (*spshim_ioctl_fn)(int, unsigned long, ...);
typedef ssize_t (*spshim_readlink_fn)(const char *, char *, size_t);
typedef int (*spshim_lstat_fn)(const char *, struct stat *);
typedef int (*spshim_lstat64_fn)(const char *, struct stat64 *);
typedef int (*spshim_xstat_fn)(int, const char *, struct stat *);
typedef int (*spshim_xstat64_fn)(int, const char *, struct stat64 *);
typedef int (*spshim_tcgetattr_fn)(int, struct termios *);
typedef int (*spshim_tcsetattr_fn)(int, int, const struct termios *);

static struct {
	spshim_ioctl_fn ioctl;
	spshim_readlink_fn readlink;
	spshim_lstat_fn lstat;
	spshim_lstat64_fn lstat64;
	spshim_xstat_fn lxstat;
	spshim_xstat64_fn lxstat64;
	spshim_tcgetattr_fn tcgetattr;
	spshim_tcsetattr_fn tcsetattr;
} spshim_real;

static pthread_once_t spshim_once = PTHREAD_ONCE_INIT;

/* What a real port would remember and a pty does not, per pty. */
struct spshim_pty {
	dev_t rdev;
	struct timespec ctime;           /* tells a reused pts number apart */
	int used;
	int modem_bits;                  /* TIOCM_RTS | TIOCM_DTR as set */
	tcflag_t framing;                /* SPSHIM_FRAMING bits as set */
};

static struct spshim_pty spshim_ptys[SPSHIM_PTYS_MAX];
static unsigned int spshim_ptys_next;
static pthread_mutex_t spshim_ptys_lock = PTHREAD_MUTEX_INITIALIZER;

/* __lxstat exists only as a compat symbol, which plain dlsym() does not
 * return: ask for the version each architecture's glibc gave it. */
static void *spshim_compat_sym(const char *name)
{
	static const char *const versions[] = {
		"GLIBC_2.2.5", "GLIBC_2.17", "GLIBC_2.4", "GLIBC_2.0",
		"GLIBC_2.2", "GLIBC_2.3", "GLIBC_2.27", "GLIBC_2.33",
	};
	size_t i;
	void *sym = dlsym(RTLD_NEXT, name);

	for (i = 0; sym == NULL && i < sizeof(versions) / sizeof(versions[0]); i++)
		sym = dlvsym(RTLD_NEXT, name, versions[i]);
	return sym;
}

static void spshim_resolve(void)
{
	spshim_real.ioctl = (spshim_ioctl_fn)dlsym(RTLD_NEXT, "ioctl");
	spshim_real.readlink = (spshim_readlink_fn)dlsym(RTLD_NEXT, "readlink");
	spshim_real.lstat = (spshim_lstat_fn)dlsym(RTLD_NEXT, "lstat");
	spshim_real.lstat64 = (spshim_lstat64_fn)dlsym(RTLD_NEXT, "lstat64");
	spshim_real.lxstat = (spshim_xstat_fn)spshim_compat_sym("__lxstat");
	spshim_real.lxstat64 = (spshim_xstat64_fn)spshim_compat_sym("__lxstat64");
	spshim_real.tcgetattr = (spshim_tcgetattr_fn)dlsym(RTLD_NEXT, "tcgetattr");
	spshim_real.tcsetattr = (spshim_tcsetattr_fn)dlsym(RTLD_NEXT, "tcsetattr");
}

static void spshim_init(void)
{
	if (pthread_once(&spshim_once, spshim_resolve) != 0)
		spshim_resolve();
}

__attribute__((constructor)) static void spshim_constructor(void)
{
	spshim_init();
}

/*
 * Is path /sys/class/tty/pts/N or /sys/class/tty/pts/N/device with an
 * existing /dev/pts/N? Fills the fake link target. Returns 0 or -1.
 */
static int spshim_sys_pts(const char *path, char *target, size_t size)
{
	const char *p;
	char *end;
	char dev[64];
	long n;
	struct stat st;

	if (path == NULL || strncmp(path, SPSHIM_SYS_PREFIX,
				    sizeof(SPSHIM_SYS_PREFIX) - 1) != 0)
		return -1;
	p = path + sizeof(SPSHIM_SYS_PREFIX) - 1;
	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	n = strtol(p, &end, 10);
	if (errno != 0 || n < 0 || n > 1048575 ||
	    (strcmp(end, "") != 0 && strcmp(end, "/device") != 0 &&
	     strcmp(end, "/") != 0 && strcmp(end, "/device/") != 0))
		return -1;
	snprintf(dev, sizeof(dev), "/dev/pts/%ld", n);
	if (stat(dev, &st) != 0 || !S_ISCHR(st.st_mode))
		return -1;
	snprintf(target, size, "../../devices/platform/spshim/tty/pts%ld", n);
	return 0;
}

/* The struct stat of a symlink whose target is `target`. */
static void spshim_fake_link_stat(struct stat *st, const char *target)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFLNK | 0777;
	st->st_nlink = 1;
	st->st_size = (off_t)strlen(target);
	st->st_blksize = 4096;
	st->st_ino = 1;
	st->st_atime = st->st_mtime = st->st_ctime = time(NULL);
}

static void spshim_fake_link_stat64(struct stat64 *st, const char *target)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFLNK | 0777;
	st->st_nlink = 1;
	st->st_size = (off64_t)strlen(target);
	st->st_blksize = 4096;
	st->st_ino = 1;
	st->st_atime = st->st_mtime = st->st_ctime = time(NULL);
}

int lstat(const char *path, struct stat *buf)
{
	char target[128];

	spshim_init();
	if (spshim_sys_pts(path, target, sizeof(target)) == 0) {
		spshim_fake_link_stat(buf, target);
		return 0;
	}
	if (spshim_real.lstat == NULL)
		return fstatat(AT_FDCWD, path, buf, AT_SYMLINK_NOFOLLOW);
	return spshim_real.lstat(path, buf);
}

int lstat64(const char *path, struct stat64 *buf)
{
	char target[128];

	spshim_init();
	if (spshim_sys_pts(path, target, sizeof(target)) == 0) {
		spshim_fake_link_stat64(buf, target);
		return 0;
	}
	if (spshim_real.lstat64 == NULL)
		return fstatat64(AT_FDCWD, path, buf, AT_SYMLINK_NOFOLLOW);
	return spshim_real.lstat64(path, buf);
}

int __lxstat(int ver, const char *path, struct stat *buf)
{
	char target[128];

	spshim_init();
	if (spshim_sys_pts(path, target, sizeof(target)) == 0) {
		spshim_fake_link_stat(buf, target);
		return 0;
	}
	if (spshim_real.lxstat == NULL)
		return fstatat(AT_FDCWD, path, buf, AT_SYMLINK_NOFOLLOW);
	return spshim_real.lxstat(ver, path, buf);
}

int __lxstat64(int ver, const char *path, struct stat64 *buf)
{
	char target[128];

	spshim_init();
	if (spshim_sys_pts(path, target, sizeof(target)) == 0) {
		spshim_fake_link_stat64(buf, target);
		return 0;
	}
	if (spshim_real.lxstat64 == NULL)
		return fstatat64(AT_FDCWD, path, buf, AT_SYMLINK_NOFOLLOW);
	return spshim_real.lxstat64(ver, path, buf);
}

/* libserialport calls readlink(name, name, size): the output may alias
 * the path, so the target is built in a local buffer first. */
ssize_t readlink(const char *path, char *buf, size_t size)
{
	char target[128];
	size_t n;

	spshim_init();
	if (spshim_sys_pts(path, target, sizeof(target)) == 0) {
		n = strlen(target);
		if (n > size)
			n = size;        /* readlink truncates silently */
		memcpy(buf, target, n);
		return (ssize_t)n;
	}
	if (spshim_real.readlink == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return spshim_real.readlink(path, buf, size);
}

/* Is fd a Unix98 pty slave? Fills its stat. Returns 0 or -1. */
static int spshim_pty_slave(int fd, struct stat *st)
{
	unsigned int maj;

	if (fstat(fd, st) != 0 || !S_ISCHR(st->st_mode))
		return -1;
	maj = major(st->st_rdev);
	if (maj < SPSHIM_PTY_MAJOR_MIN || maj > SPSHIM_PTY_MAJOR_MAX)
		return -1;
	return 0;
}

/* The state of this pty, created with the defaults of a freshly opened
 * port (RTS and DTR on, 8 bits, no parity); call with the lock held. */
static struct spshim_pty *spshim_pty_state(const struct stat *st)
{
	struct spshim_pty *p;
	unsigned int i;

	for (i = 0; i < SPSHIM_PTYS_MAX; i++) {
		p = &spshim_ptys[i];
		if (p->used && p->rdev == st->st_rdev &&
		    p->ctime.tv_sec == st->st_ctim.tv_sec &&
		    p->ctime.tv_nsec == st->st_ctim.tv_nsec)
			return p;
	}
	for (i = 0; i < SPSHIM_PTYS_MAX; i++)        /* same pts, new pty */
		if (spshim_ptys[i].used && spshim_ptys[i].rdev == st->st_rdev)
			break;
	if (i == SPSHIM_PTYS_MAX)                    /* else the oldest goes */
		i = spshim_ptys_next++ % SPSHIM_PTYS_MAX;
	p = &spshim_ptys[i];
	p->rdev = st->st_rdev;
	p->ctime = st->st_ctim;
	p->used = 1;
	p->modem_bits = TIOCM_RTS | TIOCM_DTR;
	p->framing = CS8;
	return p;
}

/* MQTTGW_SPSHIM_TRACE=FILE: every change of RTS is appended as
 * "MONOTONIC_MS rts 0|1", so a test can see when a software RS485 driver
 * enable went on and off. Called with the lock held. */
static void spshim_trace_rts(int on)
{
	const char *path = getenv("MQTTGW_SPSHIM_TRACE");
	struct timespec ts;
	char line[64];
	int fd, n;

	if (path == NULL || *path == '\0')
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	n = snprintf(line, sizeof(line), "%lld rts %d\n",
		     (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, on);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) < 0)
		n = 0;
	close(fd);
}

/* Answer one TIOCM* request as a port with no modem lines attached. */
static int spshim_modem_ioctl(const struct stat *st, unsigned long request,
			      int *arg)
{
	const int outputs = TIOCM_RTS | TIOCM_DTR;
	struct spshim_pty *p;
	int before;

	if (arg == NULL) {
		errno = EFAULT;
		return -1;
	}
	pthread_mutex_lock(&spshim_ptys_lock);
	p = spshim_pty_state(st);
	before = p->modem_bits;
	switch (request) {
	case TIOCMGET:
		*arg = p->modem_bits;    /* inputs CTS/DSR/CD/RI always 0 */
		break;
	case TIOCMSET:
		p->modem_bits = *arg & outputs;
		break;
	case TIOCMBIS:
		p->modem_bits |= *arg & outputs;
		break;
	case TIOCMBIC:
		p->modem_bits &= ~(*arg & outputs);
		break;
	default:
		break;
	}
	if ((before ^ p->modem_bits) & TIOCM_RTS)
		spshim_trace_rts(!!(p->modem_bits & TIOCM_RTS));
	pthread_mutex_unlock(&spshim_ptys_lock);
	return 0;
}

int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;
	int rc, saved;
	struct stat st;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	spshim_init();
	if (spshim_real.ioctl == NULL) {
		errno = ENOSYS;
		return -1;
	}
	rc = spshim_real.ioctl(fd, request, arg);
	if (rc == 0 || (request != TIOCMGET && request != TIOCMSET &&
			request != TIOCMBIS && request != TIOCMBIC))
		return rc;
	saved = errno;
	if ((saved != ENOTTY && saved != EINVAL) ||
	    spshim_pty_slave(fd, &st) != 0) {
		errno = saved;
		return rc;
	}
	return spshim_modem_ioctl(&st, request, arg);
}

int tcgetattr(int fd, struct termios *t)
{
	struct stat st;
	int rc;

	spshim_init();
	if (spshim_real.tcgetattr == NULL) {
		errno = ENOSYS;
		return -1;
	}
	rc = spshim_real.tcgetattr(fd, t);
	if (rc != 0 || spshim_pty_slave(fd, &st) != 0)
		return rc;
	pthread_mutex_lock(&spshim_ptys_lock);
	t->c_cflag = (t->c_cflag & ~(tcflag_t)SPSHIM_FRAMING) |
		     spshim_pty_state(&st)->framing;
	pthread_mutex_unlock(&spshim_ptys_lock);
	return 0;
}

int tcsetattr(int fd, int action, const struct termios *t)
{
	struct termios kernel;
	struct stat st;
	int rc;

	spshim_init();
	if (spshim_real.tcsetattr == NULL) {
		errno = ENOSYS;
		return -1;
	}
	if (t == NULL || spshim_pty_slave(fd, &st) != 0)
		return spshim_real.tcsetattr(fd, action, t);
	kernel = *t;
	kernel.c_cflag = (kernel.c_cflag & ~(tcflag_t)SPSHIM_FRAMING) | CS8;
	rc = spshim_real.tcsetattr(fd, action, &kernel);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&spshim_ptys_lock);
	spshim_pty_state(&st)->framing = t->c_cflag & SPSHIM_FRAMING;
	pthread_mutex_unlock(&spshim_ptys_lock);
	return 0;
}
