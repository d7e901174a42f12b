/*
 * bridge_reload.c - SIGHUP: a new config, without dropping what works.
 *
 * The file is parsed into a scratch config; an invalid one is refused and
 * the running one stays. Devices whose settings are unchanged are carried
 * over open (a port keeps its fd and loses no frame), the rest are closed
 * and opened anew; subscriptions follow the new routes. Which settings
 * changed and what that needs comes from the config schema
 * (config_changes, config_serial_equal, config_gpio_equal): changed mqtt
 * settings make a new client, and buffer settings apply to the running
 * queue (bridge_reload_buffer below, mqtt.c's mqtt_reconf_*).
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

/* Could the device of entry o go on as the device of entry e (same kind, same settings)? */
static int bridge_entry_same(const struct bridge_entry *e, const struct bridge_entry *o)
{
	if (e->end != o->end)
		return 0;
	return e->end == ROUTE_SERIAL ? config_serial_equal(e->cfg, o->cfg) : config_gpio_equal(e->cfg, o->cfg);
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

/*
 * ---- reload of the mqtt and buffer groups (issue 14.2) ----
 *
 * What a change needs is the schema's word (config_changes): a
 * CFG_CHANGE_MQTT setting makes a new client, CFG_CHANGE_BUFFER ones apply
 * to the running queue, and CFG_CHANGE_JOURNAL (buffer.dir) moves its
 * journal (mqtt.c, mqtt_reconf_*): nothing queued is lost or reordered.
 * The order below keeps "refused whole" true: everything that can fail is
 * done before anything the running gateway sees changes. The stats topic
 * and interval need no new client: they apply at once.
 *
 * A new buffer.dir: the queue's journal moves there (the old file is
 * removed); a serial port's journal of bytes read but not yet queued
 * (its partial frame) stays in the old directory while that device is
 * kept (drivers open it once per device), and a device made from now on
 * journals in the new one.
 */
static void bridge_set_spool(struct bridge *b, const struct config *nc)
{
	int i;

	/* read when a port is first opened: an open one keeps its journal's file */
	for (i = 0; i < b->n_devs; i++) {
		b->devs[i]->spool_dir = b->spool_dir;
		b->devs[i]->spool_sync = nc->buffer.sync;
	}
}

/*
 * What the reload can fail at, before anything changes: the mqtt and
 * buffer side (mqtt_reconf_prepare) and the copy of a new buffer.dir
 * (*spool, NULL when none). NULL: refused, logged.
 */
static struct mqtt_reconf *bridge_reload_prepare(struct bridge *b, const struct config *nc, unsigned changes,
						 char **spool)
{
	char err[CONFIG_ERRLEN];
	int new_dir = (changes & CFG_CHANGE_JOURNAL) != 0;
	struct mqtt_reconf *mr;

	*spool = NULL;
	if (new_dir && *nc->buffer.dir && !(*spool = strdup(nc->buffer.dir))) {
		log_msg(LOG_ERR, "reload failed: out of memory");
		return NULL;
	}
	mr = mqtt_reconf_prepare(b->mqtt, &nc->mqtt, &nc->buffer, (changes & CFG_CHANGE_MQTT) != 0, new_dir, err,
				 sizeof(err));
	if (!mr) {
		log_msg(LOG_ERR, "reload refused, the running config stays: %s", err);
		free(*spool);
		*spool = NULL;
	}
	return mr;
}

/* The new config's settings in force: the client (made anew or not), the stats publisher, the routes' memory. */
static void bridge_reload_commit(struct bridge *b, struct mqtt_reconf *mr, const struct config *nc, unsigned changes,
				 uint64_t now)
{
	char changed[160];
	int was_up = mqtt_is_connected(b->mqtt), replaced;

	if (config_first_change(b->cfg, nc, CFG_CHANGE_MQTT, changed, sizeof(changed)))
		log_msg(LOG_INFO, "reload: mqtt settings changed (%s first): the client is made anew", changed);
	replaced = mqtt_reconf_commit(b->mqtt, mr, now);
	if (mqtt_is_connected(b->mqtt)) {
		bridge_subscribe_all(b);	/* a new client subscribes when it connects */
	} else if (replaced && was_up) {
		/* down until the new client connects: fail-safes run their grace, as for any loss */
		b->connected_at = 0;	/* and no "quick loss" is counted for it */
		bridge_link(b, 0, now);
	}
	/* the stats topic and interval apply at once: started, stopped or rescheduled */
	if (changes & CFG_CHANGE_STATS)
		b->stats_next = *nc->mqtt.stats_topic ? now + (uint64_t)nc->mqtt.stats_interval * 1000u : UINT64_MAX;
	/* routes changed (an on_change turned off and on, a new layout): their memory starts afresh,
	   one extra publish per topic rather than a payload held back against a stale one (onchange.h) */
	if (changes & CFG_CHANGE_ROUTES) {
		onchange_free(b->onchange);
		b->onchange = NULL;
	}
}

void bridge_reload(struct bridge *b, uint64_t now)
{
	char err[CONFIG_ERRLEN];
	struct config *nc = config_load(b->cfg_path, err, sizeof(err));
	struct mqtt_reconf *mr;
	struct subs *subs;
	char *spool, *old_spool = b->spool_dir;
	unsigned changes;
	int i;

	b->reloads++;

	if (!nc) {
		log_msg(LOG_ERR, "reload refused, the running config stays: %s", err);
		return;
	}
	/* what the change needs comes from the schema (config_schema.c), which sees every setting */
	changes = config_changes(b->cfg, nc);
	if (!(mr = bridge_reload_prepare(b, nc, changes, &spool))) {
		config_free(nc);
		return;
	}
	/* devices made anew journal in the new buffer.dir from their first open */
	if (changes & CFG_CHANGE_JOURNAL)
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
	if (changes & CFG_CHANGE_BUFFER)
		bridge_set_spool(b, nc);
	if (changes & CFG_CHANGE_JOURNAL)
		free(old_spool);
	/* subscriptions: drop the ones gone (on the old client: a kept session shares them), add the new ones */
	for (i = 0; i < b->subs->n; i++)
		if (!subs_has(subs, b->subs->filter[i]) && mqtt_is_connected(b->mqtt))
			mqtt_unsubscribe(b->mqtt, &b->subs->filter[i], 1);
	subs_free(b->subs);
	b->subs = subs;
	/* everything that points into the old config moves before it is freed */
	bridge_reload_commit(b, mr, nc, changes, now);
	config_free(b->cfg);
	b->cfg = nc;
	bridge_ha_reload(b);	/* Home Assistant: entities the new config dropped are removed */
	if (nc->log_level >= 0)
		log_set_level(config_log_level(nc, LOG_INFO));
	log_msg(LOG_INFO, "reloaded %s: %d serial, %d gpio, %d routes", b->cfg_path, nc->n_serial, nc->n_gpio,
		nc->n_routes);
}
