/* error.c - messages and names for pc_err, generated from PC_ERR_MAP. */
#include "picluster/error.h"

#include <errno.h>

static const char *const messages[] = {
#define PC_ERR_MSG(name, msg) msg,
    PC_ERR_MAP(PC_ERR_MSG)
#undef PC_ERR_MSG
};

static const char *const names[] = {
#define PC_ERR_NAME(name, msg) #name,
    PC_ERR_MAP(PC_ERR_NAME)
#undef PC_ERR_NAME
};

const char *pc_strerror(pc_err err)
{
	if ((unsigned)err >= PC_ERR_COUNT)
		return "unknown error";
	return messages[err];
}

const char *pc_errname(pc_err err)
{
	if ((unsigned)err >= PC_ERR_COUNT)
		return "UNKNOWN";
	return names[err];
}

pc_err pc_err_from_errno(int errnum)
{
	switch (errnum) {
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return PC_ENOSPACE;
	case EACCES:
	case EPERM:
	case EROFS:
		return PC_EAUTH;
	case ENOMEM:
		return PC_ENOMEM;
	default:
		return PC_EIO;
	}
}
