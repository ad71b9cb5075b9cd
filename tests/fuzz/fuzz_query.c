/* fuzz_query.c - libFuzzer target: the GET /jobs query string (http_query_param). */
#include "fuzz.h"

#include "http/request.h"

/*
 * The first byte picks the key the route asks for and the size of the output buffer (small
 * sizes reach the truncation paths); the rest is the query string as civetweb passes it.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {"state", "limit", "cursor", "s"};
	char out[300];
	const char *key;
	size_t cap;
	char *query;
	pc_err rc;

	if (size < 1)
		return 0;
	key = keys[data[0] & 3];
	cap = (size_t)(data[0] >> 2) * 4 + 1; /* 1 .. 253 */
	query = fuzz_strdup(data + 1, size - 1);
	memset(out, 'x', sizeof(out));
	rc = http_query_param(query, key, out, cap);
	FUZZ_CHECK(rc == PC_OK || rc == PC_ENOTFOUND || rc == PC_EINVAL);
	if (rc == PC_OK) {
		/* Decoded, NUL-terminated inside cap, and never longer than the raw query. */
		FUZZ_CHECK(memchr(out, '\0', cap) != NULL);
		FUZZ_CHECK(strlen(out) <= strlen(query));
		FUZZ_CHECK(strstr(query, key) != NULL);
	}
	if (rc == PC_ENOTFOUND) {
		/* A query that starts with the key as a whole parameter has it. */
		size_t klen = strlen(key);

		FUZZ_CHECK(strncmp(query, key, klen) != 0 ||
			   (query[klen] != '=' && query[klen] != '&' && query[klen] != '\0'));
	}
	/* Nothing past cap is ever written. */
	for (size_t i = cap; i < sizeof(out); i++)
		FUZZ_CHECK(out[i] == 'x');
	FUZZ_CHECK(http_query_param(NULL, key, out, cap) == PC_ENOTFOUND);
	free(query);
	return 0;
}
