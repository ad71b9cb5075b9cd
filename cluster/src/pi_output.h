/* pi_output.h - writing the digits to a file (atomically, via a temporary file) or stdout. */
#ifndef PI_OUTPUT_H
#define PI_OUTPUT_H

#include <stddef.h>

#include "picluster/error.h"

struct pi_output;

/*
 * Opens PATH for the digits: a temporary file in PATH's directory that pi_output_commit
 * renames over PATH, so PATH never holds a partial result. "-" is stdout. On success *out is
 * a new handle ending in exactly one of commit or abort; on failure *out is NULL, err holds
 * a one-line message naming the problem, nothing was created, and the result says what it
 * was (PC_EINVAL for a directory, else from errno: PC_EAUTH, PC_ENOSPACE, PC_EIO...).
 */
pc_err pi_output_open(struct pi_output **out, const char *path, char *err, size_t errcap);

/* Appends len bytes (written through in bounded pieces). On a failed write, the error from
 * errno (PC_ENOSPACE for a full disk) and a message with errno's text in err. */
pc_err pi_output_write(struct pi_output *o, const void *buf, size_t len, char *err, size_t errcap);

/* Flushes, fsyncs and renames the temporary file onto PATH (stdout: flushes), then frees o.
 * On failure the temporary file is removed, PATH is untouched, and err says why. */
pc_err pi_output_commit(struct pi_output *o, char *err, size_t errcap);

/* Removes the temporary file and frees o. NULL is ignored. */
void pi_output_abort(struct pi_output *o);

/* The temporary file's path ("" for stdout), for a signal handler that must remove it. */
const char *pi_output_temp_path(const struct pi_output *o);

#endif
