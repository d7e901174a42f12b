/*
 * bridge_reload.c - SIGHUP: a new config, without dropping what works.
 *
 * The file is parsed into a scratch config; an invalid one is refused and
 * the running one stays. Devices whose settings are unchanged are carried
 * over open (a port keeps its fd and loses no frame), the rest are closed
 * and opened anew; subscriptions follow the new routes. Which settings
 * changed and what that needs comes from the config schema
 * (config_changes, config_serial_equal, config_gpio_equal). Changed MQTT
 * settings are refused: they need a new client, which is a restart.
 */
#include <stdlib.h>
#include <string.h>

#include "bridge_int.h"
#include "log.h"
#include "subs.h"

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
			if (!keep_s[j] && config_serial_equal(&nc->serial[i], &b->cfg->serial[j]))
				break;
		if (j < b->cfg->n_serial)
			keep_s[j] = i + 1;
		else if (!(ns[i] = bridge_device_new(b, &serial_driver, nc->serial[i].name, &nc->serial[i], i)))
			ok = 0;
	}
	for (i = 0; ok && i < nc->n_gpio; i++) {
		for (j = 0; j < b->cfg->n_gpio; j++)
			if (!keep_g[j] && config_gpio_equal(&nc->gpio[i], &b->cfg->gpio[j]))
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

void bridge_reload(struct bridge *b, uint64_t now)
{
	char err[CONFIG_ERRLEN];
	struct config *nc = config_load(b->cfg_path, err, sizeof(err));
	struct subs *subs;
	char changed[160];
	unsigned changes;
	int i;

	b->reloads++;

	if (!nc) {
		log_msg(LOG_ERR, "reload refused, the running config stays: %s", err);
		return;
	}
	/* what the change needs comes from the schema (config_schema.c), which sees every setting */
	changes = config_changes(b->cfg, nc);
	if (config_first_change(b->cfg, nc, CFG_CHANGE_MQTT, changed, sizeof(changed))) {
		log_msg(LOG_ERR, "reload refused: mqtt settings changed (%s); restart the service to apply them",
			changed);
		config_free(nc);
		return;
	}
	if (changes & CFG_CHANGE_BUFFER) {
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
	if (changes & CFG_CHANGE_STATS)
		b->stats_next = *nc->mqtt.stats_topic ? now + (uint64_t)nc->mqtt.stats_interval * 1000u : UINT64_MAX;
	/* everything that points into the old config moves first */
	mqtt_set_config(b->mqtt, &nc->mqtt, &nc->buffer);
	config_free(b->cfg);
	b->cfg = nc;
	if (nc->log_level >= 0)
		log_set_level(config_log_level(nc, LOG_INFO));
	log_msg(LOG_INFO, "reloaded %s: %d serial, %d gpio, %d routes", b->cfg_path, nc->n_serial, nc->n_gpio,
		nc->n_routes);
}
