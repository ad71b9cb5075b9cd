/* error.h - the one error type of picluster: an enum and its message from a single table. */
#ifndef PICLUSTER_ERROR_H
#define PICLUSTER_ERROR_H

/*
 * PC_ERR_MAP(X) expands X(NAME, "message") once per error, so the enum and the message
 * table cannot drift apart (the same trick as libuv's UV_ERRNO_MAP).
 */
#define PC_ERR_MAP(X)                                   \
	X(OK, "success")                                \
	X(NOMEM, "out of memory")                       \
	X(INVAL, "invalid argument")                    \
	X(RANGE, "value out of range")                  \
	X(IO, "input/output error")                     \
	X(NOSPACE, "no space left on the storage")      \
	X(NOTFOUND, "not found")                        \
	X(EXISTS, "already exists")                     \
	X(CONFLICT, "not allowed in the current state") \
	X(FULL, "queue is full")                        \
	X(TIMEOUT, "timed out")                         \
	X(UNAVAILABLE, "service unavailable")           \
	X(PROTO, "protocol error")                      \
	X(AUTH, "access denied")                        \
	X(NOTSUP, "not supported")                      \
	X(SCHED, "scheduler error")                     \
	X(INTERNAL, "internal error")

typedef enum pc_err {
#define PC_ERR_ENUM(name, msg) PC_E##name,
	PC_ERR_MAP(PC_ERR_ENUM)
#undef PC_ERR_ENUM
	    PC_ERR_COUNT
} pc_err;

/* PC_OK is the usual spelling of success. */
#define PC_OK PC_EOK

/* Returns a static message for err; never NULL, also for values outside the table. */
const char *pc_strerror(pc_err err);

/* Returns the enum's name without prefix ("NOTFOUND"); static, never NULL. */
const char *pc_errname(pc_err err);

/* The pc_err for the errno of a failed file system call: a full disk, a quota or a file size
 * limit (ENOSPC, EDQUOT, EFBIG) is PC_ENOSPACE, a refused permission (EACCES, EPERM, EROFS)
 * PC_EAUTH, ENOMEM PC_ENOMEM, anything else PC_EIO. */
pc_err pc_err_from_errno(int errnum);

#endif
