/*
 * codec.h - checksums and the payload codec between serial frames and MQTT
 * payloads: verify and strip (inbound) or append (outbound) a checksum, and
 * show binary frames as hex text.
 *
 * Pure: no I/O, no allocation, output into caller buffers, so it is unit
 * tested and fuzzed on byte arrays and costs nothing per frame but the
 * arithmetic. It works on a frame as the framer delivers it: the eol (if
 * any) is already gone inbound and is appended by the driver after encoding
 * outbound, so the checksum never covers the eol.
 *
 * A frame on the wire is
 *
 *     data  [checksum_prefix]  checksum
 *     '--------------'  covered from byte checksum_skip of data to its end
 *
 * with the checksum 1 byte (xor8, sum8, lrc8, crc8) or 2 (crc16-modbus, in
 * checksum_order: little = low byte first, as MODBUS RTU sends it). With
 * checksum_format binary the checksum is raw bytes; with hex-ascii it is
 * two uppercase hex ASCII characters per byte, bytes in checksum_order
 * (accepted in either case inbound). So:
 *
 *   MODBUS RTU   encoding hex, checksum crc16-modbus, binary, little:
 *                payload "01 03 00 00 00 0A" <-> bytes 01 03 00 00 00 0A C5 CD
 *   NMEA 0183    encoding text, checksum xor8, hex-ascii, prefix "*", skip 1:
 *                "$GPGLL,...*HH" (the '$' and '*' are not covered)
 *   MH-Z19 CO2   encoding hex, checksum lrc8, binary, skip 1, fixed 9-byte frames
 *
 * Encodings: text passes the bytes through (the MQTT payload is the frame);
 * hex shows a frame as uppercase hex pairs without spaces ("0103000A")
 * inbound, and outbound parses hex pairs, case-insensitive, with optional
 * spaces between pairs ("01 03 00 0a"); anything else (odd digit count, a
 * space inside a pair, leading or trailing spaces, "0x", tabs) is refused.
 * An empty hex payload is zero bytes.
 *
 * The checksum kinds (check value = checksum of the 9 bytes "123456789"):
 *   xor8          XOR of the bytes                                     0x31
 *   sum8          plain sum modulo 256                                 0xDD
 *   lrc8          two's complement of sum8 (MODBUS ASCII LRC, MH-Z19): 0x23
 *                 the covered bytes plus the checksum sum to 0
 *   crc8          CRC-8/SMBUS: poly 0x07, init 0x00, not reflected     0xF4
 *   crc16-modbus  CRC-16/MODBUS: poly 0x8005 reflected, init 0xFFFF    0x4B37
 */
#ifndef MQTTGW_CODEC_H
#define MQTTGW_CODEC_H

#include <stddef.h>
#include <stdint.h>

/*
 * Each enum's value indexes its NULL-terminated names array below (the
 * config strings), so a config table can use the arrays as they are. A
 * zeroed struct codec is the default: text, no checksum.
 */
enum codec_checksum {
	CODEC_CHECKSUM_NONE,
	CODEC_CHECKSUM_XOR8,
	CODEC_CHECKSUM_SUM8,
	CODEC_CHECKSUM_LRC8,
	CODEC_CHECKSUM_CRC8,
	CODEC_CHECKSUM_CRC16_MODBUS,
};
enum codec_encoding { CODEC_ENCODING_TEXT, CODEC_ENCODING_HEX };
enum codec_checksum_format { CODEC_FORMAT_BINARY, CODEC_FORMAT_HEX };
enum codec_byte_order { CODEC_ORDER_LITTLE, CODEC_ORDER_BIG };

extern const char *const codec_checksum_names[];	/* "none", "xor8", "sum8", "lrc8", "crc8", "crc16-modbus" */
extern const char *const codec_encoding_names[];	/* "text", "hex" */
extern const char *const codec_format_names[];		/* "binary", "hex-ascii" */
extern const char *const codec_order_names[];		/* "little", "big" */

/* Why a decode or encode failed, for the caller's counters and log. */
enum codec_status {
	CODEC_OK,
	CODEC_ERR_SHORT,	/* frame shorter than checksum_skip + prefix + checksum */
	CODEC_ERR_CHECKSUM,	/* checksum (or its prefix, or its hex digits) wrong */
	CODEC_ERR_TOO_LONG,	/* result does not fit in outsz */
	CODEC_ERR_HEX,		/* outbound hex payload is not hex pairs */
	CODEC_ERR_SETTINGS,	/* struct codec holds an out-of-range value */
};

#define CODEC_PREFIX_MAX 4

struct codec {
	enum codec_encoding encoding;
	enum codec_checksum checksum;
	enum codec_checksum_format checksum_format;
	enum codec_byte_order checksum_order;	/* multi-byte checksums only */
	char checksum_prefix[CODEC_PREFIX_MAX];	/* between data and checksum, not covered */
	size_t checksum_prefix_len;		/* 0..CODEC_PREFIX_MAX */
	size_t checksum_skip;			/* leading data bytes not covered */
};

/* Checksums of len bytes at data (any byte type). */
uint8_t codec_xor8(const void *data, size_t len);
uint8_t codec_sum8(const void *data, size_t len);
uint8_t codec_lrc8(const void *data, size_t len);
uint8_t codec_crc8(const void *data, size_t len);
uint16_t codec_crc16_modbus(const void *data, size_t len);
/* Any of the above by kind (0 for none or an unknown kind). */
uint16_t codec_checksum(enum codec_checksum kind, const void *data, size_t len);
/* Checksum width in bytes on the wire before hex-ASCII: 0, 1 or 2. */
size_t codec_checksum_size(enum codec_checksum kind);

/* Config strings to values: 0, or -1 if the name is not one of the names. */
int codec_parse_checksum(const char *name, enum codec_checksum *out);
int codec_parse_encoding(const char *name, enum codec_encoding *out);
int codec_parse_checksum_format(const char *name, enum codec_checksum_format *out);
int codec_parse_byte_order(const char *name, enum codec_byte_order *out);

/* 0 if every field of c is in range, else -1. */
int codec_check(const struct codec *c);
/* Bytes the checksum field takes in a frame: prefix plus checksum. */
size_t codec_trailer_len(const struct codec *c);
/*
 * outsz that is always enough for a frame of frame_len bytes (decode) or a
 * payload of payload_len bytes (encode), NUL included; size buffers once
 * from max_frame with these. SIZE_MAX if it would overflow.
 */
size_t codec_decoded_max(const struct codec *c, size_t frame_len);
size_t codec_encoded_max(const struct codec *c, size_t payload_len);

/*
 * Frame from the device -> MQTT payload. Verifies and strips the checksum,
 * then copies the data (text) or renders it as uppercase hex pairs (hex).
 * Writes at most outsz bytes: the result and a NUL after it, so it needs
 * outsz >= *outlen + 1. 0, or -1 with *why set (why may be NULL); on -1,
 * *outlen is 0 and out holds nothing useful. out must not overlap the
 * input; the input may be NULL when its length is 0.
 */
int codec_decode_inbound(const struct codec *c, const char *frame, size_t len, char *out, size_t outsz,
			 size_t *outlen, enum codec_status *why);
/*
 * MQTT payload -> frame for the device (the driver appends the eol). Parses
 * hex (hex encoding) or takes the bytes as they are (text), then appends
 * the prefix and checksum. Same buffer, NUL and error rules as decoding.
 * Text payloads are not checked for CR/LF/NUL here: that is the caller's
 * rule for text devices, and hex payloads exist to carry such bytes.
 */
int codec_encode_outbound(const struct codec *c, const char *payload, size_t len, char *out, size_t outsz,
			  size_t *outlen, enum codec_status *why);

/* A few words for a status, for logs: "bad checksum", "frame too short"... */
const char *codec_strerror(enum codec_status s);

#endif
