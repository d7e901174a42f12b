/*
 * prog_modbussim.c - a MODBUS RTU slave on a pseudo-terminal.
 *
 * What proves that polling, hex encoding, crc16-modbus and idle framing
 * make mqttgw a MODBUS master (issue 15.5) without a PLC on the desk. It
 * holds --regs holding registers and serves:
 *
 *   03 read holding registers   ADDR 03 START COUNT CRC -> ADDR 03 N DATA.. CRC
 *   06 write single register    ADDR 06 REG VALUE CRC   -> the request echoed
 *   any other function          -> exception 01 (illegal function)
 *   a register past --regs      -> exception 02 (illegal data address)
 *   a count of 0 or > 125, or a request of the wrong length for its function
 *                               -> exception 03 (illegal data value)
 *
 * Frames are told apart as on a real RS485 line, by silence: bytes that
 * arrive with less than --gap-ms between them are one frame. A frame with
 * a bad CRC, shorter than 4 bytes or for another slave address gets no
 * answer at all (a real slave stays silent; the master times out), and is
 * logged. Address 0 (broadcast) is obeyed for 06 and never answered.
 *
 * The default register map is a small climate controller, the one
 * config/example-modbus.cfg reads:
 *   0  temperature, 0.1 C, signed   (215 = 21.5 C)
 *   1  humidity, 0.1 %RH            (402)
 *   2,3 energy counter, 32 bits, low word first (CDAB): 70000 + the
 *       number of 03 requests served so far with --count, else fixed
 *   4  setpoint, 0.1 C              (200), written by the example's command
 * --set REG=VALUE changes any register at start (repeatable).
 *
 * Everything received and sent is logged to stderr as hex with a
 * CLOCK_MONOTONIC time in ms ("modbussim: 123456 rx 01 03 00 00 00 05 85 C9").
 */
#include <getopt.h>
#include <poll.h>

#include "simpty.h"

#define MODBUSSIM_REGS_MAX 1000
#define MODBUSSIM_FRAME_MAX 256

struct modbussim {
	struct simpty pty;
	long slave, delay_ms, gap_ms, nregs;
	int count;		/* --count: the counter in 2,3 goes up per read */
	uint16_t regs[MODBUSSIM_REGS_MAX];
	uint32_t counter;
	unsigned char in[MODBUSSIM_FRAME_MAX];
	size_t in_len;
	int in_over;
	uint64_t frame_end;	/* silence until then ends the frame; UINT64_MAX: none */
	unsigned char out[MODBUSSIM_FRAME_MAX];
	size_t out_len;
	uint64_t out_due;	/* UINT64_MAX: nothing to send */
};

static uint16_t modbussim_crc(const unsigned char *p, size_t n)
{
	uint16_t crc = 0xFFFF;
	size_t i;
	int b;

	for (i = 0; i < n; i++) {
		crc ^= p[i];
		for (b = 0; b < 8; b++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
	}
	return crc;
}

static void modbussim_log_hex(const struct modbussim *s, const char *what, const unsigned char *p, size_t n)
{
	char buf[3 * MODBUSSIM_FRAME_MAX + 1];
	size_t i, k = 0;

	for (i = 0; i < n && k + 4 < sizeof(buf); i++)
		k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s%02X", i ? " " : "", p[i]);
	buf[k] = '\0';
	simpty_log(&s->pty, "%s %s", what, buf);
}

static uint16_t modbussim_be16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The answer in out[] gets its CRC and is sent after --delay-ms. */
static void modbussim_reply(struct modbussim *s, size_t len)
{
	uint16_t crc = modbussim_crc(s->out, len);

	s->out[len] = (unsigned char)(crc & 0xFF);	/* CRC low byte first */
	s->out[len + 1] = (unsigned char)(crc >> 8);
	s->out_len = len + 2;
	s->out_due = simpty_now_ms() + (uint64_t)s->delay_ms;
}

static void modbussim_exception(struct modbussim *s, unsigned fn, unsigned code)
{
	s->out[0] = (unsigned char)s->slave;
	s->out[1] = (unsigned char)(fn | 0x80);
	s->out[2] = (unsigned char)code;
	simpty_log(&s->pty, "exception %02X for function %02X", code, fn);
	modbussim_reply(s, 3);
}

static void modbussim_counter_regs(struct modbussim *s)
{
	/* CDAB: the low word in the lower register */
	s->regs[2] = (uint16_t)(s->counter & 0xFFFF);
	s->regs[3] = (uint16_t)(s->counter >> 16);
}

static void modbussim_read(struct modbussim *s, const unsigned char *f, size_t n)
{
	unsigned start, count, i;

	if (n != 8) {
		modbussim_exception(s, 0x03, 0x03);
		return;
	}
	start = modbussim_be16(f + 2);
	count = modbussim_be16(f + 4);
	if (count < 1 || count > 125) {
		modbussim_exception(s, 0x03, 0x03);
		return;
	}
	if (start + count > (unsigned)s->nregs) {
		modbussim_exception(s, 0x03, 0x02);
		return;
	}
	if (s->count) {
		s->counter++;
		modbussim_counter_regs(s);
	}
	s->out[0] = (unsigned char)s->slave;
	s->out[1] = 0x03;
	s->out[2] = (unsigned char)(2 * count);
	for (i = 0; i < count; i++) {
		s->out[3 + 2 * i] = (unsigned char)(s->regs[start + i] >> 8);
		s->out[4 + 2 * i] = (unsigned char)(s->regs[start + i] & 0xFF);
	}
	modbussim_reply(s, 3 + 2 * count);
}

static void modbussim_write(struct modbussim *s, const unsigned char *f, size_t n, int broadcast)
{
	unsigned reg;

	if (n != 8) {
		if (!broadcast)
			modbussim_exception(s, 0x06, 0x03);
		return;
	}
	reg = modbussim_be16(f + 2);
	if (reg >= (unsigned)s->nregs) {
		if (!broadcast)
			modbussim_exception(s, 0x06, 0x02);
		return;
	}
	s->regs[reg] = modbussim_be16(f + 4);
	if (reg == 2 || reg == 3)
		s->counter = (uint32_t)s->regs[3] << 16 | s->regs[2];
	simpty_log(&s->pty, "register %u = %u (0x%04X)", reg, s->regs[reg], s->regs[reg]);
	if (broadcast)
		return;
	memcpy(s->out, f, 6);
	modbussim_reply(s, 6);
}

/* A whole frame, ended by silence. */
static void modbussim_frame(struct modbussim *s)
{
	const unsigned char *f = s->in;
	size_t n = s->in_len;

	modbussim_log_hex(s, "rx", f, n);
	if (s->in_over || n < 4) {
		simpty_log(&s->pty, "frame ignored: %s", s->in_over ? "too long" : "too short");
		return;
	}
	if (modbussim_crc(f, n - 2) != (uint16_t)(f[n - 2] | f[n - 1] << 8)) {
		simpty_log(&s->pty, "frame ignored: bad CRC");
		return;
	}
	if (f[0] != 0 && f[0] != s->slave) {
		simpty_log(&s->pty, "frame ignored: for slave %u", f[0]);
		return;
	}
	if (s->out_due != UINT64_MAX) {
		simpty_log(&s->pty, "frame ignored: still answering the last one");
		return;
	}
	if (f[0] == 0) {
		if (f[1] == 0x06)
			modbussim_write(s, f, n, 1);
		return;
	}
	switch (f[1]) {
	case 0x03:
		modbussim_read(s, f, n);
		break;
	case 0x06:
		modbussim_write(s, f, n, 0);
		break;
	default:
		modbussim_exception(s, f[1], 0x01);
	}
}

static int modbussim_run(struct modbussim *s)
{
	struct pollfd pfd[2];

	for (;;) {
		uint64_t now = simpty_now_ms(), next = s->frame_end < s->out_due ? s->frame_end : s->out_due;
		int timeout = next == UINT64_MAX ? -1 : next <= now ? 0 : (int)(next - now);
		unsigned char buf[512];
		ssize_t n;

		pfd[0].fd = s->pty.signal_fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = s->pty.master_fd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			return -1;
		if ((pfd[0].revents & POLLIN) && simpty_signalled(&s->pty))
			return 0;
		now = simpty_now_ms();
		if (pfd[1].revents & POLLIN) {
			n = read(s->pty.master_fd, buf, sizeof(buf));
			if (n > 0) {
				size_t room = sizeof(s->in) - s->in_len, k = (size_t)n < room ? (size_t)n : room;

				memcpy(s->in + s->in_len, buf, k);
				s->in_len += k;
				s->in_over |= k < (size_t)n;
				s->frame_end = now + (uint64_t)s->gap_ms;
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR && errno != EIO)) {
				return -1;
			}
		}
		if (now >= s->frame_end) {
			modbussim_frame(s);
			s->in_len = 0;
			s->in_over = 0;
			s->frame_end = UINT64_MAX;
		}
		if (now >= s->out_due) {
			modbussim_log_hex(s, "tx", s->out, s->out_len);
			simpty_send(&s->pty, s->out, s->out_len);
			s->out_due = UINT64_MAX;
		}
	}
}

static void modbussim_usage(FILE *to)
{
	fprintf(to, "usage: prog_modbussim --link PATH [--slave N] [--regs N] [--set REG=VALUE]... [--count]\n"
		    "                      [--delay-ms N] [--gap-ms N]\n"
		    "  a MODBUS RTU slave (03 read holding registers, 06 write single register) on a pty\n");
}

static int modbussim_set(struct modbussim *s, const char *arg)
{
	char reg[16];
	const char *eq = strchr(arg, '=');
	long r, v;

	if (!eq || (size_t)(eq - arg) >= sizeof(reg))
		return -1;
	memcpy(reg, arg, (size_t)(eq - arg));
	reg[eq - arg] = '\0';
	if (simpty_parse_long(reg, 0, MODBUSSIM_REGS_MAX - 1, &r) < 0 || simpty_parse_long(eq + 1, -32768, 65535, &v) < 0)
		return -1;
	s->regs[r] = (uint16_t)v;
	if (r == 2 || r == 3)
		s->counter = (uint32_t)s->regs[3] << 16 | s->regs[2];
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "link", required_argument, NULL, 'l' },     { "slave", required_argument, NULL, 's' },
		{ "regs", required_argument, NULL, 'r' },     { "set", required_argument, NULL, 'S' },
		{ "count", no_argument, NULL, 'c' },	      { "delay-ms", required_argument, NULL, 'd' },
		{ "gap-ms", required_argument, NULL, 'g' },   { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static struct modbussim s;
	int c, rc;

	s.pty.prog = "modbussim";
	s.pty.master_fd = s.pty.slave_fd = s.pty.signal_fd = -1;
	s.slave = 1;
	s.nregs = 16;
	s.delay_ms = 5;
	s.gap_ms = 5;
	s.frame_end = s.out_due = UINT64_MAX;
	s.regs[0] = 215;
	s.regs[1] = 402;
	s.counter = 70000;
	modbussim_counter_regs(&s);
	s.regs[4] = 200;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			s.pty.link = optarg;
			break;
		case 's':
			if (simpty_parse_long(optarg, 1, 247, &s.slave) < 0)
				goto bad;
			break;
		case 'r':
			if (simpty_parse_long(optarg, 1, MODBUSSIM_REGS_MAX, &s.nregs) < 0)
				goto bad;
			break;
		case 'S':
			if (modbussim_set(&s, optarg) < 0)
				goto bad;
			break;
		case 'c':
			s.count = 1;
			break;
		case 'd':
			if (simpty_parse_long(optarg, 0, 600000, &s.delay_ms) < 0)
				goto bad;
			break;
		case 'g':
			if (simpty_parse_long(optarg, 1, 1000, &s.gap_ms) < 0)
				goto bad;
			break;
		case 'h':
			modbussim_usage(stdout);
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
	simpty_log(&s.pty, "%s -> %s, slave %ld, %ld registers", s.pty.link, s.pty.slave_name, s.slave, s.nregs);
	rc = modbussim_run(&s);
	simpty_log(&s.pty, "exiting");
	simpty_close(&s.pty);
	return rc == 0 ? 0 : 1;
bad:
	modbussim_usage(stderr);
	return 2;
}
