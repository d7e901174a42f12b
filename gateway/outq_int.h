/*
 * outq_int.h - what the files of the outbound queue share, and nobody else.
 *
 * The queue is opaque to the rest of the gateway (outq.h): outq.c is the
 * queue and its journal, outq_reload.c what a reload changes in a running
 * queue (its limits, its journal moved to another buffer.dir). Both see the
 * struct and the two journal helpers below; nothing else includes this.
 */
#ifndef MQTTGW_OUTQ_INT_H
#define MQTTGW_OUTQ_INT_H

#include <stddef.h>
#include <stdint.h>

#include "outq.h"

/* Journal records are written in batches of about this much. */
#define OUTQ_WBUF_FLUSH (64u * 1024)

struct outq {
	struct outq_msg *head, *tail;
	struct outq_msg *next_send;	/* the first message not sent, or NULL */
	size_t count;
	size_t n_sent;
	size_t n_sent2;		/* of them QoS 2 (MQTT 3.1.1 brokers cap those: mqtt_pub.c) */
	size_t max_waiting;	/* unsent messages kept; the oldest beyond are dropped */
	uint64_t next_seq;
	uint64_t dropped;	/* unsent messages dropped for max_waiting */
	/* journal */
	int fd;
	char *path;
	unsigned char *wbuf;
	size_t wlen, wcap;
	uint64_t file_size;
	uint64_t live_bytes;
	int rewrite;		/* a write failed: only a rewrite of the live set makes the file whole */
	int warned;
	uint64_t retry_at;	/* ms (CLOCK_MONOTONIC): no rewrite before, after a failed one */
	int sync;		/* OUTQ_SYNC_*, set before outq_open_journal() */
	int unsynced;		/* an M record (always: any record) not fdatasync'ed yet */
};

/*
 * Write the records of every live message into tmp (fdatasync'ed when sync
 * says so) and rename it to file. The new file's fd, open for appending
 * records, or -1 with errno set (tmp is gone then).
 */
int outq_write_live(const struct outq *q, const char *tmp, const char *file, int sync);
/* fsync the directory of file: a rename into it is on the card. 0 / -1. */
int outq_sync_dir(const char *file);

#endif
