/* sched.c - picks a scheduler backend by name and forwards the interface calls to it. */
#include "sched/sched_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "picluster/log.h"

/* Every backend --scheduler may name; the one list that --scheduler and sched_new read. The
 * pool (sched_pool.c) is made by name too, but only beside one of these (--pool-max-digits),
 * never instead of one. */
static const struct sched_ops *const backends[] = {
    &sched_local_ops,
    &sched_none_ops,
    &sched_slurm_ops,
};
#define N_BACKENDS (sizeof(backends) / sizeof(backends[0]))

static const struct sched_ops *find_ops(const char *name)
{
	if (strcmp(name, sched_pool_ops.name) == 0)
		return &sched_pool_ops;
	for (size_t i = 0; i < N_BACKENDS; i++)
		if (strcmp(name, backends[i]->name) == 0)
			return backends[i];
	return NULL;
}

bool sched_known(const char *name)
{
	return name && find_ops(name) != NULL && find_ops(name) != &sched_pool_ops;
}

void sched_known_names(char *out, size_t cap)
{
	size_t len = 0;

	if (cap)
		out[0] = '\0';
	for (size_t i = 0; i < N_BACKENDS && len < cap; i++) {
		const char *sep = i == 0 ? "" : i + 1 == N_BACKENDS ? " or " : ", ";
		int n = snprintf(out + len, cap - len, "%s%s", sep, backends[i]->name);

		if (n < 0)
			break;
		len += (size_t)n;
	}
}

/* Copies src into *dst (NULL stays NULL). False when out of memory. */
static bool dup_str(const char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return true;
	*dst = strdup(src);
	return *dst != NULL;
}

static void free_config(struct sched_config *c)
{
	free((char *)c->name);
	free((char *)c->compute_path);
	free((char *)c->redis_url);
	free((char *)c->key_prefix);
	free((char *)c->store_url);
	free((char *)c->state_dir);
	free((char *)c->sbatch_script);
	free((char *)c->partition);
	free((char *)c->time_limit);
	free((char *)c->account);
	free((char *)c->extra_args);
}

pc_err sched_new(sched **out, const struct sched_config *cfg)
{
	const struct sched_ops *ops;
	sched *s;
	pc_err rc = PC_ENOMEM;

	*out = NULL;
	ops = cfg->name ? find_ops(cfg->name) : NULL;
	if (!ops) {
		char names[64];

		sched_known_names(names, sizeof(names));
		log_error("unknown scheduler '%s' (%s)", cfg->name ? cfg->name : "(null)", names);
		return PC_EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return PC_ENOMEM;
	s->ops = ops;
	s->cfg.ranks = cfg->ranks;
	s->cfg.max_running = cfg->max_running;
	if (!dup_str(&s->cfg.name, cfg->name) ||
	    !dup_str(&s->cfg.compute_path, cfg->compute_path) ||
	    !dup_str(&s->cfg.redis_url, cfg->redis_url) ||
	    !dup_str(&s->cfg.key_prefix, cfg->key_prefix) ||
	    !dup_str(&s->cfg.store_url, cfg->store_url) ||
	    !dup_str(&s->cfg.state_dir, cfg->state_dir) ||
	    !dup_str(&s->cfg.sbatch_script, cfg->sbatch_script) ||
	    !dup_str(&s->cfg.partition, cfg->partition) ||
	    !dup_str(&s->cfg.time_limit, cfg->time_limit) ||
	    !dup_str(&s->cfg.account, cfg->account) ||
	    !dup_str(&s->cfg.extra_args, cfg->extra_args))
		goto out_free;
	rc = ops->init(s);
	if (rc != PC_OK)
		goto out_free;
	*out = s;
	return PC_OK;
out_free:
	free_config(&s->cfg);
	free(s);
	return rc;
}

void sched_free(sched *s)
{
	if (!s)
		return;
	s->ops->fini(s);
	free_config(&s->cfg);
	free(s);
}

const char *sched_name(const sched *s)
{
	return s->ops->name;
}

bool sched_has_capacity(sched *s)
{
	return s->ops->has_capacity(s);
}

pc_err sched_submit(sched *s, const struct job *job, char *sched_job_id, size_t id_cap,
		    char *message, size_t message_cap)
{
	if (id_cap)
		sched_job_id[0] = '\0';
	if (message_cap)
		message[0] = '\0';
	return s->ops->submit(s, job, sched_job_id, id_cap, message, message_cap);
}

pc_err sched_cancel(sched *s, const struct job *job)
{
	return s->ops->cancel(s, job);
}

pc_err sched_poll(sched *s, const struct job *jobs, size_t n, struct sched_report *reports)
{
	for (size_t i = 0; i < n; i++) {
		reports[i].fate = SCHED_UNKNOWN;
		reports[i].reason[0] = '\0';
	}
	return s->ops->poll(s, jobs, n, reports);
}

bool sched_submits(const sched *s)
{
	return s->ops->submits;
}

bool sched_compute_is_here(const char *name)
{
	const struct sched_ops *ops = sched_known(name) ? find_ops(name) : NULL;

	return ops && ops->compute_is_here;
}
