/*
 * mapping.c - route selection, checks and template expansion.
 *
 * Regexes (pattern.h, PCRE2) match a frame on its real length (binary
 * bytes included), so nothing needs copying first. See mapping.h.
 */
#include <string.h>

#include "codec.h"
#include "mapping.h"
#include "mapping_index.h"
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
	case MAPPING_NOT_A_NUMBER:
		return value_err_str(VALUE_ERR_NOT_NUMBER);
	case MAPPING_NOT_FINITE:
		return value_err_str(VALUE_ERR_NOT_FINITE);
	case MAPPING_NOT_INTEGER:
		return value_err_str(VALUE_ERR_NOT_INTEGER);
	case MAPPING_OUT_OF_RANGE:
		return value_err_str(VALUE_ERR_RANGE);
	case MAPPING_PAST_END:
		return value_err_str(VALUE_ERR_PAST_END);
	}
	return "?";
}

/*
 * Why template_expand refused: a value that did not convert, or else what
 * the caller names. The expansion runs again to learn it: refusals are
 * rare, and the hot path then carries no reason at all (make bench-map).
 */
__attribute__((noinline, cold)) static enum mapping_verdict mapping_refusal(const struct template *t, const struct template_cap *caps, int ncaps,
					    int topic, char *out, size_t outlen, enum mapping_verdict other)
{
	enum value_err e = VALUE_OK;

	if (!t->has_values || template_expand_why(t, caps, ncaps, topic, out, outlen, &e) >= 0)
		return other;
	switch (e) {
	case VALUE_ERR_NOT_NUMBER:
		return MAPPING_NOT_A_NUMBER;
	case VALUE_ERR_NOT_FINITE:
		return MAPPING_NOT_FINITE;
	case VALUE_ERR_NOT_INTEGER:
		return MAPPING_NOT_INTEGER;
	case VALUE_ERR_RANGE:
		return MAPPING_OUT_OF_RANGE;
	case VALUE_ERR_PAST_END:
		return MAPPING_PAST_END;
	case VALUE_ERR_SPACE:
		return MAPPING_TOO_LONG;
	default:
		return other;
	}
}

/*
 * Run re over s[0..len) and fill caps: $0 is the whole frame or payload
 * (not only the part the pattern matched), $1..$9 the groups. Returns 1 on
 * a match. ERE needed a second, backward pass over the input to find
 * submatches (7 times the match), so routes asked only for the captures
 * their templates used; PCRE2 records them during the match, so all are
 * taken (BENCHMARKS.md has the figures).
 */
static int mapping_match(const struct pattern *re, int has_re, const char *s, size_t len,
			 struct template_cap *caps, int *ncaps)
{
	int n;

	*ncaps = 1;
	if (has_re) {
		n = re->ngroups + 1 < TEMPLATE_MAX_CAPS ? re->ngroups + 1 : TEMPLATE_MAX_CAPS;
		if (!pattern_match(re, s, len, caps, n))
			return 0;
		*ncaps = n;
	}
	caps[0].ptr = s;
	caps[0].len = len;
	return 1;
}

/* Route i on a frame: 0 when its match does not take the frame, 1 with out filled. */
static int mapping_up_route(const struct config *cfg, int i, const char *frame, size_t len, char *topic,
			    size_t topic_size, char *payload, size_t payload_size, struct mapping_out *out)
{
	const struct cfg_route *r = &cfg->routes[i];
	struct template_cap caps[TEMPLATE_MAX_CAPS];
	int ncaps, n;

	if (!mapping_match(&r->match, r->has_match, frame, len, caps, &ncaps))
		return 0;
	memset(out, 0, sizeof(*out));
	out->route = i;
	out->qos = r->qos;
	out->retain = r->retain;
	out->topic = topic;
	if (template_expand(&r->to_tpl, caps, ncaps, 1, topic, topic_size) < 0) {
		out->verdict = mapping_refusal(&r->to_tpl, caps, ncaps, 1, topic, topic_size, MAPPING_BAD_TOPIC);
		return 1;
	}
	if (template_is_whole(&r->payload_tpl)) {
		out->payload = frame;
		out->payload_len = len;
	} else {
		n = template_expand(&r->payload_tpl, caps, ncaps, 0, payload, payload_size);
		if (n < 0) {
			out->verdict = mapping_refusal(&r->payload_tpl, caps, ncaps, 0, payload, payload_size,
						       MAPPING_TOO_LONG);
			return 1;
		}
		out->payload = payload;
		out->payload_len = (size_t)n;
	}
	out->verdict = MAPPING_OK;
	return 1;
}

int mapping_uplink(const struct config *cfg, enum route_end kind, int dev, const char *frame, size_t len,
		   char *topic, size_t topic_size, char *payload, size_t payload_size, struct mapping_out *out)
{
	const int *mine;
	int i, n;

	if (cfg->index) {
		/* only this device's routes, in file order (mapping_index.h) */
		mine = mapping_index_device(cfg->index, mapping_index_slot(cfg, kind, dev), &n);
		for (i = 0; i < n; i++)
			if (mapping_up_route(cfg, mine[i], frame, len, topic, topic_size, payload, payload_size, out))
				return 0;
		return -1;
	}
	for (i = 0; i < cfg->n_routes; i++) {
		const struct cfg_route *r = &cfg->routes[i];

		if (r->from_kind != kind || r->from_dev != dev)
			continue;
		if (mapping_up_route(cfg, i, frame, len, topic, topic_size, payload, payload_size, out))
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

/* Judge the payload for route i (its filter matched) and fill out. */
static void mapping_down_route(const struct config *cfg, int i, const char *payload, size_t len, char *buf,
			       size_t buf_size, struct mapping_out *out)
{
	const struct cfg_route *r = &cfg->routes[i];
	struct template_cap caps[TEMPLATE_MAX_CAPS];
	int ncaps, n;

	memset(out, 0, sizeof(*out));
	out->route = i;
	out->kind = r->to_kind;
	out->dev = r->to_dev;
	out->verdict = mapping_check_bytes(cfg, r, payload, len);
	if (out->verdict != MAPPING_OK)
		return;
	if (!mapping_match(&r->accept, r->has_accept, payload, len, caps, &ncaps)) {
		out->verdict = MAPPING_NOT_ACCEPTED;
		return;
	}
	if (template_is_whole(&r->payload_tpl)) {
		out->payload = payload;
		out->payload_len = len;
		return;
	}
	n = template_expand(&r->payload_tpl, caps, ncaps, 0, buf, buf_size);
	if (n < 0) {
		out->verdict = mapping_refusal(&r->payload_tpl, caps, ncaps, 0, buf, buf_size, MAPPING_TOO_LONG);
		return;
	}
	out->payload = buf;
	out->payload_len = (size_t)n;
	/* the template may have made it longer than the device takes */
	out->verdict = mapping_check_bytes(cfg, r, buf, (size_t)n);
}

int mapping_downlink(const struct config *cfg, const char *topic, const char *const *via, int n_via,
		     const char *payload, size_t len, int *next, char *buf, size_t buf_size, struct mapping_out *out)
{
	int i;

	if (cfg->index) {
		/* only the filters on the topic's path through the tree (mapping_index.h) */
		i = *next < cfg->n_routes ? mapping_index_next(cfg->index, topic, via, n_via, *next) : -1;
		if (i >= 0) {
			*next = i + 1;
			mapping_down_route(cfg, i, payload, len, buf, buf_size, out);
			return 0;
		}
		*next = cfg->n_routes;
		return -1;
	}
	for (i = *next; i < cfg->n_routes; i++) {
		const struct cfg_route *r = &cfg->routes[i];

		if (r->from_kind != ROUTE_MQTT || !topic_matches(r->from, topic) || !mapping_index_via(r->from, via, n_via))
			continue;
		*next = i + 1;
		mapping_down_route(cfg, i, payload, len, buf, buf_size, out);
		return 0;
	}
	*next = cfg->n_routes;
	return -1;
}
