/*
 * fuzz_config.c - libFuzzer target for gateway/config.c.
 *
 * Input: the text of a config file, given to config_load_string() under
 * the name "fuzz.cfg" exactly as --check and SIGHUP reload would see it.
 * ASan/UBSan catch memory errors and LeakSanitizer catches anything a
 * refused or accepted config leaves behind after config_free(). On top:
 *  - a refusal always reads "fuzz.cfg:LINE: message", LINE a decimal number
 *    no larger than the number of lines in the text (+1 for end of file),
 *    message non-empty and the whole thing NUL-terminated;
 *  - an accepted config is complete: at least one broker uri, a client id
 *    and status topic, every route's device index inside its table, and
 *    every device-to-mqtt route's topic template compiled.
 *
 * Texts holding "@include" are skipped: libconfig would open whatever
 * file they name (a fuzzer finding "/dev/stdin" would hang the run), and
 * includes are libconfig's code, not ours.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "framing.h"

/* Every warning is "fuzz.cfg:LINE: warning: ..." with a line number. */
static void fuzz_warning(const char *msg, void *ctx)
{
	(void)ctx;
	if (strncmp(msg, "fuzz.cfg:", 9) != 0 || msg[9] < '0' || msg[9] > '9' || !strstr(msg, ": warning: "))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *err)
{
	fprintf(stderr, "config property broken: %s [%s]\n", what, err);
	abort();
}

static void check_error(const char *err, size_t errlen, const char *text)
{
	static const char prefix[] = "fuzz.cfg:";
	const char *p = err + sizeof(prefix) - 1;
	unsigned long line = 0, lines = 1;
	const char *q;

	if (!memchr(err, '\0', errlen))
		fail("error message not terminated", "");
	if (strncmp(err, prefix, sizeof(prefix) - 1) != 0)
		fail("error does not start with the file name", err);
	if (!isdigit((unsigned char)*p))
		fail("error has no line number", err);
	while (isdigit((unsigned char)*p))
		line = line * 10 + (unsigned long)(*p++ - '0');
	if (p[0] != ':' || p[1] != ' ' || p[2] == '\0')
		fail("error is not \"NAME:LINE: message\"", err);
	for (q = text; *q; q++)
		lines += *q == '\n';
	if (line > lines)
		fail("error line beyond the end of the text", err);
}

static void check_config(const struct config *cfg)
{
	int i;

	if (cfg->mqtt.n_uris < 1 || !cfg->mqtt.uris || !cfg->mqtt.uris[0])
		fail("accepted without a broker uri", "");
	if (!cfg->mqtt.client_id || !cfg->mqtt.status_topic)
		fail("accepted without client_id / status_topic", "");
	for (i = 0; i < cfg->n_serial; i++)
		/* binary framings (fixed, idle) have no eol unless one is given */
		if (!cfg->serial[i].name || !cfg->serial[i].port ||
		    (cfg->serial[i].eol_len < 1 && cfg->serial[i].framing == FRAMING_EOL) ||
		    cfg->serial[i].max_frame < 1)
			fail("incomplete serial device", cfg->serial[i].name ? cfg->serial[i].name : "?");
	for (i = 0; i < cfg->n_routes; i++) {
		const struct cfg_route *r = &cfg->routes[i];

		if (r->from_kind == ROUTE_MQTT) {
			int n = r->to_kind == ROUTE_SERIAL ? cfg->n_serial : cfg->n_gpio;

			if (r->to_kind == ROUTE_MQTT || r->to_dev < 0 || r->to_dev >= n)
				fail("downlink route with a bad device index", r->to ? r->to : "?");
		} else {
			int n = r->from_kind == ROUTE_SERIAL ? cfg->n_serial : cfg->n_gpio;

			if (r->to_kind != ROUTE_MQTT || r->from_dev < 0 || r->from_dev >= n)
				fail("uplink route with a bad device index", r->from ? r->from : "?");
			if (r->to_tpl.n_parts < 1)
				fail("uplink route without a topic template", r->to ? r->to : "?");
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CONFIG_ERRLEN];
	struct config *cfg;
	char *text;

	if (memmem(data, size, "@include", 8))
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(err, 'X', sizeof(err));
	cfg = config_load_string(text, "fuzz.cfg", err, sizeof(err));
	if (cfg) {
		struct config *again = config_load_string(text, "fuzz.cfg", err, sizeof(err));
		char path[160];

		check_config(cfg);
		config_lint(cfg, fuzz_warning, NULL);	/* the --check warnings run on whatever loads */
		/* the reload comparison (config_schema.c): the same text twice is the same config */
		if (!again)
			fail("the same text loaded twice: refused the second time", err);
		if (config_changes(cfg, again) || config_first_change(cfg, again, ~0u, path, sizeof(path)))
			fail("the same text loaded twice compares unequal", path);
		config_free(again);
	} else
		check_error(err, sizeof(err), text);
	config_free(cfg);
	free(text);
	return 0;
}
