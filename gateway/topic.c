/*
 * topic.c - MQTT topic filter matching, level by level.
 *
 * Walks both strings once, without splitting or allocating: the downlink
 * path matches every incoming message against every mqtt route.
 */
#include <string.h>

#include "topic.h"

int topic_text_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned c = *p, cp;
		int n, i;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return 0;
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (end - p <= n)
			return 0;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f) || (cp >= 0xfdd0 && cp <= 0xfdef) ||
		    (cp & 0xfffe) == 0xfffe)
			return 0;
		p += n + 1;
	}
	return 1;
}

int topic_filter_valid(const char *f)
{
	const char *p;

	if (!f || !*f || strlen(f) > TOPIC_LEN_MAX || !topic_text_ok(f, strlen(f)))
		return -1;
	for (p = f; *p; p++) {
		if (*p == '+') {
			if ((p != f && p[-1] != '/') || (p[1] && p[1] != '/'))
				return -1;
		} else if (*p == '#') {
			if ((p != f && p[-1] != '/') || p[1])
				return -1;
		}
	}
	return 0;
}

int topic_name_valid(const char *n)
{
	if (!n || !*n || n[0] == '$' || strlen(n) > TOPIC_LEN_MAX || !topic_text_ok(n, strlen(n)))
		return -1;
	return strpbrk(n, "+#") ? -1 : 0;
}

int topic_matches(const char *f, const char *t)
{
	if (t[0] == '$' && (f[0] == '+' || f[0] == '#'))
		return 0;
	for (;;) {
		if (f[0] == '#')
			return 1;
		if (f[0] == '+') {
			while (*t && *t != '/')
				t++;
			f++;
		} else {
			while (*f && *f != '/' && *f == *t) {
				f++;
				t++;
			}
			if ((*f && *f != '/') || (*t && *t != '/'))
				return 0;
		}
		/* both at '/' or '\0' */
		if (*f == '\0' && *t == '\0')
			return 1;
		if (*f == '\0' || *t == '\0') {
			/* "a/#" matches "a" */
			return *t == '\0' && f[0] == '/' && f[1] == '#' && f[2] == '\0';
		}
		f++;
		t++;
	}
}
