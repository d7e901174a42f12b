/*
 * prog_motorsim.c - a motor controller simulator on a pseudo-terminal.
 *
 * Tests, the demo and people at a shell need a device that speaks the
 * DRV/POS/STOP/HOME line protocol of the motor controllers mqttgw bridges,
 * without hardware. This program opens a pty pair, puts the slave side in
 * true raw mode and publishes it under a stable name (a symlink given with
 * --link), so the daemon opens "the serial port" exactly as it would open
 * /dev/ttyUSB0. It answers on the master side.
 *
 * Why it is shaped so:
 *  - It keeps its own slave fd open for its whole life. Without it the pty
 *    would hang up (master reads fail with EIO) every time the last client
 *    closes the port, and the raw termios settings would be lost between
 *    clients. With it, clients may open and close the port at will.
 *  - One poll() loop owns every fd (master, a signalfd) and the timers, as
 *    in the daemon: answers go into a FIFO with a due time (now + delay),
 *    and the poll timeout is the time until the head is due. Nothing sleeps,
 *    so a slow reader or a signal never stalls the loop. Because the delay is
 *    constant, deadlines are monotonic and a FIFO is a deadline queue.
 *  - Writes to the master are non-blocking through a bounded output buffer;
 *    if nobody reads the port the buffer fills and further answers are
 *    dropped (and logged) instead of blocking or growing without bound.
 *  - With --address the simulator is one drop on an RS485 bus: it answers
 *    only lines prefixed "A:" and prefixes its answers the same way, so a
 *    test can put several simulated controllers behind one port name.
 *  - SIGUSR1 makes it send a STAT report unprompted (device-initiated
 *    traffic); SIGTERM/SIGINT remove the symlink and exit 0.
 *
 * Protocol (one command per line, LF or CR LF; empty lines ignored):
 *    DRV<axis><+|-><digits>  ->  POS<axis><sign><6 digits>   (cumulative,
 *                                clamped to +-999999)
 *    STOP -> OK STOP;  HOME -> zero all axes, one POS line per axis;
 *    STAT -> one POS line per axis;  anything else -> ERR <short text>.
 *    Lines longer than 256 bytes -> ERR too long, rest of the line dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MOTORSIM_LINE_MAX   256          /* command bytes, terminator excluded */
#define MOTORSIM_AXES_MAX   8
#define MOTORSIM_ADDR_MAX   8
#define MOTORSIM_POS_LIMIT  999999L
#define MOTORSIM_QUEUE_MAX  4096         /* answers waiting for their delay */
#define MOTORSIM_OUT_MAX    65536        /* bytes waiting for the reader */
#define MOTORSIM_DELAY_MAX  600000

struct motorsim_answer {
	struct motorsim_answer *next;
	uint64_t due_ms;
	size_t len;
	char text[];                     /* the line, eol included */
};

struct motorsim {
	/* configuration */
	const char *link;
	long delay_ms;
	char axes[MOTORSIM_AXES_MAX + 1];
	size_t axis_count;
	const char *eol;
	char address[MOTORSIM_ADDR_MAX + 1]; /* "" = not addressed */
	int quiet;
	/* state */
	long pos[MOTORSIM_AXES_MAX];
	int master_fd;
	int slave_fd;
	int signal_fd;
	char slave_name[128];
	int link_made;
	char line[MOTORSIM_LINE_MAX + 2];
	size_t line_len;
	int line_overflow;
	struct motorsim_answer *head;
	struct motorsim_answer *tail;
	size_t queued;
	char out[MOTORSIM_OUT_MAX];
	size_t out_len;
	int running;
};

static void motorsim_usage(FILE *to)
{
	fprintf(to,
		"usage: prog_motorsim --link PATH [--delay-ms N] [--axes XYZ]\n"
		"                     [--eol crlf|lf] [--address A] [--quiet]\n"
		"  --link PATH     symlink to create, pointing at the pty slave\n"
		"  --delay-ms N    answer delay in ms (default 5, 0..%d)\n"
		"  --axes LETTERS  axis letters A-Z, unique, up to %d (default XYZ)\n"
		"  --eol crlf|lf   answer line ending (default crlf)\n"
		"  --address A     RS485 drop address (1-%d letters/digits): only\n"
		"                  lines \"A:...\" are answered, answers are \"A:...\"\n"
		"  --quiet         do not log commands and answers to stderr\n"
		"Prints \"ready PATH\" on stdout when usable. SIGUSR1 sends a STAT\n"
		"report unprompted; SIGTERM/SIGINT remove the link and exit 0.\n",
		MOTORSIM_DELAY_MAX, MOTORSIM_AXES_MAX, MOTORSIM_ADDR_MAX);
}

static uint64_t motorsim_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Log one line to stderr with non-printable bytes escaped. */
static void motorsim_log_line(const struct motorsim *sim, const char *what,
			      const char *text, size_t len)
{
	size_t i;

	if (sim->quiet)
		return;
	fprintf(stderr, "motorsim: %s '", what);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\r')
			fputs("\\r", stderr);
		else if (c == '\n')
			fputs("\\n", stderr);
		else if (c < 0x20 || c >= 0x7f || c == '\\')
			fprintf(stderr, "\\x%02x", c);
		else
			fputc(c, stderr);
	}
	fputs("'\n", stderr);
}

static int motorsim_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (*s == '\0')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int motorsim_parse_axes(struct motorsim *sim, const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > MOTORSIM_AXES_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < 'A' || s[i] > 'Z' || memchr(s, s[i], i) != NULL)
			return -1;
		sim->axes[i] = s[i];
	}
	sim->axes[n] = '\0';
	sim->axis_count = n;
	return 0;
}

static int motorsim_parse_address(struct motorsim *sim, const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > MOTORSIM_ADDR_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		      (c >= 'a' && c <= 'z')))
			return -1;
	}
	memcpy(sim->address, s, n + 1);
	return 0;
}

static int motorsim_parse_args(struct motorsim *sim, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "link", required_argument, NULL, 'l' },
		{ "delay-ms", required_argument, NULL, 'd' },
		{ "axes", required_argument, NULL, 'a' },
		{ "eol", required_argument, NULL, 'e' },
		{ "address", required_argument, NULL, 'A' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "l:d:a:e:A:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			sim->link = optarg;
			break;
		case 'd':
			if (motorsim_parse_long(optarg, 0, MOTORSIM_DELAY_MAX,
						&sim->delay_ms) < 0) {
				fprintf(stderr, "motorsim: bad --delay-ms '%s'\n", optarg);
				return -1;
			}
			break;
		case 'a':
			if (motorsim_parse_axes(sim, optarg) < 0) {
				fprintf(stderr, "motorsim: bad --axes '%s'\n", optarg);
				return -1;
			}
			break;
		case 'e':
			if (strcmp(optarg, "crlf") == 0)
				sim->eol = "\r\n";
			else if (strcmp(optarg, "lf") == 0)
				sim->eol = "\n";
			else {
				fprintf(stderr, "motorsim: bad --eol '%s'\n", optarg);
				return -1;
			}
			break;
		case 'A':
			if (motorsim_parse_address(sim, optarg) < 0) {
				fprintf(stderr, "motorsim: bad --address '%s'\n", optarg);
				return -1;
			}
			break;
		case 'q':
			sim->quiet = 1;
			break;
		case 'h':
			motorsim_usage(stdout);
			exit(0);
		default:
			motorsim_usage(stderr);
			return -1;
		}
	}
	if (optind != argc || sim->link == NULL || sim->link[0] == '\0') {
		motorsim_usage(stderr);
		return -1;
	}
	return 0;
}

/* Open the pty pair and put the slave in true raw mode. */
static int motorsim_open_pty(struct motorsim *sim)
{
	struct termios tio;
	int flags;

	sim->master_fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (sim->master_fd < 0) {
		fprintf(stderr, "motorsim: posix_openpt: %s\n", strerror(errno));
		return -1;
	}
	if (grantpt(sim->master_fd) < 0 || unlockpt(sim->master_fd) < 0 ||
	    ptsname_r(sim->master_fd, sim->slave_name, sizeof(sim->slave_name)) != 0) {
		fprintf(stderr, "motorsim: pty setup: %s\n", strerror(errno));
		return -1;
	}
	sim->slave_fd = open(sim->slave_name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (sim->slave_fd < 0) {
		fprintf(stderr, "motorsim: open %s: %s\n", sim->slave_name,
			strerror(errno));
		return -1;
	}
	if (tcgetattr(sim->slave_fd, &tio) < 0) {
		fprintf(stderr, "motorsim: tcgetattr: %s\n", strerror(errno));
		return -1;
	}
	cfmakeraw(&tio);                         /* no echo, no CR/LF mapping */
	tio.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);   /* no XON/XOFF */
	tio.c_cflag |= CLOCAL | CREAD;
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	cfsetispeed(&tio, B115200);
	cfsetospeed(&tio, B115200);
	if (tcsetattr(sim->slave_fd, TCSANOW, &tio) < 0) {
		fprintf(stderr, "motorsim: tcsetattr: %s\n", strerror(errno));
		return -1;
	}
	flags = fcntl(sim->master_fd, F_GETFL);
	if (flags < 0 || fcntl(sim->master_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		fprintf(stderr, "motorsim: fcntl: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* Point the link at the slave; a stale symlink is replaced, anything else
 * at that path is left alone and is an error. */
static int motorsim_make_link(struct motorsim *sim)
{
	struct stat st;

	if (lstat(sim->link, &st) == 0) {
		if (!S_ISLNK(st.st_mode)) {
			fprintf(stderr, "motorsim: %s exists and is not a symlink\n",
				sim->link);
			return -1;
		}
		if (unlink(sim->link) < 0) {
			fprintf(stderr, "motorsim: unlink %s: %s\n", sim->link,
				strerror(errno));
			return -1;
		}
	}
	if (symlink(sim->slave_name, sim->link) < 0) {
		fprintf(stderr, "motorsim: symlink %s: %s\n", sim->link,
			strerror(errno));
		return -1;
	}
	sim->link_made = 1;
	return 0;
}

/* Remove the link only if it still points at our slave (another instance
 * may have taken the name over since). */
static void motorsim_remove_link(struct motorsim *sim)
{
	char target[sizeof(sim->slave_name)];
	ssize_t n;

	if (!sim->link_made)
		return;
	n = readlink(sim->link, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		if (strcmp(target, sim->slave_name) == 0)
			unlink(sim->link);
	}
	sim->link_made = 0;
}

static int motorsim_open_signals(struct motorsim *sim)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
		fprintf(stderr, "motorsim: sigprocmask: %s\n", strerror(errno));
		return -1;
	}
	sim->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sim->signal_fd < 0) {
		fprintf(stderr, "motorsim: signalfd: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* Queue one answer line (address prefix and eol added here). */
static void motorsim_answer(struct motorsim *sim, const char *body)
{
	struct motorsim_answer *a;
	size_t addr_len = strlen(sim->address);
	size_t len = (addr_len ? addr_len + 1 : 0) + strlen(body) + strlen(sim->eol);

	if (sim->queued >= MOTORSIM_QUEUE_MAX) {
		if (!sim->quiet)
			fprintf(stderr, "motorsim: answer queue full, dropped '%s'\n", body);
		return;
	}
	a = malloc(sizeof(*a) + len + 1);
	if (a == NULL) {
		fprintf(stderr, "motorsim: out of memory, dropped '%s'\n", body);
		return;
	}
	snprintf(a->text, len + 1, "%s%s%s%s", sim->address, addr_len ? ":" : "",
		 body, sim->eol);
	a->len = len;
	a->next = NULL;
	a->due_ms = motorsim_now_ms() + (uint64_t)sim->delay_ms;
	if (sim->tail != NULL)
		sim->tail->next = a;
	else
		sim->head = a;
	sim->tail = a;
	sim->queued++;
}

static void motorsim_answer_pos(struct motorsim *sim, size_t axis)
{
	char body[32];
	long p = sim->pos[axis];

	snprintf(body, sizeof(body), "POS%c%c%06ld", sim->axes[axis],
		 p < 0 ? '-' : '+', p < 0 ? -p : p);
	motorsim_answer(sim, body);
}

static void motorsim_answer_stat(struct motorsim *sim)
{
	size_t i;

	for (i = 0; i < sim->axis_count; i++)
		motorsim_answer_pos(sim, i);
}

/* DRV<axis><+|-><digits>; arg points past "DRV". */
static void motorsim_drive(struct motorsim *sim, const char *arg)
{
	const char *axis_at;
	long steps, p;
	size_t axis, i;

	if (arg[0] == '\0' || (axis_at = memchr(sim->axes, arg[0],
						 sim->axis_count)) == NULL) {
		motorsim_answer(sim, "ERR bad axis");
		return;
	}
	axis = (size_t)(axis_at - sim->axes);
	if (arg[1] != '+' && arg[1] != '-') {
		motorsim_answer(sim, "ERR bad steps");
		return;
	}
	/* digits only (strtol alone would take spaces and a second sign) */
	for (i = 2; arg[i] != '\0'; i++)
		if (arg[i] < '0' || arg[i] > '9')
			break;
	if (i == 2 || i > 11 || arg[i] != '\0' ||
	    motorsim_parse_long(arg + 2, 0, 999999999L, &steps) < 0) {
		motorsim_answer(sim, "ERR bad steps");
		return;
	}
	p = sim->pos[axis] + (arg[1] == '-' ? -steps : steps);
	if (p > MOTORSIM_POS_LIMIT)
		p = MOTORSIM_POS_LIMIT;
	if (p < -MOTORSIM_POS_LIMIT)
		p = -MOTORSIM_POS_LIMIT;
	sim->pos[axis] = p;
	motorsim_answer_pos(sim, axis);
}

/* Does the line carry our address? Returns the command part, or NULL. */
static const char *motorsim_addressed(const struct motorsim *sim, const char *line)
{
	size_t n = strlen(sim->address);

	if (n == 0)
		return line;
	if (strncmp(line, sim->address, n) != 0 || line[n] != ':')
		return NULL;
	return line + n + 1;
}

/* One complete line (terminator stripped, NUL-terminated). */
static void motorsim_command(struct motorsim *sim, const char *line, size_t len)
{
	const char *cmd;

	if (len == 0)
		return;
	cmd = motorsim_addressed(sim, line);
	motorsim_log_line(sim, cmd ? "rx" : "rx (not for us)", line, len);
	if (cmd == NULL)
		return;
	if (strlen(line) != len)         /* embedded NUL: never a command */
		motorsim_answer(sim, "ERR unknown command");
	else if (strncmp(cmd, "DRV", 3) == 0)
		motorsim_drive(sim, cmd + 3);
	else if (strcmp(cmd, "STOP") == 0)
		motorsim_answer(sim, "OK STOP");
	else if (strcmp(cmd, "HOME") == 0) {
		memset(sim->pos, 0, sizeof(sim->pos));
		motorsim_answer_stat(sim);
	} else if (strcmp(cmd, "STAT") == 0)
		motorsim_answer_stat(sim);
	else
		motorsim_answer(sim, "ERR unknown command");
}

/* Feed received bytes through the line assembler. */
static void motorsim_feed(struct motorsim *sim, const char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = buf[i];

		if (c == '\n') {
			size_t len = sim->line_len;

			if (!sim->line_overflow) {
				if (len > 0 && sim->line[len - 1] == '\r')
					len--;
				sim->line[len] = '\0';
				motorsim_command(sim, sim->line, len);
			}
			sim->line_len = 0;
			sim->line_overflow = 0;
			continue;
		}
		if (sim->line_overflow)
			continue;
		/* 256 command bytes, plus the CR of a CR LF terminator */
		if (sim->line_len < MOTORSIM_LINE_MAX ||
		    (sim->line_len == MOTORSIM_LINE_MAX && c == '\r')) {
			sim->line[sim->line_len++] = c;
			continue;
		}
		/* too long: answer once now, drop the rest of the line */
		sim->line[sim->line_len] = '\0';
		sim->line_overflow = 1;
		motorsim_log_line(sim, "rx (too long)", sim->line, sim->line_len);
		if (motorsim_addressed(sim, sim->line) != NULL)
			motorsim_answer(sim, "ERR too long");
	}
}

/* One read per wakeup (poll is level-triggered): a client that writes
 * without pause cannot starve the answers that fall due meanwhile. */
static int motorsim_read_master(struct motorsim *sim)
{
	char buf[4096];
	ssize_t n;

	n = read(sim->master_fd, buf, sizeof(buf));
	if (n > 0) {
		motorsim_feed(sim, buf, (size_t)n);
		return 0;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n < 0 && errno == EIO)       /* no slave open: cannot happen while */
		return 0;                /* we hold ours, but harmless */
	fprintf(stderr, "motorsim: read pty master: %s\n",
		n < 0 ? strerror(errno) : "end of file");
	return -1;
}

static int motorsim_flush_out(struct motorsim *sim)
{
	ssize_t n;

	while (sim->out_len > 0) {
		n = write(sim->master_fd, sim->out, sim->out_len);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			fprintf(stderr, "motorsim: write pty master: %s\n",
				strerror(errno));
			return -1;
		}
		memmove(sim->out, sim->out + n, sim->out_len - (size_t)n);
		sim->out_len -= (size_t)n;
	}
	return 0;
}

/* Move every due answer to the output buffer, in order. */
static int motorsim_send_due(struct motorsim *sim, uint64_t now)
{
	struct motorsim_answer *a;

	while ((a = sim->head) != NULL && a->due_ms <= now) {
		sim->head = a->next;
		if (sim->head == NULL)
			sim->tail = NULL;
		sim->queued--;
		if (sim->out_len + a->len <= sizeof(sim->out)) {
			memcpy(sim->out + sim->out_len, a->text, a->len);
			sim->out_len += a->len;
			motorsim_log_line(sim, "tx", a->text, a->len);
		} else {
			motorsim_log_line(sim, "tx dropped (nobody reads)", a->text,
					  a->len);
		}
		free(a);
	}
	return motorsim_flush_out(sim);
}

static int motorsim_read_signals(struct motorsim *sim)
{
	struct signalfd_siginfo si;
	ssize_t n;

	while ((n = read(sim->signal_fd, &si, sizeof(si))) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			if (!sim->quiet)
				fprintf(stderr, "motorsim: SIGUSR1, unprompted report\n");
			motorsim_answer_stat(sim);
		} else {
			if (!sim->quiet)
				fprintf(stderr, "motorsim: signal %u, exiting\n",
					si.ssi_signo);
			sim->running = 0;
		}
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		fprintf(stderr, "motorsim: read signalfd: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int motorsim_poll_timeout(const struct motorsim *sim, uint64_t now)
{
	uint64_t wait;

	if (sim->head == NULL)
		return -1;
	if (sim->head->due_ms <= now)
		return 0;
	wait = sim->head->due_ms - now;
	return wait > (uint64_t)MOTORSIM_DELAY_MAX ? MOTORSIM_DELAY_MAX : (int)wait;
}

static int motorsim_run(struct motorsim *sim)
{
	struct pollfd pfd[2];

	sim->running = 1;
	while (sim->running) {
		int timeout = motorsim_poll_timeout(sim, motorsim_now_ms());

		pfd[0].fd = sim->signal_fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = sim->master_fd;
		pfd[1].events = POLLIN | (sim->out_len > 0 ? POLLOUT : 0);
		if (poll(pfd, 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "motorsim: poll: %s\n", strerror(errno));
			return -1;
		}
		if ((pfd[0].revents & POLLIN) && motorsim_read_signals(sim) < 0)
			return -1;
		if ((pfd[1].revents & POLLIN) && motorsim_read_master(sim) < 0)
			return -1;
		if ((pfd[1].revents & POLLOUT) && motorsim_flush_out(sim) < 0)
			return -1;
		if (motorsim_send_due(sim, motorsim_now_ms()) < 0)
			return -1;
	}
	return 0;
}

static void motorsim_free(struct motorsim *sim)
{
	struct motorsim_answer *a;

	motorsim_remove_link(sim);
	while ((a = sim->head) != NULL) {
		sim->head = a->next;
		free(a);
	}
	sim->tail = NULL;
	sim->queued = 0;
	if (sim->signal_fd >= 0)
		close(sim->signal_fd);
	if (sim->slave_fd >= 0)
		close(sim->slave_fd);
	if (sim->master_fd >= 0)
		close(sim->master_fd);
	sim->signal_fd = sim->slave_fd = sim->master_fd = -1;
}

int main(int argc, char **argv)
{
	static struct motorsim sim;      /* 64 KiB output buffer: not on stack */
	int rc = 1;

	sim.delay_ms = 5;
	sim.eol = "\r\n";
	sim.master_fd = sim.slave_fd = sim.signal_fd = -1;
	motorsim_parse_axes(&sim, "XYZ");
	if (motorsim_parse_args(&sim, argc, argv) < 0)
		return 2;
	if (motorsim_open_signals(&sim) < 0 || motorsim_open_pty(&sim) < 0 ||
	    motorsim_make_link(&sim) < 0)
		goto out;
	if (!sim.quiet)
		fprintf(stderr, "motorsim: %s -> %s, axes %s, delay %ld ms%s%s\n",
			sim.link, sim.slave_name, sim.axes, sim.delay_ms,
			sim.address[0] ? ", address " : "", sim.address);
	printf("ready %s\n", sim.link);
	if (fflush(stdout) != 0)
		goto out;
	if (motorsim_run(&sim) == 0)
		rc = 0;
out:
	motorsim_free(&sim);
	return rc;
}
