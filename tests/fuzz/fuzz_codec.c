/*
 * fuzz_codec.c - libFuzzer target for drivers/codec.c.
 *
 * The first bytes of an input choose the codec settings (every encoding,
 * checksum, format, byte order, prefix and skip) and the output buffer
 * sizes; the rest is both a frame from a device and a payload from MQTT.
 * Output buffers are heap blocks of exactly outsz bytes, so ASan reports
 * any write past outsz. Properties checked:
 *   - decode and encode never write past outsz, always NUL-terminate on
 *     success, and stay within codec_decoded_max / codec_encoded_max;
 *   - a hex decode is uppercase hex pairs;
 *   - whatever encode accepts, decode turns back into the payload (hex
 *     payloads normalised: spaces removed, digits uppercased);
 *   - any byte string, rendered as canonical hex, encodes and decodes back.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Idrivers tests/fuzz/fuzz_codec.c drivers/codec.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_HDR 8

static void fuzz_codec_check(int cond)
{
	if (!cond)
		abort();
}

/* outsz from a selector byte: mostly tight sizes around need, sometimes 0. */
static size_t fuzz_codec_size(uint8_t sel, size_t need)
{
	size_t d = sel % 5;

	if (sel < 16)
		return sel;
	if (sel < 128) /* need - 2 .. need + 2 */
		return d >= 2 ? need + (d - 2) : need > 2 - d ? need - (2 - d) : 0;
	return need + sel % 7;
}

static void fuzz_codec_decode_any(const struct codec *c, const char *in, size_t len, uint8_t sel)
{
	size_t max = codec_decoded_max(c, len), outsz = fuzz_codec_size(sel, max), outlen = 12345, i;
	char *out = malloc(outsz ? outsz : 1);
	enum codec_status why = CODEC_OK;

	if (!out)
		return;
	if (codec_decode_inbound(c, in, len, out, outsz, &outlen, &why) == 0) {
		fuzz_codec_check(why == CODEC_OK);
		fuzz_codec_check(outlen < outsz && outlen < max && out[outlen] == '\0');
		if (c->encoding == CODEC_ENCODING_HEX) {
			fuzz_codec_check(outlen % 2 == 0);
			for (i = 0; i < outlen; i++)
				fuzz_codec_check((out[i] >= '0' && out[i] <= '9') || (out[i] >= 'A' && out[i] <= 'F'));
		}
	} else {
		fuzz_codec_check(why != CODEC_OK && outlen == 0);
		/* with enough room, only the checksum can be the reason */
		if (outsz >= max)
			fuzz_codec_check(why == CODEC_ERR_SHORT || why == CODEC_ERR_CHECKSUM);
	}
	free(out);
}

/* Encode in, then decode the result: the payload must come back. */
static void fuzz_codec_round_trip(const struct codec *c, const char *in, size_t len, uint8_t sel)
{
	size_t max = codec_encoded_max(c, len), outsz = fuzz_codec_size(sel, max), wlen = 12345, blen = 0, dmax;
	size_t i, k = 0;
	char *wire = malloc(outsz ? outsz : 1), *back = NULL, *norm = NULL;
	enum codec_status why = CODEC_OK;

	if (!wire)
		return;
	if (codec_encode_outbound(c, in, len, wire, outsz, &wlen, &why) < 0) {
		fuzz_codec_check(why != CODEC_OK && wlen == 0);
		free(wire);
		return;
	}
	fuzz_codec_check(wlen < outsz && wlen < max && wire[wlen] == '\0');
	dmax = codec_decoded_max(c, wlen);
	back = malloc(dmax);
	norm = malloc(len + 1);
	if (!back || !norm)
		goto out;
	fuzz_codec_check(codec_decode_inbound(c, wire, wlen, back, dmax, &blen, &why) == 0);
	if (c->encoding == CODEC_ENCODING_HEX) {
		for (i = 0; i < len; i++)
			if (in[i] != ' ')
				norm[k++] = in[i] >= 'a' && in[i] <= 'f' ? (char)(in[i] - 'a' + 'A') : in[i];
	} else {
		memcpy(norm, in, len);
		k = len;
	}
	fuzz_codec_check(blen == k && memcmp(back, norm, k) == 0);
out:
	free(norm);
	free(back);
	free(wire);
}

/* Any bytes as canonical hex must survive encode and decode. */
static void fuzz_codec_hex_bytes(const struct codec *c0, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789ABCDEF";
	struct codec c = *c0;
	char *hex = malloc(2 * n + 1), *wire, *back;
	size_t i, wlen, blen, wsz, bsz;

	if (!hex)
		return;
	for (i = 0; i < n; i++) {
		hex[2 * i] = digits[b[i] >> 4];
		hex[2 * i + 1] = digits[b[i] & 15];
	}
	c.encoding = CODEC_ENCODING_HEX;
	if (c.checksum_skip > n)
		c.checksum_skip = n;
	wsz = codec_encoded_max(&c, 2 * n);
	wire = malloc(wsz);
	bsz = codec_decoded_max(&c, wsz);
	back = malloc(bsz);
	if (wire && back) {
		fuzz_codec_check(codec_encode_outbound(&c, hex, 2 * n, wire, wsz, &wlen, NULL) == 0);
		fuzz_codec_check(wlen >= n && memcmp(wire, b, n) == 0);
		fuzz_codec_check(codec_decode_inbound(&c, wire, wlen, back, bsz, &blen, NULL) == 0);
		fuzz_codec_check(blen == 2 * n && memcmp(back, hex, blen) == 0);
	}
	free(back);
	free(wire);
	free(hex);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct codec c;
	const char *in;
	size_t len, i;

	if (size < FUZZ_HDR)
		return 0;
	memset(&c, 0, sizeof(c));
	c.encoding = (enum codec_encoding)(data[0] & 1);
	c.checksum = (enum codec_checksum)((data[0] >> 1) % 6);
	c.checksum_format = (enum codec_checksum_format)((data[0] >> 4) & 1);
	c.checksum_order = (enum codec_byte_order)((data[0] >> 5) & 1);
	c.checksum_prefix_len = (size_t)(data[1] % (CODEC_PREFIX_MAX + 1));
	c.checksum_skip = data[1] >> 7 ? (size_t)-1 - (data[1] >> 3 & 3) : (size_t)(data[1] >> 3 & 7);
	for (i = 0; i < CODEC_PREFIX_MAX; i++)
		c.checksum_prefix[i] = (char)data[2 + i];
	in = (const char *)data + FUZZ_HDR;
	len = size - FUZZ_HDR;

	fuzz_codec_decode_any(&c, in, len, data[6]);
	fuzz_codec_round_trip(&c, in, len, data[7]);
	fuzz_codec_hex_bytes(&c, data + FUZZ_HDR, len);
	/* settings out of range are refused, never used */
	if ((data[0] & 0xC0) == 0xC0) {
		char out[8];
		size_t n;

		c.checksum = (enum codec_checksum)(6 + data[2] % 8);
		fuzz_codec_check(codec_decode_inbound(&c, in, len, out, sizeof(out), &n, NULL) < 0);
		fuzz_codec_check(codec_encode_outbound(&c, in, len, out, sizeof(out), &n, NULL) < 0);
	}
	return 0;
}
