/* path.c - finding an executable on a search path, as a shell would (absolute entries only). */
#include "picluster/path.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

pc_err pc_path_search(const char *search, const char *name, char *out, size_t cap)
{
	const char *dir;

	for (dir = search; dir && *dir; dir += strcspn(dir, ":"), dir += *dir == ':') {
		size_t len = strcspn(dir, ":");
		int n;

		if (len == 0 || dir[0] != '/')
			continue; /* relative PATH entries depend on the cwd: skip them */
		n = snprintf(out, cap, "%.*s/%s", (int)len, dir, name);
		if (n > 0 && (size_t)n < cap && access(out, X_OK) == 0)
			return PC_OK;
	}
	if (cap)
		out[0] = '\0';
	return PC_ENOTFOUND;
}
