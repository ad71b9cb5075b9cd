/* gateway.c - small services shared by the gateway's threads: state-change log, the thread's
 * Redis connection, cleaning a half-written result, finding pi-compute. */
#include "gateway.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "picluster/log.h"
#include "picluster/path.h"

void gw_note_transition(struct gateway *gw, const char *id, const char *from, enum job_state to,
			const char *why)
{
	if ((unsigned)to < JOB_STATE_COUNT)
		atomic_fetch_add_explicit(&gw->metrics.state_changes[to], 1, memory_order_relaxed);
	log_info("job %s: %s -> %s%s%s", id, from ? from : "new", job_state_name(to),
		 why ? ": " : "", why ? why : "");
}

pc_err gw_jobstore_connect(const struct gateway *gw, jobstore **st)
{
	if (*st)
		return PC_OK;
	return jobstore_open(st, gw->cfg.redis_url, gw->cfg.key_prefix, GW_REDIS_TIMEOUT_MS);
}

void gw_discard_partial(const struct gateway *gw, objstore **os, const char *id)
{
	char name[JOB_OBJECT_MAX];
	pc_err rc;

	if (!*os) {
		rc = objstore_open(os, gw->cfg.store_url);
		if (rc != PC_OK) {
			log_warn("job %s: cannot open the object store to clean up: %s", id,
				 pc_strerror(rc));
			return;
		}
	}
	rc = job_result_object_name(id, name, sizeof(name));
	if (rc == PC_OK)
		rc = objstore_discard_incomplete(*os, name);
	if (rc != PC_OK)
		log_warn("job %s: cannot remove its incomplete result: %s", id, pc_strerror(rc));
}

/* True when dir/name is an executable file; its path goes to out. */
static bool executable_in(const char *dir, size_t dir_len, const char *name, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%.*s/%s", (int)dir_len, dir, name);

	return n > 0 && (size_t)n < cap && access(out, X_OK) == 0;
}

pc_err gw_find_compute(char *out, size_t cap)
{
	char self[PATH_MAX];
	ssize_t n;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash && executable_in(self, (size_t)(slash - self), "pi-compute", out, cap))
			return PC_OK;
	}
	return pc_path_search(getenv("PATH"), "pi-compute", out, cap);
}

void gw_watch_add(struct gateway *gw, const char *id)
{
	pthread_mutex_lock(&gw->watch_lock);
	if (gw->watch_n == gw->watch_cap) {
		size_t cap = gw->watch_cap ? gw->watch_cap * 2 : 64;
		char(*t)[JOB_ID_LEN + 1] = realloc(gw->watch, cap * sizeof(*t));

		if (!t)
			goto out_unlock;
		gw->watch = t;
		gw->watch_cap = cap;
	}
	memcpy(gw->watch[gw->watch_n++], id, JOB_ID_LEN + 1);
out_unlock:
	pthread_mutex_unlock(&gw->watch_lock);
}

void gw_watch_drain(struct gateway *gw, char (**ids)[JOB_ID_LEN + 1], size_t *n)
{
	pthread_mutex_lock(&gw->watch_lock);
	*ids = gw->watch;
	*n = gw->watch_n;
	gw->watch = NULL;
	gw->watch_n = 0;
	gw->watch_cap = 0;
	pthread_mutex_unlock(&gw->watch_lock);
}
