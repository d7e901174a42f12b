/*
 * json_escape.h - bytes as the inside of a JSON string (see json_escape.c).
 */
#ifndef MQTTGW_JSON_ESCAPE_H
#define MQTTGW_JSON_ESCAPE_H

#include <stddef.h>

/* c in ASCII lower case (kase 'l'), upper case ('u') or as is (0). */
unsigned char json_escape_case(unsigned char c, int kase);

/*
 * src[0..n) (each byte through json_escape_case first) escaped into out,
 * no quotes, no NUL. Returns the length, or -1 when out is too small.
 */
int json_escape(const char *src, size_t n, int kase, char *out, size_t outlen);

#endif
