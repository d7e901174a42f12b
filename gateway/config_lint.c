/*
 * config_lint.c - what --check says beyond "valid": warnings about configs
 * that load but do not do what their author meant, and hints that turn
 * libconfig's bare "syntax error" and an unknown setting into the likely fix.
 *
 * Warnings are not errors (a config with a spare device still runs), so
 * they are reported through a callback: --check prints them and exits 0,
 * --strict makes them errors, the daemon logs them at start. Pure: no I/O
 * but reading the config text the parser already read.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec.h"
#include "config_int.h"

/* ---- did you mean ---- */

/* Edit distance of a and b (case-insensitive), capped: names are short. */
static int cfg_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	int row[64], prev, tmp, best;

	if (la >= 63 || lb >= 63)
		return 99;
	for (j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = (int)i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			best = prev + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

const char *cfg_closest(const struct opt *opts, const char *name)
{
	const struct opt *o;
	const char *best = NULL;
	int d, bd = 99, limit = strlen(name) >= 4 ? 2 : 1;

	for (o = opts; o->name; o++) {
		d = cfg_distance(name, o->name);
		if (d < bd) {
			bd = d;
			best = o->name;
		}
	}
	if (best && bd <= limit)
		return best;
	/* a known name with something added: "baudrate", "parity_bits" */
	for (o = opts; o->name; o++)
		if (strlen(o->name) >= 4 && strncasecmp(name, o->name, strlen(o->name)) == 0)
			return o->name;
	return NULL;
}

/* ---- syntax error hints ---- */

/*
 * Walk text as libconfig's scanner does for strings and comments. Returns
 * the line on which a string opens and is still open at the end of that
 * line (libconfig strings do not span lines), or 0.
 */
static int cfg_unclosed_string(const char *text)
{
	int line = 1, in_str = 0, block = 0;
	const char *p;

	for (p = text; *p; p++) {
		if (*p == '\n') {
			if (in_str)
				return line;
			line++;
			continue;
		}
		if (block) {
			if (p[0] == '*' && p[1] == '/') {
				block = 0;
				p++;
			}
		} else if (in_str) {
			if (*p == '\\' && p[1] && p[1] != '\n')
				p++;
			else if (*p == '"')
				in_str = 0;
		} else if (*p == '"') {
			in_str = 1;
		} else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
			while (p[1] && p[1] != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			block = 1;
			p++;
		}
	}
	return in_str ? line : 0;
}

/* Line n of text (1-based) without its comment, into out. */
static void cfg_line(const char *text, int n, char *out, size_t outlen)
{
	const char *p = text, *e;
	size_t len;
	int in_str = 0;

	while (--n > 0 && (p = strchr(p, '\n')) != NULL)
		p++;
	if (!p) {
		*out = '\0';
		return;
	}
	for (e = p; *e && *e != '\n'; e++) {
		if (*e == '"' && (e == p || e[-1] != '\\'))
			in_str = !in_str;
		if (!in_str && (*e == '#' || (e[0] == '/' && e[1] == '/')))
			break;
	}
	len = (size_t)(e - p) < outlen - 1 ? (size_t)(e - p) : outlen - 1;
	memcpy(out, p, len);
	out[len] = '\0';
	while (len > 0 && isspace((unsigned char)out[len - 1]))
		out[--len] = '\0';
}

int cfg_syntax_hint(const char *text, int line, int *hint_line, char *hint, size_t hintlen)
{
	char cur[256], prev[256];
	const char *c;
	int open = cfg_unclosed_string(text), p;

	if (open && open <= line) {
		*hint_line = open;
		snprintf(hint, hintlen, "syntax error: unclosed string (the \" opened on this line has no closing \")");
		return 0;
	}
	cfg_line(text, line, cur, sizeof(cur));
	for (c = cur; isspace((unsigned char)*c); c++)
		;
	/* the last line before it with something on it */
	for (p = line - 1, prev[0] = '\0'; p > 0 && !prev[0]; p--)
		cfg_line(text, p, prev, sizeof(prev));
	if ((*c == '{' || *c == '(' || *c == '"') && prev[0] &&
	    strchr("})\"", prev[strlen(prev) - 1])) {
		*hint_line = p + 1;
		snprintf(hint, hintlen,
			 "syntax error: missing comma between list items (add \",\" at the end of this line, "
			 "before line %d)",
			 line);
		return 0;
	}
	if (strstr(cur, "} {") || strstr(cur, "}{") || strstr(cur, "}\t{")) {
		*hint_line = line;
		snprintf(hint, hintlen, "syntax error: missing comma between list items (\"},\" before \"{\")");
		return 0;
	}
	return -1;
}

/* ---- warnings ---- */

struct cfg_warner {
	const struct config *cfg;
	void (*fn)(const char *msg, void *ctx);
	void *ctx;
	int n;
};

static void cfg_warn(struct cfg_warner *w, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void cfg_warn(struct cfg_warner *w, int line, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "%s:%d: warning: ", w->cfg->file ? w->cfg->file : "config", line);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	w->fn(msg, w->ctx);
	w->n++;
}

static int cfg_dev_used(const struct config *cfg, enum route_end kind, int dev)
{
	int i;

	for (i = 0; i < cfg->n_routes; i++)
		if ((cfg->routes[i].from_kind == kind && cfg->routes[i].from_dev == dev) ||
		    (cfg->routes[i].to_kind == kind && cfg->routes[i].to_dev == dev))
			return 1;
	return 0;
}

/* A pattern that matches every frame (".*", "^", "(.*)"): probed, since it is a search. */
static int cfg_matches_all(const struct pattern *p)
{
	static const char *const probes[] = { "", "x", "POSZ+001000", "\r", "\xff\x01 end" };
	size_t i;

	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		if (!pattern_match(p, probes[i], strlen(probes[i]), NULL, 0))
			return 0;
	return 1;
}

/* An uplink route no frame can reach: an earlier route from that device takes all it would. */
static void cfg_lint_shadowed(struct cfg_warner *w, const struct config *cfg)
{
	int i, j;

	for (i = 0; i < cfg->n_routes; i++) {
		const struct cfg_route *r = &cfg->routes[i];

		if (r->from_kind == ROUTE_MQTT)
			continue;
		for (j = 0; j < i; j++) {
			const struct cfg_route *e = &cfg->routes[j];

			if (e->from_kind != r->from_kind || e->from_dev != r->from_dev || !e->has_match)
				continue;
			if (r->has_match && strcmp(e->match_src, r->match_src) == 0) {
				cfg_warn(w, r->line,
					 "route from %s:%s can never match: the route at line %d has the same match "
					 "\"%s\" and takes every such frame first",
					 r->from_kind == ROUTE_SERIAL ? "serial" : "gpio", r->from, e->line, e->match_src);
				break;
			}
			if (cfg_matches_all(&e->match)) {
				cfg_warn(w, r->line,
					 "route from %s:%s can never match: the route at line %d (match \"%s\") "
					 "takes every frame first",
					 r->from_kind == ROUTE_SERIAL ? "serial" : "gpio", r->from, e->line, e->match_src);
				break;
			}
		}
	}
}

/*
 * An accept that lets control bytes or non-ASCII through to a text device
 * (without accept only printable ASCII is taken; with one, whatever it
 * matches). Probed with the pattern's own literal start ("^E(.*)$": "E")
 * followed by such a byte: a match proves it, so this never warns wrongly,
 * only sometimes not at all.
 */
static void cfg_lint_accept_bytes(struct cfg_warner *w, const struct config *cfg)
{
	static const char *const bad[] = { "\x1b", "\x01", "\x7f", "\xc3\xa9" };
	static const char *const shown[] = { "\\x1b (ESC)", "\\x01", "\\x7f (DEL)", "\\xc3\\xa9 (UTF-8)" };
	char probe[80];
	size_t i, n;
	int r;

	for (r = 0; r < cfg->n_routes; r++) {
		const struct cfg_route *rt = &cfg->routes[r];
		const char *s;

		if (!rt->has_accept || rt->to_kind != ROUTE_SERIAL ||
		    cfg->serial[rt->to_dev].encoding != CODEC_ENCODING_TEXT)
			continue;
		s = rt->accept_src + (rt->accept_src[0] == '^');
		for (n = 0; n < 40 && (isalnum((unsigned char)s[n]) || s[n] == ' ' || s[n] == '_'); n++)
			probe[n] = s[n];
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(probe + n, sizeof(probe) - n, "%s", bad[i]);
			if (pattern_match(&rt->accept, probe, strlen(probe), NULL, 0) ||
			    pattern_match(&rt->accept, bad[i], strlen(bad[i]), NULL, 0)) {
				cfg_warn(w, rt->line,
					 "accept \"%s\" lets bytes outside printable ASCII through to serial:%s, a text "
					 "device (it takes %s): match printable characters only, e.g. [ -~] or \\w, "
					 "not . or [^...]",
					 rt->accept_src, rt->to, shown[i]);
				break;
			}
		}
	}
}

int config_lint(const struct config *cfg, void (*fn)(const char *msg, void *ctx), void *ctx)
{
	struct cfg_warner w = { cfg, fn, ctx, 0 };
	int i;

	for (i = 0; i < cfg->n_serial; i++)
		if (!cfg_dev_used(cfg, ROUTE_SERIAL, i))
			cfg_warn(&w, cfg->serial[i].line,
				 "serial device %s is used by no route (its frames go nowhere, nothing is written to "
				 "it): add a route from or to serial:%s, or remove it",
				 cfg->serial[i].name, cfg->serial[i].name);
	for (i = 0; i < cfg->n_gpio; i++)
		if (!cfg_dev_used(cfg, ROUTE_GPIO, i))
			cfg_warn(&w, cfg->gpio[i].line,
				 "gpio line %s is used by no route: add a route from or to gpio:%s, or remove it",
				 cfg->gpio[i].name, cfg->gpio[i].name);
	cfg_lint_shadowed(&w, cfg);
	cfg_lint_accept_bytes(&w, cfg);
	return w.n;
}
