/* jobstore_conn.c - a store's Redis connection: connect, AUTH, reconnects, calls. */
#include "jobstore_int.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "picluster/log.h"
#include "picluster/urlcode.h"

static struct timeval ms_to_tv(int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	return tv;
}

void jobstore_conn_close(jobstore *st)
{
	if (st->ctx) {
		redisFree(st->ctx);
		st->ctx = NULL;
	}
}

/* "host:port" or the socket path, to name the server in a message. */
static const char *url_where(const struct jobstore_url *u, char *out, size_t cap)
{
	if (u->is_unix)
		snprintf(out, cap, "%s", u->path);
	else
		snprintf(out, cap, "%s:%d", u->host, u->port);
	return out;
}

/*
 * Sends AUTH on a fresh connection when there is a password (the URL's, else
 * JOBSTORE_PASSWORD_ENV's): "AUTH PASSWORD", or "AUTH USER PASSWORD" (Redis 6 ACL users).
 * A refusal is PC_EAUTH: the same password would be refused again, so callers must not
 * treat it as an outage.
 */
static pc_err conn_auth(jobstore *st, redisContext *c)
{
	const char *pw = st->url.password[0] ? st->url.password : getenv(JOBSTORE_PASSWORD_ENV);
	const char *argv[3];
	size_t lens[3];
	int argc = 0;
	char where[PATH_MAX + 16];
	redisReply *r;
	pc_err err = PC_OK;

	if (!pw || !*pw)
		return PC_OK;
	argv[argc] = "AUTH";
	lens[argc++] = 4;
	if (st->url.user[0]) {
		argv[argc] = st->url.user;
		lens[argc] = strlen(st->url.user);
		argc++;
	}
	argv[argc] = pw;
	lens[argc++] = strlen(pw);
	r = redisCommandArgv(c, argc, argv, lens);
	if (!r)
		return PC_EUNAVAILABLE;
	if (r->type == REDIS_REPLY_ERROR) {
		/* Redis's messages never quote the password. */
		log_warn("Redis at %s refused the password%s%s: %s",
			 url_where(&st->url, where, sizeof(where)),
			 st->url.user[0] ? " of user " : "", st->url.user, r->str);
		err = PC_EAUTH;
	}
	freeReplyObject(r);
	return err;
}

pc_err jobstore_conn_open(jobstore *st)
{
	char where[PATH_MAX + 16];
	struct timeval tv = ms_to_tv(st->timeout_ms);
	redisContext *c;
	redisReply *r;
	pc_err err = PC_OK;

	jobstore_conn_close(st);
	if (st->url.is_unix)
		c = redisConnectUnixWithTimeout(st->url.path, tv);
	else
		c = redisConnectWithTimeout(st->url.host, st->url.port, tv);
	if (!c)
		return PC_ENOMEM;
	if (c->err) {
		err = PC_EUNAVAILABLE;
		goto out_free_ctx;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK) {
		err = PC_EUNAVAILABLE;
		goto out_free_ctx;
	}
	/* Keep-alive finds a peer that vanished without a FIN (a rebooted host). */
	if (!st->url.is_unix && redisEnableKeepAlive(c) != REDIS_OK) {
		err = PC_EUNAVAILABLE;
		goto out_free_ctx;
	}
	/* AUTH before anything else, on every connection: a reconnect is a new session. */
	err = conn_auth(st, c);
	if (err)
		goto out_free_ctx;
	if (st->url.db != 0) {
		r = redisCommand(c, "SELECT %d", st->url.db);
		if (!r) {
			err = PC_EUNAVAILABLE;
			goto out_free_ctx;
		}
		if (r->type == REDIS_REPLY_ERROR) {
			log_warn("Redis at %s: SELECT %d: %s",
				 url_where(&st->url, where, sizeof(where)), st->url.db, r->str);
			/* A server still loading its data is there but not ready; one that
			 * wants a password did not get it; anything else means the database
			 * number is out of the server's range. */
			if (strncmp(r->str, "LOADING", 7) == 0)
				err = PC_EUNAVAILABLE;
			else if (strncmp(r->str, "NOAUTH", 6) == 0)
				err = PC_EAUTH;
			else
				err = PC_EINVAL;
		}
		freeReplyObject(r);
		if (err)
			goto out_free_ctx;
	}
	st->ctx = c;
	return PC_OK;

out_free_ctx:
	redisFree(c);
	return err;
}

/*
 * True when the idle connection can no longer carry a command: the server closed it (it was
 * restarted), or unexpected bytes are waiting (a late reply after a timeout). Seeing this
 * before sending means a command is never lost into a dead socket, so even commands that
 * are unsafe to retry work on the first call after a Redis restart. One poll(2), no round
 * trip.
 */
static bool conn_is_stale(redisContext *c)
{
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
	char b;
	ssize_t n;

	if (poll(&pfd, 1, 0) <= 0)
		return false;
	if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))
		return true;
	n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return false;
	return true;
}

static pc_err set_call_timeout(jobstore *st, int extra_ms)
{
	if (redisSetTimeout(st->ctx, ms_to_tv(st->timeout_ms + extra_ms)) != REDIS_OK)
		return PC_EUNAVAILABLE;
	return PC_OK;
}

/* One attempt on the current connection: NULL when the connection failed. */
static redisReply *send_once(jobstore *st, int argc, const char **argv, size_t *lens)
{
	redisReply *r;

	if (st->extra_timeout_ms && set_call_timeout(st, st->extra_timeout_ms) != PC_OK)
		return NULL;
	r = redisCommandArgv(st->ctx, argc, argv, lens);
	if (r && st->extra_timeout_ms && set_call_timeout(st, 0) != PC_OK) {
		/* The reply is good; the next call reconnects with the normal timeout. */
		st->ctx->err = REDIS_ERR_IO;
	}
	return r;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * jobstore_call, and for jobstore_eval: *noscript (when not NULL) is set when Redis answered
 * NOSCRIPT, the EVALSHA that must fall back to EVAL. That is not an error of the command, so
 * it has no pc_err of its own: PC_EPROTO, and the flag tells it apart.
 */
static pc_err call(jobstore *st, int argc, const char **argv, size_t *lens,
		   enum jobstore_retry retry, int flag_idx, bool *noscript, redisReply **out)
{
	bool fresh = false;
	redisReply *r;
	pc_err err;

	*out = NULL;
	if (noscript)
		*noscript = false;
	if (!st->ctx || st->ctx->err || conn_is_stale(st->ctx)) {
		err = jobstore_conn_open(st);
		if (err)
			return err;
		fresh = true;
	}
	r = send_once(st, argc, argv, lens);
	if (!r) {
		/* Lost: the command may or may not have run. Reconnect once (not twice in a
		 * row: a connection just made that fails at once means Redis is not well). */
		jobstore_conn_close(st);
		if (fresh || retry == JOBSTORE_RETRY_NEVER)
			return PC_EUNAVAILABLE;
		err = jobstore_conn_open(st);
		if (err)
			return err;
		if (retry == JOBSTORE_RETRY_FLAG) {
			argv[flag_idx] = "1";
			lens[flag_idx] = 1;
		}
		r = send_once(st, argc, argv, lens);
		if (!r) {
			jobstore_conn_close(st);
			return PC_EUNAVAILABLE;
		}
	}
	if (r->type != REDIS_REPLY_ERROR) {
		*out = r;
		return PC_OK;
	}
	if (noscript && starts_with(r->str, "NOSCRIPT")) {
		*noscript = true;
		err = PC_EPROTO;
	} else if (starts_with(r->str, "LOADING") || starts_with(r->str, "BUSY") ||
		   starts_with(r->str, "MASTERDOWN") || starts_with(r->str, "TRYAGAIN")) {
		err = PC_EUNAVAILABLE;
	} else if (starts_with(r->str, "NOAUTH") || starts_with(r->str, "NOPERM") ||
		   starts_with(r->str, "WRONGPASS")) {
		if (starts_with(r->str, "NOAUTH"))
			log_warn("Redis wants a password (%s): give it in the URL, in %s or "
				 "with --redis-password-file",
				 r->str, JOBSTORE_PASSWORD_ENV);
		else
			log_warn("redis %.*s: %s", (int)lens[0], argv[0], r->str);
		err = PC_EAUTH;
	} else {
		log_warn("redis %.*s: %s", (int)lens[0], argv[0], r->str);
		err = PC_EPROTO;
	}
	freeReplyObject(r);
	return err;
}

pc_err jobstore_call(jobstore *st, int argc, const char **argv, size_t *lens,
		     enum jobstore_retry retry, int flag_idx, redisReply **out)
{
	return call(st, argc, argv, lens, retry, flag_idx, NULL, out);
}

pc_err jobstore_eval(jobstore *st, enum jobstore_script script, int argc, const char **argv,
		     size_t *lens, enum jobstore_retry retry, int flag_idx, redisReply **out)
{
	bool noscript;
	pc_err err;

	argv[0] = "EVALSHA";
	lens[0] = 7;
	argv[1] = st->script_sha[script];
	lens[1] = strlen(st->script_sha[script]);
	err = call(st, argc, argv, lens, retry, flag_idx, &noscript, out);
	if (!noscript)
		return err;
	/* NOSCRIPT: the script did not run (Redis restarted or its cache was flushed). EVAL
	 * runs it and caches it again for the next EVALSHA; a NOSCRIPT to EVAL is an error. */
	argv[0] = "EVAL";
	lens[0] = 4;
	argv[1] = st->script_text[script];
	lens[1] = strlen(st->script_text[script]);
	return jobstore_call(st, argc, argv, lens, retry, flag_idx, out);
}

void jobstore_next_token(jobstore *st, char *out, size_t cap)
{
	snprintf(out, cap, "%s-%" PRIu64, st->token_base, ++st->token_seq);
}

pc_err jobstore_token_init(jobstore *st)
{
	unsigned char b[8];
	ssize_t n;

	do {
		n = getrandom(b, sizeof(b), 0);
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(b))
		return PC_EIO;
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(st->token_base + 2 * i, 3, "%02x", b[i]);
	st->token_seq = 0;
	return PC_OK;
}
