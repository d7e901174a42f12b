/*
 * payload_json.h - a route's `json = { ... };` compiled into a payload template.
 *
 *   json = { temperature = "${1|float|round:1}"; unit = "C"; ok = true;
 *            raw = { text = "T=$1"; }; };
 *   -> {"temperature":21.5,"unit":"C","ok":true,"raw":{"text":"T=21.5"}}
 *
 * Members keep their file order, groups become objects, lists and arrays
 * become arrays, libconfig numbers and booleans stay numbers and booleans.
 * A string that is exactly one placeholder whose last step is numeric (a
 * typed field, int, float, scale, offset, round) becomes a JSON number;
 * every other string a JSON string whose captured parts are escaped per
 * frame (value_json_escape), so device text can never break the object.
 */
#ifndef MQTTGW_PAYLOAD_JSON_H
#define MQTTGW_PAYLOAD_JSON_H

#include <stddef.h>

#include <libconfig.h>

#include "template.h"

/*
 * Compile group g into t (a template whose expansion is the JSON text).
 * station / name as for template_compile. Returns 0, or -1 with a message
 * in err and *where set to the setting at fault (for its line).
 */
int payload_json_compile(struct template *t, const config_setting_t *g, const char *station, const char *name,
			 char *err, size_t errlen, const config_setting_t **where);
/* The compiled layout as text, {"t":${1|float},"unit":"C"} (malloc'ed; NULL: out of memory). */
char *payload_json_layout(const struct template *t);

#endif
