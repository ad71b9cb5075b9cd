/* objstore.h - object storage for results: one interface, a file:// and an s3:// backend. */
#ifndef PICLUSTER_OBJSTORE_H
#define PICLUSTER_OBJSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "picluster/error.h"

/*
 * An object store holds named objects ("jobs/<id>/pi.txt"). Objects are written as a stream
 * and appear atomically on commit: a reader sees the whole object or nothing, never part.
 * Callers never test which backend they have. A store handle may be used by one thread at
 * a time; open one per thread.
 */
typedef struct objstore objstore;
typedef struct objstore_writer objstore_writer;

/*
 * Opens a store from its URL:
 *   file:///absolute/dir
 *   s3://BUCKET[/PREFIX][?endpoint=http://HOST:PORT&region=REGION&part_size=BYTES&retries=N]
 * S3 credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 * (docs/s3.md has the settings for AWS, MinIO and Google Cloud Storage).
 * On success *out is a new handle (objstore_free); on failure *out is NULL. PC_EINVAL for a
 * malformed URL (a message for the user is logged), PC_EAUTH if a file store's directory
 * may not be created or S3 credentials are not set, PC_EIO if the directory cannot be
 * created for another reason.
 */
pc_err objstore_open(objstore **out, const char *url);

/* Frees the handle. NULL is ignored. */
void objstore_free(objstore *os);

/*
 * What every call below returns on failure, whichever the backend:
 *   PC_ENOSPACE     the storage is full (ENOSPC, a quota: EDQUOT, a file size limit: EFBIG)
 *   PC_EAUTH        refused: file permissions (EACCES, EPERM, a read-only file system),
 *                   S3 403 or an unknown or expired key
 *   PC_EUNAVAILABLE the endpoint cannot be reached (connection refused, reset, DNS) or
 *                   answers 5xx, after the S3 retries
 *   PC_ETIMEOUT     the endpoint stopped answering
 *   PC_EIO          any other failure of the file system or the transfer
 * besides the call-specific codes named at each call.
 */

/*
 * The detail of the last failure on os or on one of its writers, one line naming what
 * failed and why ("file store: write /srv/pi/jobs/ID/pi.txt.~tmp.4f..: No space left on
 * device", "s3 store: PUT s3://bucket/jobs/ID/pi.txt failed: HTTP 403 SignatureDoesNotMatch:
 * ..."); "" when the last call succeeded or its code says all there is (NOTFOUND, NOMEM).
 * Borrowed from os: valid until the next call on os or its writers. Never NULL.
 */
const char *objstore_errmsg(const objstore *os);

/* True for names made of [A-Za-z0-9._-] segments joined by single '/', with no segment
 * "." or "..", no leading '/', at most 255 bytes. Every entry point checks it. */
bool objstore_name_is_valid(const char *name);

/*
 * Starts writing object `name`. On success *out is a new writer that must end in exactly
 * one of objstore_writer_commit or objstore_writer_abort; on failure *out is NULL.
 */
pc_err objstore_writer_open(objstore *os, const char *name, objstore_writer **out);

/* Appends len bytes. Memory stays bounded (one part buffer for S3). */
pc_err objstore_write(objstore_writer *w, const void *buf, size_t len);

/* Publishes the object atomically (file: fsync + rename; S3: PUT or complete multipart) and
 * frees w, whatever the outcome. On failure nothing is published and nothing is left. */
pc_err objstore_writer_commit(objstore_writer *w);

/* Discards everything written (S3: aborts the multipart upload) and frees w. NULL ignored. */
void objstore_writer_abort(objstore_writer *w);

struct objstore_stat {
	uint64_t size;
};

/* Size of an object. PC_ENOTFOUND if it does not exist. */
pc_err objstore_stat(objstore *os, const char *name, struct objstore_stat *out);

/* Receives the bytes of a read, in order; a non-PC_OK return stops the read with it. */
typedef pc_err (*objstore_sink)(void *ctx, const void *buf, size_t len);

/*
 * Streams bytes [offset, offset + length) of an object into sink, in bounded chunks (the
 * whole object is never held in memory). PC_ENOTFOUND if it does not exist, PC_ERANGE if the
 * range goes past its end.
 */
pc_err objstore_read(objstore *os, const char *name, uint64_t offset, uint64_t length,
		     objstore_sink sink, void *ctx);

/* Deletes an object. Deleting a missing object is PC_OK. */
pc_err objstore_delete(objstore *os, const char *name);

/*
 * Removes what interrupted writers of `name` left behind: their temporary files (file store)
 * or incomplete multipart uploads of that key (S3), e.g. after a writer was killed (kill -9,
 * out of memory) or lost the endpoint before it could abort. The committed object, if any,
 * is untouched. Call it only when no writer of name can still be running (its job is
 * terminal): a live writer would lose its upload. PC_OK when nothing was left.
 */
pc_err objstore_discard_incomplete(objstore *os, const char *name);

/*
 * Makes a URL that a plain HTTP client can GET for expires_s seconds without credentials
 * (S3: SigV4 query signing). *url is a new string (free()); NULL on failure. PC_ENOTSUP for
 * the file store.
 */
pc_err objstore_presign_get(objstore *os, const char *name, unsigned expires_s, char **url);

#endif
