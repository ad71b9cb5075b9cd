/* fuzz_file_url.c - libFuzzer target: the file:// store URL and object names, no file system. */
#include "fuzz.h"

#include <limits.h>

#include "objstore/objstore_int.h" /* objstore_file_root_parse, the pure half of objstore_file_open */
#include "picluster/objstore.h"

/* A valid object name: segments of [A-Za-z0-9._-], none empty, "." or "..", <= 255 bytes. */
static void check_name(const char *name)
{
	size_t len = strlen(name);

	FUZZ_CHECK(len >= 1 && len <= 255);
	FUZZ_CHECK(
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") ==
	    len);
	FUZZ_CHECK(name[0] != '/' && name[len - 1] != '/' && !strstr(name, "//"));
	FUZZ_CHECK(strcmp(name, ".") != 0 && strcmp(name, "..") != 0);
	FUZZ_CHECK(strncmp(name, "./", 2) != 0 && strncmp(name, "../", 3) != 0);
	FUZZ_CHECK(!strstr(name, "/./") && !strstr(name, "/../"));
	FUZZ_CHECK(!(len >= 2 && strcmp(name + len - 2, "/.") == 0));
	FUZZ_CHECK(!(len >= 3 && strcmp(name + len - 3, "/..") == 0));
}

/*
 * The input is a --store value. For "file://DIR", an accepted DIR must be an absolute
 * directory name that cannot climb out of itself. The same bytes are also tried as an object
 * name (names reach the store from job ids and results).
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = fuzz_strdup(data, size);

	if (strncmp(url, "file://", 7) == 0) {
		const char *dir = url + 7;
		size_t root_len = 12345;
		pc_err rc = objstore_file_root_parse(dir, &root_len);

		if (rc == PC_OK) {
			FUZZ_CHECK(dir[0] == '/');
			FUZZ_CHECK(root_len >= 1 && root_len <= strlen(dir) &&
				   root_len + 2 < PATH_MAX);
			FUZZ_CHECK(root_len == 1 || dir[root_len - 1] != '/');
			FUZZ_CHECK(strspn(dir + root_len, "/") == strlen(dir + root_len));
			FUZZ_CHECK(!strchr(dir, '?') && !strchr(dir, '#'));
			FUZZ_CHECK(!strstr(dir, "/../") && !strstr(dir, "/./"));
			/* The root itself (trailing slashes gone) ends in no "." or "..". */
			FUZZ_CHECK(!(root_len >= 2 && strncmp(dir + root_len - 2, "/.", 2) == 0));
			FUZZ_CHECK(!(root_len >= 3 && strncmp(dir + root_len - 3, "/..", 3) == 0));
		} else {
			FUZZ_CHECK(rc == PC_EINVAL && root_len == 0);
		}
	}
	if (objstore_name_is_valid(url))
		check_name(url);
	free(url);
	return 0;
}

/* The file store logs every rejected directory: keep the fuzzer fast and its output short. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	return 0;
}
