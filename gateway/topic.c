/*
 * topic.c - MQTT topic filter matching, level by level.
 *
 * Walks both strings once, without splitting or allocating: the downlink
 * path matches every incoming message against every mqtt route.
 */
#include <string.h>

#include "topic.h"

int topic_filter_valid(const char *f)
{
	const char *p;

	if (!f || !*f || strlen(f) > 65535)
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
	if (!n || !*n || strlen(n) > 65535)
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
