/*
 * journal_crc.h - the CRC-32 of the outq journal's records (the zlib one),
 * written again for the tests that forge records
 * (test_outq_journal_damage.c, test_outq_bad.c) rather than taken from
 * gateway/outq.c: a test must not agree with the code it checks because it
 * runs the same code.
 */
#ifndef MQTTGW_TEST_JOURNAL_CRC_H
#define MQTTGW_TEST_JOURNAL_CRC_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t crc32_of(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
	}
	return ~c;
}

#endif
