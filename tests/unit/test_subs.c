/*
 * test_subs.c - unit tests for gateway/subs.c: the subscription set of a
 * config, and MQTT 5 subscription identifiers that stay with their filter
 * across a reload, are unique, and never reuse the identifier of a filter
 * that was just removed.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "subs.h"
#include "unit.h"

static const char head[] = "station = \"S013\";\n"
			   "mqtt = { uri = \"tcp://127.0.0.1:1883\"; };\n"
			   "serial = ( { name = \"MOT01\"; port = \"/dev/ttyUSB0\"; } );\n";

static struct config *load(const char *routes)
{
	char text[2048], err[CONFIG_ERRLEN];
	struct config *c;

	snprintf(text, sizeof(text), "%sroutes = ( %s );\n", head, routes);
	c = config_load_string(text, "subs.cfg", err, sizeof(err));
	if (!c)
		printf("# config refused: %s\n", err);
	return c;
}

static int index_of(const struct subs *s, const char *filter)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->filter[i], filter) == 0)
			return i;
	return -1;
}

TEST(distinct_filters_at_their_highest_qos)
{
	struct config *c = load("{ from = \"mqtt:A/cmd\"; to = \"serial:MOT01\"; qos = 0; },"
				"{ from = \"mqtt:A/cmd\"; to = \"serial:MOT01\"; qos = 2; },"
				"{ from = \"mqtt:A/#\"; to = \"serial:MOT01\"; qos = 1; },"
				"{ from = \"serial:MOT01\"; to = \"mqtt:B/out\"; }");
	uint32_t next = 1;
	struct subs *s;

	CHECK(c != NULL);
	if (!c)
		return;
	s = subs_new(c, NULL, &next);
	CHECK(s != NULL);
	CHECK_INT(s->n, 2);
	CHECK_INT(s->qos[index_of(s, "A/cmd")], 2);
	CHECK_INT(s->qos[index_of(s, "A/#")], 1);
	CHECK(s->id[0] != 0 && s->id[1] != 0 && s->id[0] != s->id[1]);
	CHECK_STR(subs_filter_of(s, s->id[1]), s->filter[1]);
	CHECK(subs_filter_of(s, 0) == NULL);
	CHECK(subs_has(s, "A/#") && !subs_has(s, "B/out"));
	subs_free(s);
	config_free(c);
}

TEST(identifiers_survive_a_reload_and_removed_ones_are_not_reused)
{
	struct config *c1 = load("{ from = \"mqtt:A\"; to = \"serial:MOT01\"; },"
				 "{ from = \"mqtt:B\"; to = \"serial:MOT01\"; },"
				 "{ from = \"mqtt:C\"; to = \"serial:MOT01\"; }");
	struct config *c2 = load("{ from = \"mqtt:D\"; to = \"serial:MOT01\"; },"
				 "{ from = \"mqtt:C\"; to = \"serial:MOT01\"; },"
				 "{ from = \"mqtt:A\"; to = \"serial:MOT01\"; }");
	uint32_t next = SUBS_ID_MAX - 1;	/* the counter wraps during this test */
	struct subs *s1, *s2;
	int i;

	CHECK(c1 && c2);
	if (!c1 || !c2)
		return;
	s1 = subs_new(c1, NULL, &next);
	s2 = subs_new(c2, s1, &next);
	CHECK(s1 && s2);
	if (s1 && s2) {
		CHECK_INT(s2->id[index_of(s2, "A")], s1->id[index_of(s1, "A")]);
		CHECK_INT(s2->id[index_of(s2, "C")], s1->id[index_of(s1, "C")]);
		/* D is new: not B's identifier (a copy for B may still be in flight), nor any kept one */
		for (i = 0; i < s1->n; i++)
			CHECK(s2->id[index_of(s2, "D")] != s1->id[i]);
		CHECK(s2->id[index_of(s2, "D")] >= 1 && s2->id[index_of(s2, "D")] <= SUBS_ID_MAX);
	}
	subs_free(s1);
	subs_free(s2);
	subs_free(NULL);
	config_free(c1);
	config_free(c2);
}

/* 500 filters, identifiers handed out across a wrap: each identifier finds its own filter, others none */
TEST(every_identifier_finds_its_filter_in_a_big_set)
{
	size_t cap = 64 * 500 + 512, used = 0;
	char *text = malloc(cap), err[CONFIG_ERRLEN];
	struct config *c;
	struct subs *s;
	uint32_t next = SUBS_ID_MAX - 100;
	int i;

	CHECK(text != NULL);
	if (!text)
		return;
	used += (size_t)snprintf(text, cap, "%sroutes = (", head);
	for (i = 0; i < 500; i++)
		used += (size_t)snprintf(text + used, cap - used, "%s{ from = \"mqtt:c/%d\"; to = \"serial:MOT01\"; }",
					 i ? "," : "", i);
	snprintf(text + used, cap - used, ");\n");
	c = config_load_string(text, "subs.cfg", err, sizeof(err));
	free(text);
	CHECK(c != NULL);
	if (!c)
		return;
	s = subs_new(c, NULL, &next);
	CHECK(s != NULL && s->n == 500);
	for (i = 0; s && i < s->n; i++)
		CHECK_STR(subs_filter_of(s, s->id[i]), s->filter[i]);
	CHECK(subs_filter_of(s, 0) == NULL);
	CHECK(subs_filter_of(s, 500) == NULL);	/* past the wrap, ids run 1..399 */
	CHECK(subs_filter_of(s, SUBS_ID_MAX - 101) == NULL);
	subs_free(s);
	config_free(c);
}

int main(void)
{
	RUN(distinct_filters_at_their_highest_qos);
	RUN(identifiers_survive_a_reload_and_removed_ones_are_not_reused);
	RUN(every_identifier_finds_its_filter_in_a_big_set);
	return UNIT_DONE();
}
