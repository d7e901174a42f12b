/*
 * payload_json.c - JSON payloads, compiled once at config load (see payload_json.h).
 *
 * Why a template and not a cJSON tree per frame: a tree per frame is a
 * malloc per member plus a print, several times what the rest of a frame
 * costs, while the shape of the object never changes; only its values do.
 * So the object is laid out once here: the constant parts (braces, keys,
 * literal strings, numbers printed by cJSON, booleans) become literal text
 * of one template, and each placeholder a value part that writes either a
 * bare number or the escaped inside of a string. Expanding it per frame is
 * what any payload template costs. tests/fuzz/fuzz_json.c parses every
 * result with cJSON_Parse and checks its strings come back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "payload_json.h"

struct pj_ctx {
	struct template *t;
	const char *station, *name;
	char *err;
	size_t errlen;
	const config_setting_t *where;
};

static int pj_fail(struct pj_ctx *c, const config_setting_t *s, const char *msg)
{
	if (msg)
		snprintf(c->err, c->errlen, "%s", msg);
	c->where = s;
	return -1;
}

static int pj_text(struct pj_ctx *c, const char *s)
{
	return template_add_text(c->t, s, strlen(s)) < 0 ? pj_fail(c, NULL, "out of memory") : 0;
}

/* Literal bytes as the inside of a JSON string. */
static int pj_escaped(struct pj_ctx *c, const char *s, size_t n)
{
	size_t cap = n * 6 + 1;
	char *buf = malloc(cap);
	int len, rc = -1;

	if (buf && (len = value_json_escape(s, n, buf, cap)) >= 0)
		rc = template_add_text(c->t, buf, (size_t)len);
	free(buf);
	return rc < 0 ? pj_fail(c, NULL, "out of memory") : 0;
}

/* A number printed by cJSON (the shortest text that reads back the same double). */
static int pj_number(struct pj_ctx *c, const config_setting_t *s, double d)
{
	cJSON *n = cJSON_CreateNumber(d);
	char *txt = n ? cJSON_PrintUnformatted(n) : NULL;
	int rc;

	if (!txt) {
		cJSON_Delete(n);
		return pj_fail(c, s, "out of memory");
	}
	rc = strcmp(txt, "null") == 0 ? pj_fail(c, s, "json: a number must be finite") : pj_text(c, txt);
	cJSON_free(txt);
	cJSON_Delete(n);
	return rc;
}

/* A string member: a template whose literal text and captures are escaped, or one bare number. */
static int pj_string(struct pj_ctx *c, const config_setting_t *s)
{
	const char *src = config_setting_get_string(s);
	struct template tmp;
	char why[256];
	int i;

	if (template_compile(&tmp, src, c->station, c->name, why, sizeof(why)) < 0) {
		snprintf(c->err, c->errlen, "json: %s", why);
		return pj_fail(c, s, NULL);
	}
	if (tmp.n_parts == 1 && tmp.parts[0].expr && tmp.parts[0].expr->numeric) {
		struct value_expr *e = tmp.parts[0].expr;

		tmp.parts[0].expr = NULL;	/* the new template owns it from here, even on failure */
		e->out = VALUE_OUT_JSON_RAW;
		if (template_add_value(c->t, e) < 0)
			goto oom;
		template_free(&tmp);
		return 0;
	}
	if (pj_text(c, "\"") < 0)
		goto fail;
	for (i = 0; i < tmp.n_parts; i++) {
		struct template_part *p = &tmp.parts[i];
		struct value_expr *e = p->expr;

		if (p->capture < 0) {
			if (pj_escaped(c, tmp.text + p->off, p->len) < 0)
				goto fail;
			continue;
		}
		if (e && e->n_filters > 0 && e->filters[e->n_filters - 1].op == VALUE_OP_JSON) {
			snprintf(c->err, c->errlen, "json: \"%s\": no json filter inside json = { }: every string "
				 "there is escaped already", src);
			pj_fail(c, s, NULL);
			goto fail;
		}
		if (!e) {	/* a plain $N: a value that only escapes */
			e = calloc(1, sizeof(*e));
			if (!e)
				goto oom;
			e->capture = p->capture;
			e->field = VALUE_FIELD_NONE;
		}
		e->out = VALUE_OUT_JSON_INNER;
		p->expr = NULL;
		if (template_add_value(c->t, e) < 0)
			goto oom;
	}
	if (pj_text(c, "\"") < 0)
		goto fail;
	template_free(&tmp);
	return 0;
oom:
	pj_fail(c, s, "out of memory");
fail:
	template_free(&tmp);
	return -1;
}

static int pj_value(struct pj_ctx *c, const config_setting_t *s, int depth)
{
	char num[32];
	int i, n;

	if (depth > 32)
		return pj_fail(c, s, "json: nested more than 32 deep");
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP:
	case CONFIG_TYPE_LIST:
	case CONFIG_TYPE_ARRAY: {
		int group = config_setting_type(s) == CONFIG_TYPE_GROUP;

		if (pj_text(c, group ? "{" : "[") < 0)
			return -1;
		n = config_setting_length(s);
		for (i = 0; i < n; i++) {
			const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);

			if (i > 0 && pj_text(c, ",") < 0)
				return -1;
			if (group) {
				const char *key = config_setting_name(m);

				if (pj_text(c, "\"") < 0 || pj_escaped(c, key, strlen(key)) < 0 || pj_text(c, "\":") < 0)
					return -1;
			}
			if (pj_value(c, m, depth + 1) < 0)
				return -1;
		}
		return pj_text(c, group ? "}" : "]");
	}
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		snprintf(num, sizeof(num), "%lld", config_setting_get_int64(s));
		return pj_text(c, num);
	case CONFIG_TYPE_FLOAT:
		return pj_number(c, s, config_setting_get_float(s));
	case CONFIG_TYPE_BOOL:
		return pj_text(c, config_setting_get_bool(s) ? "true" : "false");
	case CONFIG_TYPE_STRING:
		return pj_string(c, s);
	default:
		return pj_fail(c, s, "json: a member must be a string, number, boolean, group or list");
	}
}

int payload_json_compile(struct template *t, const config_setting_t *g, const char *station, const char *name,
			 char *err, size_t errlen, const config_setting_t **where)
{
	struct pj_ctx c = { t, station, name, err, errlen, NULL };

	template_init(t);
	if (!config_setting_is_group(g)) {
		snprintf(err, errlen, "json must be a group: json = { key = \"${1|float}\"; ... };");
		*where = g;
		return -1;
	}
	if (pj_value(&c, g, 0) < 0) {
		*where = c.where ? c.where : g;
		template_free(t);
		return -1;
	}
	return 0;
}

/*
 * The layout as text: the template's literal bytes ("$" written "$$") and
 * each value as ${src}, or $N for a plain capture. Two layouts that publish
 * differently give different texts, so this is what config_changes compares
 * (and --check prints) for a route's json.
 */
char *payload_json_layout(const struct template *t)
{
	size_t cap = 1, n = 0;
	char *out;
	int i;

	for (i = 0; i < t->n_parts; i++) {
		const struct template_part *p = &t->parts[i];

		cap += p->capture < 0 ? 2 * p->len : p->expr && p->expr->src ? strlen(p->expr->src) + 3 : 2;
	}
	if (!(out = malloc(cap)))
		return NULL;
	for (i = 0; i < t->n_parts; i++) {
		const struct template_part *p = &t->parts[i];

		if (p->capture < 0) {
			for (size_t k = 0; k < p->len; k++) {
				out[n++] = t->text[p->off + k];
				if (t->text[p->off + k] == '$')
					out[n++] = '$';
			}
		} else if (p->expr && p->expr->src) {
			n += (size_t)sprintf(out + n, "${%s}", p->expr->src);
		} else {
			out[n++] = '$';
			out[n++] = (char)('0' + p->capture);
		}
	}
	out[n] = '\0';
	return out;
}
