/* routes_download.c - GET /job/download/<id>: the digits streamed from the store, or a redirect. */
#include "http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "picluster/log.h"
#include "http/request.h"
#include "workers/workers.h"

/* A proxied download: the head waits in `head` until the store produces its first bytes, so a
 * store that fails at once (object gone, S3 down) still gets a proper JSON error. */
struct download {
	struct http_req *r;
	char head[640]; /* the fixed lines, a 64-hex ETag, RateLimit lines */
	size_t head_len;
	bool head_sent;
};

/* objstore_read's sink: every chunk goes straight to the socket, so memory stays bounded. */
static pc_err to_socket(void *ctx, const void *buf, size_t len)
{
	struct download *d = ctx;

	if (!d->head_sent) {
		d->head_sent = true;
		if (mg_write(d->r->conn, d->head, d->head_len) <= 0)
			return PC_EIO;
	}
	if (mg_write(d->r->conn, buf, len) <= 0)
		return PC_EIO;
	d->r->sent += len;
	return PC_OK;
}

/* 409 with a code saying why the job has no digits to give. */
static void not_downloadable(struct http_req *r, const struct job *job)
{
	switch (job->state) {
	case JOB_CANCELLED:
		http_send_error(r, 409, "job_cancelled", NULL, "job %s was cancelled: no result",
				job->id);
		break;
	case JOB_ERRORED:
		http_send_error(r, 409, "job_errored", NULL, "job %s ended with an error: %s",
				job->id, job->error_message);
		break;
	default:
		http_send_error(r, 409, "not_finished", "Retry-After: 1\r\n",
				"job %s is %s; the digits are ready when it is finished", job->id,
				job_state_name(job->state));
		break;
	}
}

static void redirect(struct http_req *r, objstore *os, const struct job *job)
{
	char *url = NULL;
	char *hdr = NULL;
	pc_err rc;

	rc = objstore_presign_get(os, job->result_object, r->gw->cfg.presign_expiry, &url);
	if (rc != PC_OK) {
		http_send_error(r, 500, "presign_failed", NULL, "cannot presign %s: %s",
				job->result_object, pc_strerror(rc));
		return;
	}
	if (asprintf(&hdr, "Location: %s\r\n", url) < 0) {
		http_send_error(r, 500, "internal", NULL, "out of memory");
		hdr = NULL;
		goto out_free_url;
	}
	http_send(r, 302, "text/plain", hdr, NULL, 0);
	free(hdr);
out_free_url:
	free(url);
}

/* 410 result_expired: retention deleted the result, or is about to (its time has passed). */
static void send_expired(struct http_req *r, struct job *job)
{
	char at[32];

	gw_retention_annotate(r->gw, job);
	if (job->result_expires_at_ms) {
		job_format_time(job->result_expires_at_ms, at);
		http_send_error(r, 410, "result_expired", NULL,
				"the result of job %s expired at %s and was deleted", job->id, at);
	} else {
		http_send_error(r, 410, "result_expired", NULL,
				"the result of job %s expired and was deleted", job->id);
	}
}

/*
 * The object is not in the store: when retention got there first (a download that raced the
 * pass, which may run in another gateway), answers 410 result_expired, or 404 when the whole
 * record has gone meanwhile, and returns true; the job is read again to see the pass's mark.
 * False when neither: the caller says the object is missing.
 */
static bool answer_if_expired(struct http_req *r, const struct job *job)
{
	jobstore *st = r->thr ? r->thr->st : NULL;
	struct job cur = *job;
	pc_err rc = st ? jobstore_job_get(st, job->id, &cur) : PC_EUNAVAILABLE;

	if (rc == PC_ENOTFOUND) {
		http_send_pc_error(r, rc, job->id);
		return true;
	}
	if (rc != PC_OK)
		cur = *job;
	if (!gw_retention_result_is_gone(r->gw, &cur, job_now_ms()))
		return false;
	send_expired(r, &cur);
	return true;
}

/* Loads the job and checks it has a well-formed result to give; false after answering. */
static bool load_finished(struct http_req *r, struct job *job)
{
	if (!http_job_load(r, job))
		return false;
	if (job->state == JOB_FINISHED && job->has_result &&
	    gw_retention_result_is_gone(r->gw, job, job_now_ms())) {
		send_expired(r, job);
		return false;
	}
	if (job->state != JOB_FINISHED || !job->has_result) {
		not_downloadable(r, job);
		return false;
	}
	/* The object name comes from Redis, written by pi-compute from the server-made id; check
	 * it anyway before it reaches a store (the backend checks too). */
	if (!objstore_name_is_valid(job->result_object)) {
		http_send_error(r, 500, "internal", NULL, "job %s has a malformed result name",
				job->id);
		return false;
	}
	return true;
}

/* Stats the stored result and checks its size against the job's record; false after
 * answering (410 gone, 502 damaged, 500). */
static bool stat_result(struct http_req *r, objstore *os, const struct job *job,
			struct objstore_stat *stat)
{
	pc_err rc = objstore_stat(os, job->result_object, stat);

	if (rc == PC_ENOTFOUND && answer_if_expired(r, job))
		return false;
	if (rc != PC_OK) {
		http_send_error(r, rc == PC_ENOTFOUND ? 410 : 500, "result_missing", NULL,
				"the result of job %s is not in the store: %s", job->id,
				pc_strerror(rc));
		return false;
	}
	/* A stored object of another size than pi-compute recorded is damaged (truncated,
	 * replaced): say so rather than stream a short or empty body under a 200. */
	if (stat->size != job->result_bytes) {
		log_error("job %s: stored result %s has %llu bytes, the job recorded %llu", job->id,
			  job->result_object, (unsigned long long)stat->size,
			  (unsigned long long)job->result_bytes);
		http_send_error(r, 502, "result_damaged", NULL,
				"the stored result of job %s has %llu bytes instead of %llu; "
				"the store is damaged",
				job->id, (unsigned long long)stat->size,
				(unsigned long long)job->result_bytes);
		return false;
	}
	return true;
}

/* Reads the Range header into first/length (the whole object without one) and the status
 * (200 or 206); false after answering 416. */
static bool read_range(struct http_req *r, uint64_t size, uint64_t *first, uint64_t *length,
		       int *status)
{
	const char *range = mg_get_header(r->conn, "Range");
	char headers[256];

	*first = 0;
	*length = size;
	*status = 200;
	if (!range)
		return true;
	if (http_parse_range(range, size, first, length) != PC_OK) {
		snprintf(headers, sizeof(headers), "Content-Range: bytes */%llu\r\n",
			 (unsigned long long)size);
		http_send_error(r, 416, "range_not_satisfiable", headers,
				"the result has %llu bytes; send one range like bytes=0-99",
				(unsigned long long)size);
		return false;
	}
	*status = 206;
	return true;
}

/* Writes the response head into d->head. It is written by hand: Content-Length is the range,
 * and the body follows in chunks from the store instead of one buffer. */
static void format_head(struct download *d, int status, uint64_t first, uint64_t length,
			uint64_t size, const char *sha256)
{
	int n;

	n = snprintf(d->head, sizeof(d->head),
		     "HTTP/1.1 %d %s\r\n"
		     "Content-Type: text/plain\r\n"
		     "Content-Length: %llu\r\n"
		     "Accept-Ranges: bytes\r\n"
		     "Cache-Control: no-store\r\n"
		     "ETag: \"%s\"\r\n"
		     "%s",
		     status, http_status_text(status), (unsigned long long)length, sha256,
		     d->r->ratelimit);
	if (status == 206)
		n += snprintf(d->head + n, sizeof(d->head) - (size_t)n,
			      "Content-Range: bytes %llu-%llu/%llu\r\n", (unsigned long long)first,
			      (unsigned long long)(first + length - 1), (unsigned long long)size);
	n += snprintf(d->head + n, sizeof(d->head) - (size_t)n, "\r\n");
	d->head_len = (size_t)n;
}

/* Streams the bytes from the store behind the head in d; a failure before the head left is
 * an error answer, after it a closed connection. */
static void stream(struct http_req *r, objstore *os, const struct job *job, uint64_t first,
		   uint64_t length, struct download *d)
{
	pc_err rc = objstore_read(os, job->result_object, first, length, to_socket, d);

	if (rc == PC_OK)
		return;
	if (!d->head_sent && rc == PC_ENOTFOUND && answer_if_expired(r, job))
		return;
	if (!d->head_sent) {
		http_send_error(r, rc == PC_ENOTFOUND ? 410 : 502, "store_read_failed", NULL,
				"cannot read the result of job %s from the store: %s", job->id,
				pc_strerror(rc));
		return;
	}
	/* The head is gone already: close the connection, so the client sees a body shorter
	 * than Content-Length at once instead of waiting for bytes that never come. */
	r->close_after = true;
	log_warn("job %s: download stopped after %llu of %llu bytes: %s", job->id,
		 (unsigned long long)r->sent, (unsigned long long)length, pc_strerror(rc));
}

void http_route_download(struct http_req *r)
{
	struct download d = {.r = r, .head_sent = false};
	struct objstore_stat stat;
	struct job job;
	uint64_t first, length;
	objstore *os;
	int status;

	if (!load_finished(r, &job))
		return;
	os = http_objstore(r);
	if (!os)
		return;
	if (r->gw->cfg.download == GW_DOWNLOAD_REDIRECT) {
		redirect(r, os, &job);
		return;
	}
	if (!stat_result(r, os, &job, &stat) || !read_range(r, stat.size, &first, &length, &status))
		return;
	format_head(&d, status, first, length, stat.size, job.result_sha256);
	r->status = status;
	if (r->head) {
		mg_write(r->conn, d.head, d.head_len);
		return;
	}
	stream(r, os, &job, first, length, &d);
}
