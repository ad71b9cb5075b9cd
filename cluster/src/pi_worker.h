/* pi_worker.h - pi-compute --worker: a long-lived pool worker that runs small jobs from Redis. */
#ifndef PI_WORKER_H
#define PI_WORKER_H

#include "pi_args.h"

/*
 * Runs a pool worker until SIGTERM or SIGINT (jobpool.h has the protocol): announces itself
 * with a heartbeat, puts back what an earlier life under the same name left in its processing
 * list, then takes one job at a time (a blocking take of at most a second, so a signal is
 * seen), moves it queued -> running under its name, computes it serially in this process,
 * stores "3." + digits + "\n" exactly as job mode does (pi_job.c: object, SHA-256, finished
 * or errored), and acknowledges it. A thread of its own, on its own Redis connection, renews
 * the heartbeat every heartbeat_ms / 3 and reads the running job's state every 250 ms: a job
 * cancelled meanwhile is not written (pi_job_cancel) and is acknowledged. A signal lets the
 * current job finish, then the worker leaves (heartbeat deleted) and returns 0. Redis being
 * away is ridden out (takes wait and retry; each state move retries for --redis-retry
 * seconds, as in job mode). Never calls MPI: every rank that mpirun or srun starts is an
 * independent worker. Returns the exit status: 0, 1 (Redis or the store could not be
 * opened), 2 (a Redis URL or prefix it refuses).
 */
int pi_worker_run(const struct pi_args *args);

#endif
