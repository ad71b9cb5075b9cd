/* slurm_cmd.h - running Slurm's commands for the slurm backend: a child process with a
 * deadline, its output captured; and finding the commands on PATH. */
#ifndef PICLUSTER_GATEWAY_SLURM_CMD_H
#define PICLUSTER_GATEWAY_SLURM_CMD_H

#include <stdbool.h>
#include <stddef.h>

#include "picluster/error.h"

/*
 * Every Slurm command runs as a child through fork + execve of an absolute path resolved at
 * start-up, with an argument vector built beforehand: no shell ever sees a job's values, and
 * the child only calls async-signal-safe functions (the gateway is multi-threaded). Each child
 * has a deadline; past it, its process group is killed. Results come from stdout, Slurm's
 * messages from stderr.
 */

#define SLURM_CMD_OUT_MAX (16u << 20) /* stdout kept; the rest is dropped */
#define SLURM_CMD_ERR_MAX 2048	      /* start of stderr kept */

/* One finished child command. */
struct slurm_cmd_result {
	int exit_code;	/* exit status, 128 + signal when killed, -1 when it could not run */
	bool timed_out; /* killed at its deadline */
	char *out;	/* stdout, NUL-terminated (malloc'd, may be NULL if empty) */
	size_t out_len;
	char err[SLURM_CMD_ERR_MAX]; /* start of stderr, NUL-terminated */
};

/*
 * Runs path with argv and envp, waits at most timeout_ms, and fills *res (the caller frees
 * res->out with slurm_cmd_result_clear). PC_EIO when the command could not be started; a command
 * that ran and failed is PC_OK with its exit code in res.
 */
pc_err slurm_cmd_run(const char *path, char *const argv[], char *const envp[], int timeout_ms,
		     struct slurm_cmd_result *res);

/* Frees res->out. */
void slurm_cmd_result_clear(struct slurm_cmd_result *res);

/* Absolute path of cmd from PATH (or /usr/local/bin:/usr/bin:/bin when PATH is unset), skipping
 * relative entries; NULL when not found. A new string: the caller frees it. */
char *slurm_cmd_find(const char *cmd);

#endif
