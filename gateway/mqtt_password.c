/*
 * mqtt_password.c - mqtt.password_file: the broker password, read once.
 *
 * Apart from the client because two callers need it: main.c reads it
 * before anything starts (a wrong path or a leaky mode is a config error,
 * --check says so too), and mqtt_new() reads it for the client. A file readable
 * by group or others is refused (the password would leak); a systemd
 * credential ("credential:NAME", LoadCredential=) is read from
 * $CREDENTIALS_DIRECTORY, where only "others" is checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mqtt.h"

int mqtt_read_password(const char *file, char *out, size_t outlen, char *err, size_t errlen)
{
	char path[4096];
	struct stat st;
	ssize_t n;
	int fd;
	/*
	 * A systemd credential lives in a directory only this service can
	 * read; systemd 254 and later show it as 0440 (an ACL for User=), which
	 * is no leak: only "others" is checked there.
	 */
	mode_t forbidden = S_IRWXG | S_IRWXO;

	if (strncmp(file, "credential:", 11) == 0) {
		forbidden = S_IRWXO;
		/* systemd LoadCredential=NAME:... puts it in $CREDENTIALS_DIRECTORY/NAME */
		const char *dir = getenv("CREDENTIALS_DIRECTORY");

		if (!dir || strchr(file + 11, '/') || !file[11]) {
			snprintf(err, errlen, "password_file %s: no systemd credential of that name (CREDENTIALS_DIRECTORY %s)",
				 file, dir ? "has none" : "is not set");
			return -1;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, file + 11);
		file = path;
	}
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "password_file %s: %s", file, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || (st.st_mode & forbidden)) {
		snprintf(err, errlen, "password_file %s is readable by %s; chmod 600 it", file,
			 forbidden & S_IRWXG ? "group or others" : "others");
		close(fd);
		return -1;
	}
	n = read(fd, out, outlen - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "password_file %s: %s", file, strerror(errno));
		return -1;
	}
	out[n] = '\0';
	/* one line; the newline editors add is not part of the password */
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}
