/*
 * prog_sensorsim.c - a text sensor on a pseudo-terminal that speaks only
 * when asked.
 *
 * The polling tests and `make demo` need a device that never talks on its
 * own: it answers `READ` with one line, `T=21.5 H=40.2`, after --delay-ms,
 * and nothing else, so every reading the gateway publishes is the answer
 * to one of its polls. A long --delay-ms plays a slow sensor (the poll
 * after an unanswered one must be skipped, not queued). Every command and
 * answer is logged to stderr with a CLOCK_MONOTONIC time in ms
 * ("sensorsim: 123456 rx 'READ'"), which is how a test counts polls and
 * measures their cadence.
 *
 * Shaped like the motor simulator (one poll() loop, a signalfd, answers in
 * a FIFO with due times; the pty plumbing is tests/sim/simpty.h).
 */
#include <getopt.h>
#include <poll.h>

#include "simpty.h"

#define SENSORSIM_LINE_MAX 128
#define SENSORSIM_QUEUE 64

struct sensorsim_answer {
	uint64_t due;
	char text[64];
};

struct sensorsim {
	struct simpty pty;
	long delay_ms;
	const char *eol;
	double temp, hum;
	int vary;
	unsigned long reads;
	char line[SENSORSIM_LINE_MAX + 1];
	size_t line_len;
	int overflow;
	struct sensorsim_answer q[SENSORSIM_QUEUE];
	int q_head, q_count;
};

static void sensorsim_usage(FILE *to)
{
	fprintf(to, "usage: prog_sensorsim --link PATH [--delay-ms N] [--eol crlf|lf] [--temp T] [--hum H] [--vary]\n"
		    "  answers READ with \"T=<temp> H=<hum>\" (one decimal) after N ms (default 5);\n"
		    "  --vary walks both values a little on every read; anything else: ERR unknown command\n");
}

static void sensorsim_answer(struct sensorsim *s, const char *body)
{
	struct sensorsim_answer *a;

	if (s->q_count >= SENSORSIM_QUEUE) {
		simpty_log(&s->pty, "queue full, answer dropped: '%s'", body);
		return;
	}
	a = &s->q[(s->q_head + s->q_count) % SENSORSIM_QUEUE];
	a->due = simpty_now_ms() + (uint64_t)s->delay_ms;
	snprintf(a->text, sizeof(a->text), "%s%s", body, s->eol);
	s->q_count++;
}

static void sensorsim_command(struct sensorsim *s, const char *line)
{
	char body[64];

	simpty_log(&s->pty, "rx '%s'", line);
	if (strcmp(line, "READ") != 0) {
		sensorsim_answer(s, "ERR unknown command");
		return;
	}
	s->reads++;
	if (s->vary) {
		/* a slow deterministic walk: -0.3 .. +0.3 C, -1.0 .. +1.0 %RH */
		long k = (long)(s->reads % 7) - 3;

		snprintf(body, sizeof(body), "T=%.1f H=%.1f", s->temp + 0.1 * (double)k,
			 s->hum + (double)((long)(s->reads % 5) - 2) * 0.5);
	} else {
		snprintf(body, sizeof(body), "T=%.1f H=%.1f", s->temp, s->hum);
	}
	sensorsim_answer(s, body);
}

static void sensorsim_feed(struct sensorsim *s, const char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char ch = buf[i];

		if (ch == '\n') {
			if (s->line_len && s->line[s->line_len - 1] == '\r')
				s->line_len--;
			s->line[s->line_len] = '\0';
			if (s->overflow)
				sensorsim_answer(s, "ERR too long");
			else if (s->line_len)
				sensorsim_command(s, s->line);
			s->line_len = 0;
			s->overflow = 0;
		} else if (s->line_len < SENSORSIM_LINE_MAX) {
			s->line[s->line_len++] = ch;
		} else {
			s->overflow = 1;
		}
	}
}

static void sensorsim_send_due(struct sensorsim *s, uint64_t now)
{
	while (s->q_count && s->q[s->q_head].due <= now) {
		struct sensorsim_answer *a = &s->q[s->q_head];
		size_t len = strlen(a->text);

		simpty_log(&s->pty, "tx '%.*s'", (int)(len - strlen(s->eol)), a->text);
		simpty_send(&s->pty, a->text, len);
		s->q_head = (s->q_head + 1) % SENSORSIM_QUEUE;
		s->q_count--;
	}
}

static int sensorsim_run(struct sensorsim *s)
{
	struct pollfd pfd[2];

	for (;;) {
		uint64_t now = simpty_now_ms();
		int timeout = -1;
		char buf[512];
		ssize_t n;

		if (s->q_count)
			timeout = s->q[s->q_head].due <= now ? 0 : (int)(s->q[s->q_head].due - now);
		pfd[0].fd = s->pty.signal_fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = s->pty.master_fd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			return -1;
		if ((pfd[0].revents & POLLIN) && simpty_signalled(&s->pty))
			return 0;
		if (pfd[1].revents & POLLIN) {
			n = read(s->pty.master_fd, buf, sizeof(buf));
			if (n > 0)
				sensorsim_feed(s, buf, (size_t)n);
			else if (n == 0 || (errno != EAGAIN && errno != EINTR && errno != EIO))
				return -1;
		}
		sensorsim_send_due(s, simpty_now_ms());
	}
}

static int sensorsim_parse_double(const char *str, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(str, &end);
	return errno || end == str || *end || *out < -1000 || *out > 1000 ? -1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "link", required_argument, NULL, 'l' }, { "delay-ms", required_argument, NULL, 'd' },
		{ "eol", required_argument, NULL, 'e' },  { "temp", required_argument, NULL, 't' },
		{ "hum", required_argument, NULL, 'H' },  { "vary", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },	  { NULL, 0, NULL, 0 }
	};
	static struct sensorsim s;
	int c, rc;

	s.pty.prog = "sensorsim";
	s.pty.master_fd = s.pty.slave_fd = s.pty.signal_fd = -1;
	s.delay_ms = 5;
	s.eol = "\r\n";
	s.temp = 21.5;
	s.hum = 40.2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			s.pty.link = optarg;
			break;
		case 'd':
			if (simpty_parse_long(optarg, 0, 600000, &s.delay_ms) < 0)
				goto bad;
			break;
		case 'e':
			if (strcmp(optarg, "crlf") && strcmp(optarg, "lf"))
				goto bad;
			s.eol = strcmp(optarg, "lf") ? "\r\n" : "\n";
			break;
		case 't':
			if (sensorsim_parse_double(optarg, &s.temp) < 0)
				goto bad;
			break;
		case 'H':
			if (sensorsim_parse_double(optarg, &s.hum) < 0)
				goto bad;
			break;
		case 'v':
			s.vary = 1;
			break;
		case 'h':
			sensorsim_usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (!s.pty.link || optind != argc)
		goto bad;
	if (simpty_start(&s.pty) < 0) {
		simpty_close(&s.pty);
		return 1;
	}
	simpty_log(&s.pty, "%s -> %s, delay %ld ms", s.pty.link, s.pty.slave_name, s.delay_ms);
	rc = sensorsim_run(&s);
	simpty_log(&s.pty, "exiting");
	simpty_close(&s.pty);
	return rc == 0 ? 0 : 1;
bad:
	sensorsim_usage(stderr);
	return 2;
}
