/* objstore_s3.c - the s3:// object store (placeholder until the S3 backend lands). */
#include "objstore_int.h"

#include "picluster/log.h"

pc_err objstore_s3_open(objstore **out, const char *rest)
{
	*out = NULL;
	log_error("s3 store: not built yet");
	return PC_ENOTSUP;
}
