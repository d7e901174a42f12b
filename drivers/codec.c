/*
 * codec.c - checksums, hex rendering and parsing, and the frame codec that
 * ties them together (see codec.h for the wire layout).
 *
 * The checksums are bitwise loops rather than tables: at serial rates the
 * difference is invisible, and each one reads as its definition, so the
 * known-answer tests check the definition and not a copied table.
 *
 * Everything works in the caller's buffers with every length checked before
 * a byte is written, in size_t arithmetic that cannot wrap (lengths are
 * compared by subtraction, never by adding a frame's length to something),
 * because the input is whatever a device or an MQTT client sends.
 */
#include <string.h>

#include "codec.h"

const char *const codec_checksum_names[] = {"none", "xor8", "sum8", "lrc8", "crc8", "crc16-modbus", NULL};
const char *const codec_encoding_names[] = {"text", "hex", NULL};
const char *const codec_format_names[] = {"binary", "hex-ascii", NULL};
const char *const codec_order_names[] = {"little", "big", NULL};

static const char codec_hex_digits[] = "0123456789ABCDEF";

/* ---- checksums ---- */

uint8_t codec_xor8(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint8_t x = 0;

	while (len--)
		x ^= *p++;
	return x;
}

uint8_t codec_sum8(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

uint8_t codec_lrc8(const void *data, size_t len)
{
	return (uint8_t)(0x100 - codec_sum8(data, len));
}

uint8_t codec_crc8(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint8_t crc = 0x00;
	int i;

	while (len--) {
		crc ^= *p++;
		for (i = 0; i < 8; i++)
			crc = (uint8_t)(crc & 0x80 ? (crc << 1) ^ 0x07 : crc << 1);
	}
	return crc;
}

uint16_t codec_crc16_modbus(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint16_t crc = 0xFFFF;
	int i;

	while (len--) {
		crc ^= *p++;
		for (i = 0; i < 8; i++)
			crc = (uint16_t)(crc & 1 ? (crc >> 1) ^ 0xA001 : crc >> 1);
	}
	return crc;
}

uint16_t codec_checksum(enum codec_checksum kind, const void *data, size_t len)
{
	switch (kind) {
	case CODEC_CHECKSUM_XOR8:
		return codec_xor8(data, len);
	case CODEC_CHECKSUM_SUM8:
		return codec_sum8(data, len);
	case CODEC_CHECKSUM_LRC8:
		return codec_lrc8(data, len);
	case CODEC_CHECKSUM_CRC8:
		return codec_crc8(data, len);
	case CODEC_CHECKSUM_CRC16_MODBUS:
		return codec_crc16_modbus(data, len);
	case CODEC_CHECKSUM_NONE:
		break;
	}
	return 0;
}

size_t codec_checksum_size(enum codec_checksum kind)
{
	switch (kind) {
	case CODEC_CHECKSUM_XOR8:
	case CODEC_CHECKSUM_SUM8:
	case CODEC_CHECKSUM_LRC8:
	case CODEC_CHECKSUM_CRC8:
		return 1;
	case CODEC_CHECKSUM_CRC16_MODBUS:
		return 2;
	case CODEC_CHECKSUM_NONE:
		break;
	}
	return 0;
}

/* ---- names ---- */

static int codec_lookup(const char *const *names, const char *name, int *out)
{
	int i;

	if (!name)
		return -1;
	for (i = 0; names[i]; i++)
		if (strcmp(names[i], name) == 0) {
			*out = i;
			return 0;
		}
	return -1;
}

int codec_parse_checksum(const char *name, enum codec_checksum *out)
{
	int i;

	if (codec_lookup(codec_checksum_names, name, &i) < 0)
		return -1;
	*out = (enum codec_checksum)i;
	return 0;
}

int codec_parse_encoding(const char *name, enum codec_encoding *out)
{
	int i;

	if (codec_lookup(codec_encoding_names, name, &i) < 0)
		return -1;
	*out = (enum codec_encoding)i;
	return 0;
}

int codec_parse_checksum_format(const char *name, enum codec_checksum_format *out)
{
	int i;

	if (codec_lookup(codec_format_names, name, &i) < 0)
		return -1;
	*out = (enum codec_checksum_format)i;
	return 0;
}

int codec_parse_byte_order(const char *name, enum codec_byte_order *out)
{
	int i;

	if (codec_lookup(codec_order_names, name, &i) < 0)
		return -1;
	*out = (enum codec_byte_order)i;
	return 0;
}

const char *codec_strerror(enum codec_status s)
{
	switch (s) {
	case CODEC_OK:
		return "ok";
	case CODEC_ERR_SHORT:
		return "frame too short for its checksum";
	case CODEC_ERR_CHECKSUM:
		return "bad checksum";
	case CODEC_ERR_TOO_LONG:
		return "too long";
	case CODEC_ERR_HEX:
		return "not hex byte pairs";
	case CODEC_ERR_SETTINGS:
		return "bad codec settings";
	}
	return "unknown codec error";
}

/* ---- sizes ---- */

int codec_check(const struct codec *c)
{
	if (!c || (unsigned)c->encoding > CODEC_ENCODING_HEX || (unsigned)c->checksum > CODEC_CHECKSUM_CRC16_MODBUS ||
	    (unsigned)c->checksum_format > CODEC_FORMAT_HEX || (unsigned)c->checksum_order > CODEC_ORDER_BIG ||
	    c->checksum_prefix_len > CODEC_PREFIX_MAX)
		return -1;
	return 0;
}

size_t codec_trailer_len(const struct codec *c)
{
	size_t n = codec_checksum_size(c->checksum);

	if (n == 0)
		return 0;
	return c->checksum_prefix_len + (c->checksum_format == CODEC_FORMAT_HEX ? 2 * n : n);
}

size_t codec_decoded_max(const struct codec *c, size_t frame_len)
{
	if (c->encoding == CODEC_ENCODING_HEX)
		return frame_len > (SIZE_MAX - 1) / 2 ? SIZE_MAX : 2 * frame_len + 1;
	return frame_len > SIZE_MAX - 1 ? SIZE_MAX : frame_len + 1;
}

size_t codec_encoded_max(const struct codec *c, size_t payload_len)
{
	size_t n = c->encoding == CODEC_ENCODING_HEX ? payload_len / 2 : payload_len, extra = codec_trailer_len(c) + 1;

	return n > SIZE_MAX - extra ? SIZE_MAX : n + extra;
}

/* ---- codec ---- */

static int codec_fail(enum codec_status s, enum codec_status *why)
{
	if (why)
		*why = s;
	return -1;
}

static int codec_hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/*
 * The trailer (prefix and checksum) for data[0..len) into t, which holds
 * CODEC_PREFIX_MAX + 4 bytes. Returns its length, codec_trailer_len(c).
 */
static size_t codec_trailer(const struct codec *c, const char *data, size_t len, char *t)
{
	size_t n = codec_checksum_size(c->checksum), k = c->checksum_prefix_len, i;
	uint16_t ck;
	uint8_t b[2];

	if (n == 0)
		return 0;
	ck = codec_checksum(c->checksum, data + c->checksum_skip, len - c->checksum_skip);
	if (n == 1) {
		b[0] = (uint8_t)ck;
	} else if (c->checksum_order == CODEC_ORDER_LITTLE) {
		b[0] = (uint8_t)(ck & 0xFF);
		b[1] = (uint8_t)(ck >> 8);
	} else {
		b[0] = (uint8_t)(ck >> 8);
		b[1] = (uint8_t)(ck & 0xFF);
	}
	memcpy(t, c->checksum_prefix, k);
	for (i = 0; i < n; i++) {
		if (c->checksum_format == CODEC_FORMAT_HEX) {
			t[k++] = codec_hex_digits[b[i] >> 4];
			t[k++] = codec_hex_digits[b[i] & 0x0F];
		} else {
			t[k++] = (char)b[i];
		}
	}
	return k;
}

int codec_decode_inbound(const struct codec *c, const char *frame, size_t len, char *out, size_t outsz,
			 size_t *outlen, enum codec_status *why)
{
	size_t dlen = len, i;

	*outlen = 0;
	if (codec_check(c) < 0 || (!frame && len))
		return codec_fail(CODEC_ERR_SETTINGS, why);
	if (!frame)
		frame = "";
	if (c->checksum != CODEC_CHECKSUM_NONE) {
		char want[CODEC_PREFIX_MAX + 4];
		size_t tl = codec_trailer_len(c), pl = c->checksum_prefix_len;

		if (len < tl || len - tl < c->checksum_skip)
			return codec_fail(CODEC_ERR_SHORT, why);
		dlen = len - tl;
		codec_trailer(c, frame, dlen, want);
		if (memcmp(frame + dlen, want, pl) != 0)
			return codec_fail(CODEC_ERR_CHECKSUM, why);
		for (i = pl; i < tl; i++) {
			char got = frame[dlen + i];

			if (c->checksum_format == CODEC_FORMAT_HEX && got >= 'a' && got <= 'f')
				got = (char)(got - 'a' + 'A');
			if (got != want[i])
				return codec_fail(CODEC_ERR_CHECKSUM, why);
		}
	}
	if (c->encoding == CODEC_ENCODING_HEX) {
		if (outsz == 0 || dlen > (outsz - 1) / 2)
			return codec_fail(CODEC_ERR_TOO_LONG, why);
		for (i = 0; i < dlen; i++) {
			uint8_t b = (uint8_t)frame[i];

			out[2 * i] = codec_hex_digits[b >> 4];
			out[2 * i + 1] = codec_hex_digits[b & 0x0F];
		}
		dlen *= 2;
	} else {
		if (outsz == 0 || dlen > outsz - 1)
			return codec_fail(CODEC_ERR_TOO_LONG, why);
		memcpy(out, frame, dlen);
	}
	out[dlen] = '\0';
	*outlen = dlen;
	if (why)
		*why = CODEC_OK;
	return 0;
}

/* Hex pairs with optional spaces between them into out; count in *n. */
static int codec_parse_hex(const char *p, size_t len, char *out, size_t outsz, size_t *n, enum codec_status *why)
{
	size_t i = 0;

	*n = 0;
	while (i < len) {
		int hi, lo;

		if (*n > 0)
			while (i < len && p[i] == ' ')
				i++;
		if (len - i < 2)
			return codec_fail(CODEC_ERR_HEX, why);	/* odd digits, trailing spaces */
		hi = codec_hex_value(p[i]);
		lo = codec_hex_value(p[i + 1]);
		if (hi < 0 || lo < 0)
			return codec_fail(CODEC_ERR_HEX, why);
		if (*n >= outsz)
			return codec_fail(CODEC_ERR_TOO_LONG, why);
		out[(*n)++] = (char)(hi << 4 | lo);
		i += 2;
	}
	return 0;
}

int codec_encode_outbound(const struct codec *c, const char *payload, size_t len, char *out, size_t outsz,
			  size_t *outlen, enum codec_status *why)
{
	size_t n, tl;

	*outlen = 0;
	if (codec_check(c) < 0 || (!payload && len))
		return codec_fail(CODEC_ERR_SETTINGS, why);
	if (!payload)
		payload = "";
	tl = codec_trailer_len(c);
	if (outsz <= tl)
		return codec_fail(CODEC_ERR_TOO_LONG, why);
	if (c->encoding == CODEC_ENCODING_HEX) {
		/* leave room for the trailer and the NUL while parsing */
		if (codec_parse_hex(payload, len, out, outsz - tl - 1, &n, why) < 0)
			return -1;
	} else {
		if (len > outsz - tl - 1)
			return codec_fail(CODEC_ERR_TOO_LONG, why);
		memcpy(out, payload, len);
		n = len;
	}
	if (c->checksum != CODEC_CHECKSUM_NONE) {
		if (n < c->checksum_skip)
			return codec_fail(CODEC_ERR_SHORT, why);
		n += codec_trailer(c, out, n, out + n);
	}
	out[n] = '\0';
	*outlen = n;
	if (why)
		*why = CODEC_OK;
	return 0;
}
