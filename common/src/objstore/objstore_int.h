/* objstore_int.h - what the object-store backends share with the dispatch in objstore.c. */
#ifndef PICLUSTER_OBJSTORE_INT_H
#define PICLUSTER_OBJSTORE_INT_H

#include <time.h>

#include "picluster/objstore.h"

/*
 * One table of operations per backend. The dispatch in objstore.c validates names and
 * arguments before calling in, so backends may assume valid object names.
 */
struct objstore_ops {
	const char *scheme; /* "file", "s3": for log messages */
	void (*free)(objstore *os);
	pc_err (*writer_open)(objstore *os, const char *name, objstore_writer **out);
	pc_err (*write)(objstore_writer *w, const void *buf, size_t len);
	pc_err (*commit)(objstore_writer *w); /* frees w */
	void (*abort)(objstore_writer *w);    /* frees w */
	pc_err (*stat)(objstore *os, const char *name, struct objstore_stat *out);
	pc_err (*read)(objstore *os, const char *name, uint64_t offset, uint64_t length,
		       objstore_sink sink, void *ctx);
	pc_err (*remove)(objstore *os, const char *name);
	pc_err (*discard_incomplete)(objstore *os, const char *name);
	pc_err (*presign_get)(objstore *os, const char *name, unsigned expires_s, char **url);
};

/* Longest failure detail kept for objstore_errmsg, terminator included. */
#define OBJSTORE_ERRMSG_MAX 512

/* Every backend's handle starts with this. */
struct objstore {
	const struct objstore_ops *ops;
	/* The last failure's detail (objstore_errmsg). The dispatch in objstore.c empties it
	 * when a call starts; backends fill it through objstore_fail. */
	char errmsg[OBJSTORE_ERRMSG_MAX];
};

/*
 * Records the detail of a failure on os (what failed, on which name, and the cause: errno's
 * text, the HTTP status and S3's error code) for objstore_errmsg, logs it as an error, and
 * returns err, so that a backend can write `return objstore_fail(os, PC_EIO, ...)`.
 */
pc_err objstore_fail(objstore *os, pc_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Every backend's writer starts with this (zeroed by the backend's allocation). */
struct objstore_writer {
	objstore *os;
	/* The first failed write, kept by the dispatch: later writes and the commit return it,
	 * and put its detail back into os->errmsg, whatever other calls on os did since. */
	pc_err failed;
	char errmsg[OBJSTORE_ERRMSG_MAX];
};

/* Opens a file store rooted at the absolute directory dir (the URL after "file://"). */
pc_err objstore_file_open(objstore **out, const char *dir);

/* The pure check of a file store's root, apart from the file system (objstore_file.c; fuzzed
 * by tests/fuzz/fuzz_file_url.c): dir absolute, no "." or ".." segments, no '?' or '#';
 * *root_len its length without trailing slashes ("/" stays "/"). PC_EINVAL, logged, else. */
pc_err objstore_file_root_parse(const char *dir, size_t *root_len);

/* Opens an S3 store from the URL after "s3://": BUCKET[/PREFIX][?QUERY]. */
pc_err objstore_s3_open(objstore **out, const char *rest);

/*
 * Tests only: objstore_presign_get with a fixed clock, so its URLs can be compared byte for
 * byte with an independent signer. PC_ENOTSUP when os is not an S3 store.
 */
pc_err objstore_s3_presign_at(objstore *os, const char *name, unsigned expires_s, time_t now,
			      char **url);

#endif
