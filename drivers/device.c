/*
 * device.c - the driver table and the generic half of a device.
 *
 * The table is a plain array: adding a kind of device is adding a line here
 * and a file in drivers/, no plugin loading.
 */
#include <stdlib.h>
#include <string.h>

#include "device.h"

static const struct device_driver *const device_drivers[] = {
	&serial_driver,
	&gpio_driver,
};

const struct device_driver *device_driver_find(const char *kind)
{
	size_t i;

	for (i = 0; i < sizeof(device_drivers) / sizeof(device_drivers[0]); i++)
		if (strcmp(device_drivers[i]->kind, kind) == 0)
			return device_drivers[i];
	return NULL;
}

struct device *device_new(const struct device_driver *drv, const char *name, const void *cfg,
			  device_emit_fn emit, device_state_fn state, void *ctx)
{
	struct device *dev = calloc(1, sizeof(*dev));

	if (!dev)
		return NULL;
	dev->drv = drv;
	dev->name = name;
	dev->cfg = cfg;
	dev->emit = emit;
	dev->state = state;
	dev->ctx = ctx;
	dev->write_expires_at = UINT64_MAX;
	return dev;
}

void device_free(struct device *dev)
{
	if (!dev)
		return;
	dev->drv->close(dev);
	if (dev->drv->destroy)
		dev->drv->destroy(dev);
	free(dev);
}

void device_set_online(struct device *dev, int online)
{
	if (dev->online == online)
		return;
	dev->online = online;
	if (dev->state)
		dev->state(dev, online, dev->ctx);
}

int device_has(const struct device *dev, unsigned cap)
{
	return (dev->drv->caps & cap) == cap;
}

const char *device_status_topic(const struct device *dev)
{
	return dev->drv->status_topic ? dev->drv->status_topic(dev) : NULL;
}

const char *device_error_topic(const struct device *dev)
{
	return dev->drv->error_topic ? dev->drv->error_topic(dev) : NULL;
}

int device_reply_slots(const struct device *dev)
{
	return dev->drv->reply_slots ? dev->drv->reply_slots(dev) : 0;
}
