/*
 * config_fixture.h - what the unit tests of gateway/config.c share
 * (test_config.c, test_config_errors.c): load() a config from a string as
 * "test.cfg", keeping the refusal in err, and the one-line MQTT and SERIAL
 * building blocks each test's text starts with (line 1 of it).
 * Header-only and static inline, like unit.h: each test binary is one file
 * plus libmqttgw.a.
 */
#ifndef MQTTGW_CONFIG_FIXTURE_H
#define MQTTGW_CONFIG_FIXTURE_H

#include "config.h"

#define NAME "test.cfg"

static char err[CONFIG_ERRLEN] __attribute__((unused));

static inline struct config *load(const char *text)
{
	err[0] = '\0';
	return config_load_string(text, NAME, err, sizeof(err));
}

/* One-line building blocks; each is line 1 of its test's text. */
#define MQTT "mqtt = { uri = \"tcp://127.0.0.1:1883\"; };\n"
#define SERIAL "serial = ( { name = \"MOT01\"; port = \"/dev/ttyUSB0\"; } );\n"

#endif
