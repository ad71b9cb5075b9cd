/* fuzz_path.c - libFuzzer target: request paths and job ids (http_path_parse, job_id_is_valid). */
#include "fuzz.h"

#include "picluster/job.h"
#include "http/request.h"

/*
 * A path is a C string from civetweb. Whatever it is, a route that names a job must hand out
 * an id that is valid and is exactly the path's last segment, and every other route none.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = fuzz_strdup(data, size);
	size_t len = strlen(path);
	char id[JOB_ID_LEN + 1];
	enum http_path kind;

	memset(id, 'x', sizeof(id));
	kind = http_path_parse(path, id);
	FUZZ_CHECK(kind >= HTTP_PATH_UNKNOWN && kind <= HTTP_PATH_METRICS);
	if (len > HTTP_MAX_PATH)
		FUZZ_CHECK(kind == HTTP_PATH_TOO_LONG);
	if (kind == HTTP_PATH_JOB || kind == HTTP_PATH_DOWNLOAD) {
		FUZZ_CHECK(job_id_is_valid(id));
		FUZZ_CHECK(strlen(id) == JOB_ID_LEN);
		FUZZ_CHECK(len >= JOB_ID_LEN && strcmp(path + len - JOB_ID_LEN, id) == 0);
		FUZZ_CHECK(strncmp(path, kind == HTTP_PATH_JOB ? "/job/" : "/job/download/",
				   kind == HTTP_PATH_JOB ? 5 : 14) == 0);
	} else {
		FUZZ_CHECK(id[0] == '\0');
	}
	/* The id check alone, on the whole input: a valid id is 36 bytes of [0-9a-f-]. */
	if (job_id_is_valid(path)) {
		FUZZ_CHECK(len == JOB_ID_LEN);
		FUZZ_CHECK(strspn(path, "0123456789abcdef-") == JOB_ID_LEN);
	}
	free(path);
	return 0;
}
