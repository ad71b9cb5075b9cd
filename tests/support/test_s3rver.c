/* test_s3rver.c - runs tests/support/s3rver.py --serve and talks to it over pipes. */
#include "test_s3rver.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int test_s3rver_start(struct test_s3rver *s)
{
	int to_child[2], from_child[2];
	char line[PATH_MAX + 256] = "";
	pid_t pid;

	memset(s, 0, sizeof(*s));
	if (pipe2(to_child, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(from_child, O_CLOEXEC) < 0) {
		close(to_child[0]);
		close(to_child[1]);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		perror("test_s3rver: fork");
		goto out_close;
	}
	if (pid == 0) {
		char *const argv[] = {"/usr/bin/python3", TEST_S3RVER_PY, "--serve", NULL};

		if (dup2(to_child[0], 0) < 0 || dup2(from_child[1], 1) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	close(to_child[0]);
	close(from_child[1]);
	s->pid = pid;
	s->in = fdopen(to_child[1], "w");
	s->out = fdopen(from_child[0], "r");
	if (!s->in || !s->out) {
		test_s3rver_free(s);
		return -1;
	}
	snprintf(s->access_key, sizeof(s->access_key), "S3RVER");
	if (!fgets(line, sizeof(line), s->out) ||
	    sscanf(line, "ready %63s %63s %4095s", s->endpoint, s->bucket, s->dir) != 3) {
		fprintf(stderr, "test_s3rver: s3rver.py did not start (got '%s')\n",
			line[0] ? line : "nothing");
		test_s3rver_free(s);
		return -1;
	}
	return 0;

out_close:
	close(to_child[0]);
	close(to_child[1]);
	close(from_child[0]);
	close(from_child[1]);
	return -1;
}

int test_s3rver_url(const struct test_s3rver *s, const char *prefix, const char *extra, char *buf,
		    size_t cap)
{
	int n = snprintf(buf, cap, "s3://%s/%s?endpoint=%s&region=us-east-1%s", s->bucket, prefix,
			 s->endpoint, extra ? extra : "");

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int test_s3rver_command(struct test_s3rver *s, const char *cmd, char *reply, size_t cap)
{
	char line[8192];
	size_t n;

	if (cap)
		reply[0] = '\0';
	if (!s->in || fprintf(s->in, "%s\n", cmd) < 0 || fflush(s->in) != 0)
		return -1;
	if (!fgets(line, sizeof(line), s->out))
		return -1;
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[--n] = '\0';
	if (strncmp(line, "ok", 2) == 0) {
		if (cap)
			snprintf(reply, cap, "%s", line[2] == ' ' ? line + 3 : line + 2);
		return 0;
	}
	if (cap)
		snprintf(reply, cap, "%s", line);
	return -1;
}

void test_s3rver_free(struct test_s3rver *s)
{
	int status;

	if (s->in) {
		/* End of input: the harness stops s3rver, removes its folder and exits. */
		fclose(s->in);
		s->in = NULL;
	}
	if (s->out) {
		fclose(s->out);
		s->out = NULL;
	}
	if (s->pid > 0) {
		while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
			;
		s->pid = 0;
	}
}
