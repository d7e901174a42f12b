/*
 * config_devices.c - the serial and gpio lists of the config.
 *
 * Scalar settings go through the schema's walker (config_schema.c); what is left
 * here is what the tables cannot say: unique device names, the framing
 * mode and the settings that only mean something in some modes, the
 * fail-safe frames, defaults that depend on the station and the name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "codec.h"
#include "config_int.h"
#include "framing.h"
#include "topic.h"

static int cfg_name_ok(const char *n)
{
	const char *p;

	for (p = n; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		      *p == '-'))
			return 0;
	return p != n;
}

static int cfg_name_taken(const struct config *cfg, const char *name)
{
	return config_find_serial(cfg, name) >= 0 || config_find_gpio(cfg, name) >= 0;
}

/* A string or a list of strings, as frames for a device (no CR, LF, NUL). */
static void cfg_frames(struct cfg_ctx *c, const config_setting_t *s, const struct cfg_serial *ser, char ***out,
		       int *n_out)
{
	int i, n = config_setting_type(s) == CONFIG_TYPE_STRING ? 1 : config_setting_length(s);

	if (config_setting_type(s) != CONFIG_TYPE_STRING && !config_setting_is_array(s) &&
	    !config_setting_is_list(s)) {
		cfg_fail(c, s, "serial %s: %s must be a string or a list of strings", ser->name,
			 config_setting_name(s));
		return;
	}
	*out = calloc((size_t)n + 1, sizeof(char *));
	if (!*out) {
		cfg_fail(c, s, "out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_type(s) == CONFIG_TYPE_STRING
						    ? s
						    : config_setting_get_elem(s, (unsigned)i);
		const char *v;

		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			cfg_fail(c, e, "serial %s: %s must be a string or a list of strings", ser->name,
				 config_setting_name(s));
			return;
		}
		v = config_setting_get_string(e);
		if (!*v || strpbrk(v, "\r\n") || strlen(v) > (size_t)ser->max_frame ||
		    (ser->eol_len && strstr(v, ser->eol))) {
			cfg_fail(c, e, "serial %s: frame \"%s\" is empty, holds CR/LF/eol or exceeds max_frame",
				 ser->name, v);
			return;
		}
		(*out)[i] = strdup(v);
		*n_out = i + 1;
	}
}

/* A setting that only means something in some modes is an error elsewhere. */
static int cfg_only(struct cfg_ctx *c, const config_setting_t *g, const char *key, int allowed, const char *why)
{
	const config_setting_t *s = config_setting_get_member(g, key);

	if (s && !allowed) {
		cfg_fail(c, s, "%s applies only %s", key, why);
		return -1;
	}
	return 0;
}

/* Framing mode, eol and the payload codec of a serial entry. */
static void cfg_serial_framing(struct cfg_ctx *c, const config_setting_t *g, struct cfg_serial *s)
{
	const config_setting_t *eol = config_setting_get_member(g, "eol");

	if (cfg_only(c, g, "frame_len", s->framing == FRAMING_FIXED, "with framing = \"fixed\"") < 0 ||
	    cfg_only(c, g, "idle_ms", s->framing == FRAMING_IDLE, "with framing = \"idle\"") < 0 ||
	    cfg_only(c, g, "frame_timeout_ms", s->framing != FRAMING_IDLE, "with framing = \"eol\" or \"fixed\"") < 0)
		return;
	if (s->framing == FRAMING_FIXED && !s->frame_len) {
		cfg_fail(c, g, "serial %s: framing = \"fixed\" needs frame_len", s->name);
		return;
	}
	if (s->framing != FRAMING_EOL && !eol) {
		/* binary framings end frames by length or silence: no eol unless asked for */
		s->eol[0] = '\0';
	}
	s->eol_len = strlen(s->eol);
	if (s->framing == FRAMING_EOL && (s->eol_len < 1 || s->eol_len > 8)) {
		cfg_fail(c, eol ? eol : g, "serial %s: eol must be 1 to 8 bytes", s->name);
		return;
	}
	if (s->eol_len > 8) {
		cfg_fail(c, eol, "serial %s: eol must be at most 8 bytes", s->name);
		return;
	}
	if (s->checksum == CODEC_CHECKSUM_NONE &&
	    (cfg_only(c, g, "checksum_format", 0, "with a checksum") < 0 ||
	     cfg_only(c, g, "checksum_order", 0, "with a checksum") < 0 ||
	     cfg_only(c, g, "checksum_prefix", 0, "with a checksum") < 0 ||
	     cfg_only(c, g, "checksum_skip", 0, "with a checksum") < 0))
		return;
	if (strlen(s->checksum_prefix) > CODEC_PREFIX_MAX) {
		cfg_fail(c, config_setting_get_member(g, "checksum_prefix"),
			 "serial %s: checksum_prefix is at most %d bytes", s->name, CODEC_PREFIX_MAX);
		return;
	}
	if (s->framing == FRAMING_FIXED && s->frame_len > s->max_frame &&
	    config_setting_get_member(g, "max_frame")) {
		cfg_fail(c, config_setting_get_member(g, "frame_len"), "serial %s: frame_len is larger than max_frame",
			 s->name);
		return;
	}
	if (s->framing == FRAMING_FIXED && s->frame_len > s->max_frame)
		s->max_frame = s->frame_len;	/* max_frame also caps commands: at least a frame */
}

/* The real-world settings of a serial entry: availability, replies, fail-safe. */
static void cfg_serial_extras(struct cfg_ctx *c, const struct config *cfg, const config_setting_t *g,
			      struct cfg_serial *s)
{
	const config_setting_t *m;
	char *t;

	if (!s->status_topic)
		s->status_topic = strdup(cfg->station ? "${station}/${name}/status" : "${name}/status");
	t = cfg_subst(c, config_setting_get_member(g, "status_topic") ? config_setting_get_member(g, "status_topic")
								       : g,
		      s->status_topic, cfg->station, s->name);
	free(s->status_topic);
	s->status_topic = t;
	if (c->failed)
		return;
	if (*s->status_topic && topic_name_valid(s->status_topic) < 0) {
		cfg_fail(c, config_setting_get_member(g, "status_topic"), "serial %s: status_topic \"%s\" is not a valid topic",
			 s->name, s->status_topic);
		return;
	}
	m = config_setting_get_member(g, "error_topic");
	t = cfg_subst(c, m ? m : g, s->error_topic, cfg->station, s->name);
	free(s->error_topic);
	s->error_topic = t;
	if (c->failed)
		return;
	if (*s->error_topic && topic_name_valid(s->error_topic) < 0) {
		cfg_fail(c, m, "serial %s: error_topic \"%s\" is not a valid topic", s->name, s->error_topic);
		return;
	}
	cfg_regex(c, config_setting_get_member(g, "reply"), s->reply_src, &s->reply, &s->has_reply, "reply");
	m = config_setting_get_member(g, "on_disconnect");
	if (m && !c->failed)
		cfg_frames(c, m, s, &s->on_disconnect, &s->n_on_disconnect);
	if (!c->failed && s->command_timeout_ms && !s->n_on_disconnect)
		cfg_fail(c, config_setting_get_member(g, "command_timeout_ms"),
			 "serial %s: command_timeout_ms needs on_disconnect frames to send", s->name);
	if (s->rate_limit && !s->rate_burst)
		s->rate_burst = s->rate_limit;
}

/* A setting that means something only with another one: refused, at its line, when given without it. */
static void cfg_only_with(struct cfg_ctx *c, const config_setting_t *g, const char *key, const char *needs)
{
	const config_setting_t *m = config_setting_get_member(g, key);

	if (m)
		cfg_fail(c, m, "%s only applies with %s", key, needs);
}

void cfg_load_serial(struct cfg_ctx *c, struct config *cfg, const config_setting_t *list)
{
	int i, n = config_setting_length(list);

	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		cfg_fail(c, list, "serial must be a list: serial = ( { name = ...; port = ...; } );");
		return;
	}
	cfg->serial = calloc((size_t)(n ? n : 1), sizeof(*cfg->serial));
	if (!cfg->serial) {
		cfg_fail(c, list, "out of memory");
		return;
	}
	for (i = 0; i < n && !c->failed; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct cfg_serial *s = &cfg->serial[i];
		char what[96];

		cfg->n_serial = i + 1;
		s->line = config_setting_source_line(g);
		if (cfg_defaults(cfg_serial_opts, s) < 0) {
			cfg_fail(c, g, "out of memory");
			return;
		}
		if (!config_setting_is_group(g)) {
			cfg_fail(c, g, "each serial entry must be a group { name = ...; port = ...; }");
			return;
		}
		snprintf(what, sizeof(what), "serial[%d]", i);
		cfg_apply(c, g, cfg_serial_opts, s, what);
		if (c->failed)
			return;
		if (!cfg_name_ok(s->name)) {
			cfg_fail(c, config_setting_get_member(g, "name"),
				 "device name \"%s\" may only use A-Z a-z 0-9 _ -", s->name);
			return;
		}
		cfg->n_serial = i; /* do not find ourselves */
		if (cfg_name_taken(cfg, s->name))
			cfg_fail(c, config_setting_get_member(g, "name"), "device name \"%s\" is used twice", s->name);
		cfg->n_serial = i + 1; /* config_free frees this entry too */
		if (c->failed)
			return;
		for (int j = 0; j < i && !c->failed; j++)
			if (strcmp(cfg->serial[j].port, s->port) == 0)
				cfg_fail(c, config_setting_get_member(g, "port"),
					 "serial %s: port \"%s\" is already serial %s's (line %d): one port, one entry",
					 s->name, s->port, cfg->serial[j].name, cfg->serial[j].line);
		/* a delay without rs485 would do nothing: the adapter is not driven */
		if (!c->failed && !s->rs485 && s->rs485_delay_before_ms)
			cfg_only_with(c, g, "rs485_delay_before_ms", "rs485 = true");
		if (!c->failed && !s->rs485 && s->rs485_delay_after_ms)
			cfg_only_with(c, g, "rs485_delay_after_ms", "rs485 = true");
		if (c->failed)
			return;
		cfg_serial_framing(c, g, s);
		if (!c->failed)
			cfg_serial_extras(c, cfg, g, s);
		if (!c->failed)
			cfg_serial_polls(c, g, s);
	}
}

void cfg_load_gpio(struct cfg_ctx *c, struct config *cfg, const config_setting_t *list)
{
	int i, n = config_setting_length(list);

	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		cfg_fail(c, list, "gpio must be a list: gpio = ( { name = ...; line = ...; } );");
		return;
	}
	cfg->gpio = calloc((size_t)(n ? n : 1), sizeof(*cfg->gpio));
	if (!cfg->gpio) {
		cfg_fail(c, list, "out of memory");
		return;
	}
	for (i = 0; i < n && !c->failed; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		const config_setting_t *line;
		struct cfg_gpio *p = &cfg->gpio[i];
		char what[96];

		cfg->n_gpio = i + 1;
		p->line = config_setting_source_line(g);
		p->offset = -1;
		if (cfg_defaults(cfg_gpio_opts, p) < 0) {
			cfg_fail(c, g, "out of memory");
			return;
		}
		if (!config_setting_is_group(g)) {
			cfg_fail(c, g, "each gpio entry must be a group { name = ...; line = ...; }");
			return;
		}
		snprintf(what, sizeof(what), "gpio[%d]", i);
		cfg_apply(c, g, cfg_gpio_opts, p, what);
		if (c->failed)
			return;
		if (!cfg_name_ok(p->name)) {
			cfg_fail(c, config_setting_get_member(g, "name"),
				 "device name \"%s\" may only use A-Z a-z 0-9 _ -", p->name);
			return;
		}
		cfg->n_gpio = i;
		if (cfg_name_taken(cfg, p->name))
			cfg_fail(c, config_setting_get_member(g, "name"), "device name \"%s\" is used twice", p->name);
		cfg->n_gpio = i + 1; /* config_free frees this entry too */
		if (c->failed)
			return;
		line = config_setting_get_member(g, "line");
		if (!line) {
			cfg_fail(c, g, "gpio %s has no \"line\" (an offset like 17 or a name like \"GPIO17\")",
				 p->name);
			return;
		}
		if (config_setting_type(line) == CONFIG_TYPE_INT) {
			int v = config_setting_get_int(line);

			if (v < 0 || v > 1023) {
				cfg_fail(c, line, "gpio %s: line = %d is out of range (0..1023)", p->name, v);
				return;
			}
			p->offset = v;
		} else if (config_setting_type(line) == CONFIG_TYPE_STRING && *config_setting_get_string(line)) {
			p->line_name = strdup(config_setting_get_string(line));
		} else {
			{
				cfg_fail(c, line, "gpio %s: line must be an offset (17) or a line name (\"GPIO17\")",
					 p->name);
				return;
			}
		}
		if (!*p->chip) {
			cfg_fail(c, config_setting_get_member(g, "chip"), "gpio %s: chip must not be empty", p->name);
			return;
		}
		/* a setting of the other direction is a mistake (a brake left an input never fails safe) */
		{
			static const char *const out_only[] = { "initial", "failsafe", "failsafe_grace_ms", NULL };
			static const char *const in_only[] = { "edge", "debounce_ms", NULL };
			int input = p->direction == CFG_GPIO_INPUT;

			for (const char *const *k = input ? out_only : in_only; *k && !c->failed; k++)
				cfg_only_with(c, g, *k, input ? "direction = \"output\"" : "direction = \"input\" (the default)");
		}
		for (int j = 0; j < i && !c->failed; j++) {
			const struct cfg_gpio *o = &cfg->gpio[j];

			if (strcmp(o->chip, p->chip) == 0 &&
			    ((p->offset >= 0 && o->offset == p->offset) ||
			     (p->line_name && o->line_name && strcmp(p->line_name, o->line_name) == 0)))
				cfg_fail(c, line, "gpio %s: this line is already gpio %s's (line %d): one line, one entry",
					 p->name, o->name, o->line);
		}
		if (c->failed)
			return;
	}
}
