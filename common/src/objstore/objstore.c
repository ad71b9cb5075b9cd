/* objstore.c - the object-store interface: URL dispatch, name checks, calls into a backend. */
#include "objstore_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "picluster/log.h"

/* Longest object name, in bytes; S3 allows 1024, file systems 255 per segment. */
#define OBJSTORE_NAME_MAX 255

bool objstore_name_is_valid(const char *name)
{
	size_t seg = 0; /* length of the current segment */
	size_t i;

	if (!name || !name[0])
		return false;
	for (i = 0; name[i]; i++) {
		char c = name[i];

		if (i >= OBJSTORE_NAME_MAX)
			return false;
		if (c == '/') {
			/* Empty, "." and ".." segments: leading '/', "//", "a/./b", "../x". */
			if (seg == 0 || (seg == 1 && name[i - 1] == '.') ||
			    (seg == 2 && name[i - 1] == '.' && name[i - 2] == '.'))
				return false;
			seg = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
		seg++;
	}
	/* The last segment: not empty (trailing '/'), not "." or "..". */
	if (seg == 0 || (seg == 1 && name[i - 1] == '.') ||
	    (seg == 2 && name[i - 1] == '.' && name[i - 2] == '.'))
		return false;
	return true;
}

pc_err objstore_open(objstore **out, const char *url)
{
	*out = NULL;
	if (!url) {
		log_error("object store: no URL given");
		return PC_EINVAL;
	}
	if (strncmp(url, "file://", 7) == 0)
		return objstore_file_open(out, url + 7);
	if (strncmp(url, "s3://", 5) == 0)
		return objstore_s3_open(out, url + 5);
	log_error(
	    "object store: unsupported URL '%.200s' (expected file:///DIR or s3://BUCKET/...)",
	    url);
	return PC_EINVAL;
}

pc_err objstore_fail(objstore *os, pc_err err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(os->errmsg, sizeof(os->errmsg), fmt, ap);
	va_end(ap);
	log_error("%s", os->errmsg);
	return err;
}

const char *objstore_errmsg(const objstore *os)
{
	return os ? os->errmsg : "";
}

void objstore_free(objstore *os)
{
	if (os)
		os->ops->free(os);
}

pc_err objstore_writer_open(objstore *os, const char *name, objstore_writer **out)
{
	*out = NULL;
	if (!os || !objstore_name_is_valid(name))
		return PC_EINVAL;
	os->errmsg[0] = '\0';
	return os->ops->writer_open(os, name, out);
}

/* Puts a failed writer's detail back into its store's errmsg and returns its failure. */
static pc_err writer_failure(objstore_writer *w)
{
	memcpy(w->os->errmsg, w->errmsg, sizeof(w->errmsg));
	return w->failed;
}

pc_err objstore_write(objstore_writer *w, const void *buf, size_t len)
{
	pc_err err;

	if (!w || (!buf && len))
		return PC_EINVAL;
	if (w->failed != PC_OK)
		return writer_failure(w);
	w->os->errmsg[0] = '\0';
	if (len == 0)
		return PC_OK;
	err = w->os->ops->write(w, buf, len);
	if (err != PC_OK) {
		w->failed = err;
		memcpy(w->errmsg, w->os->errmsg, sizeof(w->errmsg));
	}
	return err;
}

pc_err objstore_writer_commit(objstore_writer *w)
{
	if (!w)
		return PC_EINVAL;
	if (w->failed != PC_OK) {
		/* Nothing is published: the backend's abort discards what was written. */
		pc_err err = writer_failure(w);

		w->os->ops->abort(w);
		return err;
	}
	w->os->errmsg[0] = '\0';
	return w->os->ops->commit(w);
}

void objstore_writer_abort(objstore_writer *w)
{
	if (w)
		w->os->ops->abort(w);
}

pc_err objstore_stat(objstore *os, const char *name, struct objstore_stat *out)
{
	if (!os || !out || !objstore_name_is_valid(name))
		return PC_EINVAL;
	os->errmsg[0] = '\0';
	return os->ops->stat(os, name, out);
}

pc_err objstore_read(objstore *os, const char *name, uint64_t offset, uint64_t length,
		     objstore_sink sink, void *ctx)
{
	if (!os || !sink || !objstore_name_is_valid(name))
		return PC_EINVAL;
	if (length > UINT64_MAX - offset)
		return PC_ERANGE;
	os->errmsg[0] = '\0';
	return os->ops->read(os, name, offset, length, sink, ctx);
}

pc_err objstore_delete(objstore *os, const char *name)
{
	if (!os || !objstore_name_is_valid(name))
		return PC_EINVAL;
	os->errmsg[0] = '\0';
	return os->ops->remove(os, name);
}

pc_err objstore_discard_incomplete(objstore *os, const char *name)
{
	if (!os || !objstore_name_is_valid(name))
		return PC_EINVAL;
	os->errmsg[0] = '\0';
	return os->ops->discard_incomplete(os, name);
}

pc_err objstore_presign_get(objstore *os, const char *name, unsigned expires_s, char **url)
{
	*url = NULL;
	if (!os || !objstore_name_is_valid(name) || expires_s == 0)
		return PC_EINVAL;
	os->errmsg[0] = '\0';
	return os->ops->presign_get(os, name, expires_s, url);
}
