/*
 * test_gpio.c - unit tests for the pure half of the GPIO driver
 * (drivers/gpio_pure.c): output payload parsing (including the pulse
 * syntax), the debounce state machine, driven with made-up levels and
 * times, and the library version comparison; no chip needed. make check runs them in the libgpiod 1.6 and 2.x
 * builds alike. The driver against a (simulated) chip is tested end to end
 * with tests/sim's lib_gpiosim.so.
 */
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "gpio.h"
#include "unit.h"

static int parse(const char *s, struct gpio_cmd *c)
{
	return gpio_parse_payload(s, strlen(s), c);
}

TEST(test_payload_words)
{
	static const struct {
		const char *in;
		int kind, value;
	} ok[] = {
		{ "1", GPIO_CMD_SET, 1 },	   { "0", GPIO_CMD_SET, 0 },	     { "on", GPIO_CMD_SET, 1 },
		{ "OFF", GPIO_CMD_SET, 0 },	   { "True", GPIO_CMD_SET, 1 },	     { "fAlSe", GPIO_CMD_SET, 0 },
		{ "toggle", GPIO_CMD_TOGGLE, -1 }, { "TOGGLE", GPIO_CMD_TOGGLE, -1 }, { " 1\r\n", GPIO_CMD_SET, 1 },
		{ "\ton \t", GPIO_CMD_SET, 1 },
	};
	struct gpio_cmd c;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK_INT(parse(ok[i].in, &c), 0);
		CHECK_INT(c.kind, ok[i].kind);
		CHECK_INT(c.value, ok[i].value);
	}
}

TEST(test_payload_refused)
{
	static const char *const bad[] = {
		"",	 "  ",	    "2",      "-1",	"01",	  "10",		"onn",	    "of",	"yes",
		"1 1",	 "on off",  "toggle!", "pulse", "pulse ", "pulse:",	"pulse0",   "pulse500", "pulse 0",
		"pulse -5", "pulse +5", "pulse 3600001", "pulse 99999999999999999999", "pulse 5 s", "pulse 5x",
		"pulse: :5", "pulse 1.5", "pulsate 5", "high",
	};
	struct gpio_cmd c;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], &c) != -1) {
			printf("# accepted \"%s\"\n", bad[i]);
			CHECK(0);
		}
	/* NUL inside, NULL, and over-long input */
	CHECK_INT(gpio_parse_payload("1\0", 2, &c), -1);
	CHECK_INT(gpio_parse_payload("o\0n", 3, &c), -1);
	CHECK_INT(gpio_parse_payload(NULL, 0, &c), -1);
	CHECK_INT(parse("                                                            1", &c), 0);
	CHECK_INT(parse("pulse                                                       5", &c), -1);
	/* len is honoured: "1" out of "10" */
	CHECK_INT(gpio_parse_payload("10", 1, &c), 0);
	CHECK_INT(c.value, 1);
}

TEST(test_payload_pulse)
{
	static const struct {
		const char *in;
		unsigned int ms;
	} ok[] = {
		{ "pulse 500", 500 },	 { "pulse:500", 500 },	   { "pulse=500", 500 },   { "PULSE 1", 1 },
		{ "Pulse: 250", 250 },	 { "pulse\t40", 40 },	   { "pulse 500ms", 500 }, { "pulse 500 MS", 500 },
		{ " pulse:3600000 ", GPIO_PULSE_MAX_MS },
	};
	struct gpio_cmd c;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK_INT(parse(ok[i].in, &c), 0);
		CHECK_INT(c.kind, GPIO_CMD_PULSE);
		CHECK_INT(c.value, 1);
		CHECK_INT(c.pulse_ms, ok[i].ms);
	}
}

TEST(test_debounce_level)
{
	struct gpio_debounce d;

	gpio_debounce_init(&d, 20, -1);
	gpio_debounce_reset(&d, 0);
	CHECK(gpio_debounce_deadline(&d) == UINT64_MAX);
	CHECK_INT(gpio_debounce_level(&d, 0, 100), -1);		/* same level: nothing */
	CHECK(gpio_debounce_deadline(&d) == UINT64_MAX);
	CHECK_INT(gpio_debounce_level(&d, 1, 100), -1);		/* change: wait 20 ms */
	CHECK(gpio_debounce_deadline(&d) == 120);
	CHECK_INT(gpio_debounce_level(&d, 1, 119), -1);
	CHECK_INT(gpio_debounce_level(&d, 1, 120), 1);		/* held 20 ms */
	CHECK(gpio_debounce_deadline(&d) == UINT64_MAX);
	CHECK_INT(gpio_debounce_level(&d, 1, 500), -1);		/* never twice */
	/* a bounce restarts the wait; returning to the stable level cancels it */
	CHECK_INT(gpio_debounce_level(&d, 0, 200), -1);
	CHECK_INT(gpio_debounce_level(&d, 1, 205), -1);
	CHECK(gpio_debounce_deadline(&d) == UINT64_MAX);
	CHECK_INT(gpio_debounce_level(&d, 0, 206), -1);
	CHECK_INT(gpio_debounce_level(&d, 1, 207), -1);
	CHECK_INT(gpio_debounce_level(&d, 0, 210), -1);
	CHECK(gpio_debounce_deadline(&d) == 230);
	CHECK_INT(gpio_debounce_level(&d, 0, 229), -1);
	CHECK_INT(gpio_debounce_level(&d, 0, 231), 0);
	/* a late tick still emits once */
	CHECK_INT(gpio_debounce_level(&d, 1, 300), -1);
	CHECK_INT(gpio_debounce_level(&d, 1, 10000), 1);
	CHECK_INT(gpio_debounce_level(&d, 1, 10001), -1);
}

TEST(test_debounce_zero)
{
	struct gpio_debounce d;
	static const int seq[] = { 1, 0, 1, 1, 0, 0, 1 };
	static const int want[] = { 1, 0, 1, -1, 0, -1, 1 };
	size_t i;

	gpio_debounce_init(&d, 0, -1);
	gpio_debounce_reset(&d, 0);
	for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		CHECK_INT(gpio_debounce_level(&d, seq[i], 50), want[i]);
		CHECK(gpio_debounce_deadline(&d) == UINT64_MAX);
	}
	/* no reset yet: the first level is news */
	gpio_debounce_init(&d, 0, -1);
	CHECK_INT(gpio_debounce_level(&d, 0, 1), 0);
}

TEST(test_debounce_edge)
{
	struct gpio_debounce d;

	/* rising, 10 ms: every confirmed press emits "1", glitches nothing */
	gpio_debounce_init(&d, 10, 1);
	gpio_debounce_reset(&d, 0);
	CHECK_INT(gpio_debounce_level(&d, 1, 5), -1);		/* no edge seen: nothing */
	CHECK_INT(gpio_debounce_edge(&d, 100), -1);
	CHECK(gpio_debounce_deadline(&d) == 110);
	CHECK_INT(gpio_debounce_edge(&d, 103), -1);		/* bounce: restart */
	CHECK(gpio_debounce_deadline(&d) == 113);
	CHECK_INT(gpio_debounce_level(&d, 1, 104), -1);
	CHECK_INT(gpio_debounce_level(&d, 1, 113), 1);
	CHECK(gpio_debounce_deadline(&d) == UINT64_MAX);
	CHECK_INT(gpio_debounce_edge(&d, 200), -1);		/* the next press emits again */
	CHECK_INT(gpio_debounce_level(&d, 1, 215), 1);
	CHECK_INT(gpio_debounce_edge(&d, 300), -1);		/* a glitch: low again before 10 ms */
	CHECK_INT(gpio_debounce_level(&d, 0, 302), -1);
	CHECK(gpio_debounce_deadline(&d) == UINT64_MAX);
	CHECK_INT(gpio_debounce_level(&d, 1, 400), -1);
	/* falling, 0 ms: each edge emits "0" at once */
	gpio_debounce_init(&d, 0, 0);
	gpio_debounce_reset(&d, 1);
	CHECK_INT(gpio_debounce_edge(&d, 1), 0);
	CHECK_INT(gpio_debounce_edge(&d, 2), 0);
	CHECK_INT(gpio_debounce_level(&d, 0, 3), -1);
	/* level mode ignores edges */
	gpio_debounce_init(&d, 0, -1);
	CHECK_INT(gpio_debounce_edge(&d, 1), -1);
}

TEST(test_probe_missing_chip)
{
	struct cfg_gpio g;
	char err[256];

	memset(&g, 0, sizeof(g));
	g.name = "LIMZ";
	g.chip = "mqttgw-test-no-such-chip";
	g.offset = 17;
	g.failsafe = -1;
	CHECK_INT(gpio_probe(&g, err, sizeof(err)), -1);
	CHECK_STR(err, "gpio LIMZ: no chip \"mqttgw-test-no-such-chip\"");
	g.chip = "*";
	CHECK_INT(gpio_probe(&g, err, sizeof(err)), -1);
	CHECK_STR(err, "gpio LIMZ: chip \"*\" needs a line name (line = \"GPIO17\")");
	g.offset = -1;
	g.line_name = "MQTTGW_TEST_NO_SUCH_LINE";
	CHECK_INT(gpio_probe(&g, err, sizeof(err)), -1);
	CHECK_STR(err, "gpio LIMZ: no line named \"MQTTGW_TEST_NO_SUCH_LINE\" on any chip");
}

TEST(test_version_below)
{
	/* the running library's version string, as both libgpiod majors and the stand-ins say it */
	CHECK_INT(gpio_version_below("1.4.2", 1, 5), 1);
	CHECK_INT(gpio_version_below("1.4", 1, 5), 1);
	CHECK_INT(gpio_version_below("0.3", 1, 5), 1);
	CHECK_INT(gpio_version_below("1.5", 1, 5), 0);
	CHECK_INT(gpio_version_below("1.6.3", 1, 5), 0);
	CHECK_INT(gpio_version_below("1.6.3-gpiosim", 1, 5), 0);
	CHECK_INT(gpio_version_below("1.10.0", 1, 5), 0);
	CHECK_INT(gpio_version_below("2", 1, 5), 0);
	CHECK_INT(gpio_version_below("2.1.3", 1, 5), 0);
	CHECK_INT(gpio_version_below("1", 1, 5), 1);
	CHECK_INT(gpio_version_below("1.x", 1, 5), 1);
	/* not a version: never "too old" */
	CHECK_INT(gpio_version_below("", 1, 5), 0);
	CHECK_INT(gpio_version_below("v1.4", 1, 5), 0);
	CHECK_INT(gpio_version_below("-1.4", 1, 5), 0);
	CHECK_INT(gpio_version_below(" 1.4", 1, 5), 0);
	CHECK_INT(gpio_version_below(NULL, 1, 5), 0);
	CHECK_INT(gpio_version_below("99999999999999999999.1", 1, 5), 0);
}

int main(void)
{
	RUN(test_payload_words);
	RUN(test_payload_refused);
	RUN(test_payload_pulse);
	RUN(test_debounce_level);
	RUN(test_debounce_zero);
	RUN(test_debounce_edge);
	RUN(test_probe_missing_chip);
	RUN(test_version_below);
	return UNIT_DONE();
}
