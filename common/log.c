/*
 * log.c - stderr logging with journald priorities and repeat folding.
 *
 * Kept deliberately tiny: the daemon is single-threaded (paho's threads never
 * log through here), so there is no locking. Repeat folding remembers only
 * the last line: that is enough to stop a port that fails every 100 ms from
 * writing ten lines a second, and costs one strcmp per message.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static int log_level = LOG_INFO;
static int log_journal = -1;
static char log_last[512];
static unsigned log_repeats;
static time_t log_last_time;

static const char *const log_names[] = {
	"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"
};

void log_set_level(int level)
{
	log_level = level;
}

static void log_emit(int level, const char *text)
{
	if (log_journal < 0)
		log_journal = getenv("JOURNAL_STREAM") != NULL;
	if (log_journal)
		fprintf(stderr, "<%d>%s\n", level, text);
	else
		fprintf(stderr, "mqttgw: %s: %s\n", log_names[level & 7], text);
}

void log_flush(void)
{
	char buf[600];

	if (log_repeats > 0) {
		snprintf(buf, sizeof(buf), "last message repeated %u times", log_repeats);
		log_emit(LOG_NOTICE, buf);
		log_repeats = 0;
	}
	fflush(stderr);
}

void log_msg(int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	time_t now;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	now = time(NULL);
	if (level <= LOG_WARNING && strcmp(buf, log_last) == 0 && now - log_last_time < 60) {
		log_repeats++;
		return;
	}
	log_flush();
	log_emit(level, buf);
	memcpy(log_last, buf, sizeof(log_last));
	log_last_time = now;
}
