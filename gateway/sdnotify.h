/*
 * sdnotify.h - tell systemd how the daemon is doing, without libsystemd.
 *
 * All functions return 0 when the message was sent or when there is nobody
 * to tell (NOTIFY_SOCKET unset: not started by systemd, or Type= is not
 * notify), and -1 when sending failed (errno set). Callers may ignore the
 * result: a failed notification is never a reason to stop bridging.
 * Each call opens, uses and closes its own socket: no state, any thread.
 */
#ifndef MQTTGW_SDNOTIFY_H
#define MQTTGW_SDNOTIFY_H

#include <stdint.h>

/* "READY=1": start-up is done (Type=notify). Also ends a reload. */
int sdnotify_ready(void);

/* "WATCHDOG=1": the loop is alive. Send every sdnotify_watchdog_interval_ms(). */
int sdnotify_watchdog(void);

/* "STATUS=...": a one-line status shown by systemctl status (printf format). */
int sdnotify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "STOPPING=1": shutdown has begun. */
int sdnotify_stopping(void);

/* "RELOADING=1" (with MONOTONIC_USEC=): a reload has begun; sdnotify_ready() ends it. */
int sdnotify_reloading(void);

/*
 * How often to send WATCHDOG=1, in milliseconds: half of WATCHDOG_USEC
 * (at least 1), or 0 when no watchdog is asked for (WATCHDOG_USEC unset or
 * invalid, or WATCHDOG_PID set to another process).
 */
uint64_t sdnotify_watchdog_interval_ms(void);

#endif
