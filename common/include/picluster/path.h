/* path.h - finding an executable on a search path, as a shell would (absolute entries only). */
#ifndef PICLUSTER_PATH_H
#define PICLUSTER_PATH_H

#include <stddef.h>

#include "picluster/error.h"

/*
 * Looks for an executable file called name in each absolute directory of search (a PATH
 * value: directories separated by ':'; relative entries are skipped, since they depend on the
 * current directory; NULL searches nothing). On PC_OK out holds the first "DIR/name" that
 * access(X_OK) accepts; PC_ENOTFOUND (out "") when there is none that fits in cap.
 */
pc_err pc_path_search(const char *search, const char *name, char *out, size_t cap);

#endif
