/*
 * prog_benchdev.c - the device side of the benchmark: writes motor-style
 * position frames ("POSX+000000042\r\n") into pseudo-terminal masters and
 * says when it wrote them.
 *
 *   prog_benchdev --fd N[,N...] burst --seconds S [--frames MAX]
 *   prog_benchdev --fd N paced --rate HZ --seconds S --times FILE
 *
 * Why it is shaped so:
 *  - The harness (run.py) owns the pty pairs, so they outlive every peer it
 *    starts and stops; it hands the master fds down (pass_fds), and this
 *    program plays every device at once from one thread and one poll().
 *  - Each frame carries its port's sequence number in the digits the POS
 *    route captures ("$2" = "+000000042"), so the subscriber checks loss
 *    and order, and send and receive times are matched by (port, seq)
 *    without putting a timestamp in the payload: the frame stays exactly
 *    what a motor controller sends, and mqttgw does its real work on it
 *    (regex match, capture, template).
 *  - burst: as fast as the port takes bytes. Frames are formatted into
 *    4 KiB chunks (256 frames) and written with non-blocking write()s, so
 *    the pty's own flow control (a full pty blocks the writer, it never
 *    drops) paces us to whatever the peer reads; a slow port never stalls
 *    the others. It runs for a fixed time, not a fixed count, so a slow
 *    peer does not make the benchmark slow; at the deadline each port
 *    finishes the frame it is in, so no half frame is left behind.
 *  - paced: frame i is written at t0 + i/rate, slept to with absolute
 *    CLOCK_MONOTONIC deadlines (no drift), one frame per write(), the way a
 *    device answers. The time taken just before each write() goes to FILE
 *    (int64 ns, native order) for run.py to match with receive times.
 *  - Digits are formatted by hand: the writer shares two cores with the
 *    gateway, the broker and the subscriber, so it must cost next to nothing.
 */
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "bench.h"

#define BENCH_FRAME_LEN 16		/* "POSX+" 9 digits "\r\n" */
#define BENCH_CHUNK_FRAMES 256
#define BENCH_MAX_PORTS 64

struct port {
	int fd;
	uint64_t seq;			/* next frame to format */
	uint64_t max;			/* frames to write in all */
	char buf[BENCH_CHUNK_FRAMES * BENCH_FRAME_LEN];
	size_t pos, len;
	uint64_t bytes;			/* written in all */
	int done;
};

static char axis = 'X';

static void frame_format(char *p, uint64_t seq)
{
	int i;

	p[0] = 'P';
	p[1] = 'O';
	p[2] = 'S';
	p[3] = axis;
	p[4] = '+';
	for (i = 13; i >= 5; i--) {
		p[i] = (char)('0' + seq % 10);
		seq /= 10;
	}
	p[14] = '\r';
	p[15] = '\n';
}

static void port_fill(struct port *pt)
{
	size_t n = 0;

	while (n < BENCH_CHUNK_FRAMES && pt->seq < pt->max) {
		frame_format(pt->buf + n * BENCH_FRAME_LEN, pt->seq++);
		n++;
	}
	pt->pos = 0;
	pt->len = n * BENCH_FRAME_LEN;
	if (n == 0)
		pt->done = 1;
}

static void parse_fds(const char *s, struct port *ports, int *n)
{
	char *copy = strdup(s), *save = NULL, *tok;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n >= BENCH_MAX_PORTS)
			bench_die("--fd: at most %d ports", BENCH_MAX_PORTS);
		ports[*n].fd = (int)bench_num("--fd", tok, 0, 65535);
		(*n)++;
	}
	free(copy);
}

static void run_burst(struct port *ports, int n, double seconds, uint64_t max)
{
	struct pollfd pfd[BENCH_MAX_PORTS];
	int64_t start, end, now;
	int i, active = n, stopping = 0;

	for (i = 0; i < n; i++) {
		int fl = fcntl(ports[i].fd, F_GETFL);

		if (fl < 0 || fcntl(ports[i].fd, F_SETFL, fl | O_NONBLOCK) < 0)
			bench_die("fd %d: %s", ports[i].fd, strerror(errno));
		ports[i].max = max;
		port_fill(&ports[i]);
	}
	start = bench_now_ns();
	end = start + (int64_t)(seconds * 1e9);
	while (active > 0) {
		int np = 0;

		now = bench_now_ns();
		if (!stopping && now >= end) {
			/* finish the frame each port is in, then stop */
			stopping = 1;
			for (i = 0; i < n; i++) {
				struct port *pt = &ports[i];
				size_t cut = (pt->pos + BENCH_FRAME_LEN - 1) / BENCH_FRAME_LEN * BENCH_FRAME_LEN;

				pt->len = cut;
				pt->max = pt->seq;	/* no more chunks */
				if (pt->pos == pt->len && !pt->done) {
					pt->done = 1;
					active--;
				}
			}
			if (active == 0)
				break;
		}
		for (i = 0; i < n; i++) {
			if (ports[i].done)
				continue;
			pfd[np].fd = ports[i].fd;
			pfd[np].events = POLLOUT;
			pfd[np].revents = 0;
			np++;
		}
		if (poll(pfd, (nfds_t)np, stopping ? 1000 : (int)((end - now) / 1000000 + 1)) < 0 && errno != EINTR)
			bench_die("poll: %s", strerror(errno));
		for (i = 0; i < n; i++) {
			struct port *pt = &ports[i];
			ssize_t w;

			if (pt->done)
				continue;
			w = write(pt->fd, pt->buf + pt->pos, pt->len - pt->pos);
			if (w < 0) {
				if (errno == EAGAIN || errno == EINTR)
					continue;
				bench_die("write fd %d: %s", pt->fd, strerror(errno));
			}
			pt->pos += (size_t)w;
			pt->bytes += (uint64_t)w;
			if (pt->pos == pt->len) {
				port_fill(pt);
				if (pt->done)
					active--;
			}
		}
	}
	now = bench_now_ns();
	printf("start_ns=%lld end_ns=%lld frames=", (long long)start, (long long)now);
	for (i = 0; i < n; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)(ports[i].bytes / BENCH_FRAME_LEN));
	printf("\n");
}

static void run_paced(struct port *pt, double rate, double seconds, const char *times_path)
{
	uint64_t n = (uint64_t)(rate * seconds + 0.5), i;
	int64_t *times = calloc(n ? n : 1, sizeof(int64_t));
	int64_t t0, t;
	char frame[BENCH_FRAME_LEN];
	int fl = fcntl(pt->fd, F_GETFL);

	if (!times)
		bench_die("out of memory");
	if (fl < 0 || fcntl(pt->fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		bench_die("fd %d: %s", pt->fd, strerror(errno));
	t0 = bench_now_ns() + 10000000;
	for (i = 0; i < n; i++) {
		int64_t at = t0 + (int64_t)((double)i * 1e9 / rate);
		struct timespec ts = { (time_t)(at / 1000000000), (long)(at % 1000000000) };
		size_t off = 0;

		frame_format(frame, i);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		times[i] = t = bench_now_ns();
		while (off < sizeof(frame)) {
			ssize_t w = write(pt->fd, frame + off, sizeof(frame) - off);

			if (w < 0 && errno != EINTR)
				bench_die("write fd %d: %s", pt->fd, strerror(errno));
			if (w > 0)
				off += (size_t)w;
		}
		(void)t;
	}
	bench_write_times(times_path, times, n);
	printf("start_ns=%lld end_ns=%lld frames=%llu\n", (long long)times[0], (long long)bench_now_ns(),
	       (unsigned long long)n);
	free(times);
}

static void usage(void)
{
	fprintf(stderr, "usage: prog_benchdev --fd N[,N...] [--axis X] burst --seconds S [--frames MAX]\n"
			"       prog_benchdev --fd N [--axis X] paced --rate HZ --seconds S --times FILE\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static struct port ports[BENCH_MAX_PORTS];
	const char *mode = NULL, *times = NULL;
	double seconds = 0, rate = 0;
	uint64_t max = UINT64_MAX / 2;
	int n = 0, i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "burst") == 0 || strcmp(a, "paced") == 0) {
			mode = a;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		if (strcmp(a, "--fd") == 0)
			parse_fds(argv[++i], ports, &n);
		else if (strcmp(a, "--axis") == 0)
			axis = argv[++i][0];
		else if (strcmp(a, "--seconds") == 0)
			seconds = bench_num_f(a, argv[++i], 0.001, 3600);
		else if (strcmp(a, "--rate") == 0)
			rate = bench_num_f(a, argv[++i], 1, 10000000);
		else if (strcmp(a, "--frames") == 0)
			max = (uint64_t)bench_num(a, argv[++i], 1, 999999999);
		else if (strcmp(a, "--times") == 0)
			times = argv[++i];
		else
			usage();
	}
	if (!mode || n == 0 || seconds <= 0)
		usage();
	if (strcmp(mode, "burst") == 0) {
		run_burst(ports, n, seconds, max);
	} else {
		if (n != 1 || rate <= 0 || !times)
			usage();
		run_paced(&ports[0], rate, seconds, times);
	}
	fflush(stdout);
	return 0;
}
