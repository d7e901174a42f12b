/*
 * test_value.c - unit tests for gateway/value.c: typed values and filters.
 *
 * Each check is what a user writes inside ${...}, the captured text (or the
 * hex frame for typed fields) and what would be published or written; or
 * the reason the frame or command is refused. r() compiles, renders and
 * frees, and returns the text, or "!" followed by the reason, or "?" and
 * the compile error.
 */
#include <stdlib.h>
#include <string.h>

#include "template.h"
#include "unit.h"
#include "value.h"

static char out[1024];

static const char *r(const char *expr, const char *cap)
{
	struct value_expr e;
	char err[256];
	enum value_err ve;
	int n;

	if (value_compile(&e, expr, strlen(expr), err, sizeof(err)) < 0) {
		snprintf(out, sizeof(out), "?%s", err);
		return out;
	}
	n = value_render(&e, cap, cap ? strlen(cap) : 0, out, sizeof(out) - 1, &ve);
	if (n < 0)
		snprintf(out, sizeof(out), "!%s", value_err_str(ve));
	else
		out[n] = '\0';
	value_free(&e);
	return out;
}

#define NAN_ "!not a finite number (NaN or infinite)"
#define NOTNUM "!not a number"
#define RANGE "!number out of range"
#define PAST "!field past the end of the frame"
#define NOTINT "!not an integer (the format wants one: add int or round:0)"

TEST(int_filter)
{
	CHECK_STR(r("0|int", "1000"), "1000");
	CHECK_STR(r("0|int", "+001000"), "1000");
	CHECK_STR(r("0|int", "-42"), "-42");
	CHECK_STR(r("0|int", " 7 "), "7");
	CHECK_STR(r("0|int", "21.7"), "21");	/* toward zero */
	CHECK_STR(r("0|int", "-21.7"), "-21");
	CHECK_STR(r("0|int", "9223372036854775807"), "9223372036854775807");
	CHECK_STR(r("0|int", "-9223372036854775808"), "-9223372036854775808");
	CHECK_STR(r("0|int", "99999999999999999999"), RANGE);
	CHECK_STR(r("0|int", "1e300"), RANGE);
	CHECK_STR(r("0|int", "abc"), NOTNUM);
	CHECK_STR(r("0|int", "12abc"), NOTNUM);
	CHECK_STR(r("0|int", ""), NOTNUM);
	CHECK_STR(r("0|int", NULL), NOTNUM);
	CHECK_STR(r("0|int", "0x10"), NOTNUM);
	CHECK_STR(r("0|int", "nan"), NOTNUM);
	CHECK_STR(r("0|int", "inf"), NOTNUM);
	CHECK_STR(r("0|int", "1e999"), NAN_);
	CHECK_STR(r("0|int", "-"), NOTNUM);
	CHECK_STR(r("0|int", "."), NOTNUM);
	CHECK_STR(r("0|int", "1e"), NOTNUM);
}

TEST(float_filter)
{
	CHECK_STR(r("1|float", "21.5"), "21.5");
	CHECK_STR(r("1|float", "+001000"), "1000");
	CHECK_STR(r("1|float", ".5"), "0.5");
	CHECK_STR(r("1|float", "5."), "5");
	CHECK_STR(r("1|float", "-1.25e2"), "-125");
	CHECK_STR(r("1|float", "0.1"), "0.1");
	CHECK_STR(r("1|float", "1e-7"), "1e-07");
	CHECK_STR(r("1|float", "NaN"), NOTNUM);
	CHECK_STR(r("1|float", "1e400"), NAN_);
	CHECK_STR(r("1|float", "21,5"), NOTNUM);
	CHECK_STR(r("1|float", "1 2"), NOTNUM);
}

TEST(scale_and_offset)
{
	CHECK_STR(r("0|scale:0.1", "215"), "21.5");
	CHECK_STR(r("0|scale:10", "215"), "2150");
	CHECK_STR(r("0|scale:-1", "-9223372036854775807"), "9223372036854775807");
	CHECK_STR(r("0|scale:2", "9223372036854775807"), "1.84467440737096e+19");	/* past 64 bits: a double */
	CHECK_STR(r("0|scale:1e300|scale:1e300", "10"), NAN_);
	CHECK_STR(r("0|offset:-273.15", "300"), "26.85");
	CHECK_STR(r("0|offset:5", "-5"), "0");
	CHECK_STR(r("0|int|offset:1", "9223372036854775807"), "9.22337203685478e+18");
	CHECK_STR(r("0|scale:0.1", "x"), NOTNUM);
	CHECK_STR(r("0|scale:abc", "1"), "?scale:abc: not a decimal number");
	CHECK_STR(r("0|scale", "1"), "?filter scale needs an argument (scale:...)");
	CHECK_STR(r("0|int:3", "1"), "?filter int takes no argument");
}

TEST(round_filter)
{
	CHECK_STR(r("0|float|round:1", "21.45"), "21.5");	/* half away from zero, on the decimal text */
	CHECK_STR(r("0|float|round:1", "-21.45"), "-21.5");
	CHECK_STR(r("0|float|round:2", "2.675"), "2.68");
	CHECK_STR(r("0|float|round:1", "21"), "21.0");
	CHECK_STR(r("0|round:1", "21"), "21");	/* an integer stays one */
	CHECK_STR(r("0|float|round:0", "2.5"), "3");
	CHECK_STR(r("0|float|round:0", "-2.5"), "-3");
	CHECK_STR(r("0|float|round:0", "2.49"), "2");
	CHECK_STR(r("0|scale:0.1|round:1", "215"), "21.5");
	CHECK_STR(r("0|float|round:3", "0.0005"), "0.001");
	CHECK_STR(r("0|float|round:10", "1.23456789012"), "1.2345678901");
	CHECK_STR(r("0|float|round:0", "1e19"), RANGE);
	CHECK_STR(r("0|float|round:1", "1e300"), RANGE);	/* 300 digits */
	CHECK_STR(r("0|float|round:1", "1e20"), "100000000000000000000.0");
	CHECK_STR(r("0|scale:10|round:1", "1e308"), NAN_);
	CHECK_STR(r("0|round:11", "1"), "?round:11: decimals must be 0..10");
	CHECK_STR(r("0|round:-1", "1"), "?round:-1: decimals must be 0..10");
}

TEST(fmt_filter)
{
	CHECK_STR(r("0|int|fmt:%+d", "1000"), "+1000");
	CHECK_STR(r("0|int|fmt:%+d", "-5"), "-5");
	CHECK_STR(r("0|fmt:%06.2f", "3.14159"), "003.14");
	CHECK_STR(r("0|fmt:%x", "255"), "ff");
	CHECK_STR(r("0|fmt:%04X", "255"), "00FF");
	CHECK_STR(r("0|fmt:%x", "-1"), RANGE);
	CHECK_STR(r("0|fmt:%d%%", "50"), "50%");
	CHECK_STR(r("0|fmt:T=%ld", "7"), "T=7");
	CHECK_STR(r("0|fmt:%d", "1000.5"), NOTINT);
	CHECK_STR(r("0|fmt:%d", "1000.0"), "1000");
	CHECK_STR(r("0|fmt:%d", "1e300"), RANGE);
	CHECK_STR(r("0|fmt:%f", "1e300"), RANGE);	/* 300 digits: more than a value may print */
	CHECK_STR(r("0|fmt:%e", "12345"), "1.234500e+04");
	CHECK_STR(r("0|fmt:%d", "abc"), NOTNUM);
	CHECK_STR(r("0|fmt:%d%d", "1"), "?fmt:%d%d must have exactly one numeric conversion (%d, %.1f, ...), it has 2");
	CHECK_STR(r("0|fmt:abc", "1"), "?fmt:abc must have exactly one numeric conversion (%d, %.1f, ...), it has 0");
	CHECK(strstr(r("0|fmt:%s", "1"), "a conversion must be one of") != NULL);
	CHECK(strstr(r("0|fmt:%*d", "1"), "a conversion must be one of") != NULL);
	CHECK(strstr(r("0|fmt:%n", "1"), "a conversion must be one of") != NULL);
	CHECK(strstr(r("0|fmt:%hd", "1"), "a conversion must be one of") != NULL);
	CHECK_STR(r("0|fmt:%100d", "1"), "?fmt:%100d: width and precision are at most 2 digits");
	CHECK_STR(r("0|fmt:%.100f", "1"), "?fmt:%.100f: width and precision are at most 2 digits");
	CHECK_STR(r("0|fmt:%99.99f", "1e200"), RANGE);
}

TEST(text_filters)
{
	CHECK_STR(r("1|lower", "AbC-Ä"), "abc-Ä");
	CHECK_STR(r("1|upper", "abc"), "ABC");
	CHECK_STR(r("1|json", "a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
	CHECK_STR(r("1|upper|json", "x\"y"), "\"X\\\"Y\"");
	CHECK_STR(r("1|float|json", "21.50"), "\"21.5\"");
	CHECK_STR(r("1|json|upper", "x"), "?\"${1|json|upper}\": json must be the last filter");
	CHECK_STR(r("1|float|upper", "1e-9"), "1E-09");
	CHECK_STR(r("1|lower|float", " 2.5 "), "2.5");
	CHECK_STR(r("1|bogus", "x"), "?unknown filter \"bogus\" (known: int float scale:K offset:K round:D fmt:PRINTF "
				    "json lower upper)");
	CHECK_STR(r("1|", "x"), "?unknown filter \"\" (known: int float scale:K offset:K round:D fmt:PRINTF "
				"json lower upper)");
}

TEST(json_escape_is_valid_for_any_bytes)
{
	char buf[64];
	int n;

	n = value_json_escape("\x01\x1f\x7f", 3, buf, sizeof(buf));
	CHECK_INT(n, 13);
	buf[n > 0 ? n : 0] = '\0';
	CHECK_STR(buf, "\\u0001\\u001f\x7f");
	n = value_json_escape("a\0b", 3, buf, sizeof(buf));
	buf[n > 0 ? n : 0] = '\0';
	CHECK_STR(buf, "a\\u0000b");
	/* valid UTF-8 kept; a lone Latin-1 byte, a truncated sequence, a surrogate and an overlong: \u00XX */
	{
		static const char mixed[] = "\xc2\xb0 \xb0 \xe2\x82 \xed\xa0\x80 \xc0\xaf \xf0\x9f\x98\x80";

		n = value_json_escape(mixed, sizeof(mixed) - 1, buf, sizeof(buf));
	}
	buf[n > 0 ? n : 0] = '\0';
	CHECK_STR(buf, "\xc2\xb0 \\u00b0 \\u00e2\\u0082 \\u00ed\\u00a0\\u0080 \\u00c0\\u00af \xf0\x9f\x98\x80");
	CHECK_INT(value_json_escape("\"\"", 2, buf, 3), -1);
	CHECK_INT(value_json_escape("\x01", 1, buf, 5), -1);
	CHECK_INT(value_json_escape("\xe2\x82\xac", 3, buf, 2), -1);
	CHECK_INT(value_json_escape("\xe2\x82\xac", 3, buf, 3), 3);
}

TEST(typed_fields_both_byte_orders)
{
	/* bytes 00 01 02 ... at offset 0; the fields read at offset 1 */
	const char *f = "AA0102FF80";

	CHECK_STR(r("u8@0", f), "170");
	CHECK_STR(r("s8@0", f), "-86");
	CHECK_STR(r("u8@4", f), "128");
	CHECK_STR(r("s8@4", f), "-128");
	CHECK_STR(r("u16be@1", f), "258");
	CHECK_STR(r("u16le@1", f), "513");
	CHECK_STR(r("s16be@3", f), "-128");	/* FF80 */
	CHECK_STR(r("s16le@3", f), "-32513");	/* 80FF */
	CHECK_STR(r("u16be@3", f), "65408");
	CHECK_STR(r("u32be@0", "11223344"), "287454020");
	CHECK_STR(r("u32le@0", "11223344"), "1144201745");
	CHECK_STR(r("u32ws@0", "33441122"), "287454020");	/* CDAB */
	CHECK_STR(r("u32be@0", "FFFFFFFF"), "4294967295");
	CHECK_STR(r("s32be@0", "FFFFFFFF"), "-1");
	CHECK_STR(r("s32le@0", "00000080"), "-2147483648");
	CHECK_STR(r("s32ws@0", "FFFE7FFF"), "2147483646");	/* 7FFF FFFE */
	CHECK_STR(r("s32ws@0", "00008000"), "-2147483648");
	CHECK_STR(r("u16be@0", "ff7f"), "65407");	/* lower-case hex too */
}

TEST(float_fields)
{
	CHECK_STR(r("f32be@0", "41AC0000"), "21.5");
	CHECK_STR(r("f32le@0", "0000AC41"), "21.5");
	CHECK_STR(r("f32ws@0", "000041AC"), "21.5");
	CHECK_STR(r("f32be@0", "3DCCCCCD"), "0.1");	/* the float nearest 0.1, shown as people wrote it */
	CHECK_STR(r("f32be@0", "C2F6E979"), "-123.456");
	CHECK_STR(r("f32be@0", "7F7FFFFF"), "3.4028235e+38");
	CHECK_STR(r("f32be@0", "00000001"), "1.4013e-45");
	CHECK_STR(r("f32be@0", "80000000"), "-0");
	CHECK_STR(r("f32be@0", "7FC00000"), NAN_);	/* NaN */
	CHECK_STR(r("f32be@0", "7F800000"), NAN_);	/* +inf */
	CHECK_STR(r("f32le@0", "000080FF"), NAN_);	/* -inf */
	CHECK_STR(r("f32be@0|round:1", "41AC0000"), "21.5");
	CHECK_STR(r("f32be@0|scale:2", "41AC0000"), "43");
}

TEST(fields_past_the_end_and_offsets)
{
	CHECK_STR(r("u8@3", "010203"), PAST);
	CHECK_STR(r("u8@2", "010203"), "3");
	CHECK_STR(r("u16be@2", "010203"), PAST);
	CHECK_STR(r("u32be@0", "010203"), PAST);
	CHECK_STR(r("u32be@0", ""), PAST);
	CHECK_STR(r("u8@0", "0"), PAST);	/* half a byte */
	CHECK_STR(r("u32be@999999", "00000000"), PAST);
	CHECK_STR(r("u8@0", "ZZ"), NOTNUM);
	CHECK_STR(r("u16be@3|scale:0.1|round:1", "01030400"), PAST);
	CHECK_STR(r("u16be@3|scale:0.1|round:1", "01030400D7"), "21.5");
	CHECK(strstr(r("u16be@", "00"), "byte offset") != NULL);
	CHECK(strstr(r("u16be@x", "00"), "byte offset") != NULL);
	CHECK(strstr(r("u16be@1234567", "00"), "byte offset") != NULL);
	CHECK(strstr(r("u24be@0", "00"), "a value starts with") != NULL);
	CHECK(strstr(r("10", "00"), "a value starts with") != NULL);
	CHECK(strstr(r("x", "00"), "a value starts with") != NULL);
}

TEST(numeric_kind_is_known_at_load)
{
	struct value_expr e;
	char err[256];
	static const struct {
		const char *src;
		int numeric;
	} cases[] = { { "1", 0 },	   { "1|float", 1 },	   { "1|int|fmt:%d", 0 }, { "u8@0", 1 },
		      { "u8@0|upper", 0 }, { "1|lower|scale:2", 1 }, { "1|round:1", 1 },  { "1|json", 0 } };
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_INT(value_compile(&e, cases[i].src, strlen(cases[i].src), err, sizeof(err)), 0);
		CHECK_INT(e.numeric, cases[i].numeric);
		value_free(&e);
	}
}

TEST(render_respects_the_buffer)
{
	struct value_expr e;
	char err[256], small[4];
	enum value_err ve;

	CHECK_INT(value_compile(&e, "1|json", 6, err, sizeof(err)), 0);
	CHECK_INT(value_render(&e, "ab", 2, small, 4, &ve), 4);
	CHECK_INT(value_render(&e, "abc", 3, small, 4, &ve), -1);
	CHECK_INT(ve, VALUE_ERR_SPACE);
	value_free(&e);
	CHECK_INT(value_compile(&e, "1|upper", 7, err, sizeof(err)), 0);
	CHECK_INT(value_render(&e, "abcde", 5, small, 4, &ve), -1);
	CHECK_INT(ve, VALUE_ERR_SPACE);
	value_free(&e);
}

/* Through templates: both directions use the same parts. */
TEST(templates_with_values)
{
	struct template t;
	struct template_cap caps[3] = { { "1000", 4 }, { "21.45", 5 }, { NULL, 0 } };
	char err[256];
	enum value_err ve = VALUE_OK;
	int n;

	CHECK_INT(template_compile(&t, "DRVZ${0|int|fmt:%+d}", NULL, NULL, err, sizeof(err)), 0);
	CHECK_INT(template_is_whole(&t), 0);
	n = template_expand_why(&t, caps, 3, 0, out, sizeof(out), &ve);
	CHECK_INT(n, 9);
	CHECK_STR(out, "DRVZ+1000");
	template_free(&t);

	CHECK_INT(template_compile(&t, "${0|upper}", NULL, NULL, err, sizeof(err)), 0);
	CHECK_INT(template_is_whole(&t), 0);
	template_free(&t);
	CHECK_INT(template_compile(&t, "${0}/${1}", NULL, NULL, err, sizeof(err)), 0);
	CHECK_INT(t.has_values, 0);
	CHECK_INT(template_expand_why(&t, caps, 3, 0, out, sizeof(out), &ve), 10);
	CHECK_STR(out, "1000/21.45");
	template_free(&t);

	CHECK_INT(template_compile(&t, "T=${1|float|round:1} x${2|float}", NULL, NULL, err, sizeof(err)), 0);
	CHECK_INT(template_expand_why(&t, caps, 3, 0, out, sizeof(out), &ve), -1);
	CHECK_INT(ve, VALUE_ERR_NOT_NUMBER);	/* $2 did not participate */
	template_free(&t);

	/* a value in a topic is held to the same rules as a capture */
	CHECK_INT(template_compile(&t, "a/${1|lower}", NULL, NULL, err, sizeof(err)), 0);
	caps[1].ptr = "X/Y";
	caps[1].len = 3;
	ve = VALUE_OK;
	CHECK_INT(template_expand_why(&t, caps, 3, 1, out, sizeof(out), &ve), -1);
	CHECK_INT(ve, VALUE_OK);
	caps[1].ptr = "XY";
	caps[1].len = 2;
	CHECK_INT(template_expand_why(&t, caps, 3, 1, out, sizeof(out), &ve), 4);
	CHECK_STR(out, "a/xy");
	template_free(&t);

	CHECK_INT(template_compile(&t, "${1|nope}", NULL, NULL, err, sizeof(err)), -1);
	CHECK(strstr(err, "\"${1|nope}\": unknown filter \"nope\"") == err);
	CHECK_INT(template_compile(&t, "${1x}", NULL, NULL, err, sizeof(err)), -1);
	CHECK_INT(template_compile(&t, "${@}", NULL, NULL, err, sizeof(err)), -1);	/* found by fuzz_template */
	CHECK_INT(template_compile(&t, "${|}", NULL, NULL, err, sizeof(err)), -1);
	CHECK_INT(template_compile(&t, "$${1|int}", NULL, NULL, err, sizeof(err)), 0);
	CHECK_INT(template_expand_why(&t, caps, 3, 0, out, sizeof(out), &ve), 8);
	CHECK_STR(out, "${1|int}");
	template_free(&t);
}

int main(void)
{
	RUN(int_filter);
	RUN(float_filter);
	RUN(scale_and_offset);
	RUN(round_filter);
	RUN(fmt_filter);
	RUN(text_filters);
	RUN(json_escape_is_valid_for_any_bytes);
	RUN(typed_fields_both_byte_orders);
	RUN(float_fields);
	RUN(fields_past_the_end_and_offsets);
	RUN(numeric_kind_is_known_at_load);
	RUN(render_respects_the_buffer);
	RUN(templates_with_values);
	return UNIT_DONE();
}
