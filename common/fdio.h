/*
 * fdio.h - blocking writes to regular files that finish or fail.
 *
 * The journals (outq.c, serial_journal.c) append to files on local disk,
 * where write() blocks and may still return short (a signal, a full disk
 * after part of the buffer): the loop that retries lives here, once.
 */
#ifndef MQTTGW_FDIO_H
#define MQTTGW_FDIO_H

#include <stddef.h>

/* Writes all n bytes of buf to fd, retrying after EINTR and short writes.
 * 0, or -1 with errno set (ENOSPC when the disk filled up part way). */
int fdio_write_all(int fd, const void *buf, size_t n);

#endif
