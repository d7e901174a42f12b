/*
 * main.c - the command line: options, exit codes, and the order of start-up.
 *
 * The order matters: the config is parsed and validated completely before
 * any device or the broker is touched (a mistake exits 2 with FILE:LINE),
 * and signals are blocked before paho creates its threads, so that they are
 * only ever seen through the loop's signalfd.
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 config error (or bad usage).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"
#include "config.h"
#include "gpio.h"
#include "ha_discovery.h"
#include "log.h"
#include "mqtt.h"

static void main_usage(FILE *out)
{
	fprintf(out, "usage: mqttgw [-c FILE] [-f] [-v] [--check [--strict] [--ha]] [--allow-root]\n"
		     "Bridge serial devices and GPIO lines to an MQTT broker.\n\n"
		     "  -c, --config FILE  config file (default " CONFIG_DEFAULT_FILE ")\n"
		     "      --check        validate the config, print warnings and a summary and exit\n"
		     "      --strict       warnings are errors (exit 2)\n"
		     "      --ha           with --check: print every Home Assistant discovery topic and payload\n"
		     "  -f, --foreground   stay in the foreground (the default and only mode; accepted for scripts)\n"
		     "  -v, --verbose      log debug messages: every frame and command with its route\n"
		     "      --allow-root   run as root (normally refused: use the dialout and gpio groups)\n"
		     "      --version      print the version and exit\n"
		     "  -h, --help         this text\n\n"
		     "Exit status: 0 ok, 1 runtime failure, 2 config error.\n"
		     "Signals: TERM/INT stop (fail-safe, \"offline\"), HUP reload the config, USR1 log counters.\n");
}

/* config_lint's warnings: on stderr for --check, in the log at start. */
static void main_warning(const char *msg, void *ctx)
{
	if (*(const int *)ctx)
		fprintf(stderr, "%s\n", msg);
	else
		log_msg(LOG_WARNING, "%s", msg);
}

/* Checks that need the outside world but touch no device: secrets, gpio chips. */
static int main_probe(const struct config *cfg, char *err, size_t errlen)
{
	char tail[256], pw[256];
	int i;

	if (cfg->mqtt.password_file && *cfg->mqtt.password_file &&
	    mqtt_read_password(cfg->mqtt.password_file, pw, sizeof(pw), tail, sizeof(tail)) < 0) {
		snprintf(err, errlen, "%s:%d: %s", cfg->file, cfg->mqtt.line, tail);
		return -1;
	}
	memset(pw, 0, sizeof(pw));
	for (i = 0; i < cfg->n_gpio; i++) {
		if (gpio_probe(&cfg->gpio[i], tail, sizeof(tail)) < 0) {
			snprintf(err, errlen, "%s:%d: %s", cfg->file, cfg->gpio[i].line, tail);
			return -1;
		}
	}
	return 0;
}

/* --check --ha: every discovery message the config would publish, topic then payload. */
static int main_print_ha(const struct config *cfg)
{
	struct ha_set set;
	char err[CONFIG_ERRLEN];

	if (!cfg->has_ha) {
		printf("%s: no homeassistant group: nothing is announced to Home Assistant\n", cfg->file);
		return 0;
	}
	if (ha_discovery_build(cfg, &set, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("# %d Home Assistant entities (retained, QoS 1)\n", set.n);
	for (int i = 0; i < set.n; i++)
		printf("\n%s\n%s\n", set.v[i].topic, set.v[i].payload);
	ha_set_free(&set);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "check", no_argument, NULL, 'C' },
		{ "foreground", no_argument, NULL, 'f' },   { "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },	    { "help", no_argument, NULL, 'h' },
		{ "allow-root", no_argument, NULL, 'R' },   { "strict", no_argument, NULL, 'S' },
		{ "ha", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = CONFIG_DEFAULT_FILE;
	int check = 0, ha = 0, strict = 0, verbose = 0, allow_root = 0, given = 0, c, rc, warnings;
	char err[CONFIG_ERRLEN];
	struct config *cfg;
	struct bridge *b;
	sigset_t mask;

	while ((c = getopt_long(argc, argv, "c:fvh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			file = optarg;
			given = 1;
			break;
		case 'C':
			check = 1;
			break;
		case 'f':
			break;
		case 'v':
			verbose = 1;
			break;
		case 'R':
			allow_root = 1;
			break;
		case 'S':
			strict = 1;
			break;
		case 'H':
			ha = 1;
			break;
		case 'V':
			printf("mqttgw %s (%s)\n", MQTTGW_VERSION, gpio_library());
			return 0;
		case 'h':
			main_usage(stdout);
			return 0;
		default:
			main_usage(stderr);
			return 2;
		}
	}
	if (ha && !check) {
		fprintf(stderr, "mqttgw: --ha goes with --check\n");
		return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "mqttgw: unexpected argument \"%s\"\n", argv[optind]);
		main_usage(stderr);
		return 2;
	}

	/* the first run of a new user: say what to do, not only what failed */
	if (!given && access(file, F_OK) < 0 && errno == ENOENT) {
		fprintf(stderr,
			"mqttgw: no config file: the default %s does not exist; pass -c FILE "
			"(config/minimal.cfg in the source, /usr/share/doc/mqttgw/examples/ when installed, "
			"are a start)\n",
			file);
		return 2;
	}
	cfg = config_load(file, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	/* --check validates the file alone, so a Pi's config can be checked anywhere */
	if (check) {
		warnings = config_lint(cfg, main_warning, &check);
		if (strict && warnings) {
			fprintf(stderr, "%s: %d warning%s, an error with --strict\n", file, warnings,
				warnings == 1 ? "" : "s");
			config_free(cfg);
			return 2;
		}
		rc = ha ? main_print_ha(cfg) : (config_print_summary(cfg), 0);
		config_free(cfg);
		return rc;
	}
	if (main_probe(cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		config_free(cfg);
		return 2;
	}
	/* least privilege: the dialout and gpio groups are all it needs */
	if (geteuid() == 0 && !allow_root) {
		fprintf(stderr, "mqttgw: refusing to run as root: run it as a user in the dialout and gpio groups "
				"(the packaged service uses user mqttgw), or pass --allow-root\n");
		config_free(cfg);
		return 1;
	}
	log_set_level(verbose ? LOG_DEBUG : config_log_level(cfg, LOG_INFO));
	if (config_lint(cfg, main_warning, &check) && strict) {
		log_msg(LOG_ERR, "warnings are errors with --strict");
		log_flush();
		config_free(cfg);
		return 2;
	}

	/* before any thread exists: signals only through the signalfd */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGPIPE);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
		perror("mqttgw: sigprocmask");
		config_free(cfg);
		return 1;
	}

	b = bridge_new(cfg, file, err, sizeof(err));
	if (!b) {
		log_msg(LOG_ERR, "%s", err);
		log_flush();
		return 1;
	}
	rc = bridge_run(b);
	bridge_free(b);
	log_flush();
	return rc;
}
