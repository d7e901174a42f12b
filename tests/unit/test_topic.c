/*
 * test_topic.c - unit tests for gateway/topic.c (MQTT names and filters).
 *
 * Every route from mqtt is chosen by topic_matches(), so these tests are
 * written as tables of (filter, topic, expected) taken from MQTT 3.1.1
 * section 4.7 and its examples: what a subscriber to that filter would or
 * would not receive. Validity checks get the same treatment: the filters a
 * broker accepts and the ones it refuses. A table row that fails prints the
 * filter and topic, so a failure reads like a bug report.
 */
#include <stdlib.h>
#include <string.h>

#include "topic.h"
#include "unit.h"

struct match_row {
	const char *filter;
	const char *topic;
	int want;
};

static void check_rows(const struct match_row *rows, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int got = topic_matches(rows[i].filter, rows[i].topic);

		if (got != rows[i].want) {
			printf("# topic_matches(\"%s\", \"%s\") == %d, expected %d\n", rows[i].filter,
			       rows[i].topic, got, rows[i].want);
			unit_cur_failed = 1;
		}
	}
}

#define ROWS(r) check_rows((r), sizeof(r) / sizeof((r)[0]))

TEST(filter_valid_accepts_spec_examples)
{
	static const char *const ok[] = {"#",	  "+",	    "a",     "a/b",	"a/+/c",  "a/#",
					 "+/+",	  "+/#",    "/",     "/+",	"a//b",	  "$SYS/#",
					 "a/b/c/d/e/f/g/h", "sport/tennis/+", "a b/c d", "+/+/+"};
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (topic_filter_valid(ok[i]) != 0) {
			printf("# filter \"%s\" refused\n", ok[i]);
			unit_cur_failed = 1;
		}
	}
}

TEST(filter_valid_refuses_misplaced_wildcards)
{
	static const char *const bad[] = {"",	  "a#",	 "#a",	 "a/#/b", "#/a", "a+",	"+a",  "a/b+",
					  "a/+b", "##",	 "++",	 "a/##",  "+#",	 "#+",	"a/#/"};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (topic_filter_valid(bad[i]) != -1) {
			printf("# filter \"%s\" accepted\n", bad[i]);
			unit_cur_failed = 1;
		}
	}
	CHECK_INT(topic_filter_valid(NULL), -1);
}

TEST(filter_and_name_length_limit_is_topic_len_max)
{
	char s[TOPIC_LEN_MAX + 2];

	memset(s, 'a', TOPIC_LEN_MAX);
	s[TOPIC_LEN_MAX] = '\0';
	CHECK_INT(topic_filter_valid(s), 0);
	CHECK_INT(topic_name_valid(s), 0);
	s[TOPIC_LEN_MAX] = 'a';
	s[TOPIC_LEN_MAX + 1] = '\0';
	CHECK_INT(topic_filter_valid(s), -1);
	CHECK_INT(topic_name_valid(s), -1);
}

TEST(name_valid)
{
	CHECK_INT(topic_name_valid("S013/MOT01/POS/Z"), 0);
	CHECK_INT(topic_name_valid("a"), 0);
	CHECK_INT(topic_name_valid("/"), 0);
	CHECK_INT(topic_name_valid("caf\xc3\xa9/\xe2\x82\xac"), 0);	/* UTF-8 is fine */
	CHECK_INT(topic_name_valid("$SYS/broker/uptime"), -1);	/* the broker's, not ours to publish */
	CHECK_INT(topic_name_valid(""), -1);
	CHECK_INT(topic_name_valid(NULL), -1);
	CHECK_INT(topic_name_valid("a/+"), -1);
	CHECK_INT(topic_name_valid("a/#"), -1);
	CHECK_INT(topic_name_valid("+"), -1);
	CHECK_INT(topic_name_valid("a+b"), -1);
}

/* What mosquitto hangs up on: controls, broken UTF-8, surrogates, noncharacters. */
TEST(text_a_broker_refuses_is_refused)
{
	static const char *const bad[] = {
		"A\x01B", "A\x7f", "A\xc2\x85", "\xff", "\xc3", "\xc0\x80", "\xed\xa0\x80",
		"T\xef\xbf\xbe", "T\xef\xbf\xbf", "\xef\xb7\x90", "\xef\xb7\xaf", "\xf0\x9f\xbf\xbe",
		"\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (topic_text_ok(bad[i], strlen(bad[i])) || topic_name_valid(bad[i]) == 0 ||
		    topic_filter_valid(bad[i]) == 0) {
			printf("# accepted: case %zu\n", i);
			CHECK(0);
		}
	}
	CHECK(topic_text_ok("\xef\xb7\x8f\xef\xb7\xb0\xef\xbf\xbd", 9));	/* U+FDCF, U+FDF0, U+FFFD */
	CHECK(topic_text_ok("\xf0\x9f\x98\x80", 4));				/* an emoji */
	CHECK_INT(topic_filter_valid("$SYS/#"), 0);				/* subscribing is fine */
}

TEST(literal_filters_match_exactly)
{
	static const struct match_row rows[] = {
	    {"a/b", "a/b", 1},	 {"a/b", "a/c", 0},   {"a", "a/b", 0},	   {"a/b", "a", 0},
	    {"ab", "a", 0},	 {"a", "ab", 0},      {"a/b", "a/b/", 0},  {"a/b/", "a/b", 0},
	    {"A", "a", 0},	 {"/a", "a", 0},      {"a", "/a", 0},	   {"/", "/", 1},
	    {"a//b", "a//b", 1}, {"a//b", "a/b", 0},  {"a b", "a b", 1},   {"S013/MOT01/RECM", "S013/MOT01/RECM", 1},
	    {"$SYS/x", "$SYS/x", 1}};

	ROWS(rows);
}

TEST(plus_matches_exactly_one_level)
{
	static const struct match_row rows[] = {
	    {"+", "a", 1},
	    {"+", "a/b", 0},
	    {"+", "/a", 0},
	    {"a/+", "a/b", 1},
	    {"a/+", "a/b/c", 0},
	    {"a/+", "a", 0},
	    {"a/+", "a/", 1}, /* an empty level is a level */
	    {"a/+/c", "a/x/c", 1},
	    {"a/+/c", "a/x/y/c", 0},
	    {"a/+/c", "a/c", 0},
	    {"a/+/c", "a//c", 1},
	    {"+/+", "/finance", 1}, /* the spec's own example */
	    {"/+", "/finance", 1},
	    {"+", "/finance", 0},
	    {"+/b", "a/b", 1},
	    {"+/b", "a/c", 0},
	    {"+/+/+", "a/b/c", 1},
	    {"+/+/+", "a/b", 0},
	    {"sport/tennis/+", "sport/tennis/player1", 1},
	    {"sport/tennis/+", "sport/tennis/player1/ranking", 0},
	    {"sport/+", "sport", 0},
	    {"sport/+", "sport/", 1}};

	ROWS(rows);
}

TEST(hash_matches_rest_and_parent)
{
	static const struct match_row rows[] = {
	    {"#", "a", 1},
	    {"#", "a/b/c", 1},
	    {"#", "/", 1},
	    {"#", "/a", 1},
	    {"a/#", "a", 1}, /* "sport/#" matches "sport" */
	    {"a/#", "a/", 1},
	    {"a/#", "a/b", 1},
	    {"a/#", "a/b/c/d", 1},
	    {"a/#", "ab", 0},
	    {"a/#", "b/a", 0},
	    {"a/#", "b", 0},
	    {"a/b/#", "a", 0},
	    {"a/b/#", "a/b", 1},
	    {"a/b/#", "a/c/d", 0},
	    {"+/#", "a", 1},
	    {"+/#", "a/b/c", 1},
	    {"a/+/#", "a/b", 1},
	    {"a/+/#", "a", 0},
	    {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", 1}};

	ROWS(rows);
}

TEST(dollar_topics_not_matched_by_leading_wildcards)
{
	static const struct match_row rows[] = {
	    {"#", "$SYS", 0},
	    {"#", "$SYS/broker/uptime", 0},
	    {"+/monitor/Clients", "$SYS/monitor/Clients", 0},
	    {"+", "$SYS", 0},
	    {"+/#", "$SYS/x", 0},
	    {"$SYS/#", "$SYS/monitor/Clients", 1},
	    {"$SYS/monitor/+", "$SYS/monitor/Clients", 1},
	    {"$SYS/#", "$SYS", 1},
	    /* only a leading "$" is special */
	    {"#", "a/$SYS", 1},
	    {"a/+", "a/$x", 1},
	    {"a/#", "a/$x/y", 1}};

	ROWS(rows);
}

TEST(invalid_filters_never_match_past_the_strings)
{
	/*
	 * topic_matches is documented for valid input only; the daemon checks
	 * filters at load time. Invalid ones must still stay inside the strings
	 * (ASan / valgrind catch an overrun); the result itself is unspecified.
	 */
	static const char *const bad[] = {"", "a#", "+a", "a/#/b", "#/a", "++", "a/+b/", "/#/"};
	static const char *const topics[] = {"a", "a/b", "", "/", "a//", "$SYS/x"};
	size_t i, j;
	int sum = 0;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (j = 0; j < sizeof(topics) / sizeof(topics[0]); j++)
			sum += topic_matches(bad[i], topics[j]);
	CHECK(sum >= 0);
}

int main(void)
{
	RUN(filter_valid_accepts_spec_examples);
	RUN(filter_valid_refuses_misplaced_wildcards);
	RUN(filter_and_name_length_limit_is_topic_len_max);
	RUN(name_valid);
	RUN(text_a_broker_refuses_is_refused);
	RUN(literal_filters_match_exactly);
	RUN(plus_matches_exactly_one_level);
	RUN(hash_matches_rest_and_parent);
	RUN(dollar_topics_not_matched_by_leading_wildcards);
	RUN(invalid_filters_never_match_past_the_strings);
	return UNIT_DONE();
}
