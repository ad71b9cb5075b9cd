/* fuzz_redis_url.c - libFuzzer target: the Redis store URL (store_url_check, store_url_parse). */
#include "fuzz.h"

#include "store_int.h"

/*
 * The first byte sizes the reason buffer (0 included: why may be absent); the rest is the
 * --redis flag's value. An accepted URL must hold what a connection needs.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_url u;
	char why[300];
	size_t why_cap;
	char *url;
	pc_err rc, rc2;

	if (size < 1)
		return 0;
	why_cap = data[0];
	url = fuzz_strdup(data + 1, size - 1);
	memset(why, 'x', sizeof(why));
	rc = store_url_parse(url, &u, why_cap ? why : NULL, why_cap);
	rc2 = store_url_check(url, NULL, 0);
	FUZZ_CHECK(rc == rc2);
	for (size_t i = why_cap; i < sizeof(why); i++)
		FUZZ_CHECK(why[i] == 'x');
	if (rc == PC_OK) {
		FUZZ_CHECK(u.db >= 0 && u.db <= 65535);
		if (why_cap)
			FUZZ_CHECK(why[0] == '\0');
		if (u.is_unix) {
			FUZZ_CHECK(strncmp(url, "unix:///", 8) == 0);
			FUZZ_CHECK(u.path[0] == '/' && strlen(u.path) >= 2);
			FUZZ_CHECK(strlen(u.path) < sizeof(u.path));
		} else {
			FUZZ_CHECK(strncmp(url, "redis://", 8) == 0);
			FUZZ_CHECK(u.host[0] != '\0' && strlen(u.host) < sizeof(u.host));
			FUZZ_CHECK(strspn(u.host,
					  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					  "0123456789.-_") == strlen(u.host));
			FUZZ_CHECK(u.port >= 1 && u.port <= 65535);
		}
	} else {
		FUZZ_CHECK(rc == PC_EINVAL);
		if (why_cap)
			FUZZ_CHECK(memchr(why, '\0', why_cap) != NULL);
		if (why_cap > 1)
			FUZZ_CHECK(why[0] != '\0');
	}
	free(url);
	return 0;
}
