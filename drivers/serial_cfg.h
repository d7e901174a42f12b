/*
 * serial_cfg.h - the settings of one serial device, as the serial driver
 * reads them.
 *
 * The driver owns this struct and its enums: what a setting means is
 * decided in drivers/ (serial.c, serial_port.c), next to the code that
 * uses it. The config parser (gateway/config_devices.c) fills one per
 * entry of the `serial` list and struct config holds the array; the bridge
 * hands each to its device as dev->cfg and never reads it.
 *
 * `line` is the entry's line in the config file, as in every cfg_ struct.
 */
#ifndef MQTTGW_SERIAL_CFG_H
#define MQTTGW_SERIAL_CFG_H

#include <stddef.h>

#include "codec.h"
#include "framing.h"
#include "pattern.h"

enum cfg_parity { CFG_PARITY_NONE, CFG_PARITY_ODD, CFG_PARITY_EVEN, CFG_PARITY_MARK, CFG_PARITY_SPACE };
enum cfg_flow { CFG_FLOW_NONE, CFG_FLOW_RTSCTS, CFG_FLOW_XONXOFF };

/* A command the driver sends on its own, every every_ms (poll = ( ... ), serial_poll.c). */
struct cfg_poll {
	char *command;			/* as written: encoded like an MQTT command */
	int every_ms;
	int offset_ms;			/* < every_ms: the phase within the period */
	int line;			/* line in the config file */
};

struct cfg_serial {
	char *name;
	char *port;
	int baud;
	int data_bits;
	enum cfg_parity parity;
	int stop_bits;
	enum cfg_flow flow;
	char *eol;			/* unescaped bytes, e.g. "\r\n" */
	size_t eol_len;
	int max_frame;			/* longest frame in bytes, eol excluded */
	int reopen_ms;			/* retry interval while the port is missing */
	char *status_topic;		/* availability, retained online/offline */
	char *error_topic;		/* refusals and timeouts; "" = none */
	char *reply_src;		/* regex a reply frame matches, or NULL */
	struct pattern reply;
	int has_reply;
	int reply_timeout_ms;
	int queue_max;			/* commands waiting for the port */
	char **on_disconnect;		/* fail-safe frames */
	int n_on_disconnect;
	int failsafe_grace_ms;		/* broker loss longer than this: fail-safe */
	int command_timeout_ms;		/* deadman: no command that long: fail-safe */
	int rate_limit;			/* commands per second, 0 = unlimited */
	int rate_burst;
	int rs485;			/* drive RTS around writes */
	int rs485_delay_before_ms;
	int rs485_delay_after_ms;
	enum framing_mode framing;	/* eol, fixed, idle */
	int frame_len;			/* fixed */
	int idle_ms;			/* idle */
	int frame_timeout_ms;		/* eol, fixed: drop a partial frame idle this long */
	enum codec_encoding encoding;	/* text, hex */
	enum codec_checksum checksum;
	enum codec_checksum_format checksum_format;
	enum codec_byte_order checksum_order;
	char *checksum_prefix;
	int checksum_skip;
	struct cfg_poll *polls;		/* poll = ( ... ) */
	int n_polls;
	int line;			/* line in the config file */
};

#endif
