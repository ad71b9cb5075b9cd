/* objstore.c - the object-store interface: URL dispatch, name checks, calls into a backend. */
#include "objstore_int.h"

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
	return os->ops->writer_open(os, name, out);
}

pc_err objstore_write(objstore_writer *w, const void *buf, size_t len)
{
	if (!w || (!buf && len))
		return PC_EINVAL;
	if (len == 0)
		return PC_OK;
	return w->os->ops->write(w, buf, len);
}

pc_err objstore_writer_commit(objstore_writer *w)
{
	if (!w)
		return PC_EINVAL;
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
	return os->ops->stat(os, name, out);
}

pc_err objstore_read(objstore *os, const char *name, uint64_t offset, uint64_t length,
		     objstore_sink sink, void *ctx)
{
	if (!os || !sink || !objstore_name_is_valid(name))
		return PC_EINVAL;
	if (length > UINT64_MAX - offset)
		return PC_ERANGE;
	return os->ops->read(os, name, offset, length, sink, ctx);
}

pc_err objstore_delete(objstore *os, const char *name)
{
	if (!os || !objstore_name_is_valid(name))
		return PC_EINVAL;
	return os->ops->remove(os, name);
}

pc_err objstore_discard_incomplete(objstore *os, const char *name)
{
	if (!os || !objstore_name_is_valid(name))
		return PC_EINVAL;
	return os->ops->discard_incomplete(os, name);
}

pc_err objstore_presign_get(objstore *os, const char *name, unsigned expires_s, char **url)
{
	*url = NULL;
	if (!os || !objstore_name_is_valid(name) || expires_s == 0)
		return PC_EINVAL;
	return os->ops->presign_get(os, name, expires_s, url);
}
