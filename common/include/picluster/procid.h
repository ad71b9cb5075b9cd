/* procid.h - a process named so that a recycled pid can never be mistaken for it. */
#ifndef PICLUSTER_PROCID_H
#define PICLUSTER_PROCID_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "picluster/error.h"

/*
 * A process identity is "PID:STARTTICKS": the pid and the process's start time in clock ticks
 * since boot (field 22 of /proc/PID/stat). A pid is reused once its process ends; the pair is
 * not, on one host until it reboots. It is what the local scheduler records as a job's
 * scheduler id and what a gateway puts in its instance claim.
 */
#define PROCID_MAX 48

/* What /proc/PID/stat says about a process. */
struct procid_stat {
	char state;			/* 'R', 'S', ..., 'Z' for a zombie */
	pid_t session;			/* session id (field 6) */
	unsigned long long start_ticks; /* field 22 */
};

/* Reads /proc/PID/stat into *out. PC_ENOTFOUND when pid does not exist, PC_EIO when the
 * file cannot be read or parsed. */
pc_err procid_stat(pid_t pid, struct procid_stat *out);

/* Writes pid's identity into out (cap >= PROCID_MAX). PC_ENOTFOUND when pid does not run,
 * PC_EIO when /proc cannot be read. */
pc_err procid_of(pid_t pid, char *out, size_t cap);

/* Splits an identity into its pid and start ticks; false when id is not "PID:STARTTICKS". */
bool procid_parse(const char *id, pid_t *pid, unsigned long long *start_ticks);

/* True when the process id names still runs on this host (and is not a zombie). False for
 * an ended or recycled pid and for a malformed id. */
bool procid_is_alive(const char *id);

#endif
