/*
 * bridge_reload.c - SIGHUP: a new config, without dropping what works.
 *
 * The file is parsed into a scratch config; an invalid one is refused and
 * the running one stays. Devices whose settings are unchanged are carried
 * over open (a port keeps its fd and loses no frame), the rest are closed
 * and opened anew; subscriptions follow the new routes. Changed MQTT
 * settings are refused: they need a new client, which is a restart.
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
	return bridge_str_eq(a->name, b->name) && bridge_str_eq(a->chip, b->chip) && a->offset == b->offset &&
	       bridge_str_eq(a->line_name, b->line_name) && a->direction == b->direction && a->edge == b->edge &&
	       a->bias == b->bias && a->active_low == b->active_low && a->debounce_ms == b->debounce_ms &&
	       a->initial == b->initial;
}

/*
 * The first mqtt setting that differs between a and b (a reload cannot
 * apply it to a running client), or NULL when none does.
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

/* Could the device of entry o go on as the device of entry e (same kind, same settings)? */
static int bridge_entry_same(const struct bridge_entry *e, const struct bridge_entry *o)
{
	if (e->end != o->end)
		return 0;
	return e->end == ROUTE_SERIAL ? bridge_serial_same(e->cfg, o->cfg) : bridge_gpio_same(e->cfg, o->cfg);
}

/*
 * Carry over every old device whose settings are unchanged (it stays open),
 * make new ones for the rest, close what is gone or changed.
 */
static int bridge_swap_devices(struct bridge *b, const struct config *nc, uint64_t now)
{
	int n_new = bridge_device_count(nc), n_old = b->n_devs;
	struct device **nd = calloc((size_t)n_new + 1, sizeof(*nd));
	int *keep = calloc((size_t)n_old + 1, sizeof(int));
	int i, j, ok = nd && keep;
	int link_up = mqtt_is_connected(b->mqtt);
	struct bridge_entry e, o;

	/* first make everything new, so that running out of memory changes nothing */
	for (i = 0; ok && i < n_new; i++) {
		bridge_device_entry(nc, i, &e);
		for (j = 0; j < n_old; j++) {
			bridge_device_entry(b->cfg, j, &o);
			if (!keep[j] && bridge_entry_same(&e, &o))
				break;
		}
		if (j < n_old)
			keep[j] = i + 1;
		else if (!(nd[i] = bridge_device_new(b, &e)))
			ok = 0;
	}
	if (!ok) {
		for (i = 0; nd && i < n_new; i++)
			bridge_device_free(nd[i]);
		free(nd);
		free(keep);
		return -1;
	}
	/* then move the kept ones over and close the rest */
	for (j = 0; j < n_old; j++) {
		struct device *d = b->devs[j];

		if (keep[j]) {
			i = keep[j] - 1;
			bridge_device_entry(nc, i, &e);
			nd[i] = d;
			d->cfg = e.cfg;
			d->name = e.name;
			d->index = e.index;
		} else {
			log_msg(LOG_INFO, "reload: %s %s %s", d->drv->kind, d->name, d->drv->closed);
			bridge_device_free(d);
		}
	}
	free(b->devs);
	b->devs = nd;
	b->n_devs = n_new;
	/*
	 * A device made anew is told how the broker link stands, as the old one
	 * was: a new one assumes "down" (as at start) and would write its
	 * fail-safe after the grace with the broker connected all along.
	 */
	for (i = 0; i < n_new; i++) {
		if (nd[i]->drv->fd(nd[i]) < 0)
			nd[i]->drv->open(nd[i], now);
		if (!bridge_kept(keep, n_old, i) && nd[i]->drv->link)
			nd[i]->drv->link(nd[i], link_up, now);
	}
	free(keep);
	return 0;
}

void bridge_reload(struct bridge *b, uint64_t now)
{
	char err[CONFIG_ERRLEN];
	struct config *nc = config_load(b->cfg_path, err, sizeof(err));
	struct subs *subs;
	const char *changed;
	int i;

	b->reloads++;

	if (!nc) {
		log_msg(LOG_ERR, "reload refused, the running config stays: %s", err);
		return;
	}
	if ((changed = bridge_mqtt_changed(&nc->mqtt, &b->cfg->mqtt)) != NULL) {
		log_msg(LOG_ERR, "reload refused: mqtt settings changed (mqtt.%s); restart the service to apply them",
			changed);
		config_free(nc);
		return;
	}
	if (strcmp(nc->buffer.dir, b->cfg->buffer.dir) != 0 || nc->buffer.max_messages != b->cfg->buffer.max_messages ||
	    nc->buffer.qos0 != b->cfg->buffer.qos0 || nc->buffer.sync != b->cfg->buffer.sync) {
		log_msg(LOG_ERR, "reload refused: buffer settings changed; restart the service to apply them");
		config_free(nc);
		return;
	}
	subs = subs_new(nc, b->subs, &b->next_sub_id);
	if (!subs || bridge_swap_devices(b, nc, now) < 0) {
		log_msg(LOG_ERR, "reload failed: out of memory");
		subs_free(subs);
		config_free(nc);
		return;
	}
	/* subscriptions: drop the ones gone, add the new ones */
	for (i = 0; i < b->subs->n; i++)
		if (!subs_has(subs, b->subs->filter[i]) && mqtt_is_connected(b->mqtt))
			mqtt_unsubscribe(b->mqtt, &b->subs->filter[i], 1);
	subs_free(b->subs);
	b->subs = subs;
	if (mqtt_is_connected(b->mqtt))
		bridge_subscribe_all(b);
	/* the stats topic and interval apply at once: started, stopped or rescheduled */
	if (strcmp(nc->mqtt.stats_topic, b->cfg->mqtt.stats_topic) != 0 ||
	    nc->mqtt.stats_interval != b->cfg->mqtt.stats_interval)
		b->stats_next = *nc->mqtt.stats_topic ? now + (uint64_t)nc->mqtt.stats_interval * 1000u : UINT64_MAX;
	/* everything that points into the old config moves first */
	mqtt_set_config(b->mqtt, &nc->mqtt, &nc->buffer);
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
