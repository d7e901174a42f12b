/*
 * test_template.c - unit tests for gateway/template.c.
 *
 * Templates are what a user writes in to = "mqtt:${station}/MOT01/POS/$1"
 * and payload = "$2"; the tests compile a template the way the config
 * loader does and compare the expanded text with what would be published
 * or written to a device. expand() is a small helper that compiles,
 * expands into a buffer and frees, returning the length (or -1) so each
 * check is one line: template, captures, expected output.
 *
 * Topic mode is the safety net that keeps bytes from a device from
 * publishing outside their route's prefix; it gets its own group of tests,
 * one per refused character, each next to the same capture being accepted
 * in payload mode.
 */
#include <stdlib.h>
#include <string.h>

#include "template.h"
#include "unit.h"

static char out[256];
static char err[256];

/* Captures from a list of C strings; NULL entries do not participate. */
static int mkcaps(struct template_cap *caps, const char *const *v, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		caps[i].ptr = v[i];
		caps[i].len = v[i] ? strlen(v[i]) : 0;
	}
	return n;
}

/* Compile src, expand with caps into out (outlen), free. -2: compile failed. */
static int expand_n(const char *src, const char *station, const char *name, const struct template_cap *caps,
		    int ncaps, int topic, size_t outlen)
{
	struct template t;
	int n;

	out[0] = '\0';
	err[0] = '\0';
	if (template_compile(&t, src, station, name, err, sizeof(err)) < 0)
		return -2;
	n = template_expand(&t, caps, ncaps, topic, out, outlen);
	template_free(&t);
	return n;
}

static int expand(const char *src, const struct template_cap *caps, int ncaps, int topic)
{
	return expand_n(src, "S013", "MOT01", caps, ncaps, topic, sizeof(out));
}

TEST(literal_text_is_copied)
{
	CHECK_INT(expand("hello world", NULL, 0, 0), 11);
	CHECK_STR(out, "hello world");
	CHECK_INT(expand("S013/MOT01/SEND", NULL, 0, 1), 15);
	CHECK_STR(out, "S013/MOT01/SEND");
}

TEST(empty_template_expands_to_empty_payload)
{
	CHECK_INT(expand("", NULL, 0, 0), 0);
	CHECK_STR(out, "");
	/* but an empty topic is never valid */
	CHECK_INT(expand("", NULL, 0, 1), -1);
}

TEST(dollar_zero_is_the_whole_frame)
{
	struct template_cap caps[1];
	struct template t;
	static const char *const v[] = {"POSZ+001000"};

	mkcaps(caps, v, 1);
	CHECK_INT(expand("$0", caps, 1, 0), 11);
	CHECK_STR(out, "POSZ+001000");
	CHECK_INT(expand("[$0]", caps, 1, 0), 13);
	CHECK_STR(out, "[POSZ+001000]");

	CHECK_INT(template_compile(&t, "$0", NULL, NULL, err, sizeof(err)), 0);
	CHECK_INT(template_is_whole(&t), 1);
	CHECK_INT(t.max_capture, 0);
	template_free(&t);
	CHECK_INT(template_compile(&t, "$0$0", NULL, NULL, err, sizeof(err)), 0);
	CHECK_INT(template_is_whole(&t), 0);
	template_free(&t);
	CHECK_INT(template_compile(&t, "x$0", NULL, NULL, err, sizeof(err)), 0);
	CHECK_INT(template_is_whole(&t), 0);
	template_free(&t);
	CHECK_INT(template_compile(&t, "abc", NULL, NULL, err, sizeof(err)), 0);
	CHECK_INT(template_is_whole(&t), 0);
	CHECK_INT(t.max_capture, -1);
	template_free(&t);
}

TEST(captures_one_to_nine)
{
	struct template_cap caps[10];
	static const char *const v[] = {"whole", "a", "b", "c", "d", "e", "f", "g", "h", "i"};
	struct template t;

	mkcaps(caps, v, 10);
	CHECK_INT(expand("$1$2$3$4$5$6$7$8$9", caps, 10, 0), 9);
	CHECK_STR(out, "abcdefghi");
	CHECK_INT(expand("$9-$1", caps, 10, 0), 3);
	CHECK_STR(out, "i-a");
	CHECK_INT(expand("$2$2", caps, 10, 0), 2);
	CHECK_STR(out, "bb");
	/* "$10" is capture 1 followed by a literal "0" */
	CHECK_INT(expand("$10", caps, 10, 0), 2);
	CHECK_STR(out, "a0");

	CHECK_INT(template_compile(&t, "x$3y$7", NULL, NULL, err, sizeof(err)), 0);
	CHECK_INT(t.max_capture, 7);
	template_free(&t);
}

TEST(missing_captures_expand_to_nothing)
{
	struct template_cap caps[3];
	static const char *const v[] = {"XY", NULL, "y"};

	mkcaps(caps, v, 3);
	/* $1 did not participate in the match */
	CHECK_INT(expand("<$1|$2>", caps, 3, 0), 4);
	CHECK_STR(out, "<|y>");
	/* $5 is beyond ncaps */
	CHECK_INT(expand("<$5>", caps, 3, 0), 2);
	CHECK_STR(out, "<>");
}

TEST(double_dollar_is_a_literal_dollar)
{
	struct template_cap caps[2];
	static const char *const v[] = {"frame", "cap"};

	mkcaps(caps, v, 2);
	CHECK_INT(expand("$$", caps, 2, 0), 1);
	CHECK_STR(out, "$");
	CHECK_INT(expand("a$$b", caps, 2, 0), 3);
	CHECK_STR(out, "a$b");
	CHECK_INT(expand("cost: $$$1", caps, 2, 0), 10);
	CHECK_STR(out, "cost: $cap");
	/* "$$1" is a literal "$1", not a capture */
	CHECK_INT(expand("$$1", caps, 2, 0), 2);
	CHECK_STR(out, "$1");
	CHECK_INT(expand("$$$$", caps, 2, 0), 2);
	CHECK_STR(out, "$$");
}

TEST(double_dollar_escapes_a_variable)
{
	/*
	 * "$$" is a literal "$" wherever it is, so "$${station}" is the text
	 * "${station}" (as make does with "$${x}"), not an error.
	 */
	CHECK_INT(expand("$${station}", NULL, 0, 0), 10);
	CHECK_STR(out, "${station}");
	CHECK_STR(err, "");
}

TEST(station_and_name_variables)
{
	struct template_cap caps[2];
	static const char *const v[] = {"POSZ+1", "Z"};

	mkcaps(caps, v, 2);
	CHECK_INT(expand("${station}/${name}/POS/$1", caps, 2, 1), 16);
	CHECK_STR(out, "S013/MOT01/POS/Z");
	CHECK_INT(expand("${station}${station}", NULL, 0, 0), 8);
	CHECK_STR(out, "S013S013");
	CHECK_INT(expand("mqttgw-${station}", NULL, 0, 0), 11);
	CHECK_STR(out, "mqttgw-S013");
	/* a variable's value is literal text, even when long */
	CHECK_INT(expand_n("${name}", "S", "A_very-long_device_name_0123456789", NULL, 0, 0, sizeof(out)), 34);
	CHECK_STR(out, "A_very-long_device_name_0123456789");
}

TEST(subst_vars_leaves_captures_alone)
{
	char *s = template_subst_vars("${station}/${name}/$1/$$", "S013", "MOT01", err, sizeof(err));

	CHECK_STR(s, "S013/MOT01/$1/$$");
	free(s);
	s = template_subst_vars("no variables", NULL, NULL, err, sizeof(err));
	CHECK_STR(s, "no variables");
	free(s);
}

TEST(unknown_variable_refused)
{
	CHECK_INT(expand("${stat}/x", NULL, 0, 0), -2);
	CHECK_STR(err, "unknown variable \"${stat}\" in \"${stat}/x\" (known: ${station}, ${name})");
	CHECK_INT(expand("${}", NULL, 0, 0), -2);
	CHECK(strstr(err, "unknown variable \"${}\"") != NULL);
	CHECK_INT(expand("${STATION}", NULL, 0, 0), -2);
	CHECK(strstr(err, "unknown variable") != NULL);
	CHECK(template_subst_vars("${x}", "S", "N", err, sizeof(err)) == NULL);
}

TEST(unterminated_variable_refused)
{
	CHECK_INT(expand("${station", NULL, 0, 0), -2);
	CHECK_STR(err, "unterminated \"${\" in \"${station\"");
	CHECK_INT(expand("a/${", NULL, 0, 0), -2);
	CHECK(strstr(err, "unterminated") != NULL);
}

TEST(variables_without_a_value_refused)
{
	CHECK_INT(expand_n("${station}/x", NULL, "MOT01", NULL, 0, 0, sizeof(out)), -2);
	CHECK_STR(err, "\"${station}/x\" uses ${station} but no station is set");
	CHECK_INT(expand_n("${name}", "S013", NULL, NULL, 0, 0, sizeof(out)), -2);
	CHECK_STR(err, "\"${name}\" uses ${name} where no device is named");
}

TEST(stray_dollar_refused)
{
	CHECK_INT(expand("$", NULL, 0, 0), -2);
	CHECK_STR(err, "\"$\": \"$\" must be followed by 0-9, $ or {");
	CHECK_INT(expand("price $x", NULL, 0, 0), -2);
	CHECK(strstr(err, "must be followed by 0-9, $ or {") != NULL);
	CHECK_INT(expand("a$", NULL, 0, 0), -2);
	CHECK_INT(expand("$ 1", NULL, 0, 0), -2);
}

TEST(topic_mode_accepts_plain_captures)
{
	struct template_cap caps[3];
	static const char *const v[] = {"T=room1 21.5", "room1", "21.5"};

	mkcaps(caps, v, 3);
	CHECK_INT(expand("S013/SENS/$1", caps, 3, 1), 15);
	CHECK_STR(out, "S013/SENS/room1");
	/* "." "-" "_" spaces and other bytes are fine in a level */
	CHECK_INT(expand("S013/SENS/$2", caps, 3, 1), 14);
	CHECK_STR(out, "S013/SENS/21.5");
	CHECK_INT(expand("$1/$2", caps, 3, 1), 10);
	CHECK_STR(out, "room1/21.5");
}

TEST(topic_mode_refuses_shape_changing_captures)
{
	/* ... and text a broker hangs up on: controls, broken UTF-8, U+FFFE, U+FDD0 */
	static const char *const bad[] = {"a/b", "/", "+", "#", "a+", "x#", "$SYS", "a$", "A\x01", "\xc2\x85",
					  "\xff", "T\xef\xbf\xbe", "\xef\xb7\x90"};
	struct template_cap caps[2];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *v[] = {"frame", bad[i]};
		int n;

		mkcaps(caps, v, 2);
		n = expand("S013/SENS/$1", caps, 2, 1);
		if (n != -1) {
			printf("# capture \"%s\" accepted in a topic: \"%s\"\n", bad[i], out);
			unit_cur_failed = 1;
		}
		/* the same bytes are fine in a payload */
		n = expand("S013/SENS/$1", caps, 2, 0);
		CHECK_INT(n, 10 + (int)strlen(bad[i]));
	}
}

TEST(topic_mode_refuses_nul_in_capture)
{
	struct template_cap caps[2];

	caps[0].ptr = "ab\0cd";
	caps[0].len = 5;
	caps[1].ptr = caps[0].ptr + 1;
	caps[1].len = 3; /* "b\0c" */
	CHECK_INT(expand("x/$1", caps, 2, 1), -1);
	CHECK_INT(expand("x/$0", caps, 2, 1), -1);
	/* in a payload the NUL is kept, length and all */
	CHECK_INT(expand("x/$1", caps, 2, 0), 5);
	CHECK(memcmp(out, "x/b\0c", 5) == 0);
}

TEST(topic_mode_refuses_empty_levels)
{
	struct template_cap caps[2];
	static const char *const empty[] = {"frame", ""};
	static const char *const unset[] = {"frame", NULL};

	mkcaps(caps, empty, 2);
	CHECK_INT(expand("a/$1/b", caps, 2, 1), -1); /* "a//b" */
	CHECK_INT(expand("$1/b", caps, 2, 1), -1);   /* "/b" */
	CHECK_INT(expand("a/$1", caps, 2, 1), -1);   /* "a/" */
	CHECK_INT(expand("$1", caps, 2, 1), -1);     /* "" */
	/* an empty capture inside a level is fine */
	CHECK_INT(expand("a/x$1y", caps, 2, 1), 4);
	CHECK_STR(out, "a/xy");
	/* a capture that did not participate is empty too */
	mkcaps(caps, unset, 2);
	CHECK_INT(expand("a/$1", caps, 2, 1), -1);
	/* in payload mode all of these are fine */
	CHECK_INT(expand("a/$1", caps, 2, 0), 2);
	CHECK_STR(out, "a/");
}

TEST(output_buffer_too_small_returns_minus_one)
{
	struct template_cap caps[2];
	static const char *const v[] = {"0123456789", "abcdef"};

	mkcaps(caps, v, 2);
	/* "x-abcdef" is 8 bytes: needs 9 with the NUL */
	CHECK_INT(expand_n("x-$1", "S", "N", caps, 2, 0, 9), 8);
	CHECK_STR(out, "x-abcdef");
	CHECK_INT(expand_n("x-$1", "S", "N", caps, 2, 0, 8), -1);
	CHECK_INT(expand_n("x-$1", "S", "N", caps, 2, 0, 1), -1);
	/* literal text alone */
	CHECK_INT(expand_n("hello", "S", "N", NULL, 0, 0, 6), 5);
	CHECK_INT(expand_n("hello", "S", "N", NULL, 0, 0, 5), -1);
	/* the whole frame */
	CHECK_INT(expand_n("$0", "S", "N", caps, 2, 0, 11), 10);
	CHECK_INT(expand_n("$0", "S", "N", caps, 2, 0, 10), -1);
	/* topic mode too */
	CHECK_INT(expand_n("t/$1", "S", "N", caps, 2, 1, 9), 8);
	CHECK_INT(expand_n("t/$1", "S", "N", caps, 2, 1, 8), -1);
}

TEST(overflow_never_writes_past_the_buffer)
{
	struct template_cap caps[1];
	char small[8];
	struct template t;
	static const char *const v[] = {"0123456789012345"};

	mkcaps(caps, v, 1);
	memset(small, 'Z', sizeof(small));
	CHECK_INT(template_compile(&t, "ab$0cd", NULL, NULL, err, sizeof(err)), 0);
	CHECK_INT(template_expand(&t, caps, 1, 0, small, 4), -1);
	CHECK(small[4] == 'Z' && small[7] == 'Z');
	template_free(&t);
}

TEST(free_is_idempotent)
{
	struct template t;

	template_free(NULL);
	CHECK_INT(template_compile(&t, "${station}/$1", "S", NULL, err, sizeof(err)), 0);
	template_free(&t);
	template_free(&t);
	CHECK(t.text == NULL && t.parts == NULL && t.n_parts == 0);
	/* a failed compile leaves nothing to free but may be freed */
	CHECK_INT(template_compile(&t, "$x", NULL, NULL, err, sizeof(err)), -1);
	template_free(&t);
}

int main(void)
{
	RUN(literal_text_is_copied);
	RUN(empty_template_expands_to_empty_payload);
	RUN(dollar_zero_is_the_whole_frame);
	RUN(captures_one_to_nine);
	RUN(missing_captures_expand_to_nothing);
	RUN(double_dollar_is_a_literal_dollar);
	RUN(double_dollar_escapes_a_variable);
	RUN(station_and_name_variables);
	RUN(subst_vars_leaves_captures_alone);
	RUN(unknown_variable_refused);
	RUN(unterminated_variable_refused);
	RUN(variables_without_a_value_refused);
	RUN(stray_dollar_refused);
	RUN(topic_mode_accepts_plain_captures);
	RUN(topic_mode_refuses_shape_changing_captures);
	RUN(topic_mode_refuses_nul_in_capture);
	RUN(topic_mode_refuses_empty_levels);
	RUN(output_buffer_too_small_returns_minus_one);
	RUN(overflow_never_writes_past_the_buffer);
	RUN(free_is_idempotent);
	return UNIT_DONE();
}
