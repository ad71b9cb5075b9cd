/* fuzz_redis_url.c - libFuzzer target: the Redis store URL (parse, check, split, redact). */
#include "fuzz.h"

#include "jobstore/jobstore_int.h"

/*
 * The first byte sizes the reason buffer (0 included: why may be absent); the rest is the
 * --redis flag's value. An accepted URL must hold what a connection needs.
 */
/* The URL without its password names the same server, database and user, and no password;
 * its redacted form parses the same way as the original, password aside. */
static void check_split(const char *url, const struct jobstore_url *u)
{
	static struct jobstore_url v;
	static char clean[8192], pw[JOBSTORE_PASSWORD_MAX], red[8192];
	pc_err rc;

	rc = jobstore_url_split_password(url, clean, sizeof(clean), pw, sizeof(pw), NULL, 0);
	FUZZ_CHECK(rc == PC_OK || rc == PC_ERANGE);
	if (rc != PC_OK)
		return;
	FUZZ_CHECK(strcmp(pw, u->password) == 0);
	FUZZ_CHECK(jobstore_url_parse(clean, &v, NULL, 0) == PC_OK);
	FUZZ_CHECK(v.is_unix == u->is_unix && v.port == u->port && v.db == u->db);
	FUZZ_CHECK(strcmp(v.host, u->host) == 0 && strcmp(v.path, u->path) == 0);
	FUZZ_CHECK(strcmp(v.user, u->user) == 0 && v.password[0] == '\0');
	jobstore_url_redact(url, red, sizeof(red));
	FUZZ_CHECK(jobstore_url_parse(red, &v, NULL, 0) == PC_OK);
	FUZZ_CHECK(v.is_unix == u->is_unix && v.port == u->port && v.db == u->db);
	FUZZ_CHECK(strcmp(v.host, u->host) == 0 && strcmp(v.path, u->path) == 0);
	FUZZ_CHECK(u->password[0] ? strcmp(v.password, "***") == 0 : v.password[0] == '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jobstore_url u;
	char why[300];
	size_t why_cap;
	char *url;
	pc_err rc, rc2;

	if (size < 1)
		return 0;
	why_cap = data[0];
	url = fuzz_strdup(data + 1, size - 1);
	memset(why, 'x', sizeof(why));
	rc = jobstore_url_parse(url, &u, why_cap ? why : NULL, why_cap);
	rc2 = jobstore_url_check(url, NULL, 0);
	FUZZ_CHECK(rc == rc2);
	for (size_t i = why_cap; i < sizeof(why); i++)
		FUZZ_CHECK(why[i] == 'x');
	if (rc == PC_OK) {
		FUZZ_CHECK(u.db >= 0 && u.db <= 65535);
		if (why_cap)
			FUZZ_CHECK(why[0] == '\0');
		if (u.is_unix) {
			FUZZ_CHECK(strncmp(url, "unix://", 7) == 0);
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
		check_split(url, &u);
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
