/* pi_output.c - digits to PATH through a temporary file published whole (durable.h), or to
 * stdout. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "picluster/durable.h"

#include "pi_output.h"

/* write(2) calls are at most this long, so a huge piece never becomes one giant syscall. */
#define WRITE_CHUNK ((size_t)8 << 20)

struct pi_output {
	int fd;
	int is_stdout;
	char *path;
	char *temp;
	char *dir;
};

static void free_output(struct pi_output *o)
{
	free(o->path);
	free(o->temp);
	free(o->dir);
	free(o);
}

/* Formats "<message>: <errno text>" into err and returns errno's pc_err (read first). */
static pc_err sys_fail(char *err, size_t errcap, const char *message)
{
	int e = errno;

	snprintf(err, errcap, "%s: %s", message, strerror(e));
	return pc_err_from_errno(e);
}

pc_err pi_output_open(struct pi_output **out, const char *path, char *err, size_t errcap)
{
	struct pi_output *o;
	struct stat st;
	char *copy;
	size_t n;
	pc_err rc = PC_ENOMEM;

	*out = NULL;
	o = calloc(1, sizeof(*o));
	if (o == NULL) {
		snprintf(err, errcap, "out of memory");
		return PC_ENOMEM;
	}
	o->fd = -1;
	if (strcmp(path, "-") == 0) {
		o->is_stdout = 1;
		o->fd = STDOUT_FILENO;
		*out = o;
		return PC_OK;
	}
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, errcap, "--output %s: is a directory", path);
		rc = PC_EINVAL;
		goto out_free;
	}
	o->path = strdup(path);
	copy = strdup(path);
	if (o->path == NULL || copy == NULL) {
		free(copy);
		snprintf(err, errcap, "out of memory");
		goto out_free;
	}
	o->dir = strdup(dirname(copy));
	free(copy);
	n = strlen(path) + 32;
	o->temp = malloc(n);
	if (o->dir == NULL || o->temp == NULL) {
		snprintf(err, errcap, "out of memory");
		goto out_free;
	}
	/* Beside PATH, so that rename(2) stays within one file system. */
	snprintf(o->temp, n, "%s.tmp.XXXXXX", path);
	o->fd = mkstemp(o->temp);
	if (o->fd < 0) {
		char what[64 + PATH_MAX];

		snprintf(what, sizeof(what), "--output %s: cannot create a file there", path);
		rc = sys_fail(err, errcap, what);
		goto out_free;
	}
	if (fchmod(o->fd, 0644) != 0) {
		char what[16 + PATH_MAX];

		snprintf(what, sizeof(what), "--output %s", path);
		rc = sys_fail(err, errcap, what);
		close(o->fd);
		unlink(o->temp);
		goto out_free;
	}
	*out = o;
	return PC_OK;
out_free:
	free_output(o);
	return rc;
}

pc_err pi_output_write(struct pi_output *o, const void *buf, size_t len, char *err, size_t errcap)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(o->fd, p, len < WRITE_CHUNK ? len : WRITE_CHUNK);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			char what[32 + PATH_MAX];

			snprintf(what, sizeof(what), "write to %s failed",
				 o->is_stdout ? "stdout" : o->path);
			return sys_fail(err, errcap, what);
		}
		if (w == 0) {
			snprintf(err, errcap, "write to %s failed: no progress",
				 o->is_stdout ? "stdout" : o->path);
			return PC_EIO;
		}
		p += w;
		len -= (size_t)w;
	}
	return PC_OK;
}

pc_err pi_output_commit(struct pi_output *o, char *err, size_t errcap)
{
	char what[32 + PATH_MAX];
	const char *call;
	pc_err rc = PC_OK;
	int fd = o->fd;

	if (o->is_stdout) {
		free_output(o);
		return PC_OK;
	}
	o->fd = -1; /* closed by pc_durable_publish whatever happens */
	if (pc_durable_publish(fd, o->temp, o->path, &call) != PC_OK) {
		if (strcmp(call, "rename") == 0)
			snprintf(what, sizeof(what), "rename to %s failed", o->path);
		else
			snprintf(what, sizeof(what), "%s of %s failed", call, o->temp);
		rc = sys_fail(err, errcap, what);
		unlink(o->temp);
	} else {
		/* Make the rename itself durable; PATH is whole either way. */
		(void)pc_durable_sync_dir(o->dir, &call);
	}
	free_output(o);
	return rc;
}

void pi_output_abort(struct pi_output *o)
{
	if (o == NULL)
		return;
	if (!o->is_stdout) {
		if (o->fd >= 0)
			close(o->fd);
		unlink(o->temp);
	}
	free_output(o);
}

const char *pi_output_temp_path(const struct pi_output *o)
{
	return o->is_stdout ? "" : o->temp;
}
