/*
 * serial_port.h - opening and configuring one serial port, and its RTS line.
 *
 * Split from the driver (serial.c) so that the platform details live in one
 * place: path resolution (udev and by-id symlinks), libserialport for real
 * ports, termios for pseudo-terminals, true raw mode for both, kernel RS485
 * mode where the UART driver has it.
 */
#ifndef MQTTGW_SERIAL_PORT_H
#define MQTTGW_SERIAL_PORT_H

#include <stddef.h>

struct cfg_serial;
struct sp_port;

struct serial_port {
	struct sp_port *sp;	/* NULL when opened with termios */
	int fd;			/* -1 when closed */
	int lock_fd;		/* holds the flock while the port is open, or -1 */
	int rs485_kernel;	/* the kernel drives RTS (TIOCSRS485 took) */
	int rts_broken;		/* RTS cannot be driven: logged once */
};

/*
 * Open and configure c->port. 0, or -1 with a message in err (the caller
 * decides whether to log it: a missing port is retried quietly).
 */
int serial_port_open(struct serial_port *p, const struct cfg_serial *c, char *err, size_t errlen);
void serial_port_close(struct serial_port *p);
/* Drive RTS by hand (software RS485 direction). 0 / -1. */
int serial_port_set_rts(struct serial_port *p, int on);
/* Bytes still in the kernel's output queue, or -1. */
int serial_port_outq(const struct serial_port *p);

#endif
