/* sched_none.c - the "none" backend: an API-only gateway that queues jobs and runs nothing. */
#include "sched/sched_int.h"

#include <stdio.h>

static pc_err none_init(sched *s)
{
	s->backend = NULL;
	return PC_OK;
}

static void none_fini(sched *s)
{
}

/* Never takes a job: they wait in Redis for a gateway with a real scheduler. */
static bool none_has_capacity(sched *s)
{
	return false;
}

static pc_err none_submit(sched *s, const struct job *job, char *sched_job_id, size_t id_cap,
			  char *message, size_t message_cap)
{
	snprintf(message, message_cap, "the none scheduler runs no jobs");
	return PC_ENOTSUP;
}

/* Nothing of ours runs. The compute of a cancelled job sees the state within 250 ms (its
 * watcher on rank 0), removes its partial object and ends every rank itself. */
static pc_err none_cancel(sched *s, const struct job *job)
{
	return PC_OK;
}

static pc_err none_poll(sched *s, const struct job *jobs, size_t n, struct sched_report *reports)
{
	for (size_t i = 0; i < n; i++)
		reports[i].fate = SCHED_UNKNOWN;
	return PC_OK;
}

const struct sched_ops sched_none_ops = {
    .name = "none",
    .submits = false,
    .compute_is_here = false,
    .init = none_init,
    .fini = none_fini,
    .has_capacity = none_has_capacity,
    .submit = none_submit,
    .cancel = none_cancel,
    .poll = none_poll,
};
