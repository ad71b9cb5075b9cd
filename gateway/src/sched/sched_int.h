/* sched_int.h - what a scheduler backend implements; only the backends in sched/ include this. */
#ifndef PICLUSTER_GATEWAY_SCHED_INT_H
#define PICLUSTER_GATEWAY_SCHED_INT_H

#include "sched/scheduler.h"

/* One backend: a table of functions, chosen by name in sched_new. */
struct sched_ops {
	const char *name;
	/* Capabilities, so that callers never test which backend they have. */
	bool submits;	      /* runs jobs; false for API-only gateways: no submitter starts */
	bool compute_is_here; /* starts pi-compute on this machine, which must have it */
	/* Sets up s->backend; called once by sched_new after s->cfg is filled. */
	pc_err (*init)(sched *s);
	/* Frees s->backend. Running compute jobs are left alone (they report to Redis). */
	void (*fini)(sched *s);
	bool (*has_capacity)(sched *s);
	pc_err (*submit)(sched *s, const struct job *job, char *sched_job_id, size_t id_cap,
			 char *message, size_t message_cap);
	pc_err (*cancel)(sched *s, const struct job *job);
	pc_err (*poll)(sched *s, const struct job *jobs, size_t n, struct sched_report *reports);
};

struct sched {
	const struct sched_ops *ops;
	struct sched_config cfg; /* every string is a private copy, freed by sched_free */
	void *backend;		 /* the backend's own state */
};

/*
 * pi-compute's command-line arguments for a job, the same under every backend:
 *   --digits N --job-id ID --redis URL --store URL [--key-prefix P]
 * --key-prefix is passed whenever the gateway has one, so pi-compute writes the keys the
 * gateway reads. The strings are borrowed from s and job, digits from the struct itself.
 */
#define SCHED_COMPUTE_ARGC_MAX 10
struct sched_compute_args {
	char digits[24];
	const char *argv[SCHED_COMPUTE_ARGC_MAX];
	size_t argc;
};
void sched_compute_args(struct sched_compute_args *a, const sched *s, const struct job *job);

extern const struct sched_ops sched_none_ops;
extern const struct sched_ops sched_local_ops;
extern const struct sched_ops sched_slurm_ops;
extern const struct sched_ops sched_pool_ops;

#endif
