/*
 * bridge_reload.c - SIGHUP: a new config, without dropping what works.
 *
 * The file is parsed into a scratch config; an invalid one is refused and
 * the running one stays. Devices whose settings are unchanged are carried
 * over open (a port keeps its fd and loses no frame), the rest are closed
 * and opened anew; subscriptions follow the new routes. Changed mqtt
 * settings make a new client, and buffer settings apply to the running
 * queue (see the end of this file).
 */
#include <stdlib.h>
#include <string.h>

#include "bridge_int.h"
#include "log.h"
#include "subs.h"

static int bridge_str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/*
 * The settings a serial device is built from: any change makes it anew
 * (port reopened, framer, codec and command queue fresh). The fail-safe
 * policy (on_disconnect, failsafe_grace_ms, command_timeout_ms) and
 * error_topic are read from the config when used, so a change there keeps
 * the device, its timers and its queue.
 */
static int bridge_serial_same(const struct cfg_serial *a, const struct cfg_serial *b)
{
	return bridge_str_eq(a->name, b->name) && bridge_str_eq(a->port, b->port) && a->baud == b->baud &&
	       a->data_bits == b->data_bits && a->parity == b->parity && a->stop_bits == b->stop_bits &&
	       a->flow == b->flow && a->eol_len == b->eol_len && memcmp(a->eol, b->eol, a->eol_len) == 0 &&
	       a->max_frame == b->max_frame && a->reopen_ms == b->reopen_ms &&
	       bridge_str_eq(a->status_topic, b->status_topic) && a->has_reply == b->has_reply &&
	       bridge_str_eq(a->reply_src, b->reply_src) && a->reply_timeout_ms == b->reply_timeout_ms &&
	       a->queue_max == b->queue_max && a->rate_limit == b->rate_limit && a->rate_burst == b->rate_burst &&
	       a->rs485 == b->rs485 && a->rs485_delay_before_ms == b->rs485_delay_before_ms &&
	       a->rs485_delay_after_ms == b->rs485_delay_after_ms && a->framing == b->framing &&
	       a->frame_len == b->frame_len && a->idle_ms == b->idle_ms &&
	       a->frame_timeout_ms == b->frame_timeout_ms && a->encoding == b->encoding &&
	       a->checksum == b->checksum && a->checksum_format == b->checksum_format &&
	       a->checksum_order == b->checksum_order && bridge_str_eq(a->checksum_prefix, b->checksum_prefix) &&
	       a->checksum_skip == b->checksum_skip;
}

/*
 * The same for a GPIO line: a change re-requests it (an output starts at
 * `initial` again). failsafe and failsafe_grace_ms are read when used: a
 * change keeps the line, its value and an armed fail-safe.
 */
static int bridge_gpio_same(const struct cfg_gpio *a, const struct cfg_gpio *b)
{
	return bridge_str_eq(a->name, b->name) && bridge_str_eq(a->chip, b->chip) && a->line == b->line &&
	       bridge_str_eq(a->line_name, b->line_name) && a->direction == b->direction && a->edge == b->edge &&
	       a->bias == b->bias && a->active_low == b->active_low && a->debounce_ms == b->debounce_ms &&
	       a->initial == b->initial;
}

/*
 * The first mqtt setting that differs between a and b (a reload makes a
 * new client for it), or NULL when none does. stats_topic and
 * stats_interval are not here: they apply to the running client.
 */
static const char *bridge_mqtt_changed(const struct cfg_mqtt *a, const struct cfg_mqtt *b)
{
	int i;

	if (a->n_uris != b->n_uris)
		return "uri";
	for (i = 0; i < a->n_uris; i++)
		if (strcmp(a->uris[i], b->uris[i]) != 0)
			return "uri";
#define BRIDGE_DIFF(cond, name) \
	if (!(cond))            \
		return name
	BRIDGE_DIFF(bridge_str_eq(a->client_id, b->client_id), "client_id");
	BRIDGE_DIFF(a->keepalive == b->keepalive, "keepalive");
	BRIDGE_DIFF(a->clean_session == b->clean_session, "clean_session");
	BRIDGE_DIFF(bridge_str_eq(a->username, b->username), "username");
	BRIDGE_DIFF(bridge_str_eq(a->password_file, b->password_file), "password_file");
	BRIDGE_DIFF(bridge_str_eq(a->status_topic, b->status_topic), "status_topic");
	BRIDGE_DIFF(a->reconnect_min_ms == b->reconnect_min_ms, "reconnect_min_ms");
	BRIDGE_DIFF(a->reconnect_max_ms == b->reconnect_max_ms, "reconnect_max_ms");
	BRIDGE_DIFF(a->ack_timeout_ms == b->ack_timeout_ms, "ack_timeout_ms");
	BRIDGE_DIFF(a->link_timeout_ms == b->link_timeout_ms, "link_timeout_ms");
	BRIDGE_DIFF(a->link_check_ms == b->link_check_ms, "link_check_ms");
	BRIDGE_DIFF(bridge_str_eq(a->link_check_topic, b->link_check_topic), "link_check_topic");
	BRIDGE_DIFF(a->protocol == b->protocol, "protocol");
	BRIDGE_DIFF(a->session_expiry == b->session_expiry, "session_expiry");
	BRIDGE_DIFF(a->has_tls == b->has_tls, "tls");
	BRIDGE_DIFF(bridge_str_eq(a->tls.ca_file, b->tls.ca_file), "tls.ca_file");
	BRIDGE_DIFF(bridge_str_eq(a->tls.cert_file, b->tls.cert_file), "tls.cert_file");
	BRIDGE_DIFF(bridge_str_eq(a->tls.key_file, b->tls.key_file), "tls.key_file");
	BRIDGE_DIFF(a->tls.verify == b->tls.verify, "tls.verify");
#undef BRIDGE_DIFF
	return NULL;
}

/* Is new device i one carried over (keep[old] == i + 1)? */
static int bridge_kept(const int *keep, int n_old, int i)
{
	int j;

	for (j = 0; j < n_old; j++)
		if (keep[j] == i + 1)
			return 1;
	return 0;
}

/*
 * Carry over every old device whose settings are unchanged (it stays open),
 * make new ones for the rest, close what is gone or changed.
 */
static int bridge_swap_devices(struct bridge *b, const struct config *nc, uint64_t now)
{
	struct device **ns = calloc((size_t)nc->n_serial + 1, sizeof(*ns));
	struct device **ng = calloc((size_t)nc->n_gpio + 1, sizeof(*ng));
	int *keep_s = calloc((size_t)b->cfg->n_serial + 1, sizeof(int));
	int *keep_g = calloc((size_t)b->cfg->n_gpio + 1, sizeof(int));
	int i, j, ok = ns && ng && keep_s && keep_g;
	int link_up = mqtt_is_connected(b->mqtt);

	/* first make everything new, so that running out of memory changes nothing */
	for (i = 0; ok && i < nc->n_serial; i++) {
		for (j = 0; j < b->cfg->n_serial; j++)
			if (!keep_s[j] && bridge_serial_same(&nc->serial[i], &b->cfg->serial[j]))
				break;
		if (j < b->cfg->n_serial)
			keep_s[j] = i + 1;
		else if (!(ns[i] = bridge_device_new(b, &serial_driver, nc->serial[i].name, &nc->serial[i], i)))
			ok = 0;
	}
	for (i = 0; ok && i < nc->n_gpio; i++) {
		for (j = 0; j < b->cfg->n_gpio; j++)
			if (!keep_g[j] && bridge_gpio_same(&nc->gpio[i], &b->cfg->gpio[j]))
				break;
		if (j < b->cfg->n_gpio)
			keep_g[j] = i + 1;
		else if (!(ng[i] = bridge_device_new(b, &gpio_driver, nc->gpio[i].name, &nc->gpio[i], i)))
			ok = 0;
	}
	if (!ok) {
		for (i = 0; ns && i < nc->n_serial; i++)
			bridge_device_free(ns[i]);
		for (i = 0; ng && i < nc->n_gpio; i++)
			bridge_device_free(ng[i]);
		free(ns);
		free(ng);
		free(keep_s);
		free(keep_g);
		return -1;
	}
	/* then move the kept ones over and close the rest */
	for (j = 0; j < b->cfg->n_serial; j++) {
		struct device *d = b->serial[j];

		if (keep_s[j]) {
			i = keep_s[j] - 1;
			ns[i] = d;
			d->cfg = &nc->serial[i];
			d->name = nc->serial[i].name;
			d->index = i;
		} else {
			log_msg(LOG_INFO, "reload: serial %s closed", d->name);
			bridge_device_free(d);
		}
	}
	for (j = 0; j < b->cfg->n_gpio; j++) {
		struct device *d = b->gpio[j];

		if (keep_g[j]) {
			i = keep_g[j] - 1;
			ng[i] = d;
			d->cfg = &nc->gpio[i];
			d->name = nc->gpio[i].name;
			d->index = i;
		} else {
			log_msg(LOG_INFO, "reload: gpio %s released", d->name);
			bridge_device_free(d);
		}
	}
	free(b->serial);
	free(b->gpio);
	b->serial = ns;
	b->gpio = ng;
	/*
	 * A device made anew is told how the broker link stands, as the old one
	 * was: a new one assumes "down" (as at start) and would write its
	 * fail-safe after the grace with the broker connected all along.
	 */
	for (i = 0; i < nc->n_serial; i++) {
		if (ns[i]->drv->fd(ns[i]) < 0)
			ns[i]->drv->open(ns[i], now);
		if (!bridge_kept(keep_s, b->cfg->n_serial, i) && ns[i]->drv->link)
			ns[i]->drv->link(ns[i], link_up, now);
	}
	for (i = 0; i < nc->n_gpio; i++) {
		if (ng[i]->drv->fd(ng[i]) < 0)
			ng[i]->drv->open(ng[i], now);
		if (!bridge_kept(keep_g, b->cfg->n_gpio, i) && ng[i]->drv->link)
			ng[i]->drv->link(ng[i], link_up, now);
	}
	free(keep_s);
	free(keep_g);
	return 0;
}

/*
 * ---- reload of the mqtt and buffer groups (issue 14.2) ----
 *
 * A change in the mqtt group (bridge_mqtt_changed) makes a new client and
 * a change in the buffer group applies to the running queue (mqtt.c,
 * mqtt_reconf_*): nothing queued is lost or reordered. The order below
 * keeps "refused whole" true: everything that can fail is done before
 * anything the running gateway sees changes. The stats topic and interval
 * need no new client: they apply at once.
 *
 * A new buffer.dir: the queue's journal moves there (the old file is
 * removed); a serial port's journal of bytes read but not yet queued
 * (its partial frame) stays in the old directory, with the old sync, while
 * that device is kept (drivers open it once per device), and a device
 * made from now on journals in the new one.
 */
static void bridge_set_spool(struct bridge *b, const struct config *nc)
{
	int i;

	/* read when a port is first opened: an open one keeps its journal's file */
	for (i = 0; i < nc->n_serial; i++) {
		b->serial[i]->spool_dir = b->spool_dir;
		b->serial[i]->spool_sync = nc->buffer.sync;
	}
	for (i = 0; i < nc->n_gpio; i++) {
		b->gpio[i]->spool_dir = b->spool_dir;
		b->gpio[i]->spool_sync = nc->buffer.sync;
	}
}

void bridge_reload(struct bridge *b, uint64_t now)
{
	char err[CONFIG_ERRLEN];
	struct config *nc = config_load(b->cfg_path, err, sizeof(err));
	struct mqtt_reconf *mr;
	struct subs *subs;
	const char *changed;
	char *spool = NULL, *old_spool;
	int i, dir_changed, replaced, was_up;

	b->reloads++;

	if (!nc) {
		log_msg(LOG_ERR, "reload refused, the running config stays: %s", err);
		return;
	}
	changed = bridge_mqtt_changed(&nc->mqtt, &b->cfg->mqtt);
	dir_changed = strcmp(nc->buffer.dir, b->cfg->buffer.dir) != 0;
	if (dir_changed && *nc->buffer.dir && !(spool = strdup(nc->buffer.dir))) {
		log_msg(LOG_ERR, "reload failed: out of memory");
		config_free(nc);
		return;
	}
	mr = mqtt_reconf_prepare(b->mqtt, &nc->mqtt, &nc->buffer, changed != NULL, err, sizeof(err));
	if (!mr) {
		log_msg(LOG_ERR, "reload refused, the running config stays: %s", err);
		free(spool);
		config_free(nc);
		return;
	}
	/* devices made anew journal in the new buffer.dir from their first open */
	old_spool = b->spool_dir;
	if (dir_changed)
		b->spool_dir = spool;
	subs = subs_new(nc, b->subs, &b->next_sub_id);
	if (!subs || bridge_swap_devices(b, nc, now) < 0) {
		log_msg(LOG_ERR, "reload failed: out of memory");
		mqtt_reconf_abort(mr);
		b->spool_dir = old_spool;
		free(spool);
		subs_free(subs);
		config_free(nc);
		return;
	}
	bridge_set_spool(b, nc);
	if (dir_changed)
		free(old_spool);
	/* subscriptions: drop the ones gone (on the old client: a kept session shares them), add the new ones */
	for (i = 0; i < b->subs->n; i++)
		if (!subs_has(subs, b->subs->filter[i]) && mqtt_is_connected(b->mqtt))
			mqtt_unsubscribe(b->mqtt, &b->subs->filter[i], 1);
	subs_free(b->subs);
	b->subs = subs;
	if (changed)
		log_msg(LOG_INFO, "reload: mqtt settings changed (mqtt.%s first): the client is made anew", changed);
	/* everything that points into the old config moves first */
	was_up = mqtt_is_connected(b->mqtt);
	replaced = mqtt_reconf_commit(b->mqtt, mr, now);
	if (mqtt_is_connected(b->mqtt))
		bridge_subscribe_all(b);	/* a new client subscribes when it connects */
	else if (replaced && was_up) {
		/* down until the new client connects: fail-safes run their grace, as for any loss */
		b->connected_at = 0;	/* and no "quick loss" is counted for it */
		bridge_link(b, 0, now);
	}
	/* the stats topic and interval apply at once: started, stopped or rescheduled */
	if (strcmp(nc->mqtt.stats_topic, b->cfg->mqtt.stats_topic) != 0 ||
	    nc->mqtt.stats_interval != b->cfg->mqtt.stats_interval)
		b->stats_next = *nc->mqtt.stats_topic ? now + (uint64_t)nc->mqtt.stats_interval * 1000u : UINT64_MAX;
	config_free(b->cfg);
	b->cfg = nc;
	if (nc->log_level)
		log_set_level(strcmp(nc->log_level, "debug") == 0	? LOG_DEBUG
			      : strcmp(nc->log_level, "warning") == 0 ? LOG_WARNING
			      : strcmp(nc->log_level, "error") == 0   ? LOG_ERR
								      : LOG_INFO);
	log_msg(LOG_INFO, "reloaded %s: %d serial, %d gpio, %d routes", b->cfg_path, nc->n_serial, nc->n_gpio,
		nc->n_routes);
}
