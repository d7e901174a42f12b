/*
 * fuzz_json.c - libFuzzer target for JSON payloads (payload_json.c, value.c).
 *
 * One config with two json routes: one of text members (a raw capture, a
 * capture inside text, lower/upper, constants, nesting), which never
 * refuses, and one of numbers (from text, a typed field, a formatted
 * number). Input: the bytes are cut at 0xff into $1..$9 (0xfe alone: a
 * capture that did not participate); $0 is the whole input for the first
 * route and the first piece for the second (typed fields read $0 as hex).
 * Each payload template is expanded as mapping_uplink does, and then:
 *  - a refusal must name a value reason (not a number, not finite, ...);
 *  - an accepted payload must be one JSON text for cJSON_ParseWithOpts,
 *    and also pass a strict check of our own (valid UTF-8, no raw control
 *    byte: cJSON copies raw bytes without judging them);
 *  - the strings must come back: "raw" and "whole" equal $1 and $0 as read
 *    by an independent decoder (valid UTF-8 kept, any other byte taken as
 *    Latin-1), up to a NUL (cJSON strings end there); "up" equals $1 upper-cased.
 * Any difference aborts with the input on stderr.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_MAX 65536

static const char cfg_text[] =
	"station = \"S013\";\n"
	"mqtt = { uri = \"tcp://127.0.0.1:1883\"; };\n"
	"serial = ( { name = \"MB\"; port = \"/dev/null\"; encoding = \"hex\"; } );\n"
	"routes = ( { from = \"serial:MB\"; match = \"^(.)(.)(.)(.)(.)(.)(.)(.)(.)$\"; to = \"mqtt:S013/MB/state\";\n"
	"  json = { raw = \"$1\"; whole = \"$0\"; up = \"${1|upper}\"; in = \"<$2|${3|lower}>\";\n"
	"           k = 1; b = true; x = 2.5; st = \"${station}\\\"\\\\\";\n"
	"           sub = { l = ( \"$5\", 3, { d = \"a${6|upper}\"; } ); }; }; },\n"
	"  { from = \"serial:MB\"; match = \"^(.)(.)(.)(.)(.)$\"; to = \"mqtt:S013/MB/n\";\n"
	"  json = { num = \"${2|float|round:2}\"; i = \"${3|int}\"; f = \"${u16be@1|scale:0.1}\";\n"
	"           s = \"${4|fmt:%+.3e}\"; g = \"${f32ws@0}\"; d = \"${5|offset:-1}\"; }; } );\n";

static struct config *cfg;

static void fail(const char *what, const uint8_t *data, size_t size, const char *payload)
{
	size_t i;

	fprintf(stderr, "%s\ninput:", what);
	for (i = 0; i < size; i++)
		fprintf(stderr, " %02x", data[i]);
	fprintf(stderr, "\npayload: %s\n", payload ? payload : "(none)");
	abort();
}

/* Valid UTF-8 sequence length at p (1..4), 0 if none: written from RFC 3629's table. */
static size_t ref_utf8(const unsigned char *p, size_t n)
{
	unsigned long cp;
	size_t need, k;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		need = 1, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		need = 2, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		need = 3, cp = p[0] & 0x07;
	else
		return 0;
	if (need >= n)
		return 0;
	for (k = 1; k <= need; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[k] & 0x3f);
	}
	if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need + 1;
}

/* What a JSON reader should get back for s: UTF-8 kept, other bytes as Latin-1; cut at NUL. */
static char *ref_decode(const char *s, size_t n, int upper)
{
	char *out = malloc(n * 2 + 1);
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, w = 0, u;

	if (!out)
		abort();
	while (i < n && p[i]) {
		u = ref_utf8(p + i, n - i);
		if (u == 0) {
			out[w++] = (char)(0xc0 | p[i] >> 6);
			out[w++] = (char)(0x80 | (p[i] & 0x3f));
			i++;
			continue;
		}
		memcpy(out + w, p + i, u);
		if (upper && u == 1 && out[w] >= 'a' && out[w] <= 'z')
			out[w] = (char)(out[w] - 32);
		w += u;
		i += u;
	}
	out[w] = '\0';
	return out;
}

/* RFC 8259 text is UTF-8 and a string holds no raw byte below 0x20; outside strings only blanks are allowed */
static int strict_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, u;

	while (i < n) {
		if (p[i] < 0x20)
			return 0;
		u = ref_utf8(p + i, n - i);
		if (u == 0)
			return 0;
		i += u;
	}
	return 1;
}

static void check_string(const cJSON *j, const char *key, const char *want, const uint8_t *data, size_t size,
			 const char *payload)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, key);

	if (!cJSON_IsString(m))
		fail("member is not a string", data, size, payload);
	if (strcmp(m->valuestring, want) != 0)
		fail("string did not round-trip", data, size, payload);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[OUT_MAX];
	struct template_cap caps[TEMPLATE_MAX_CAPS];
	const char *s = (const char *)data, *rest = s, *end = s + size;
	enum value_err verr = VALUE_OK;
	char err[CONFIG_ERRLEN];
	int ncaps = 1, n;
	cJSON *j;

	if (!cfg && !(cfg = config_load_string(cfg_text, "fuzz_json.cfg", err, sizeof(err)))) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	caps[0].ptr = s;
	caps[0].len = size;
	while (ncaps < TEMPLATE_MAX_CAPS && rest <= end) {
		const char *cut = memchr(rest, 0xff, (size_t)(end - rest));
		size_t len = cut ? (size_t)(cut - rest) : (size_t)(end - rest);

		caps[ncaps].ptr = (len == 1 && (unsigned char)rest[0] == 0xfe) ? NULL : rest;
		caps[ncaps].len = caps[ncaps].ptr ? len : 0;
		ncaps++;
		if (!cut)
			break;
		rest = cut + 1;
	}
	n = template_expand(&cfg->routes[0].payload_tpl, caps, ncaps, 0, out, sizeof(out));
	if (n < 0)
		fail("text members refused", data, size, NULL);
	if ((size_t)n >= sizeof(out) || out[n] != '\0')
		fail("not NUL-terminated inside the buffer", data, size, NULL);
	if (!strict_ok(out, (size_t)n))
		fail("not strict RFC 8259 text (bad UTF-8 or a raw control byte)", data, size, out);
	j = cJSON_ParseWithOpts(out, NULL, 1);
	if (!j)
		fail("cJSON_Parse refused the payload", data, size, out);
	{
		char *raw = ref_decode(caps[1].ptr ? caps[1].ptr : "", caps[1].len, 0);
		char *up = ref_decode(caps[1].ptr ? caps[1].ptr : "", caps[1].len, 1);
		char *whole = ref_decode(s, size, 0);

		check_string(j, "raw", raw, data, size, out);
		check_string(j, "up", up, data, size, out);
		check_string(j, "whole", whole, data, size, out);
		free(raw);
		free(up);
		free(whole);
	}
	check_string(j, "st", "S013\"\\", data, size, out);
	cJSON_Delete(j);

	/* the numbers: $0 is the first piece, read as hex by the typed fields */
	caps[0] = caps[1];
	if (!caps[0].ptr)
		caps[0].ptr = "";
	n = template_expand_why(&cfg->routes[1].payload_tpl, caps, ncaps, 0, out, sizeof(out), &verr);
	if (n < 0) {
		if (verr == VALUE_OK || verr == VALUE_ERR_SPACE)
			fail("numbers refused without a value reason", data, size, NULL);
		return 0;
	}
	if (!strict_ok(out, (size_t)n) || !(j = cJSON_ParseWithOpts(out, NULL, 1)))
		fail("numbers: not JSON", data, size, out);
	if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "num")) ||
	    !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "i")) ||
	    !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "f")) ||
	    !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "g")) ||
	    !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "d")))
		fail("a numeric placeholder is not a JSON number", data, size, out);
	if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "s")))
		fail("fmt did not give a string", data, size, out);
	cJSON_Delete(j);
	return 0;
}
