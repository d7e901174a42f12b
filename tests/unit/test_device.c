/*
 * test_device.c - unit tests for drivers/device.c: the driver table is
 * found by kind, and what the bridge asks of a device (capabilities, its
 * topics, the replies it owes) is answered by the driver from its own
 * settings, so the bridge never needs to know which kind a device is.
 * Nothing is opened: device_new does not open a device.
 */
#include <string.h>

#include "device.h"
#include "gpio_cfg.h"
#include "serial_cfg.h"
#include "unit.h"

TEST(drivers_are_found_by_kind)
{
	const struct device_driver *s = device_driver_find("serial");
	const struct device_driver *g = device_driver_find("gpio");

	CHECK(s != NULL && strcmp(s->kind, "serial") == 0);
	CHECK(g != NULL && strcmp(g->kind, "gpio") == 0);
	CHECK(s != g);
	CHECK(device_driver_find("mqtt") == NULL);
	CHECK(device_driver_find("") == NULL);
	CHECK(device_driver_find("Serial") == NULL);
}

TEST(serial_device_answers_from_its_settings)
{
	struct cfg_serial c;
	struct device *dev;

	memset(&c, 0, sizeof(c));
	c.name = "MOT01";
	c.status_topic = "S013/MOT01/status";
	c.error_topic = "";
	c.queue_max = 32;
	dev = device_new(device_driver_find("serial"), c.name, &c, NULL, NULL, NULL);
	CHECK(dev != NULL);
	if (!dev)
		return;
	CHECK(device_has(dev, DEVICE_CAP_HOLD_INPUT));
	CHECK(device_has(dev, DEVICE_CAP_FRAMES));
	CHECK(!device_has(dev, DEVICE_CAP_REEMITS));
	CHECK_STR(device_status_topic(dev), "S013/MOT01/status");
	CHECK_STR(device_error_topic(dev), "");
	/* no reply pattern: no replies owed */
	CHECK_INT(device_reply_slots(dev), 0);
	/* with one: every command the queue holds, and the one in flight */
	c.has_reply = 1;
	CHECK_INT(device_reply_slots(dev), 33);
	c.error_topic = "S013/MOT01/error";
	CHECK_STR(device_error_topic(dev), "S013/MOT01/error");
	CHECK_STR(dev->drv->closed, "closed");
	device_free(dev);
}

TEST(gpio_device_has_no_topics_and_owes_no_replies)
{
	struct cfg_gpio g;
	struct device *dev;

	memset(&g, 0, sizeof(g));
	g.name = "LIMZ";
	g.chip = "gpiochip0";
	g.offset = 17;
	g.failsafe = -1;
	dev = device_new(device_driver_find("gpio"), g.name, &g, NULL, NULL, NULL);
	CHECK(dev != NULL);
	if (!dev)
		return;
	CHECK(device_has(dev, DEVICE_CAP_REEMITS));
	CHECK(!device_has(dev, DEVICE_CAP_HOLD_INPUT));
	CHECK(!device_has(dev, DEVICE_CAP_FRAMES));
	CHECK(device_status_topic(dev) == NULL);
	CHECK(device_error_topic(dev) == NULL);
	CHECK_INT(device_reply_slots(dev), 0);
	CHECK_STR(dev->drv->closed, "released");
	device_free(dev);
}

int main(void)
{
	RUN(drivers_are_found_by_kind);
	RUN(serial_device_answers_from_its_settings);
	RUN(gpio_device_has_no_topics_and_owes_no_replies);
	return UNIT_DONE();
}
