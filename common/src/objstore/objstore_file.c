/* objstore_file.c - the file:// object store: one file per object under a root directory. */
#include "objstore_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "picluster/durable.h"
#include "picluster/log.h"

/* Reads go through a buffer of this size: memory stays bounded whatever the range. */
#define FILE_READ_CHUNK (256 * 1024)

struct file_store {
	struct objstore base;
	char *root; /* absolute, without trailing '/' */
};

/*
 * A writer fills "<dir>/<base>.~tmp.<16 hex>" and renames it onto "<dir>/<base>" on commit.
 * '~' is not allowed in object names, so a temporary file never has a valid object's name,
 * and the random suffix (with O_EXCL) keeps concurrent writers of one name apart: each one
 * publishes a whole object and the last rename wins.
 */
struct file_writer {
	struct objstore_writer base;
	int fd;
	pc_err failed; /* the first failure of a write: commit refuses with it */
	char *tmp_path;
	char *final_path;
};

static const struct objstore_ops file_ops;

/* Records and logs the failure of the call `what` on path from errno (read first, before
 * anything can change it) and returns its pc_err. */
static pc_err sys_fail(objstore *os, const char *what, const char *path)
{
	int e = errno;

	return objstore_fail(os, pc_err_from_errno(e), "file store: %s %s: %s", what, path,
			     strerror(e));
}

/* Joins root and name into a new string; NULL when out of memory or too long. */
static char *file_path(const struct file_store *fs, const char *name)
{
	size_t rlen = strlen(fs->root), nlen = strlen(name);
	char *path;

	if (rlen + 1 + nlen + 1 > PATH_MAX)
		return NULL;
	path = malloc(rlen + 1 + nlen + 1);
	if (!path)
		return NULL;
	memcpy(path, fs->root, rlen);
	path[rlen] = '/';
	memcpy(path + rlen + 1, name, nlen + 1);
	return path;
}

/* fsyncs a directory so that entries created, renamed or removed in it are durable. */
static pc_err fsync_dir(objstore *os, const char *dir)
{
	const char *call;

	if (pc_durable_sync_dir(dir, &call) != PC_OK)
		return sys_fail(os, call, dir);
	return PC_OK;
}

/* fsyncs the directory holding path (path is a file's absolute path). */
static pc_err fsync_parent(objstore *os, const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t len;

	if (!slash)
		return PC_EINVAL;
	len = slash == path ? 1 : (size_t)(slash - path);
	if (len >= sizeof(dir))
		return PC_ERANGE;
	memcpy(dir, path, len);
	dir[len] = '\0';
	return fsync_dir(os, dir);
}

/*
 * Creates every missing directory of path up to (not including) its last component,
 * starting at byte `from` (directories before it are known to exist). A new directory's
 * parent is fsynced so the directory survives a crash. Like mkdir -p; races with other
 * creators are fine (EEXIST).
 */
static pc_err make_parents(objstore *os, const char *path, size_t from)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);
	size_t i;

	if (len >= sizeof(buf))
		return PC_ERANGE;
	memcpy(buf, path, len + 1);
	for (i = from + 1; i < len; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) == 0) {
			pc_err err = fsync_parent(os, buf);

			if (err != PC_OK)
				return err;
		} else if (errno != EEXIST) {
			return sys_fail(os, "mkdir", buf);
		}
		buf[i] = '/';
	}
	return PC_OK;
}

/*
 * The parse of a file:// URL, apart from the file system so that it can be fuzzed
 * (objstore_file_open calls it; tests/fuzz/fuzz_file_url.c fuzzes it):
 * checks that dir (the URL after "file://") is an absolute directory name without "." or
 * ".." segments, '?' or '#', and sets *root_len to its length without trailing slashes ("/"
 * stays "/"). PC_EINVAL, logged, for anything else.
 */
pc_err objstore_file_root_parse(const char *dir, size_t *root_len)
{
	size_t len = strlen(dir);

	*root_len = 0;
	if (dir[0] != '/' || strstr(dir, "/../") || strstr(dir, "/./") || strchr(dir, '?') ||
	    strchr(dir, '#') || (len >= 3 && strcmp(dir + len - 3, "/..") == 0) ||
	    (len >= 2 && strcmp(dir + len - 2, "/.") == 0)) {
		log_error("file store: '%.200s' is not an absolute directory (file:///DIR)", dir);
		return PC_EINVAL;
	}
	while (len > 1 && dir[len - 1] == '/')
		len--;
	if (len + 2 >= PATH_MAX) {
		log_error("file store: directory name too long");
		return PC_EINVAL;
	}
	*root_len = len;
	return PC_OK;
}

pc_err objstore_file_open(objstore **out, const char *dir)
{
	struct file_store *fs;
	struct stat st;
	size_t len;
	pc_err err;

	*out = NULL;
	err = objstore_file_root_parse(dir, &len);
	if (err != PC_OK)
		return err;
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return PC_ENOMEM;
	fs->base.ops = &file_ops;
	fs->root = strndup(dir, len);
	if (!fs->root) {
		err = PC_ENOMEM;
		goto out_free_fs;
	}
	if (len > 1) {
		/* make_parents stops before the last component: give it "<root>/". */
		char probe[PATH_MAX];

		snprintf(probe, sizeof(probe), "%s/", fs->root);
		err = make_parents(&fs->base, probe, 0);
		if (err != PC_OK)
			goto out_free_root;
	}
	if (stat(fs->root, &st) < 0) {
		err = sys_fail(&fs->base, "stat", fs->root);
		goto out_free_root;
	}
	if (!S_ISDIR(st.st_mode)) {
		err =
		    objstore_fail(&fs->base, PC_EIO, "file store: %s is not a directory", fs->root);
		goto out_free_root;
	}
	*out = &fs->base;
	return PC_OK;

out_free_root:
	free(fs->root);
out_free_fs:
	free(fs);
	return err;
}

static void file_free(objstore *os)
{
	struct file_store *fs = (struct file_store *)os;

	free(fs->root);
	free(fs);
}

static void file_writer_free(struct file_writer *fw)
{
	free(fw->tmp_path);
	free(fw->final_path);
	free(fw);
}

static pc_err file_writer_open(objstore *os, const char *name, objstore_writer **out)
{
	struct file_store *fs = (struct file_store *)os;
	struct file_writer *fw;
	unsigned char rnd[8];
	size_t cap;
	pc_err err;

	fw = calloc(1, sizeof(*fw));
	if (!fw)
		return PC_ENOMEM;
	fw->base.os = os;
	fw->fd = -1;
	fw->final_path = file_path(fs, name);
	if (!fw->final_path) {
		err = PC_ENOMEM;
		goto out_free_writer;
	}
	cap = strlen(fw->final_path) + sizeof(".~tmp.") + 2 * sizeof(rnd);
	fw->tmp_path = malloc(cap);
	if (!fw->tmp_path) {
		err = PC_ENOMEM;
		goto out_free_writer;
	}
	err = make_parents(os, fw->final_path, strlen(fs->root));
	if (err != PC_OK)
		goto out_free_writer;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		err = objstore_fail(os, PC_EIO, "file store: getrandom: %s", strerror(errno));
		goto out_free_writer;
	}
	snprintf(fw->tmp_path, cap, "%s.~tmp.%02x%02x%02x%02x%02x%02x%02x%02x", fw->final_path,
		 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	fw->fd = open(fw->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fw->fd < 0) {
		err = sys_fail(os, "create", fw->tmp_path);
		goto out_free_writer;
	}
	*out = &fw->base;
	return PC_OK;

out_free_writer:
	file_writer_free(fw);
	return err;
}

static pc_err file_write(objstore_writer *w, const void *buf, size_t len)
{
	struct file_writer *fw = (struct file_writer *)w;
	const char *p = buf;

	if (fw->failed != PC_OK)
		return fw->failed;
	while (len > 0) {
		ssize_t n = write(fw->fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fw->failed = sys_fail(w->os, "write", fw->tmp_path);
			return fw->failed;
		}
		p += n;
		len -= (size_t)n;
	}
	return PC_OK;
}

static void file_abort(objstore_writer *w)
{
	struct file_writer *fw = (struct file_writer *)w;

	if (fw->fd >= 0)
		close(fw->fd);
	if (unlink(fw->tmp_path) < 0 && errno != ENOENT)
		log_warn("file store: unlink %s: %s", fw->tmp_path, strerror(errno));
	file_writer_free(fw);
}

static pc_err file_commit(objstore_writer *w)
{
	struct file_writer *fw = (struct file_writer *)w;
	const char *call;
	pc_err err;
	int fd = fw->fd;

	if (fw->failed != PC_OK) {
		/* objstore_errmsg still holds the failed write's detail. */
		err = fw->failed;
		goto out_abort;
	}
	/* After a crash the name points at whole data or at the previous object. */
	fw->fd = -1; /* closed by pc_durable_publish whatever happens */
	if (pc_durable_publish(fd, fw->tmp_path, fw->final_path, &call) != PC_OK) {
		err = sys_fail(w->os, call, fw->tmp_path);
		goto out_abort;
	}
	/* The object is visible now; fsync the directory so the rename is durable. */
	err = fsync_parent(w->os, fw->final_path);
	file_writer_free(fw);
	return err;

out_abort:
	file_abort(w);
	return err;
}

static pc_err file_stat(objstore *os, const char *name, struct objstore_stat *out)
{
	struct file_store *fs = (struct file_store *)os;
	struct stat st;
	char *path;
	pc_err err = PC_OK;

	path = file_path(fs, name);
	if (!path)
		return PC_ENOMEM;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			err = PC_ENOTFOUND;
		else
			err = sys_fail(os, "stat", path);
	} else if (!S_ISREG(st.st_mode)) {
		err = PC_ENOTFOUND;
	} else {
		out->size = (uint64_t)st.st_size;
	}
	free(path);
	return err;
}

static pc_err file_read(objstore *os, const char *name, uint64_t offset, uint64_t length,
			objstore_sink sink, void *ctx)
{
	struct file_store *fs = (struct file_store *)os;
	struct stat st;
	char *path, *buf;
	pc_err err = PC_OK;
	int fd;

	path = file_path(fs, name);
	if (!path)
		return PC_ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
			err = PC_ENOTFOUND;
		else
			err = sys_fail(os, "open", path);
		goto out_free_path;
	}
	/* The size of the open file: a concurrent commit replaces the name, not this file. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err = PC_ENOTFOUND;
		goto out_close;
	}
	if (offset > (uint64_t)st.st_size || length > (uint64_t)st.st_size - offset) {
		err = PC_ERANGE;
		goto out_close;
	}
	buf = malloc(length < FILE_READ_CHUNK ? (size_t)length + 1 : FILE_READ_CHUNK);
	if (!buf) {
		err = PC_ENOMEM;
		goto out_close;
	}
	while (length > 0) {
		size_t want = length < FILE_READ_CHUNK ? (size_t)length : FILE_READ_CHUNK;
		ssize_t n = pread(fd, buf, want, (off_t)offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = sys_fail(os, "read", path);
			break;
		}
		if (n == 0) {
			/* A file that shrank under us is damage, not a short object. */
			err = objstore_fail(os, PC_EIO, "file store: read %s: short", path);
			break;
		}
		err = sink(ctx, buf, (size_t)n);
		if (err != PC_OK)
			break;
		offset += (uint64_t)n;
		length -= (uint64_t)n;
	}
	free(buf);
out_close:
	close(fd);
out_free_path:
	free(path);
	return err;
}

static pc_err file_remove(objstore *os, const char *name)
{
	struct file_store *fs = (struct file_store *)os;
	char *path;
	pc_err err = PC_OK;

	path = file_path(fs, name);
	if (!path)
		return PC_ENOMEM;
	if (unlink(path) == 0)
		err = fsync_parent(os, path);
	else if (errno != ENOENT && errno != ENOTDIR)
		err = sys_fail(os, "unlink", path);
	free(path);
	return err;
}

static pc_err file_discard_incomplete(objstore *os, const char *name)
{
	struct file_store *fs = (struct file_store *)os;
	char *path, *slash, *base;
	size_t base_len;
	struct dirent *e;
	bool removed = false;
	pc_err err = PC_OK;
	DIR *d;

	path = file_path(fs, name);
	if (!path)
		return PC_ENOMEM;
	/* path = "<dir>/<base>": temporary files are "<base>.~tmp.<hex>" in <dir>. */
	slash = strrchr(path, '/');
	*slash = '\0';
	base = slash + 1;
	base_len = strlen(base);
	d = opendir(path);
	if (!d) {
		if (errno != ENOENT && errno != ENOTDIR)
			err = sys_fail(os, "open directory", path);
		goto out_free_path;
	}
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, base, base_len) != 0 ||
		    strncmp(e->d_name + base_len, ".~tmp.", 6) != 0)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
			log_info("file store: removed %s/%s, left by an interrupted writer", path,
				 e->d_name);
			removed = true;
		} else if (errno != ENOENT) {
			int en = errno;

			err =
			    objstore_fail(os, pc_err_from_errno(en), "file store: unlink %s/%s: %s",
					  path, e->d_name, strerror(en));
		}
	}
	closedir(d);
	if (removed && err == PC_OK)
		err = fsync_dir(os, path);
out_free_path:
	free(path);
	return err;
}

static pc_err file_presign_get(objstore *os, const char *name, unsigned expires_s, char **url)
{
	return PC_ENOTSUP;
}

static const struct objstore_ops file_ops = {
    .scheme = "file",
    .free = file_free,
    .writer_open = file_writer_open,
    .write = file_write,
    .commit = file_commit,
    .abort = file_abort,
    .stat = file_stat,
    .read = file_read,
    .remove = file_remove,
    .discard_incomplete = file_discard_incomplete,
    .presign_get = file_presign_get,
};
