/*
 * unit_config.h - what the unit tests of config-driven modules share: load
 * a config from a string, saying why it was refused, and read a string
 * member of a cJSON object (the info document, discovery payloads).
 * Header-only and static inline, like unit.h: each test binary is one
 * file plus libmqttgw.a.
 */
#ifndef MQTTGW_UNIT_CONFIG_H
#define MQTTGW_UNIT_CONFIG_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "config.h"

/* The last refusal's message ("" after a load that worked). */
static char unit_config_err[CONFIG_ERRLEN];

/* text loaded as "test.cfg", or NULL with the reason printed as a TAP comment. */
static inline struct config *unit_config_load(const char *text)
{
	struct config *cfg;

	unit_config_err[0] = '\0';
	cfg = config_load_string(text, "test.cfg", unit_config_err, sizeof(unit_config_err));
	if (!cfg)
		printf("# config refused: %s\n", unit_config_err);
	return cfg;
}

/* o's member key if it is a string, else NULL. */
static inline const char *unit_json_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

#endif
