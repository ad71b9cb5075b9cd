/* compute_args.c - pi-compute's arguments for a job, the same under every backend. */
#include "sched/sched_int.h"

#include <inttypes.h>
#include <stdio.h>

void sched_compute_args(struct sched_compute_args *a, const sched *s, const struct job *job)
{
	size_t n = 0;

	snprintf(a->digits, sizeof(a->digits), "%" PRIu64, job->digits);
	a->argv[n++] = "--digits";
	a->argv[n++] = a->digits;
	a->argv[n++] = "--job-id";
	a->argv[n++] = job->id;
	a->argv[n++] = "--redis";
	a->argv[n++] = s->cfg.redis_url;
	a->argv[n++] = "--store";
	a->argv[n++] = s->cfg.store_url;
	if (s->cfg.key_prefix) { /* else pi-compute's own default, the job store's */
		a->argv[n++] = "--key-prefix";
		a->argv[n++] = s->cfg.key_prefix;
	}
	a->argc = n;
}
