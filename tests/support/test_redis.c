/* test_redis.c - starts and stops private redis-server processes for the tests. */
#include "test_redis.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

/* A port the kernel considers free right now (bind to port 0 and read it back). */
static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port = -1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* AUTH on c when r has a password; true when there is none or Redis took it. */
static bool auth(const struct test_redis *r, redisContext *c)
{
	redisReply *rep;
	bool ok;

	if (!r->password[0])
		return true;
	rep = redisCommand(c, "AUTH %s", r->password);
	ok = rep && rep->type == REDIS_REPLY_STATUS;
	if (rep)
		freeReplyObject(rep);
	return ok;
}

static bool answers_ping(const struct test_redis *r)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
	redisReply *rep;
	bool ok = false;

	if (!c)
		return false;
	if (!c->err && auth(r, c)) {
		rep = redisCommand(c, "PING");
		ok = rep && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0;
		if (rep)
			freeReplyObject(rep);
	}
	redisFree(c);
	return ok;
}

/* Forks redis-server on r->port; waits up to ~10 s for PING. 0, or -1 if it died or hung. */
static int spawn(struct test_redis *r)
{
	char port[16], log[PATH_MAX + 16];
	pid_t parent = getpid();
	pid_t pid;

	snprintf(port, sizeof(port), "%d", r->port);
	snprintf(log, sizeof(log), "%s/redis.log", r->dir);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		/* Never outlive the test, even when it crashes. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		/* An empty requirepass is Redis's "no password". */
		execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
		       "--dir", r->dir, "--unixsocket", r->sock, "--unixsocketperm", "700",
		       "--save", "", "--appendonly", r->aof ? "yes" : "no", "--appendfsync",
		       "always", "--daemonize", "no", "--loglevel", "warning", "--requirepass",
		       r->password, (char *)NULL);
		_exit(127);
	}
	r->pid = pid;
	for (int i = 0; i < 1000; i++) {
		int status;

		if (waitpid(pid, &status, WNOHANG) == pid) {
			r->pid = 0;
			return -1; /* died: most likely the port was taken meanwhile */
		}
		if (answers_ping(r))
			return 0;
		sleep_ms(10);
	}
	test_redis_stop(r);
	return -1;
}

static int start(struct test_redis *r, bool aof, const char *password)
{
	const char *tmp = getenv("TMPDIR");

	memset(r, 0, sizeof(*r));
	r->aof = aof;
	if (password && snprintf(r->password, sizeof(r->password), "%s", password) >=
			    (int)sizeof(r->password)) {
		fprintf(stderr, "test_redis: password too long\n");
		return -1;
	}
	snprintf(r->dir, sizeof(r->dir), "%s/picluster-redis-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(r->dir)) {
		perror("test_redis: mkdtemp");
		return -1;
	}
	if (snprintf(r->sock, sizeof(r->sock), "%s/redis.sock", r->dir) >= (int)sizeof(r->sock) ||
	    snprintf(r->unix_url, sizeof(r->unix_url), "unix://%s", r->sock) >=
		(int)sizeof(r->unix_url)) {
		fprintf(stderr, "test_redis: TMPDIR too long\n");
		rmdir(r->dir);
		return -1;
	}
	/* Another process may grab the port between free_port and redis binding it: retry. */
	for (int attempt = 0; attempt < 5; attempt++) {
		r->port = free_port();
		if (r->port <= 0)
			continue;
		snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%d", r->port);
		if (spawn(r) == 0)
			return 0;
	}
	fprintf(stderr, "test_redis: could not start redis-server (see %s/redis.log)\n", r->dir);
	return -1;
}

int test_redis_start(struct test_redis *r)
{
	return start(r, false, NULL);
}

int test_redis_start_aof(struct test_redis *r)
{
	return start(r, true, NULL);
}

int test_redis_start_auth(struct test_redis *r, const char *password)
{
	return start(r, false, password);
}

void test_redis_kill(struct test_redis *r)
{
	int status;

	if (r->pid <= 0)
		return;
	kill(r->pid, SIGKILL);
	waitpid(r->pid, &status, 0);
	r->pid = 0;
}

void test_redis_stop(struct test_redis *r)
{
	int status;

	if (r->pid <= 0)
		return;
	kill(r->pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
			r->pid = 0;
			return;
		}
		sleep_ms(10);
	}
	kill(r->pid, SIGKILL);
	waitpid(r->pid, &status, 0);
	r->pid = 0;
}

int test_redis_restart(struct test_redis *r)
{
	test_redis_stop(r);
	for (int attempt = 0; attempt < 50; attempt++) {
		if (spawn(r) == 0)
			return 0;
		sleep_ms(100); /* the old socket may still be closing */
	}
	fprintf(stderr, "test_redis: could not restart redis-server on port %d\n", r->port);
	return -1;
}

/* Removes the files redis may leave in dir (Redis 7 keeps the AOF in appendonlydir/), then
 * dir itself. */
static void remove_dir(const char *dir)
{
	static const char *const names[] = {"redis.log", "redis.sock", "dump.rdb",
					    "appendonly.aof"};
	char path[PATH_MAX + 320];
	struct dirent *e;
	DIR *d;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/appendonlydir", dir);
	d = opendir(path);
	if (d) {
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/appendonlydir/%s", dir, e->d_name);
			unlink(path);
		}
		closedir(d);
		snprintf(path, sizeof(path), "%s/appendonlydir", dir);
		rmdir(path);
	}
	if (rmdir(dir) != 0 && errno != ENOENT)
		fprintf(stderr, "test_redis: leaving %s behind\n", dir);
}

void test_redis_free(struct test_redis *r)
{
	test_redis_stop(r);
	if (r->dir[0]) {
		remove_dir(r->dir);
		r->dir[0] = '\0';
	}
}

int test_redis_command(const struct test_redis *r, int argc, const char **argv)
{
	struct timeval tv = {.tv_sec = 2, .tv_usec = 0};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
	redisReply *rep;
	int rc = -1;

	if (!c)
		return -1;
	if (!c->err && auth(r, c)) {
		rep = redisCommandArgv(c, argc, argv, NULL);
		if (rep) {
			rc = rep->type == REDIS_REPLY_ERROR ? -1 : 0;
			freeReplyObject(rep);
		}
	}
	redisFree(c);
	return rc;
}
