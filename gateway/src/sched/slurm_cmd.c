/* slurm_cmd.c - running Slurm's commands: fork + execve with a deadline, output captured. */
#include "sched/slurm_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "picluster/clock.h"
#include "picluster/path.h"

/* Appends up to n bytes to a growing buffer capped at SLURM_CMD_OUT_MAX (the rest is dropped). */
static bool buf_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
	if (*len + n + 1 > SLURM_CMD_OUT_MAX)
		n = SLURM_CMD_OUT_MAX - 1 - *len;
	if (*len + n + 1 > *cap) {
		size_t want = *cap ? *cap : 4096;
		char *p;

		while (want < *len + n + 1)
			want *= 2;
		p = realloc(*buf, want);
		if (!p)
			return false;
		*buf = p;
		*cap = want;
	}
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
	return true;
}

/* The child side of slurm_cmd_run: only async-signal-safe calls until execve. */
static void exec_child(const char *path, char *const argv[], char *const envp[], int out_fd,
		       int err_fd)
{
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;

	/* The gateway blocks SIGINT/SIGTERM and ignores SIGPIPE; both would survive execve. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	sigaction(SIGPIPE, &dfl, NULL);
	setpgid(0, 0); /* our own group, so a deadline kill takes its children too */
	if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
	    dup2(err_fd, STDERR_FILENO) < 0)
		_exit(126);
	close_range(3, ~0u, 0); /* the gateway's sockets and files are none of its business */
	execve(path, argv, envp);
	_exit(127);
}

/* Ends the child and its process group at once (a deadline passed, or memory ran out). */
static void kill_child(pid_t pid)
{
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
}

/* Keeps what fits of a stderr chunk in res->err (Slurm's messages are short; the rest is
 * dropped). */
static void err_append(struct slurm_cmd_result *res, size_t *err_len, const char *chunk, size_t got)
{
	size_t take = got;

	if (*err_len + 1 >= sizeof(res->err))
		return;
	if (take > sizeof(res->err) - 1 - *err_len)
		take = sizeof(res->err) - 1 - *err_len;
	memcpy(res->err + *err_len, chunk, take);
	*err_len += take;
	res->err[*err_len] = '\0';
}

/*
 * Reads the child's stdout (into res->out) and stderr (into res->err) until both pipes close,
 * or kills the child when the deadline passes or memory runs out (res->timed_out). Closes
 * both descriptors.
 */
static void collect_output(pid_t pid, int out_fd, int err_fd, int64_t deadline,
			   struct slurm_cmd_result *res)
{
	struct pollfd pfd[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = err_fd, .events = POLLIN}};
	size_t out_cap = 0, err_len = 0;

	while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
		int64_t left = deadline - pc_monotonic_ms();
		char chunk[4096];
		int n;

		if (left <= 0) {
			res->timed_out = true;
			kill_child(pid);
			break;
		}
		n = poll(pfd, 2, (int)left);
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; n > 0 && i < 2; i++) {
			ssize_t got;

			if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			got = read(pfd[i].fd, chunk, sizeof(chunk));
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				continue;
			}
			if (i == 0 &&
			    !buf_append(&res->out, &res->out_len, &out_cap, chunk, (size_t)got)) {
				res->timed_out = true; /* out of memory: give up on the child */
				kill_child(pid);
			} else if (i == 1) {
				err_append(res, &err_len, chunk, (size_t)got);
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
}

/* Waits for the child to end and records its exit code: 128 + the signal when one killed it,
 * -1 when the wait failed. */
static void wait_exit(pid_t pid, const char *path, struct slurm_cmd_result *res)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
	}
	if (status == -1)
		res->exit_code = -1;
	else if (WIFEXITED(status))
		res->exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		res->exit_code = 128 + WTERMSIG(status);
	if (res->exit_code == 127 && !res->err[0])
		snprintf(res->err, sizeof(res->err), "could not execute %s", path);
}

pc_err slurm_cmd_run(const char *path, char *const argv[], char *const envp[], int timeout_ms,
		     struct slurm_cmd_result *res)
{
	int out_pipe[2], err_pipe[2];
	int64_t deadline = pc_monotonic_ms() + timeout_ms;
	pid_t pid;
	pc_err rc = PC_EIO;

	memset(res, 0, sizeof(*res));
	res->exit_code = -1;
	if (pipe2(out_pipe, O_CLOEXEC) != 0)
		return PC_EIO;
	if (pipe2(err_pipe, O_CLOEXEC) != 0)
		goto out_close_out;
	pid = fork();
	if (pid < 0)
		goto out_close_err;
	if (pid == 0)
		exec_child(path, argv, envp, out_pipe[1], err_pipe[1]);
	close(out_pipe[1]);
	close(err_pipe[1]);
	collect_output(pid, out_pipe[0], err_pipe[0], deadline, res);
	wait_exit(pid, path, res);
	return PC_OK;
out_close_err:
	close(err_pipe[0]);
	close(err_pipe[1]);
out_close_out:
	close(out_pipe[0]);
	close(out_pipe[1]);
	return rc;
}

void slurm_cmd_result_clear(struct slurm_cmd_result *res)
{
	free(res->out);
	res->out = NULL;
}

char *slurm_cmd_find(const char *cmd)
{
	const char *path = getenv("PATH");
	char full[PATH_MAX];

	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	return pc_path_search(path, cmd, full, sizeof(full)) == PC_OK ? strdup(full) : NULL;
}
