/* pi_job_none.c - job mode when the build has no Redis store or object store libraries. */
#include <stdio.h>

#include "pi_job.h"

enum pi_job_start_result pi_job_start(struct pi_job **out, const struct pi_args *args, char *err,
				      size_t errcap)
{
	(void)args;
	*out = NULL;
	snprintf(err, errcap, "job mode is not available in this build (no store libraries)");
	return PI_JOB_FAILED;
}

int pi_job_write(void *job, const void *buf, size_t len)
{
	(void)job;
	(void)buf;
	(void)len;
	return -1;
}

void pi_job_progress(struct pi_job *job, double progress, bool now)
{
	(void)job;
	(void)progress;
	(void)now;
}

int pi_job_finish(struct pi_job *job, char *err, size_t errcap)
{
	(void)job;
	snprintf(err, errcap, "job mode is not available in this build");
	return -1;
}

void pi_job_fail(struct pi_job *job, const char *code, const char *message)
{
	(void)job;
	(void)code;
	(void)message;
}
