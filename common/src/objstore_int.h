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

/* Every backend's handle starts with this. */
struct objstore {
	const struct objstore_ops *ops;
};

/* Every backend's writer starts with this. */
struct objstore_writer {
	objstore *os;
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
