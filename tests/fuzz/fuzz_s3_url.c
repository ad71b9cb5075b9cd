/* fuzz_s3_url.c - libFuzzer target: the s3:// store URL (s3_config_parse). */
#include "fuzz.h"

#include <ctype.h>

#include "objstore/s3_int.h"

/* True when s is made only of characters in set. */
static bool only(const char *s, const char *set)
{
	return strspn(s, set) == strlen(s);
}

/*
 * The input is the URL after "s3://": BUCKET[/PREFIX][?endpoint=..&region=..&part_size=..
 * &retries=..]. Credentials come from the environment (set once below), so an accepted URL
 * yields a whole configuration; every part of it is checked against the rules it promises.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct s3_config cfg;
	char *rest = fuzz_strdup(data, size);
	pc_err rc;

	rc = s3_config_parse(&cfg, rest);
	if (rc == PC_OK) {
		size_t plen = strlen(cfg.prefix);

		FUZZ_CHECK(cfg.bucket && cfg.prefix && cfg.region && cfg.base_url && cfg.host);
		FUZZ_CHECK(strlen(cfg.bucket) >= 3 && strlen(cfg.bucket) <= 222);
		FUZZ_CHECK(only(cfg.bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-_"));
		FUZZ_CHECK(strncmp(rest, cfg.bucket, strlen(cfg.bucket)) == 0);
		if (plen) {
			/* "a/b/": a valid object name and one trailing slash. */
			char *name = strndup(cfg.prefix, plen - 1);

			FUZZ_CHECK(name != NULL);
			FUZZ_CHECK(cfg.prefix[plen - 1] == '/');
			FUZZ_CHECK(objstore_name_is_valid(name));
			free(name);
		}
		FUZZ_CHECK(cfg.region[0] && strlen(cfg.region) <= 64);
		FUZZ_CHECK(only(cfg.region, "abcdefghijklmnopqrstuvwxyz0123456789-"));
		FUZZ_CHECK(strncmp(cfg.base_url, "http://", 7) == 0 ||
			   strncmp(cfg.base_url, "https://", 8) == 0);
		FUZZ_CHECK(cfg.base_url[strlen(cfg.base_url) - 1] != '/');
		FUZZ_CHECK(cfg.host[0] != '\0');
		for (const char *p = cfg.host; *p; p++)
			FUZZ_CHECK(!isupper((unsigned char)*p) && *p != '/' && *p != '@');
		FUZZ_CHECK(cfg.part_size >= S3_MIN_PART_SIZE && cfg.part_size <= S3_MAX_PART_SIZE);
		FUZZ_CHECK(cfg.retries <= 10);
		FUZZ_CHECK(cfg.access_key && cfg.secret_key && !strchr(cfg.access_key, ':'));
		s3_config_clear(&cfg);
	} else {
		FUZZ_CHECK(rc == PC_EINVAL || rc == PC_ENOMEM);
	}
	/* Cleared or failed, nothing is left behind. */
	FUZZ_CHECK(!cfg.bucket && !cfg.prefix && !cfg.region && !cfg.base_url && !cfg.host);
	free(rest);
	return 0;
}

/* Fixed credentials and no region from outside: the parse must not depend on the shell. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	setenv("AWS_ACCESS_KEY_ID", "AKIDFUZZ", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "fuzz-secret", 1);
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	return 0;
}
