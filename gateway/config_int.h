/*
 * config_int.h - what the config files share: the settings tables, the
 * walker that applies them, and the error reporting. Not for the rest of
 * the daemon (that is config.h). The prefix is cfg_ rather than config_
 * because libconfig owns config_.
 */
#ifndef MQTTGW_CONFIG_INT_H
#define MQTTGW_CONFIG_INT_H

#include <stddef.h>

#include <libconfig.h>

#include "config.h"

enum opt_type { OPT_STR, OPT_INT, OPT_BOOL, OPT_ENUM, OPT_SPECIAL };

struct opt {
	const char *name;
	enum opt_type type;
	long min, max;		  /* OPT_INT range; OPT_STR: min 1 = required */
	long def;		  /* OPT_INT / OPT_BOOL / OPT_ENUM default */
	const char *def_str;	  /* OPT_STR default (NULL: none) */
	size_t off;		  /* offset in the target struct */
	const char *const *names; /* OPT_ENUM names, NULL-terminated */
};

struct cfg_ctx {
	const char *name; /* file name for messages */
	char *err;
	size_t errlen;
	int failed;
};

/* Where a setting lands in its struct, for the tables. */
#define S_(st, f) offsetof(struct st, f)

/* Enum names shared with the --check summary (config_devices.c). */
extern const char *const cfg_parity_names[];
extern const char *const cfg_flow_names[];
extern const char *const cfg_dir_names[];
extern const char *const cfg_edge_names[];
extern const char *const cfg_bias_names[];

/* config.c: the walker and error reporting */
/* Record the first error as "FILE:LINE: message" (s may be NULL). */
void cfg_fail(struct cfg_ctx *c, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Apply a table's defaults to base. 0 / -1 (out of memory). */
int cfg_defaults(const struct opt *opts, void *base);
/* Check and store group g's members against opts; what names g in messages. */
void cfg_apply(struct cfg_ctx *c, const config_setting_t *g, const struct opt *opts, void *base,
	       const char *what);
/* ${station} / ${name} expanded into a new string, or NULL (error recorded). */
char *cfg_subst(struct cfg_ctx *c, const config_setting_t *s, const char *src, const char *station,
		const char *name);
/* The member's setting if it is there (for its line), else the group. */
const config_setting_t *cfg_member_or(const config_setting_t *g, const char *name);
/* Compile a regex (src may be NULL: nothing to do). */
void cfg_regex(struct cfg_ctx *c, const config_setting_t *s, const char *src, struct pattern *re, int *has,
	       const char *what);

/* config_lint.c */
/* The option name closest to name (a typo, "baudrate"), or NULL. */
const char *cfg_closest(const struct opt *opts, const char *name);
/*
 * libconfig said "syntax error" at line: the likely cause in hint and the
 * line to fix in *hint_line (an unclosed string, a missing comma between
 * list items). 0, or -1 when it cannot be told.
 */
int cfg_syntax_hint(const char *text, int line, int *hint_line, char *hint, size_t hintlen);

/* config_devices.c */
void cfg_load_serial(struct cfg_ctx *c, struct config *cfg, const config_setting_t *list);
/* config_poll.c: the member "poll" of serial group g, into s->polls */
void cfg_serial_polls(struct cfg_ctx *c, const config_setting_t *g, struct cfg_serial *s);
void cfg_load_gpio(struct cfg_ctx *c, struct config *cfg, const config_setting_t *list);

/* config_routes.c */
void cfg_load_routes(struct cfg_ctx *c, struct config *cfg, const config_setting_t *list);

#endif
