/*
 * mapping.c - route selection, checks and template expansion.
 *
 * Regexes run with REG_STARTEND so a frame is matched on its real length
 * (binary bytes included) and nothing needs copying first. See mapping.h.
 */
#include <string.h>

#include "codec.h"
#include "mapping.h"
#include "topic.h"

/* Gpio payloads are short words ("toggle", "pulse 500"). */
#define MAPPING_GPIO_MAX 64

const char *mapping_verdict_str(enum mapping_verdict v)
{
	switch (v) {
	case MAPPING_OK:
		return "ok";
	case MAPPING_NO_ROUTE:
		return "no route";
	case MAPPING_BAD_BYTES:
		return "forbidden bytes (CR, LF, NUL, eol or non-printable)";
	case MAPPING_TOO_LONG:
		return "too long";
	case MAPPING_NOT_ACCEPTED:
		return "refused by accept";
	case MAPPING_BAD_TOPIC:
		return "capture not allowed in a topic";
	}
	return "?";
}

/*
 * Run re over s[0..len) and fill caps ($0 always, $1..$want when the
 * templates use them). Returns 1 on match. Only the captures a route's
 * templates use are asked of regexec(): glibc finds submatches with a
 * second, backward pass over the input (sift_states_backward) that costs
 * about 7 times the match itself (callgrind: 16,200 against 2,200
 * instructions for "^POS([XYZ])([+-][0-9]+)$" on a 14-byte frame), so a
 * route that only selects, or only uses $0, does not pay for it.
 */
static int mapping_match(const regex_t *re, int has_re, const char *s, size_t len, int want,
			 struct template_cap *caps, int *ncaps)
{
	regmatch_t pm[TEMPLATE_MAX_CAPS];
	size_t nmatch = want >= 1 ? (size_t)want + 1 : 1;
	int i;

	caps[0].ptr = s;
	caps[0].len = len;
	*ncaps = 1;
	if (!has_re)
		return 1;
	if (nmatch > TEMPLATE_MAX_CAPS)
		nmatch = TEMPLATE_MAX_CAPS;
	pm[0].rm_so = 0;
	pm[0].rm_eo = (regoff_t)len;
	if (regexec(re, s, nmatch, pm, REG_STARTEND) != 0)
		return 0;
	for (i = 1; i < TEMPLATE_MAX_CAPS && (size_t)i <= re->re_nsub; i++) {
		if ((size_t)i >= nmatch || pm[i].rm_so < 0) {
			/* not asked for (no template uses it), or did not take part */
			caps[i].ptr = NULL;
			caps[i].len = 0;
		} else {
			caps[i].ptr = s + pm[i].rm_so;
			caps[i].len = (size_t)(pm[i].rm_eo - pm[i].rm_so);
		}
	}
	*ncaps = i;
	return 1;
}

int mapping_uplink(const struct config *cfg, enum route_end kind, int dev, const char *frame, size_t len,
		   char *topic, size_t topic_size, char *payload, size_t payload_size, struct mapping_out *out)
{
	struct template_cap caps[TEMPLATE_MAX_CAPS];
	int i, ncaps, n;

	for (i = 0; i < cfg->n_routes; i++) {
		const struct cfg_route *r = &cfg->routes[i];

		if (r->from_kind != kind || r->from_dev != dev)
			continue;
		if (!mapping_match(&r->match, r->has_match, frame, len,
				   r->to_tpl.max_capture > r->payload_tpl.max_capture ? r->to_tpl.max_capture
										       : r->payload_tpl.max_capture,
				   caps, &ncaps))
			continue;
		memset(out, 0, sizeof(*out));
		out->route = i;
		out->qos = r->qos;
		out->retain = r->retain;
		out->topic = topic;
		if (template_expand(&r->to_tpl, caps, ncaps, 1, topic, topic_size) < 0) {
			out->verdict = MAPPING_BAD_TOPIC;
			return 0;
		}
		if (template_is_whole(&r->payload_tpl)) {
			out->payload = frame;
			out->payload_len = len;
		} else {
			n = template_expand(&r->payload_tpl, caps, ncaps, 0, payload, payload_size);
			if (n < 0) {
				out->verdict = MAPPING_TOO_LONG;
				return 0;
			}
			out->payload = payload;
			out->payload_len = (size_t)n;
		}
		out->verdict = MAPPING_OK;
		return 0;
	}
	return -1;
}

static enum mapping_verdict mapping_check_bytes(const struct config *cfg, const struct cfg_route *r,
						const char *p, size_t len)
{
	size_t i, max;

	if (r->to_kind == ROUTE_SERIAL) {
		const struct cfg_serial *s = &cfg->serial[r->to_dev];

		/* hex payloads spell each byte with two digits and maybe a space */
		max = (size_t)s->max_frame * (s->encoding == CODEC_ENCODING_HEX ? 3 : 1);
		if (s->eol_len > 0 && len >= s->eol_len && memmem(p, len, s->eol, s->eol_len))
			return MAPPING_BAD_BYTES;
	} else {
		max = MAPPING_GPIO_MAX;
	}
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch == '\r' || ch == '\n' || ch == '\0')
			return MAPPING_BAD_BYTES;
		if (!r->has_accept && (ch < 0x20 || ch > 0x7e))
			return MAPPING_BAD_BYTES;
	}
	return len > max ? MAPPING_TOO_LONG : MAPPING_OK;
}

/* 1 if filter is one of via's n (n < 0: no restriction), else 0. */
static int mapping_via(const char *filter, const char *const *via, int n)
{
	int i;

	if (n < 0)
		return 1;
	for (i = 0; i < n; i++)
		if (strcmp(via[i], filter) == 0)
			return 1;
	return 0;
}

int mapping_downlink(const struct config *cfg, const char *topic, const char *const *via, int n_via,
		     const char *payload, size_t len, int *next, char *buf, size_t buf_size, struct mapping_out *out)
{
	struct template_cap caps[TEMPLATE_MAX_CAPS];
	int i, ncaps, n;

	for (i = *next; i < cfg->n_routes; i++) {
		const struct cfg_route *r = &cfg->routes[i];

		if (r->from_kind != ROUTE_MQTT || !topic_matches(r->from, topic) || !mapping_via(r->from, via, n_via))
			continue;
		*next = i + 1;
		memset(out, 0, sizeof(*out));
		out->route = i;
		out->kind = r->to_kind;
		out->dev = r->to_dev;
		out->verdict = mapping_check_bytes(cfg, r, payload, len);
		if (out->verdict != MAPPING_OK)
			return 0;
		if (!mapping_match(&r->accept, r->has_accept, payload, len, r->payload_tpl.max_capture, caps, &ncaps)) {
			out->verdict = MAPPING_NOT_ACCEPTED;
			return 0;
		}
		if (template_is_whole(&r->payload_tpl)) {
			out->payload = payload;
			out->payload_len = len;
			return 0;
		}
		n = template_expand(&r->payload_tpl, caps, ncaps, 0, buf, buf_size);
		if (n < 0) {
			out->verdict = MAPPING_TOO_LONG;
			return 0;
		}
		out->payload = buf;
		out->payload_len = (size_t)n;
		/* the template may have made it longer than the device takes */
		out->verdict = mapping_check_bytes(cfg, r, buf, (size_t)n);
		return 0;
	}
	*next = cfg->n_routes;
	return -1;
}
