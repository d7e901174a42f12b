/*
 * pattern.c - PCRE2 behind the small interface of pattern.h. The only file
 * that includes pcre2.h, so the options that keep ERE configs meaning what
 * they meant (see pattern.h) are set in one place.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#include "pattern.h"

int pattern_compile(struct pattern *p, const char *src, char *err, size_t errlen)
{
	PCRE2_UCHAR msg[160];
	PCRE2_SIZE off;
	uint32_t n = 0;
	int rc;

	memset(p, 0, sizeof(*p));
	p->code = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, PCRE2_DOTALL | PCRE2_DOLLAR_ENDONLY, &rc,
				&off, NULL);
	if (!p->code) {
		if (pcre2_get_error_message(rc, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", rc);
		snprintf(err, errlen, "%s at offset %zu", (const char *)msg, (size_t)off);
		return -1;
	}
	/* JIT where the platform has it; the interpreter gives the same answers */
	p->jit = pcre2_jit_compile(p->code, PCRE2_JIT_COMPLETE) == 0;
	pcre2_pattern_info(p->code, PCRE2_INFO_CAPTURECOUNT, &n);
	p->ngroups = (int)n;
	p->md = pcre2_match_data_create_from_pattern(p->code, NULL);
	p->mctx = pcre2_match_context_create(NULL);
	if (!p->md || !p->mctx) {
		pattern_free(p);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pcre2_set_match_limit(p->mctx, PATTERN_MATCH_LIMIT);
	return 0;
}

int pattern_match(const struct pattern *p, const char *s, size_t len, struct template_cap *caps, int ncaps)
{
	PCRE2_SIZE *ov;
	int i, rc;

	rc = pcre2_match(p->code, (PCRE2_SPTR)(s ? s : ""), len, 0, 0, p->md, p->mctx);
	if (rc < 0)
		return 0;
	if (!caps)
		return 1;
	ov = pcre2_get_ovector_pointer(p->md);
	for (i = 0; i < ncaps; i++) {
		/* rc is one more than the highest group that took part */
		if (i < rc && ov[2 * i] != PCRE2_UNSET && ov[2 * i + 1] >= ov[2 * i]) {
			caps[i].ptr = s + ov[2 * i];
			caps[i].len = ov[2 * i + 1] - ov[2 * i];
		} else {
			caps[i].ptr = NULL;
			caps[i].len = 0;
		}
	}
	return 1;
}

int pattern_jit_available(void)
{
	uint32_t jit = 0;

	return pcre2_config(PCRE2_CONFIG_JIT, &jit) >= 0 && jit;
}

void pattern_free(struct pattern *p)
{
	if (!p)
		return;
	pcre2_match_data_free(p->md);
	pcre2_match_context_free(p->mctx);
	pcre2_code_free(p->code);
	memset(p, 0, sizeof(*p));
}
