/*
 * pattern.h - the regexes of a config (match, accept, reply), on PCRE2.
 *
 * Users write the syntax they know from Python, JavaScript, Node-RED and
 * Home Assistant: \d \w \s, (?:...), lazy quantifiers. POSIX ERE (the
 * previous engine) read "\d" as a literal "d", so "^DRVZ[+-]\d{1,6}$"
 * refused "DRVZ+1000" and let "DRVZ+d" through to a motor.
 *
 * Semantics kept from the ERE days, so existing configs mean the same:
 * byte-wise (no UTF mode: frames may be binary), '.' matches any byte
 * including a newline (PCRE2_DOTALL), '$' only at the very end of the frame
 * (PCRE2_DOLLAR_ENDONLY), unanchored unless the pattern says ^ or $, and
 * the frame is matched on its length (NUL bytes included). What differs is
 * documented in config/mqttgw.cfg: alternation is leftmost-first, not
 * leftmost-longest ("^(a|ab)" captures "a" of "abc", ERE took "ab"), and a
 * backslash inside [...] escapes (ERE: a literal backslash).
 *
 * Compiled once when the config is loaded (JIT when the platform has it,
 * the interpreter otherwise, silently); each pattern keeps its own
 * match-data block and match context, so the hot path allocates nothing.
 * A match-data block is written by every match: one thread per pattern
 * (the event loop; the fuzzers and unit tests are single-threaded).
 */
#ifndef MQTTGW_PATTERN_H
#define MQTTGW_PATTERN_H

#include <stddef.h>

/* Most a frame or command may cost before it counts as "no match" (ReDoS). */
#define PATTERN_MATCH_LIMIT 1000000

/*
 * A capture: bytes and length; ptr NULL means "did not participate". Named
 * for the templates that expand captures (template.h), defined here, with
 * the matcher that fills it, so the drivers match replies without the
 * gateway's template engine.
 */
struct template_cap {
	const char *ptr;
	size_t len;
};

struct pattern {
	void *code;		/* pcre2_code * (opaque here: one file includes pcre2.h) */
	void *md;		/* pcre2_match_data *, reused by every match */
	void *mctx;		/* pcre2_match_context * (the match limit) */
	int ngroups;		/* capture groups in the pattern */
	int jit;		/* 1 when JIT-compiled */
};

/*
 * Compile src. Returns 0, or -1 with PCRE2's message and the offset of the
 * mistake ("missing closing parenthesis at offset 12") in err.
 */
int pattern_compile(struct pattern *p, const char *src, char *err, size_t errlen);

/*
 * Match s[0..len). Returns 1 on a match, 0 otherwise (the match limit
 * counts as no match). With caps, fills caps[0] (the whole match) up to
 * caps[ncaps - 1]; a group beyond the pattern's, or one that took no
 * part in the match, is { NULL, 0 }.
 */
int pattern_match(const struct pattern *p, const char *s, size_t len, struct template_cap *caps, int ncaps);

/* 1 when the engine JIT-compiles on this machine (for --version, tests). */
int pattern_jit_available(void);

void pattern_free(struct pattern *p);

#endif
