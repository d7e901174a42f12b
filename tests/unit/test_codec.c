/*
 * test_codec.c - unit tests for drivers/codec.c (checksums and the payload
 * codec).
 *
 * Checksums are checked against published answers (the CRC catalogue check
 * values over "123456789", MODBUS requests from the spec and from vendor
 * manuals, the NMEA sentence everyone quotes, the MH-Z19 read command)
 * rather than against a second implementation, so a wrong polynomial or a
 * swapped byte cannot hide. The codec tests then use those frames, refuse
 * what must be refused with the right reason, check that nothing is written
 * past outsz (a canary area after every output buffer), and round-trip
 * pseudo-random payloads through every setting with a fixed seed. The
 * last tests run whole pipelines as the serial driver will: MODBUS RTU over
 * idle framing and an MH-Z19 CO2 sensor over fixed framing.
 *
 * The outsz and canary cases repeat their loop for each encoding rather
 * than share a helper, on purpose: a CHECK names its own line, and inside
 * a helper it would name the helper's, not the case that failed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "framing.h"
#include "unit.h"

#define CANARY 0x5A

/* An output buffer of outsz bytes followed by canaries. */
struct obuf {
	char b[1024];
};

static void obuf_fill(struct obuf *o)
{
	memset(o->b, CANARY, sizeof(o->b));
}

static int obuf_intact_after(const struct obuf *o, size_t outsz)
{
	size_t i;

	for (i = outsz; i < sizeof(o->b); i++)
		if ((unsigned char)o->b[i] != CANARY)
			return 0;
	return 1;
}

static const uint8_t modbus_read[] = {0x01, 0x03, 0x00, 0x00, 0x00, 0x0A};
static const char nmea_gga[] = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,";

static struct codec codec_modbus(void)
{
	struct codec c;

	memset(&c, 0, sizeof(c));
	c.encoding = CODEC_ENCODING_HEX;
	c.checksum = CODEC_CHECKSUM_CRC16_MODBUS;
	return c;
}

static struct codec codec_nmea(void)
{
	struct codec c;

	memset(&c, 0, sizeof(c));
	c.encoding = CODEC_ENCODING_TEXT;
	c.checksum = CODEC_CHECKSUM_XOR8;
	c.checksum_format = CODEC_FORMAT_HEX;
	c.checksum_prefix[0] = '*';
	c.checksum_prefix_len = 1;
	c.checksum_skip = 1;
	return c;
}

TEST(check_values_over_123456789)
{
	static const char s[] = "123456789";

	CHECK_INT(codec_crc16_modbus(s, 9), 0x4B37);
	CHECK_INT(codec_xor8(s, 9), 0x31);
	CHECK_INT(codec_sum8(s, 9), 0xDD);
	CHECK_INT(codec_lrc8(s, 9), 0x23);
	CHECK_INT(codec_crc8(s, 9), 0xF4);
	CHECK_INT(codec_checksum(CODEC_CHECKSUM_CRC16_MODBUS, s, 9), 0x4B37);
	CHECK_INT(codec_checksum(CODEC_CHECKSUM_XOR8, s, 9), 0x31);
	CHECK_INT(codec_checksum(CODEC_CHECKSUM_SUM8, s, 9), 0xDD);
	CHECK_INT(codec_checksum(CODEC_CHECKSUM_LRC8, s, 9), 0x23);
	CHECK_INT(codec_checksum(CODEC_CHECKSUM_CRC8, s, 9), 0xF4);
	CHECK_INT(codec_checksum(CODEC_CHECKSUM_NONE, s, 9), 0);
}

TEST(checksums_of_nothing)
{
	CHECK_INT(codec_crc16_modbus("", 0), 0xFFFF);
	CHECK_INT(codec_xor8("", 0), 0);
	CHECK_INT(codec_sum8("", 0), 0);
	CHECK_INT(codec_lrc8("", 0), 0);
	CHECK_INT(codec_crc8("", 0), 0);
}

TEST(modbus_frames_from_the_spec_and_manuals)
{
	/* read 10 holding registers from slave 1: sent as ... C5 CD */
	CHECK_INT(codec_crc16_modbus(modbus_read, sizeof(modbus_read)), 0xCDC5);
	/* the spec's example: slave 0x11 reads 3 registers at 0x006B: ... 76 87 */
	CHECK_INT(codec_crc16_modbus("\x11\x03\x00\x6B\x00\x03", 6), 0x8776);
	/* write single register: 01 06 00 01 00 03 98 0B */
	CHECK_INT(codec_crc16_modbus("\x01\x06\x00\x01\x00\x03", 6), 0x0B98);
	/* a whole frame with its CRC (low byte first) has a CRC residue of 0 */
	CHECK_INT(codec_crc16_modbus("\x01\x03\x00\x00\x00\x0A\xC5\xCD", 8), 0);
}

TEST(nmea_and_mhz19_checksums)
{
	CHECK_INT(codec_xor8(nmea_gga + 1, strlen(nmea_gga) - 1), 0x47);
	/* MH-Z19 "read CO2": FF 01 86 00 00 00 00 00 79, bytes 1..7 covered */
	CHECK_INT(codec_lrc8("\x01\x86\x00\x00\x00\x00\x00", 7), 0x79);
}

TEST(lrc8_makes_the_sum_zero)
{
	uint8_t b[40];
	size_t i, n;

	for (n = 0; n < sizeof(b) - 1; n++) {
		for (i = 0; i < n; i++)
			b[i] = (uint8_t)(i * 37 + n * 11);
		b[n] = codec_lrc8(b, n);
		CHECK_INT(codec_sum8(b, n + 1), 0);
		CHECK_INT((uint8_t)(codec_sum8(b, n) + codec_lrc8(b, n)), 0);
	}
}

TEST(single_bit_errors_are_caught)
{
	static const enum codec_checksum kinds[] = {CODEC_CHECKSUM_XOR8, CODEC_CHECKSUM_SUM8, CODEC_CHECKSUM_LRC8,
						    CODEC_CHECKSUM_CRC8, CODEC_CHECKSUM_CRC16_MODBUS};
	uint8_t b[16];
	size_t k, bit;

	memcpy(b, "\x01\x03\x02\x00\x0A\x7F\x80\xFF", 8);
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		uint16_t good = codec_checksum(kinds[k], b, 8);

		for (bit = 0; bit < 64; bit++) {
			b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			CHECK(codec_checksum(kinds[k], b, 8) != good);
			b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
	}
}

TEST(checksum_sizes)
{
	CHECK_INT(codec_checksum_size(CODEC_CHECKSUM_NONE), 0);
	CHECK_INT(codec_checksum_size(CODEC_CHECKSUM_XOR8), 1);
	CHECK_INT(codec_checksum_size(CODEC_CHECKSUM_SUM8), 1);
	CHECK_INT(codec_checksum_size(CODEC_CHECKSUM_LRC8), 1);
	CHECK_INT(codec_checksum_size(CODEC_CHECKSUM_CRC8), 1);
	CHECK_INT(codec_checksum_size(CODEC_CHECKSUM_CRC16_MODBUS), 2);
}

TEST(parse_config_names)
{
	enum codec_checksum ck = CODEC_CHECKSUM_NONE;
	enum codec_encoding en = CODEC_ENCODING_TEXT;
	enum codec_checksum_format fm = CODEC_FORMAT_BINARY;
	enum codec_byte_order bo = CODEC_ORDER_LITTLE;

	CHECK_INT(codec_parse_checksum("xor8", &ck), 0);
	CHECK_INT(ck, CODEC_CHECKSUM_XOR8);
	CHECK_INT(codec_parse_checksum("sum8", &ck), 0);
	CHECK_INT(ck, CODEC_CHECKSUM_SUM8);
	CHECK_INT(codec_parse_checksum("lrc8", &ck), 0);
	CHECK_INT(ck, CODEC_CHECKSUM_LRC8);
	CHECK_INT(codec_parse_checksum("crc8", &ck), 0);
	CHECK_INT(ck, CODEC_CHECKSUM_CRC8);
	CHECK_INT(codec_parse_checksum("crc16-modbus", &ck), 0);
	CHECK_INT(ck, CODEC_CHECKSUM_CRC16_MODBUS);
	CHECK_INT(codec_parse_checksum("none", &ck), 0);
	CHECK_INT(ck, CODEC_CHECKSUM_NONE);
	ck = CODEC_CHECKSUM_CRC8;
	CHECK_INT(codec_parse_checksum("crc16", &ck), -1);
	CHECK_INT(codec_parse_checksum("CRC16-MODBUS", &ck), -1);
	CHECK_INT(codec_parse_checksum("xor8 ", &ck), -1);
	CHECK_INT(codec_parse_checksum("", &ck), -1);
	CHECK_INT(codec_parse_checksum(NULL, &ck), -1);
	CHECK_INT(ck, CODEC_CHECKSUM_CRC8); /* untouched on failure */

	CHECK_INT(codec_parse_encoding("hex", &en), 0);
	CHECK_INT(en, CODEC_ENCODING_HEX);
	CHECK_INT(codec_parse_encoding("text", &en), 0);
	CHECK_INT(en, CODEC_ENCODING_TEXT);
	CHECK_INT(codec_parse_encoding("binary", &en), -1);

	CHECK_INT(codec_parse_checksum_format("hex-ascii", &fm), 0);
	CHECK_INT(fm, CODEC_FORMAT_HEX);
	CHECK_INT(codec_parse_checksum_format("binary", &fm), 0);
	CHECK_INT(fm, CODEC_FORMAT_BINARY);
	CHECK_INT(codec_parse_checksum_format("hex", &fm), -1);

	CHECK_INT(codec_parse_byte_order("big", &bo), 0);
	CHECK_INT(bo, CODEC_ORDER_BIG);
	CHECK_INT(codec_parse_byte_order("little", &bo), 0);
	CHECK_INT(bo, CODEC_ORDER_LITTLE);
	CHECK_INT(codec_parse_byte_order("msb", &bo), -1);

	/* the name arrays are indexed by the enum values */
	CHECK_STR(codec_checksum_names[CODEC_CHECKSUM_CRC16_MODBUS], "crc16-modbus");
	CHECK(codec_checksum_names[CODEC_CHECKSUM_CRC16_MODBUS + 1] == NULL);
	CHECK_STR(codec_encoding_names[CODEC_ENCODING_HEX], "hex");
	CHECK_STR(codec_format_names[CODEC_FORMAT_HEX], "hex-ascii");
	CHECK_STR(codec_order_names[CODEC_ORDER_BIG], "big");
}

TEST(decode_modbus_response_to_hex)
{
	struct codec c = codec_modbus();
	struct obuf o;
	size_t n = 99;
	enum codec_status why = CODEC_ERR_HEX;

	obuf_fill(&o);
	CHECK_INT(codec_decode_inbound(&c, "\x01\x03\x00\x00\x00\x0A\xC5\xCD", 8, o.b, 13, &n, &why), 0);
	CHECK_INT(why, CODEC_OK);
	CHECK_INT(n, 12);
	CHECK_STR(o.b, "01030000000A");
	CHECK(obuf_intact_after(&o, 13));
	/* the spec's frame, and every byte value renders as two uppercase digits */
	CHECK_INT(codec_decode_inbound(&c, "\x11\x03\x00\x6B\x00\x03\x76\x87", 8, o.b, sizeof(o.b), &n, NULL), 0);
	CHECK_STR(o.b, "1103006B0003");
	c.checksum = CODEC_CHECKSUM_NONE;
	CHECK_INT(codec_decode_inbound(&c, "\x00\x0F\xA0\xFF\x7F\x80", 6, o.b, sizeof(o.b), &n, NULL), 0);
	CHECK_STR(o.b, "000FA0FF7F80");
}

TEST(decode_refuses_a_bad_crc_anywhere)
{
	struct codec c = codec_modbus();
	char f[8];
	struct obuf o;
	size_t n, bit;
	enum codec_status why;

	for (bit = 0; bit < 64; bit++) {
		memcpy(f, "\x01\x03\x00\x00\x00\x0A\xC5\xCD", 8);
		f[bit / 8] = (char)(f[bit / 8] ^ (1 << (bit % 8)));
		why = CODEC_OK;
		n = 99;
		CHECK_INT(codec_decode_inbound(&c, f, 8, o.b, sizeof(o.b), &n, &why), -1);
		CHECK_INT(why, CODEC_ERR_CHECKSUM);
		CHECK_INT(n, 0);
	}
	/* the CRC in the wrong byte order is wrong */
	CHECK_INT(codec_decode_inbound(&c, "\x01\x03\x00\x00\x00\x0A\xCD\xC5", 8, o.b, sizeof(o.b), &n, &why), -1);
	CHECK_INT(why, CODEC_ERR_CHECKSUM);
	/* ... unless the device sends it high byte first and the codec says so */
	c.checksum_order = CODEC_ORDER_BIG;
	CHECK_INT(codec_decode_inbound(&c, "\x01\x03\x00\x00\x00\x0A\xCD\xC5", 8, o.b, sizeof(o.b), &n, &why), 0);
	CHECK_STR(o.b, "01030000000A");
}

TEST(decode_too_short)
{
	struct codec c = codec_modbus();
	struct obuf o;
	size_t n;
	enum codec_status why = CODEC_OK;

	CHECK_INT(codec_decode_inbound(&c, "", 0, o.b, sizeof(o.b), &n, &why), -1);
	CHECK_INT(why, CODEC_ERR_SHORT);
	CHECK_INT(codec_decode_inbound(&c, "\xC5", 1, o.b, sizeof(o.b), &n, &why), -1);
	CHECK_INT(why, CODEC_ERR_SHORT);
	CHECK_INT(codec_decode_inbound(&c, NULL, 0, o.b, sizeof(o.b), &n, &why), -1);
	CHECK_INT(why, CODEC_ERR_SHORT);
	/* just a CRC over nothing: CRC-16/MODBUS of no bytes is 0xFFFF */
	CHECK_INT(codec_decode_inbound(&c, "\xFF\xFF", 2, o.b, sizeof(o.b), &n, &why), 0);
	CHECK_INT(n, 0);
	CHECK_STR(o.b, "");
	/* the skipped bytes must be there too */
	c = codec_nmea();
	CHECK_INT(codec_decode_inbound(&c, "*00", 3, o.b, sizeof(o.b), &n, &why), -1);
	CHECK_INT(why, CODEC_ERR_SHORT);
	CHECK_INT(codec_decode_inbound(&c, "$*00", 4, o.b, sizeof(o.b), &n, &why), 0);
	CHECK_STR(o.b, "$");
	c.checksum_skip = (size_t)-1;
	CHECK_INT(codec_decode_inbound(&c, "$A*41", 5, o.b, sizeof(o.b), &n, &why), -1);
	CHECK_INT(why, CODEC_ERR_SHORT);
}

TEST(decode_never_writes_past_outsz)
{
	struct codec c = codec_modbus();
	struct obuf o;
	size_t n, outsz;
	enum codec_status why;

	/* 12 hex digits and a NUL need 13 bytes */
	for (outsz = 0; outsz < 13; outsz++) {
		obuf_fill(&o);
		why = CODEC_OK;
		CHECK_INT(codec_decode_inbound(&c, "\x01\x03\x00\x00\x00\x0A\xC5\xCD", 8, o.b, outsz, &n, &why), -1);
		CHECK_INT(why, CODEC_ERR_TOO_LONG);
		CHECK(obuf_intact_after(&o, outsz));
	}
	c.encoding = CODEC_ENCODING_TEXT;
	for (outsz = 0; outsz < 7; outsz++) {
		obuf_fill(&o);
		CHECK_INT(codec_decode_inbound(&c, "\x01\x03\x00\x00\x00\x0A\xC5\xCD", 8, o.b, outsz, &n, &why), -1);
		CHECK_INT(why, CODEC_ERR_TOO_LONG);
		CHECK(obuf_intact_after(&o, outsz));
	}
	obuf_fill(&o);
	CHECK_INT(codec_decode_inbound(&c, "\x01\x03\x00\x00\x00\x0A\xC5\xCD", 8, o.b, 7, &n, &why), 0);
	CHECK_INT(n, 6);
	CHECK(memcmp(o.b, modbus_read, 6) == 0 && o.b[6] == '\0');
	CHECK(obuf_intact_after(&o, 7));
}

TEST(decode_nmea_sentence)
{
	struct codec c = codec_nmea();
	char f[128];
	struct obuf o;
	size_t n;
	enum codec_status why;

	snprintf(f, sizeof(f), "%s*47", nmea_gga);
	CHECK_INT(codec_decode_inbound(&c, f, strlen(f), o.b, sizeof(o.b), &n, &why), 0);
	CHECK_STR(o.b, nmea_gga);
	CHECK_INT(n, strlen(nmea_gga));
	/* lowercase hex digits are accepted inbound */
	c.checksum = CODEC_CHECKSUM_SUM8;
	snprintf(f, sizeof(f), "$AB*%02x", (unsigned)(('A' + 'B') & 0xFF));
	CHECK_INT(codec_decode_inbound(&c, f, strlen(f), o.b, sizeof(o.b), &n, &why), 0);
	CHECK_STR(o.b, "$AB");
	snprintf(f, sizeof(f), "$AB*%02X", (unsigned)(('A' + 'B') & 0xFF));
	CHECK_INT(codec_decode_inbound(&c, f, strlen(f), o.b, sizeof(o.b), &n, &why), 0);
	c.checksum = CODEC_CHECKSUM_XOR8;
	/* wrong digits, a missing '*', non-hex digits */
	snprintf(f, sizeof(f), "%s*48", nmea_gga);
	CHECK_INT(codec_decode_inbound(&c, f, strlen(f), o.b, sizeof(o.b), &n, &why), -1);
	CHECK_INT(why, CODEC_ERR_CHECKSUM);
	snprintf(f, sizeof(f), "%s#47", nmea_gga);
	CHECK_INT(codec_decode_inbound(&c, f, strlen(f), o.b, sizeof(o.b), &n, &why), -1);
	CHECK_INT(why, CODEC_ERR_CHECKSUM);
	CHECK_INT(codec_decode_inbound(&c, "$A*4G", 5, o.b, sizeof(o.b), &n, &why), -1);
	CHECK_INT(why, CODEC_ERR_CHECKSUM);
	CHECK_INT(codec_decode_inbound(&c, "$A*41", 5, o.b, sizeof(o.b), &n, &why), 0);
	CHECK_INT(codec_decode_inbound(&c, "$A*g1", 5, o.b, sizeof(o.b), &n, &why), -1);
	/* a sentence without its checksum is refused */
	CHECK_INT(codec_decode_inbound(&c, nmea_gga, strlen(nmea_gga), o.b, sizeof(o.b), &n, &why), -1);
	CHECK_INT(why, CODEC_ERR_CHECKSUM);
}

TEST(decode_text_without_checksum_passes_every_byte)
{
	struct codec c;
	struct obuf o;
	size_t n;

	memset(&c, 0, sizeof(c));
	CHECK_INT(codec_decode_inbound(&c, "a\0b\r\xff", 5, o.b, sizeof(o.b), &n, NULL), 0);
	CHECK_INT(n, 5);
	CHECK(memcmp(o.b, "a\0b\r\xff", 6) == 0);
	CHECK_INT(codec_decode_inbound(&c, NULL, 0, o.b, 1, &n, NULL), 0);
	CHECK_INT(n, 0);
	CHECK_STR(o.b, "");
}

TEST(encode_modbus_request_from_hex)
{
	struct codec c = codec_modbus();
	static const char *const spellings[] = {"01 03 00 00 00 0A", "01030000000A", "01030000000a",
						"01 03  00   00 00 0a", "0103 0000 000A"};
	struct obuf o;
	size_t n, i;
	enum codec_status why;

	for (i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
		obuf_fill(&o);
		n = 99;
		why = CODEC_ERR_HEX;
		CHECK_INT(codec_encode_outbound(&c, spellings[i], strlen(spellings[i]), o.b, 9, &n, &why), 0);
		CHECK_INT(why, CODEC_OK);
		CHECK_INT(n, 8);
		CHECK(memcmp(o.b, "\x01\x03\x00\x00\x00\x0A\xC5\xCD", 8) == 0);
		CHECK(o.b[8] == '\0');
		CHECK(obuf_intact_after(&o, 9));
	}
	/* an empty payload is no bytes: only the CRC of nothing */
	CHECK_INT(codec_encode_outbound(&c, "", 0, o.b, sizeof(o.b), &n, &why), 0);
	CHECK_INT(n, 2);
	CHECK(memcmp(o.b, "\xFF\xFF", 2) == 0);
	/* big-endian CRC */
	c.checksum_order = CODEC_ORDER_BIG;
	CHECK_INT(codec_encode_outbound(&c, "110300 6B 0003", 14, o.b, sizeof(o.b), &n, &why), 0);
	CHECK_INT(n, 8);
	CHECK(memcmp(o.b, "\x11\x03\x00\x6B\x00\x03\x87\x76", 8) == 0);
}

TEST(encode_refuses_bad_hex)
{
	static const struct {
		const char *s;
		size_t len;
	} bad[] = {
#define B(lit) { lit, sizeof(lit) - 1 }
		B("0"),	     B("013"),	  B("0G"),    B("G0"),	   B(" 01"),	B("01 "),    B("0 1"),
		B("0x01"),   B("01\t02"), B("01,02"), B("01\n"),   B("01-02"),	B("  "),     B(" "),
		B("01 0"),   B("zz"),	  B("01:02"), B("\0\0"),   B("0\0"),	B("01 02 "), B("01 02 3"),
		B("+1"),     B("-1"),	  B("01\r\n"), B("\xd9\xa1"), B("0\xff"), B("01\0"),
#undef B
	};
	struct codec c = codec_modbus();
	struct obuf o;
	size_t n, i;
	enum codec_status why;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = CODEC_OK;
		n = 99;
		if (codec_encode_outbound(&c, bad[i].s, bad[i].len, o.b, sizeof(o.b), &n, &why) != -1 ||
		    why != CODEC_ERR_HEX || n != 0) {
			printf("# bad[%zu] \"%s\" was not refused as bad hex\n", i, bad[i].s);
			unit_cur_failed = 1;
		}
	}
}

TEST(encode_never_writes_past_outsz)
{
	struct codec c = codec_modbus();
	struct obuf o;
	size_t n, outsz;
	enum codec_status why;

	/* 6 bytes + 2 CRC + NUL need 9 */
	for (outsz = 0; outsz < 9; outsz++) {
		obuf_fill(&o);
		why = CODEC_OK;
		CHECK_INT(codec_encode_outbound(&c, "01 03 00 00 00 0A", 17, o.b, outsz, &n, &why), -1);
		CHECK_INT(why, CODEC_ERR_TOO_LONG);
		CHECK(obuf_intact_after(&o, outsz));
	}
	c.encoding = CODEC_ENCODING_TEXT;
	for (outsz = 0; outsz < 9; outsz++) {
		obuf_fill(&o);
		CHECK_INT(codec_encode_outbound(&c, "\x01\x03\x00\x00\x00\x0A", 6, o.b, outsz, &n, &why), -1);
		CHECK_INT(why, CODEC_ERR_TOO_LONG);
		CHECK(obuf_intact_after(&o, outsz));
	}
	obuf_fill(&o);
	CHECK_INT(codec_encode_outbound(&c, "\x01\x03\x00\x00\x00\x0A", 6, o.b, 9, &n, &why), 0);
	CHECK(memcmp(o.b, "\x01\x03\x00\x00\x00\x0A\xC5\xCD", 9) == 0);
	CHECK(obuf_intact_after(&o, 9));
}

TEST(encode_nmea_and_mhz19)
{
	struct codec c = codec_nmea();
	struct obuf o;
	char want[128];
	size_t n;
	enum codec_status why;

	CHECK_INT(codec_encode_outbound(&c, nmea_gga, strlen(nmea_gga), o.b, sizeof(o.b), &n, &why), 0);
	snprintf(want, sizeof(want), "%s*47", nmea_gga);
	CHECK_STR(o.b, want);
	CHECK_INT(n, strlen(want));
	/* the payload must hold the skipped bytes */
	CHECK_INT(codec_encode_outbound(&c, "", 0, o.b, sizeof(o.b), &n, &why), -1);
	CHECK_INT(why, CODEC_ERR_SHORT);
	CHECK_INT(codec_encode_outbound(&c, "$", 1, o.b, sizeof(o.b), &n, &why), 0);
	CHECK_STR(o.b, "$*00");

	memset(&c, 0, sizeof(c));
	c.encoding = CODEC_ENCODING_HEX;
	c.checksum = CODEC_CHECKSUM_LRC8;
	c.checksum_skip = 1;
	CHECK_INT(codec_encode_outbound(&c, "FF 01 86 00 00 00 00 00", 23, o.b, sizeof(o.b), &n, &why), 0);
	CHECK_INT(n, 9);
	CHECK(memcmp(o.b, "\xFF\x01\x86\x00\x00\x00\x00\x00\x79", 9) == 0);
	/* and a reading back: FF 86 HH LL ... checksum */
	CHECK_INT(codec_decode_inbound(&c, "\xFF\x86\x01\x90\x00\x00\x00\x00\xE9", 9, o.b, sizeof(o.b), &n, &why), 0);
	CHECK_STR(o.b, "FF86019000000000");
}

TEST(checksum_as_hex_ascii_with_crc16)
{
	struct codec c = codec_modbus();
	struct obuf o;
	size_t n;
	enum codec_status why;

	c.encoding = CODEC_ENCODING_TEXT;
	c.checksum_format = CODEC_FORMAT_HEX;
	CHECK_INT(codec_encode_outbound(&c, "123456789", 9, o.b, sizeof(o.b), &n, &why), 0);
	CHECK_STR(o.b, "123456789374B"); /* low byte first */
	c.checksum_order = CODEC_ORDER_BIG;
	CHECK_INT(codec_encode_outbound(&c, "123456789", 9, o.b, sizeof(o.b), &n, &why), 0);
	CHECK_STR(o.b, "1234567894B37");
	CHECK_INT(codec_decode_inbound(&c, "1234567894b37", 13, o.b, sizeof(o.b), &n, &why), 0);
	CHECK_STR(o.b, "123456789");
	CHECK_INT(codec_decode_inbound(&c, "1234567894B38", 13, o.b, sizeof(o.b), &n, &why), -1);
	CHECK_INT(why, CODEC_ERR_CHECKSUM);
}

TEST(out_of_range_settings_are_refused)
{
	struct codec c;
	struct obuf o;
	size_t n;
	enum codec_status why;

	memset(&c, 0, sizeof(c));
	CHECK_INT(codec_check(&c), 0);
	CHECK_INT(codec_check(NULL), -1);
	c.checksum = (enum codec_checksum)99;
	CHECK_INT(codec_check(&c), -1);
	CHECK_INT(codec_decode_inbound(&c, "ab", 2, o.b, sizeof(o.b), &n, &why), -1);
	CHECK_INT(why, CODEC_ERR_SETTINGS);
	CHECK_INT(codec_encode_outbound(&c, "ab", 2, o.b, sizeof(o.b), &n, &why), -1);
	CHECK_INT(why, CODEC_ERR_SETTINGS);
	memset(&c, 0, sizeof(c));
	c.encoding = (enum codec_encoding)2;
	CHECK_INT(codec_check(&c), -1);
	memset(&c, 0, sizeof(c));
	c.checksum_format = (enum codec_checksum_format)2;
	CHECK_INT(codec_check(&c), -1);
	memset(&c, 0, sizeof(c));
	c.checksum_order = (enum codec_byte_order)2;
	CHECK_INT(codec_check(&c), -1);
	memset(&c, 0, sizeof(c));
	c.checksum_prefix_len = CODEC_PREFIX_MAX + 1;
	CHECK_INT(codec_check(&c), -1);
	c.checksum_prefix_len = CODEC_PREFIX_MAX;
	CHECK_INT(codec_check(&c), 0);
	/* NULL input with a length */
	memset(&c, 0, sizeof(c));
	CHECK_INT(codec_decode_inbound(&c, NULL, 3, o.b, sizeof(o.b), &n, &why), -1);
	CHECK_INT(codec_encode_outbound(&c, NULL, 3, o.b, sizeof(o.b), &n, &why), -1);
}

TEST(strerror_names_every_status)
{
	CHECK_STR(codec_strerror(CODEC_ERR_CHECKSUM), "bad checksum");
	CHECK(strlen(codec_strerror(CODEC_OK)) > 0);
	CHECK(strlen(codec_strerror(CODEC_ERR_SHORT)) > 0);
	CHECK(strlen(codec_strerror(CODEC_ERR_TOO_LONG)) > 0);
	CHECK(strlen(codec_strerror(CODEC_ERR_HEX)) > 0);
	CHECK(strlen(codec_strerror(CODEC_ERR_SETTINGS)) > 0);
	CHECK(strlen(codec_strerror((enum codec_status)42)) > 0);
}

TEST(trailer_and_buffer_sizes)
{
	struct codec c = codec_modbus();

	CHECK_INT(codec_trailer_len(&c), 2);
	c.checksum_format = CODEC_FORMAT_HEX;
	CHECK_INT(codec_trailer_len(&c), 4);
	c = codec_nmea();
	CHECK_INT(codec_trailer_len(&c), 3);
	c.checksum = CODEC_CHECKSUM_NONE;
	CHECK_INT(codec_trailer_len(&c), 0); /* no checksum, no prefix */
	c = codec_modbus();
	CHECK_INT(codec_decoded_max(&c, 256), 513);
	CHECK_INT(codec_encoded_max(&c, 512), 256 + 2 + 1);
	CHECK_INT(codec_decoded_max(&c, SIZE_MAX / 2), SIZE_MAX);
	CHECK(codec_encoded_max(&c, SIZE_MAX) == SIZE_MAX / 2 + 3);
	c.encoding = CODEC_ENCODING_TEXT;
	CHECK_INT(codec_decoded_max(&c, 256), 257);
	CHECK_INT(codec_encoded_max(&c, 256), 259);
	CHECK(codec_decoded_max(&c, SIZE_MAX) == SIZE_MAX);
	CHECK(codec_encoded_max(&c, SIZE_MAX - 1) == SIZE_MAX);
}

/* ---- round trips over every setting ---- */

static uint32_t rng_state = 20240601;

static uint32_t rng(void)
{
	return unit_xorshift32(&rng_state);
}

/* Uppercase hex of n bytes, with a space between pairs when spaced. */
static size_t hex_of(const uint8_t *b, size_t n, char *out, int spaced)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (spaced && i)
			out[k++] = ' ';
		k += (size_t)sprintf(out + k, "%02X", b[i]);
	}
	out[k] = '\0';
	return k;
}

TEST(round_trip_every_setting)
{
	int round, bad = 0;

	for (round = 0; round < 20000 && bad < 3; round++) {
		struct codec c;
		uint8_t data[64];
		char payload[200], want[200], wire[300], back[300];
		size_t n = rng() % sizeof(data), i, plen, wlen, blen, wantlen, encsz, decsz;
		enum codec_status why = CODEC_OK;

		memset(&c, 0, sizeof(c));
		c.encoding = (enum codec_encoding)(rng() % 2);
		c.checksum = (enum codec_checksum)(rng() % 6);
		c.checksum_format = (enum codec_checksum_format)(rng() % 2);
		c.checksum_order = (enum codec_byte_order)(rng() % 2);
		c.checksum_prefix_len = rng() % (CODEC_PREFIX_MAX + 1);
		for (i = 0; i < c.checksum_prefix_len; i++)
			c.checksum_prefix[i] = (char)(rng() & 0xFF);
		c.checksum_skip = rng() % 4;
		if (c.checksum_skip > n)
			c.checksum_skip = n;
		for (i = 0; i < n; i++)
			data[i] = (uint8_t)rng();
		if (c.encoding == CODEC_ENCODING_HEX) {
			plen = hex_of(data, n, payload, (int)(rng() % 2));
			if (rng() % 2)
				for (i = 0; i < plen; i++)
					if (payload[i] >= 'A' && payload[i] <= 'F')
						payload[i] = (char)(payload[i] + 32);
			wantlen = hex_of(data, n, want, 0);
		} else {
			memcpy(payload, data, n);
			plen = n;
			memcpy(want, data, n);
			wantlen = n;
		}
		/* exactly the sizes the helpers promise are enough */
		encsz = codec_encoded_max(&c, plen);
		if (codec_encode_outbound(&c, payload, plen, wire, encsz, &wlen, &why) < 0) {
			printf("# round %d: encode failed: %s\n", round, codec_strerror(why));
			bad++;
			continue;
		}
		decsz = codec_decoded_max(&c, wlen);
		if (codec_decode_inbound(&c, wire, wlen, back, decsz, &blen, &why) < 0 || blen != wantlen ||
		    memcmp(back, want, blen) != 0) {
			printf("# round %d: decode gave %zu bytes (%s), want %zu\n", round, blen, codec_strerror(why),
			       wantlen);
			bad++;
			continue;
		}
		/* and a flipped bit in the checksummed part is refused */
		if (c.checksum != CODEC_CHECKSUM_NONE && wlen > c.checksum_skip) {
			size_t pos = c.checksum_skip + rng() % (wlen - c.checksum_skip);
			int ok;

			wire[pos] = (char)(wire[pos] ^ (1 << (rng() % 8)));
			ok = codec_decode_inbound(&c, wire, wlen, back, decsz, &blen, &why);
			/* hex digits that only change case are still the same checksum */
			if (ok == 0 && !(c.checksum_format == CODEC_FORMAT_HEX && pos >= wlen - 4)) {
				printf("# round %d: a flipped bit at %zu was accepted\n", round, pos);
				bad++;
			}
		}
	}
	CHECK_INT(bad, 0);
}

/* ---- framing and codec together, as the serial driver will use them ---- */

struct pipeline {
	const struct codec *codec;
	int ok, refused;
	enum codec_status last_why;
	char payload[8][64];
};

static void pipeline_frame(const char *frame, size_t len, void *ctx)
{
	struct pipeline *pl = ctx;
	char out[64];
	size_t n;

	if (codec_decode_inbound(pl->codec, frame, len, out, sizeof(out), &n, &pl->last_why) < 0) {
		pl->refused++;
		return;
	}
	if (pl->ok < 8)
		memcpy(pl->payload[pl->ok], out, n + 1);
	pl->ok++;
}

TEST(modbus_rtu_over_idle_framing_to_hex_payloads)
{
	struct codec c;
	struct framing_params p;
	struct framer f;
	struct pipeline pl;
	char req[16];
	size_t n;

	memset(&c, 0, sizeof(c));
	memset(&pl, 0, sizeof(pl));
	memset(&p, 0, sizeof(p));
	p.mode = FRAMING_IDLE;
	p.max_frame = 256;
	p.idle_ms = 5;
	c.encoding = CODEC_ENCODING_HEX;
	c.checksum = CODEC_CHECKSUM_CRC16_MODBUS;
	pl.codec = &c;
	/* the request the gateway sends */
	CHECK_INT(codec_encode_outbound(&c, "01 03 00 00 00 02", 17, req, sizeof(req), &n, NULL), 0);
	CHECK_INT(n, 8);
	CHECK(memcmp(req, "\x01\x03\x00\x00\x00\x02\xC4\x0B", 8) == 0);
	/* responses: two registers 0x000A 0x0102, in three reads; then a corrupted one */
	CHECK_INT(framing_init_mode(&f, &p), 0);
	framing_feed_at(&f, "\x01\x03\x04\x00", 4, 1000, pipeline_frame, &pl);
	framing_feed_at(&f, "\x0A\x01", 2, 1001, pipeline_frame, &pl);
	framing_feed_at(&f, "\x02\x5A\x60", 3, 1003, pipeline_frame, &pl);
	framing_tick(&f, framing_deadline(&f), pipeline_frame, &pl);
	CHECK_INT(pl.ok, 1);
	CHECK_STR(pl.payload[0], "010304000A0102");
	framing_feed_at(&f, "\x01\x03\x04\x00\x0A\x01\x03\x5A\x60", 9, 2000, pipeline_frame, &pl);
	/* and an exception response right after a gap, without a tick between */
	framing_feed_at(&f, "\x01\x83\x02\xC0\xF1", 5, 2005, pipeline_frame, &pl);
	framing_tick(&f, 2010, pipeline_frame, &pl);
	CHECK_INT(pl.refused, 1);
	CHECK_INT(pl.last_why, CODEC_OK);
	CHECK_INT(pl.ok, 2);
	CHECK_STR(pl.payload[1], "018302");
	framing_free(&f);
}

TEST(mhz19_over_fixed_framing)
{
	struct codec c;
	struct framing_params p;
	struct framer f;
	struct pipeline pl;

	memset(&c, 0, sizeof(c));
	memset(&pl, 0, sizeof(pl));
	memset(&p, 0, sizeof(p));
	p.mode = FRAMING_FIXED;
	p.frame_len = 9;
	p.timeout_ms = 20;
	c.encoding = CODEC_ENCODING_HEX;
	c.checksum = CODEC_CHECKSUM_LRC8;
	c.checksum_skip = 1;
	pl.codec = &c;
	CHECK_INT(framing_init_mode(&f, &p), 0);
	/* a stray byte at power-up, then two readings (400 and 1000 ppm) */
	framing_feed_at(&f, "\x00", 1, 0, pipeline_frame, &pl);
	framing_feed_at(&f, "\xFF\x86\x01\x90\x00\x00\x00\x00\xE9", 9, 1000, pipeline_frame, &pl);
	framing_feed_at(&f, "\xFF\x86\x03\xE8\x00\x00", 6, 2000, pipeline_frame, &pl);
	framing_feed_at(&f, "\x00\x00\x8F", 3, 2001, pipeline_frame, &pl);
	CHECK_INT(f.incomplete, 1);
	CHECK_INT(pl.refused, 0);
	CHECK_INT(pl.ok, 2);
	CHECK_STR(pl.payload[0], "FF86019000000000");
	CHECK_STR(pl.payload[1], "FF8603E800000000");
	framing_free(&f);
}

int main(void)
{
	RUN(check_values_over_123456789);
	RUN(checksums_of_nothing);
	RUN(modbus_frames_from_the_spec_and_manuals);
	RUN(nmea_and_mhz19_checksums);
	RUN(lrc8_makes_the_sum_zero);
	RUN(single_bit_errors_are_caught);
	RUN(checksum_sizes);
	RUN(parse_config_names);
	RUN(decode_modbus_response_to_hex);
	RUN(decode_refuses_a_bad_crc_anywhere);
	RUN(decode_too_short);
	RUN(decode_never_writes_past_outsz);
	RUN(decode_nmea_sentence);
	RUN(decode_text_without_checksum_passes_every_byte);
	RUN(encode_modbus_request_from_hex);
	RUN(encode_refuses_bad_hex);
	RUN(encode_never_writes_past_outsz);
	RUN(encode_nmea_and_mhz19);
	RUN(checksum_as_hex_ascii_with_crc16);
	RUN(out_of_range_settings_are_refused);
	RUN(strerror_names_every_status);
	RUN(trailer_and_buffer_sizes);
	RUN(round_trip_every_setting);
	RUN(modbus_rtu_over_idle_framing_to_hex_payloads);
	RUN(mhz19_over_fixed_framing);
	return UNIT_DONE();
}
