/*
 * gpio_cfg.h - the settings of one GPIO line, as the gpio driver reads them.
 *
 * The driver owns this struct and its enums (gpio.c and its libgpiod
 * backends take them as they are); the config parser
 * (gateway/config_devices.c) fills one per entry of the `gpio` list and
 * struct config holds the array; the bridge hands each to its device as
 * dev->cfg and never reads it.
 *
 * The config's `line = 17` is the line's offset on its chip: it is stored
 * in `offset`, and `line` is the entry's line in the config file, as in
 * every cfg_ struct.
 */
#ifndef MQTTGW_GPIO_CFG_H
#define MQTTGW_GPIO_CFG_H

enum cfg_gpio_dir { CFG_GPIO_INPUT, CFG_GPIO_OUTPUT };
enum cfg_gpio_edge { CFG_EDGE_BOTH, CFG_EDGE_RISING, CFG_EDGE_FALLING, CFG_EDGE_NONE };
enum cfg_gpio_bias { CFG_BIAS_AS_IS, CFG_BIAS_DISABLE, CFG_BIAS_PULL_UP, CFG_BIAS_PULL_DOWN };

struct cfg_gpio {
	char *name;
	char *chip;			/* "gpiochip0", "/dev/gpiochip4" or a label */
	int offset;			/* the line's offset on the chip, or -1 when line_name is used */
	char *line_name;		/* e.g. "GPIO17"; NULL when offset >= 0 */
	enum cfg_gpio_dir direction;
	enum cfg_gpio_edge edge;
	enum cfg_gpio_bias bias;
	int active_low;
	int debounce_ms;
	int initial;			/* outputs: initial logical value */
	int failsafe;			/* outputs: -1 none, else value on shutdown / broker loss */
	int failsafe_grace_ms;		/* broker loss longer than this applies failsafe */
	int line;			/* line in the config file */
};

#endif
