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

/*
 * The description of a setting (config_schema.c holds every table). From it
 * come parsing and range checks (cfg_apply), defaults (cfg_defaults),
 * freeing, comparing (config_changes), and the --check summary. Scalars are
 * parsed by the walker; a setting flagged OPT_OWN is parsed by its group's
 * own code (a list, a group with cross-checks, "line" = 17 or "GPIO17") but
 * is freed, compared and printed from here like the rest.
 */
enum opt_type {
	OPT_STR,     /* char * at off */
	OPT_INT,     /* int at off, min..max */
	OPT_BOOL,    /* int at off, 0/1 */
	OPT_ENUM,    /* int at off, index into names */
	OPT_STRLIST, /* char ** at off, int count at off2 */
	OPT_INTSTR,  /* int at off (-1: unset) or char * at off2 (NULL: unset) */
	OPT_GROUP,   /* struct at off described by sub; int "present" at off2 (OPT_NO_OFF2: none) */
	OPT_LIST,    /* array of sub->size at off, int count at off2 */
	OPT_SPECIAL  /* a name only: parsed by its group's code, stored nowhere of its own */
};

#define OPT_REQUIRED 0x1u /* OPT_STR: must be given and not empty */
#define OPT_OWN 0x2u	  /* parsed by the group's own code, not the walker */
#define OPT_MUST_BE 0x4u  /* OPT_ENUM: "NAME must be one of: ..." (log_level's wording) */
#define OPT_NO_OFF2 ((size_t)-1)

struct opt_shape;

struct opt {
	const char *name;
	enum opt_type type;
	long min, max;		  /* OPT_INT range */
	long def;		  /* OPT_INT / OPT_BOOL / OPT_ENUM default */
	const char *def_str;	  /* OPT_STR default (NULL: none) */
	size_t off;		  /* offset in the target struct */
	const char *const *names; /* OPT_ENUM names, NULL-terminated */
	unsigned change;	  /* CFG_CHANGE_*: what a reload needs when it differs */
	unsigned flags;		  /* OPT_REQUIRED, OPT_OWN, OPT_MUST_BE */
	size_t off2;		  /* second field: see enum opt_type */
	const struct opt_shape *sub; /* OPT_GROUP, OPT_LIST: the members */
};

/* The members of a group, or of each element of a list. */
struct opt_shape {
	const struct opt *opts; /* NULL-name terminated */
	size_t size;		/* of one element (OPT_LIST) */
	void (*free_extra)(void *elem); /* what its own code compiled beyond the settings, or NULL */
};

/* The tables (config_schema.c), for the groups' own code. */
extern const struct opt cfg_top_opts[], cfg_mqtt_opts[], cfg_tls_opts[], cfg_buffer_opts[];
extern const struct opt cfg_serial_opts[], cfg_gpio_opts[], cfg_route_opts[];

struct cfg_ctx {
	const char *name; /* file name for messages */
	char *err;
	size_t errlen;
	int failed;
};

/* Where a setting lands in its struct, for the tables. */
#define S_(st, f) offsetof(struct st, f)

/* The kinds of entry, one macro each: N name, ST struct, F field, CH CFG_CHANGE_* bits. */
#define O_STR(N, ST, F, DEF, CH) {.name = N, .type = OPT_STR, .def_str = DEF, .off = S_(ST, F), .change = CH}
#define O_REQ(N, ST, F, CH) {.name = N, .type = OPT_STR, .off = S_(ST, F), .change = CH, .flags = OPT_REQUIRED}
#define O_INT(N, ST, F, LO, HI, DEF, CH) \
	{.name = N, .type = OPT_INT, .min = LO, .max = HI, .def = DEF, .off = S_(ST, F), .change = CH}
#define O_BOOL(N, ST, F, DEF, CH) {.name = N, .type = OPT_BOOL, .min = 0, .max = 1, .def = DEF, .off = S_(ST, F), .change = CH}
#define O_ENUM(N, ST, F, NAMES, DEF, CH) \
	{.name = N, .type = OPT_ENUM, .def = DEF, .off = S_(ST, F), .names = NAMES, .change = CH}
/* Lists and groups: parsed by the walker from their shape, or (FL = OPT_OWN) by their group's code. */
#define O_STRLIST(N, ST, F, CNT, CH, FL) \
	{.name = N, .type = OPT_STRLIST, .off = S_(ST, F), .off2 = S_(ST, CNT), .change = CH, .flags = FL}
#define O_GROUP(N, ST, F, HAS, SUB, CH, FL) \
	{.name = N, .type = OPT_GROUP, .off = S_(ST, F), .off2 = HAS, .sub = SUB, .change = CH, .flags = FL}
#define O_LIST(N, ST, F, CNT, SUB, CH, FL) \
	{.name = N, .type = OPT_LIST, .off = S_(ST, F), .off2 = S_(ST, CNT), .sub = SUB, .change = CH, .flags = FL}
#define O_NAME(N) {.name = N, .type = OPT_SPECIAL, .flags = OPT_OWN}
#define O_END {.name = NULL}

/* The route table lives with the routes' code (config_routes.c). */
extern const struct opt_shape cfg_route_shape;

/* Enum names shared with the --check summary (config_schema.c). */
extern const char *const cfg_parity_names[];
extern const char *const cfg_flow_names[];
extern const char *const cfg_dir_names[];
extern const char *const cfg_edge_names[];
extern const char *const cfg_bias_names[];

/* config_schema.c: the walker, freeing, comparing, printing */
/* Apply a table's defaults to base. 0 / -1 (out of memory). */
int cfg_defaults(const struct opt *opts, void *base);
/* Check and store group g's members against opts; what names g in messages. */
void cfg_apply(struct cfg_ctx *c, const config_setting_t *g, const struct opt *opts, void *base,
	       const char *what);
/* Free what the settings of opts hold in base (not base itself). */
void cfg_free_settings(const struct opt *opts, void *base);
/* --check: label, then each setting of opts in base that is not at its default, on one line. */
void cfg_print_settings(const char *label, const struct opt *opts, const void *base);

/* config.c: error reporting and shared helpers */
/* Record the first error as "FILE:LINE: message" (s may be NULL). */
void cfg_fail(struct cfg_ctx *c, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
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
/*
 * config_poll.c: serial group g's poll list, parsed by the walker into
 * s->polls, checked for what its table cannot say (offset_ms < every_ms,
 * each command sendable by the device's codec).
 */
void cfg_serial_polls(struct cfg_ctx *c, const config_setting_t *g, struct cfg_serial *s);
/* --check: one line per poll. */
void cfg_serial_polls_print(const struct cfg_serial *s);
void cfg_load_gpio(struct cfg_ctx *c, struct config *cfg, const config_setting_t *list);

/* config_routes.c */
void cfg_load_routes(struct cfg_ctx *c, struct config *cfg, const config_setting_t *list);

/* config_ha.c: Home Assistant discovery (issue 16) */
/* Route g's ha and instances, checked against its direction and accept, into r->ha_src. */
void cfg_route_ha(struct cfg_ctx *c, const struct config *cfg, const config_setting_t *g, struct cfg_route *r);
/* Once every route is in: the prefix, and every unique_id once (root: the file's root setting). */
void cfg_load_ha(struct cfg_ctx *c, struct config *cfg, const config_setting_t *root);

#endif
