/*
 * config_poll.c - the `poll` list of a serial device (issue 15.1).
 *
 *   poll = ( { command = "READ"; every_ms = 2000; offset_ms = 0; }, ... );
 *
 * One self-contained parser, hooked into cfg_load_serial with one call, so
 * it carries over whatever shape the rest of the serial parsing takes. A
 * poll's command is checked here as the driver will send it: a frame for
 * the device (no CR/LF/NUL, no eol, at most max_frame) that the device's
 * codec accepts (hex digits for encoding = "hex"), so a poll that could
 * never be written is a config error at its line, not a log line every
 * every_ms.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "codec.h"
#include "config_int.h"

#define CFG_POLL_EVERY_MIN 10
#define CFG_POLL_EVERY_MAX 86400000

/* clang-format off */
static const struct opt poll_opts[] = {
	{ "command", OPT_STR, 1, 0, 0, NULL, S_(cfg_poll, command), NULL },
	{ "every_ms", OPT_INT, CFG_POLL_EVERY_MIN, CFG_POLL_EVERY_MAX, 0, NULL, S_(cfg_poll, every_ms), NULL },
	{ "offset_ms", OPT_INT, 0, CFG_POLL_EVERY_MAX - 1, 0, NULL, S_(cfg_poll, offset_ms), NULL },
	{ NULL, 0, 0, 0, 0, NULL, 0, NULL }
};
/* clang-format on */

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
	k.encoding = (enum codec_encoding)ser->encoding;
	k.checksum = (enum codec_checksum)ser->checksum;
	k.checksum_format = (enum codec_checksum_format)ser->checksum_format;
	k.checksum_order = (enum codec_byte_order)ser->checksum_order;
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

/* One entry of the list into p. */
static void cfg_poll_one(struct cfg_ctx *c, const config_setting_t *e, const struct cfg_serial *ser,
			 struct cfg_poll *p, int i)
{
	char what[96];

	p->line = config_setting_source_line(e);
	if (!config_setting_is_group(e)) {
		cfg_fail(c, e, "serial %s: each poll entry must be a group { command = \"...\"; every_ms = N; }",
			 ser->name);
		return;
	}
	snprintf(what, sizeof(what), "serial %s poll[%d]", ser->name, i);
	cfg_apply(c, e, poll_opts, p, what);
	if (c->failed)
		return;
	if (!p->command) {
		cfg_fail(c, e, "serial %s: poll[%d] has no command", ser->name, i);
		return;
	}
	if (!config_setting_get_member(e, "every_ms")) {
		cfg_fail(c, e, "serial %s: poll[%d] has no every_ms (%d..%d)", ser->name, i, CFG_POLL_EVERY_MIN,
			 CFG_POLL_EVERY_MAX);
		return;
	}
	if (p->offset_ms >= p->every_ms) {
		cfg_fail(c, config_setting_get_member(e, "offset_ms"),
			 "serial %s: poll[%d].offset_ms = %d must be less than every_ms = %d", ser->name, i,
			 p->offset_ms, p->every_ms);
		return;
	}
	cfg_poll_command_ok(c, config_setting_get_member(e, "command"), ser, p->command);
}

void cfg_serial_polls(struct cfg_ctx *c, const config_setting_t *g, struct cfg_serial *s)
{
	const config_setting_t *list = config_setting_get_member(g, "poll");
	int i, n;

	if (!list)
		return;
	if (!config_setting_is_list(list)) {
		cfg_fail(c, list, "serial %s: poll must be a list: poll = ( { command = \"READ\"; every_ms = 2000; } );",
			 s->name);
		return;
	}
	n = config_setting_length(list);
	if (!n)
		return;
	s->polls = calloc((size_t)n, sizeof(*s->polls));
	if (!s->polls) {
		cfg_fail(c, list, "out of memory");
		return;
	}
	for (i = 0; i < n && !c->failed; i++) {
		s->n_polls = i + 1;	/* config_free frees this entry too */
		cfg_poll_one(c, config_setting_get_elem(list, (unsigned)i), s, &s->polls[i], i);
	}
}

void cfg_serial_polls_free(struct cfg_serial *s)
{
	int i;

	for (i = 0; i < s->n_polls; i++)
		free(s->polls[i].command);
	free(s->polls);
	s->polls = NULL;
	s->n_polls = 0;
}

int cfg_serial_polls_same(const struct cfg_serial *a, const struct cfg_serial *b)
{
	int i;

	if (a->n_polls != b->n_polls)
		return 0;
	for (i = 0; i < a->n_polls; i++)
		if (strcmp(a->polls[i].command, b->polls[i].command) != 0 ||
		    a->polls[i].every_ms != b->polls[i].every_ms || a->polls[i].offset_ms != b->polls[i].offset_ms)
			return 0;
	return 1;
}

void cfg_serial_polls_print(const struct cfg_serial *s)
{
	int i;

	for (i = 0; i < s->n_polls; i++)
		printf("    poll \"%s\" every %d ms (offset %d ms)\n", s->polls[i].command, s->polls[i].every_ms,
		       s->polls[i].offset_ms);
}
