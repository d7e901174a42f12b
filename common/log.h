/*
 * log.h - one logging call for the whole daemon.
 *
 * Lines go to stderr. Under systemd (JOURNAL_STREAM set) each line carries
 * an sd-daemon priority prefix ("<3>") so journald keeps the level; on a
 * terminal the level is spelled out. The same message repeated within a
 * second is folded into one "(repeated N times)" line, so a flapping device
 * cannot flood the journal.
 */
#ifndef MQTTGW_LOG_H
#define MQTTGW_LOG_H

#define LOG_ERR 3
#define LOG_WARNING 4
#define LOG_NOTICE 5
#define LOG_INFO 6
#define LOG_DEBUG 7

/* Messages above this level are dropped (default LOG_INFO; -v: LOG_DEBUG). */
void log_set_level(int level);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Flush a pending "repeated" count (at exit). */
void log_flush(void);

#endif
