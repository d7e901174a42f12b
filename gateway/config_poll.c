/*
 * config_poll.c - the checks of a serial device's `poll` list that its
 * table cannot say (issue 15.1).
 *
 *   poll = ( { command = "READ"; every_ms = 2000; offset_ms = 0; }, ... );
 *
 * The list itself is parsed by the schema walker from its table
 * (config_schema.c: ranges, required members, unknown names, freeing and
 * the reload comparison). What is left is here, run after the rest of the
 * serial entry: offset_ms below every_ms, and each command checked as the
 * driver will send it: a frame for the device (no CR/LF/NUL, no eol, at
 * most max_frame) that the device's codec accepts (hex digits for
 * encoding = "hex"), so a poll that could never be written is a config
 * error at its line, not a log line every every_ms.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "codec.h"
#include "config_int.h"

/* The command as the driver will encode it: 0, or -1 with the reason recorded at s. */
static int cfg_poll_command_ok(struct cfg_ctx *c, const config_setting_t *s, const struct cfg_serial *ser,
			       const char *cmd)
{
	struct codec k;
	enum codec_status why = CODEC_OK;
	size_t len = strlen(cmd), outsz, n;
	char *out;
	int rc = 0;

	if (strpbrk(cmd, "\r\n") || len > (size_t)ser->max_frame || (ser->eol_len && strstr(cmd, ser->eol))) {
		cfg_fail(c, s, "serial %s: poll command \"%s\" holds CR/LF/eol or exceeds max_frame (%d)", ser->name,
			 cmd, ser->max_frame);
		return -1;
	}
	if (ser->encoding == CODEC_ENCODING_TEXT && ser->checksum == CODEC_CHECKSUM_NONE)
		return 0;
	memset(&k, 0, sizeof(k));
	k.encoding = ser->encoding;
	k.checksum = ser->checksum;
	k.checksum_format = ser->checksum_format;
	k.checksum_order = ser->checksum_order;
	k.checksum_prefix_len = strlen(ser->checksum_prefix);
	if (k.checksum_prefix_len > CODEC_PREFIX_MAX)
		return 0;	/* reported by the framing checks */
	memcpy(k.checksum_prefix, ser->checksum_prefix, k.checksum_prefix_len);
	k.checksum_skip = (size_t)ser->checksum_skip;
	outsz = codec_encoded_max(&k, len);
	if (outsz == SIZE_MAX || !(out = malloc(outsz))) {
		cfg_fail(c, s, "out of memory");
		return -1;
	}
	if (codec_encode_outbound(&k, cmd, len, out, outsz, &n, &why) < 0) {
		cfg_fail(c, s, "serial %s: poll command \"%s\" cannot be sent: %s", ser->name, cmd,
			 codec_strerror(why));
		rc = -1;
	} else if (n > (size_t)ser->max_frame) {
		cfg_fail(c, s, "serial %s: poll command \"%s\" is %zu bytes on the wire, more than max_frame (%d)",
			 ser->name, cmd, n, ser->max_frame);
		rc = -1;
	}
	free(out);
	return rc;
}

/* Entry i (setting e) of the list, as parsed by the walker into p. */
static void cfg_poll_check(struct cfg_ctx *c, const config_setting_t *e, const struct cfg_serial *ser,
			   struct cfg_poll *p, int i)
{
	p->line = config_setting_source_line(e);
	if (p->offset_ms >= p->every_ms) {
		cfg_fail(c, cfg_member_or(e, "offset_ms"),
			 "serial %s: poll[%d].offset_ms = %d must be less than every_ms = %d", ser->name, i,
			 p->offset_ms, p->every_ms);
		return;
	}
	cfg_poll_command_ok(c, cfg_member_or(e, "command"), ser, p->command);
}

void cfg_serial_polls(struct cfg_ctx *c, const config_setting_t *g, struct cfg_serial *s)
{
	const config_setting_t *list = config_setting_get_member(g, "poll");
	int i;

	for (i = 0; list && i < s->n_polls && !c->failed; i++)
		cfg_poll_check(c, config_setting_get_elem(list, (unsigned)i), s, &s->polls[i], i);
}

void cfg_serial_polls_print(const struct cfg_serial *s)
{
	int i;

	for (i = 0; i < s->n_polls; i++)
		printf("    poll \"%s\" every %d ms (offset %d ms)\n", s->polls[i].command, s->polls[i].every_ms,
		       s->polls[i].offset_ms);
}
