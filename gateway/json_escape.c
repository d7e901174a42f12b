/*
 * json_escape.c - bytes as the inside of a JSON string, valid for any input.
 *
 * The one escaping rule of every string mqttgw puts into JSON from a
 * device (the json filter, json = { } payloads): '"', '\\' and control
 * characters escaped, valid UTF-8 copied, and every byte that is not part
 * of valid UTF-8 (RFC 3629: no overlongs, no surrogates, nothing past
 * U+10FFFF) taken as its Latin-1 code point, so the text is RFC 8259 JSON
 * whatever a device sends. Apart from value.c to keep both files short.
 */
#include <string.h>

#include "json_escape.h"

unsigned char json_escape_case(unsigned char c, int kase)
{
	if (kase == 'l' && c >= 'A' && c <= 'Z')
		return (unsigned char)(c + 32);
	if (kase == 'u' && c >= 'a' && c <= 'z')
		return (unsigned char)(c - 32);
	return c;
}

/* Length of the valid UTF-8 sequence at s[0..n) (1..4), or 0 when s[0] does not start one. */
static size_t json_escape_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len, i;
	unsigned char lo = 0x80, hi = 0xBF;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;	/* no surrogates */
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

int json_escape(const char *src, size_t n, int kase, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, w = 0, u;

	while (i < n) {
		unsigned char c = json_escape_case(s[i], kase);
		const char *esc = NULL;

		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default: break;
		}
		if (esc) {
			if (w + 2 > outlen)
				return -1;
			memcpy(out + w, esc, 2);
			w += 2;
			i++;
			continue;
		}
		u = c < 0x20 ? 0 : json_escape_utf8_len(s + i, n - i);
		if (u == 0) {
			/* a control character, or a byte outside valid UTF-8: its Latin-1 code point */
			if (w + 6 > outlen)
				return -1;
			memcpy(out + w, "\\u00", 4);
			out[w + 4] = hex[c >> 4];
			out[w + 5] = hex[c & 15];
			w += 6;
			i++;
			continue;
		}
		if (w + u > outlen)
			return -1;
		out[w++] = (char)c;
		if (u > 1)
			memcpy(out + w, s + i + 1, u - 1);
		w += u - 1;
		i += u;
	}
	return (int)w;
}
