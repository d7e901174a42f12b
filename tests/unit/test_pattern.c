/*
 * test_pattern.c - unit tests for common/pattern.c: the regex syntax users
 * know (\d \w \s, (?:...), lazy quantifiers) works, the ERE-era semantics
 * configs rely on hold (byte-wise, '.' takes a newline, '$' only at the very
 * end, matching on the length with NUL bytes), where PCRE2 and POSIX differ
 * (leftmost-first alternation), and what a bad pattern says.
 */
#include <string.h>

#include "pattern.h"
#include "template.h"
#include "unit.h"

/* 1 when src matches s (a C string); -1 when src does not compile. */
static int m(const char *src, const char *s)
{
	struct pattern p;
	char err[200];
	int rc;

	if (pattern_compile(&p, src, err, sizeof(err)) < 0)
		return -1;
	rc = pattern_match(&p, s, strlen(s), NULL, 0);
	pattern_free(&p);
	return rc;
}

/* Capture n of src on s, as a string ("(unset)" when it took no part). */
static const char *cap(const char *src, const char *s, int n)
{
	static char out[128];
	struct template_cap caps[TEMPLATE_MAX_CAPS];
	struct pattern p;
	char err[200];

	if (pattern_compile(&p, src, err, sizeof(err)) < 0)
		return "(bad)";
	if (!pattern_match(&p, s, strlen(s), caps, TEMPLATE_MAX_CAPS))
		snprintf(out, sizeof(out), "(no match)");
	else if (!caps[n].ptr)
		snprintf(out, sizeof(out), "(unset)");
	else
		snprintf(out, sizeof(out), "%.*s", (int)caps[n].len, caps[n].ptr);
	pattern_free(&p);
	return out;
}

TEST(the_syntax_users_know)
{
	CHECK_INT(m("^DRVZ[+-]\\d{1,6}$", "DRVZ+1000"), 1);
	CHECK_INT(m("^DRVZ[+-]\\d{1,6}$", "DRVZ+d"), 0);
	CHECK_INT(m("^\\w+\\s\\w+$", "T_1 ok"), 1);
	CHECK_INT(m("^\\w+\\s\\w+$", "T-1 ok"), 0);
	CHECK_STR(cap("^(?:POS)([XYZ])", "POSZ+1", 1), "Z");
	CHECK_STR(cap("^<(.+?)>", "<a><b>", 1), "a");
	CHECK_STR(cap("^<(.+)>", "<a><b>", 1), "a><b");
}

TEST(ere_patterns_keep_their_meaning)
{
	CHECK_INT(m("^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME)$", "DRVX-12"), 1);
	CHECK_INT(m("^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME)$", "DRVX-1234567"), 0);
	CHECK_INT(m("^[[:digit:]]+$", "123"), 1);
	CHECK_INT(m("OK", "xxOKxx"), 1); /* unanchored: a search, as regexec */
	/* '.' takes a newline and '$' is the very end, as in ERE without REG_NEWLINE */
	CHECK_INT(m("^a.b$", "a\nb"), 1);
	CHECK_INT(m("c$", "abc\n"), 0);
	CHECK_INT(m("^(a|ab)$", "ab"), 1);
}

TEST(alternation_is_leftmost_first)
{
	/* POSIX took the longest ("ab"); PCRE2 the first alternative that matches */
	CHECK_STR(cap("^(a|ab)", "abc", 1), "a");
	CHECK_STR(cap("^(ab|a)", "abc", 1), "ab");
	/* anchored at the end, backtracking finds the same as POSIX */
	CHECK_STR(cap("^(a|ab)(c)$", "abc", 1), "ab");
	CHECK_STR(cap("^(x)?(y)", "y", 1), "(unset)");
}

TEST(frames_are_bytes_with_their_length)
{
	static const char frame[] = "AB\0\xff\x80Z";
	struct template_cap caps[2];
	struct pattern p;
	char err[200];

	CHECK_INT(pattern_compile(&p, "^AB\\x00(..)Z$", err, sizeof(err)), 0);
	CHECK_INT(pattern_match(&p, frame, sizeof(frame) - 1, caps, 2), 1);
	CHECK_INT(caps[1].len, 2);
	CHECK(memcmp(caps[1].ptr, "\xff\x80", 2) == 0);
	/* the length is the frame: one byte shorter and Z is not there */
	CHECK_INT(pattern_match(&p, frame, sizeof(frame) - 2, caps, 2), 0);
	pattern_free(&p);
}

TEST(bad_patterns_say_what_and_where)
{
	struct pattern p;
	char err[200];

	CHECK_INT(pattern_compile(&p, "^POS([XYZ]", err, sizeof(err)), -1);
	CHECK_STR(err, "missing closing parenthesis at offset 10");
	CHECK_INT(pattern_compile(&p, "x{2,1}", err, sizeof(err)), -1);
	CHECK_STR(err, "numbers out of order in {} quantifier at offset 5");
	pattern_free(&p); /* a failed compile leaves nothing to free; free accepts it */
}

TEST(runaway_backtracking_is_no_match)
{
	static char s[4096];

	memset(s, 'a', sizeof(s) - 2);
	s[sizeof(s) - 2] = '!';
	/* nested quantifiers: exponential without the match limit */
	CHECK_INT(m("^(a+)+$", s), 0);
	CHECK_INT(m("^(a|aa)+$", s), 0);
}

int main(void)
{
	RUN(the_syntax_users_know);
	RUN(ere_patterns_keep_their_meaning);
	RUN(alternation_is_leftmost_first);
	RUN(frames_are_bytes_with_their_length);
	RUN(bad_patterns_say_what_and_where);
	RUN(runaway_backtracking_is_no_match);
	return UNIT_DONE();
}
