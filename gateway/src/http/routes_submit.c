/* routes_submit.c - POST /job: the body, the key's quotas, Idempotency-Key, the new job. */
#include "http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http/request.h"
#include "picluster/jobpool.h"
#include "sched/scheduler.h"
#include "keys/keys.h"

#define IDEM_KEY_MAX 255 /* the longest Idempotency-Key accepted */

/*
 * Reads the request body into buf (cap bytes, at least HTTP_MAX_BODY + 1). Returns the length,
 * or -1 after sending 413 (too large) or 400 (the client went away mid-body). A body left
 * unread closes the connection after the answer (dispatch), instead of civetweb draining it.
 */
static long read_body(struct http_req *r, char *buf, size_t cap)
{
	long long declared = r->ri->content_length;
	size_t got = 0;

	if (declared > HTTP_MAX_BODY) {
		http_send_error(r, 413, "body_too_large", "Connection: close\r\n",
				"the body may hold at most %d bytes", HTTP_MAX_BODY);
		return -1;
	}
	/* Without Content-Length (chunked), read one byte past the limit to detect excess. */
	while (got < cap) {
		int n = mg_read(r->conn, buf + got, cap - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got > HTTP_MAX_BODY) {
		http_send_error(r, 413, "body_too_large", "Connection: close\r\n",
				"the body may hold at most %d bytes", HTTP_MAX_BODY);
		return -1;
	}
	if (declared >= 0 && got != (size_t)declared) {
		http_send_error(r, 400, "bad_request", "Connection: close\r\n",
				"the body ended before Content-Length bytes");
		return -1;
	}
	r->body_read = true;
	return (long)got;
}

/* Reads and checks the body of POST /job against max_digits; false after answering 400 or
 * 413. The body lives on
 * the heap: worker threads have small stacks. */
static bool read_submit(struct http_req *r, uint64_t max_digits, uint64_t *digits)
{
	char msg[256];
	char *body;
	long len;
	bool ok = false;

	body = malloc(HTTP_MAX_BODY + 1);
	if (!body) {
		http_send_error(r, 500, "internal", NULL, "out of memory");
		return false;
	}
	len = read_body(r, body, HTTP_MAX_BODY + 1);
	if (len < 0)
		goto out_free_body;
	if (http_parse_submit_body(body, (size_t)len, max_digits, digits, msg, sizeof(msg)) !=
	    PC_OK) {
		if (max_digits < r->gw->cfg.max_digits)
			http_send_error(r, 400, "invalid_body", NULL,
					"%s (the limit of API key %s)", msg, r->key_name);
		else
			http_send_error(r, 400, "invalid_body", NULL, "%s", msg);
		goto out_free_body;
	}
	ok = true;
out_free_body:
	free(body);
	return ok;
}

/*
 * The request's Idempotency-Key (draft-ietf-httpapi-idempotency-key-header): *key NULL when
 * there is none. False after answering 400 for a bad one: empty, longer than IDEM_KEY_MAX,
 * not printable ASCII, or sent twice.
 */
static bool idempotency_key(struct http_req *r, const char **key)
{
	const char *why = NULL;
	int seen = 0;

	*key = NULL;
	for (int i = 0; i < r->ri->num_headers; i++) {
		if (strcasecmp(r->ri->http_headers[i].name, "Idempotency-Key") == 0) {
			*key = r->ri->http_headers[i].value;
			seen++;
		}
	}
	if (seen > 1)
		why = "send one Idempotency-Key header";
	else if (*key && (!(*key)[0] || strlen(*key) > IDEM_KEY_MAX))
		why = "an Idempotency-Key holds 1 to 255 characters";
	for (const char *p = *key; !why && p && *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			why = "an Idempotency-Key holds printable ASCII only";
	if (why) {
		http_send_error(r, 400, "invalid_idempotency_key", NULL, "%s", why);
		return false;
	}
	return true;
}

/* Answers a replayed request: the first request's job, as it is now, with the same status. */
static void send_replay(struct http_req *r, jobstore *st, const char *id)
{
	char headers[96];
	struct job job;
	pc_err rc = jobstore_job_get(st, id, &job);

	if (rc != PC_OK) {
		http_send_pc_error(r, rc, "replayed job");
		return;
	}
	memcpy(r->id, job.id, sizeof(r->id));
	snprintf(headers, sizeof(headers), "Location: /job/%s\r\nIdempotent-Replayed: true\r\n",
		 job.id);
	http_send_job(r, 201, &job, headers);
}

/* Answers a refused admission: 429 with Retry-After for a limit, 422 for a reused key. */
static void send_refusal(struct http_req *r, const struct jobstore_admit_result *res,
			 const struct http_limits *lim, uint64_t digits)
{
	char retry[48];

	snprintf(retry, sizeof(retry), "Retry-After: %u\r\n",
		 res->outcome == JOBSTORE_OWNER_DAILY	  ? http_quota_reset_s()
		 : res->outcome == JOBSTORE_OWNER_RUNNING ? 30
							  : 5);
	switch (res->outcome) {
	case JOBSTORE_IDEM_MISMATCH:
		http_send_error(r, 422, "idempotency_key_reused", NULL,
				"this Idempotency-Key was used with another request body");
		return;
	case JOBSTORE_FULL:
		http_send_error(r, 429, "queue_full", retry,
				"%llu jobs are already waiting; try again later",
				(unsigned long long)res->count);
		return;
	case JOBSTORE_OWNER_QUEUED:
		http_send_error(r, 429, "quota_exceeded", retry,
				"API key %s has %llu jobs waiting, its limit (max_queued)",
				r->key_name, (unsigned long long)res->count);
		return;
	case JOBSTORE_OWNER_RUNNING:
		http_send_error(r, 429, "quota_exceeded", retry,
				"API key %s has %llu jobs running, its limit (max_running)",
				r->key_name, (unsigned long long)res->count);
		return;
	case JOBSTORE_OWNER_DAILY:
		http_send_error(r, 429, "quota_exceeded", retry,
				"API key %s may submit %llu digits per UTC day; %llu are used and "
				"this job asks for %llu",
				r->key_name, (unsigned long long)lim->digits_per_day,
				(unsigned long long)res->digits_today, (unsigned long long)digits);
		return;
	default:
		http_send_error(r, 500, "internal", NULL, "unexpected admission outcome");
		return;
	}
}

/* Admits job with the caller's limits and idempotency key (NULL: none) into *res. */
static pc_err admit(struct http_req *r, jobstore *st, const struct job *job, const char *idem_key,
		    const struct http_limits *lim, char day[JOBSTORE_DAY_LEN + 1],
		    struct jobstore_admit_result *res)
{
	uint8_t idem_hash[API_KEY_HASH_LEN];
	char request[48];
	struct jobstore_admit a = {
	    .max_queued = r->gw->cfg.max_queued,
	    .owner_max_queued = lim->max_queued,
	    .owner_max_running = lim->max_running,
	    .owner_digits_per_day = lim->digits_per_day,
	    .day = day,
	};

	jobstore_day_of(time(NULL), day);
	/* A small job goes to the warm pool in the same step when a worker is alive, saving
	 * the submitter's hand-over; a key with its own max_running still goes through the
	 * submitter, which paces it. */
	a.to_pool = r->gw->pool && job->digits <= r->gw->cfg.pool_max_digits &&
		    lim->max_running == 0 && sched_has_capacity(r->gw->pool);
	if (idem_key) {
		/* What makes a retry "the same request": the parsed body, not its bytes. */
		if (gw_key_secret_hash(idem_key, strlen(idem_key), idem_hash) != PC_OK)
			return PC_EINTERNAL;
		snprintf(request, sizeof(request), "digits=%llu", (unsigned long long)job->digits);
		a.idem_key_hash = idem_hash;
		a.idem_request = request;
	}
	return jobstore_job_admit(st, job, &a, res);
}

void http_route_job_post(struct http_req *r)
{
	char location[64], day[JOBSTORE_DAY_LEN + 1];
	struct jobstore_admit_result res;
	struct http_limits lim;
	const char *idem_key;
	struct job job;
	uint64_t digits;
	jobstore *st;
	pc_err rc;

	http_limits_of(r, &lim);
	if (!idempotency_key(r, &idem_key) || !read_submit(r, lim.max_digits, &digits))
		return;
	st = http_store(r);
	if (!st)
		return;
	rc = job_init_new(&job, digits);
	if (rc != PC_OK) {
		http_send_pc_error(r, rc, "new job");
		return;
	}
	snprintf(job.owner, sizeof(job.owner), "%s", r->key_name);
	rc = admit(r, st, &job, idem_key, &lim, day, &res);
	if (rc != PC_OK) {
		http_send_pc_error(r, rc, "create job");
		return;
	}
	if (res.outcome == JOBSTORE_ADMITTED || res.outcome == JOBSTORE_REPLAYED ||
	    res.outcome == JOBSTORE_OWNER_DAILY)
		http_quota_note(r, day, res.digits_today);
	if (res.outcome == JOBSTORE_REPLAYED) {
		send_replay(r, st, res.job_id);
		return;
	}
	if (res.outcome != JOBSTORE_ADMITTED) {
		send_refusal(r, &res, &lim, digits);
		return;
	}
	memcpy(r->id, job.id, sizeof(r->id));
	gw_note_transition(r->gw, job.id, NULL, JOB_CREATED, "accepted over HTTP");
	if (res.to_pool) {
		gw_note_transition(r->gw, job.id, "created", JOB_QUEUED, "to the pool");
		job.state = JOB_QUEUED;
		snprintf(job.sched_name, sizeof(job.sched_name), "%s", JOBPOOL_SCHED_NAME);
	}
	snprintf(location, sizeof(location), "Location: /job/%s\r\n", job.id);
	http_send_job(r, 201, &job, location);
}
