/* s3_http.c - one S3 request over libcurl: SigV4 by CURLOPT_AWS_SIGV4, retries, S3 errors. */
#include "s3_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "picluster/clock.h"
#include "picluster/log.h"

/* Error and XML bodies are small; anything past this is dropped. */
#define S3_BODY_MAX (1u << 20)
/* First retry after ~200 ms, doubling, never more than 5 s (each with random jitter). */
#define S3_BACKOFF_FIRST_MS 200
#define S3_BACKOFF_MAX_MS   5000

struct xfer {
	const struct s3_request *req;
	struct s3_response *resp;
	CURL *curl;
	bool body_started;
};

void s3_response_clear(struct s3_response *resp)
{
	s3_str_clear(&resp->body);
	*resp = (struct s3_response){0};
}

bool s3_xml_text(const char *xml, const char *tag, char *out, size_t cap)
{
	char open[80], close[80];
	const char *start, *end;
	size_t j = 0;

	if (cap == 0)
		return false;
	out[0] = '\0';
	if (!xml)
		return false;
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	start = strstr(xml, open);
	if (!start)
		return false;
	start += strlen(open);
	end = strstr(start, close);
	if (!end)
		return false;
	/* Unescape the five predefined entities; S3 uses no others in these fields. */
	while (start < end && j + 1 < cap) {
		static const struct {
			const char *ent;
			char c;
		} ents[] = {{"&amp;", '&'},  {"&lt;", '<'},    {"&gt;", '>'},
			    {"&quot;", '"'}, {"&apos;", '\''}, {"&#34;", '"'}};
		size_t k;

		for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
			size_t n = strlen(ents[k].ent);

			if ((size_t)(end - start) >= n && strncmp(start, ents[k].ent, n) == 0) {
				out[j++] = ents[k].c;
				start += n;
				break;
			}
		}
		if (k == sizeof(ents) / sizeof(ents[0]))
			out[j++] = *start++;
	}
	out[j] = '\0';
	return true;
}

void s3_add_path(struct s3_str *s, const struct s3_store *st, const char *key)
{
	if (st->cfg.path_style) {
		s3_str_add(s, "/");
		s3_str_add_encoded(s, st->cfg.bucket, false);
		if (!key)
			return; /* the bucket itself: "/BUCKET", as botocore writes it */
	}
	s3_str_add(s, "/");
	if (key)
		s3_str_add_encoded(s, key, true);
}

/* Copies a header's value (after "name:"), trimmed, into out. */
static void header_value(const char *line, size_t len, size_t name_len, char *out, size_t cap)
{
	const char *v = line + name_len + 1, *e = line + len;

	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
		e--;
	snprintf(out, cap, "%.*s", (int)(e - v), v);
}

static bool header_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ctx)
{
	struct xfer *x = ctx;
	size_t len = size * nitems;
	char value[256];

	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		/* A new response (after a 100 Continue): forget the previous one's headers. */
		x->resp->etag[0] = '\0';
		x->resp->content_range[0] = '\0';
		x->resp->have_length = false;
	} else if (header_is(buf, len, "etag")) {
		header_value(buf, len, 4, x->resp->etag, sizeof(x->resp->etag));
	} else if (header_is(buf, len, "content-range")) {
		header_value(buf, len, 13, x->resp->content_range, sizeof(x->resp->content_range));
	} else if (header_is(buf, len, "content-length")) {
		char *end;
		unsigned long long n;

		header_value(buf, len, 14, value, sizeof(value));
		errno = 0;
		n = strtoull(value, &end, 10);
		if (!errno && end != value && !*end) {
			x->resp->content_length = n;
			x->resp->have_length = true;
		}
	}
	return len;
}

static size_t on_write(char *buf, size_t size, size_t nmemb, void *ctx)
{
	struct xfer *x = ctx;
	size_t len = size * nmemb;
	long status = 0;
	pc_err err;

	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status / 100 == 2 && x->req->sink) {
		if (!x->body_started) {
			x->body_started = true;
			if (x->req->on_body_start) {
				err = x->req->on_body_start(
				    x->req->sink_ctx, x->req, status, x->resp->content_range,
				    x->resp->have_length ? x->resp->content_length : UINT64_MAX);
				if (err != PC_OK) {
					x->resp->sink_err = err;
					return 0; /* stops the transfer: CURLE_WRITE_ERROR */
				}
			}
		}
		err = x->req->sink(x->req->sink_ctx, buf, len);
		if (err != PC_OK) {
			x->resp->sink_err = err;
			return 0;
		}
		x->resp->delivered += len;
		return len;
	}
	if (x->resp->body.len + len <= S3_BODY_MAX)
		s3_str_addn(&x->resp->body, buf, len);
	return len;
}

/* Builds "BASE/PATH[?CANONICAL_QUERY]". The query is sent exactly as it is signed. */
static char *request_url(const struct s3_store *st, const struct s3_request *req)
{
	struct s3_str s = {0};
	char *query = NULL;

	s3_str_add(&s, st->cfg.base_url);
	s3_add_path(&s, st, req->key);
	if (req->nquery) {
		if (sigv4_canonical_query(req->query, req->nquery, &query) != PC_OK) {
			s3_str_clear(&s);
			return NULL;
		}
		s3_str_addf(&s, "?%s", query);
		free(query);
	}
	return s3_str_take(&s);
}

/* Appends "name: value" to list; sets *failed (and keeps list) when it cannot. */
static struct curl_slist *add_header(struct curl_slist *list, bool *failed, const char *name,
				     const char *value)
{
	char line[1024];
	struct curl_slist *n;

	if (*failed)
		return list;
	if ((size_t)snprintf(line, sizeof(line), "%s: %s", name, value) >= sizeof(line)) {
		*failed = true;
		return list;
	}
	n = curl_slist_append(list, line);
	if (!n) {
		*failed = true;
		return list;
	}
	return n;
}

/* One attempt. Returns the curl result; the HTTP status lands in resp->status. */
static CURLcode perform_once(struct s3_store *st, const struct s3_request *req,
			     struct s3_response *resp, char *errbuf)
{
	struct xfer x = {.req = req, .resp = resp, .curl = st->curl};
	char hash[SIGV4_HEX_SIZE];
	struct curl_slist *headers = NULL;
	bool failed = false;
	CURL *c = st->curl;
	CURLcode rc;
	char *url;

	url = request_url(st, req);
	if (!url)
		return CURLE_OUT_OF_MEMORY;
	/* libcurl 7.88 signs but does not send x-amz-content-sha256, which S3 requires: send
	 * the body's own hash (every body here is in memory) so the payload is signed too. */
	sigv4_sha256_hex(req->body ? req->body : "", req->body_len, hash);
	headers = add_header(headers, &failed, "x-amz-content-sha256", hash);
	if (st->cfg.session_token)
		headers =
		    add_header(headers, &failed, "x-amz-security-token", st->cfg.session_token);
	if (req->content_type)
		headers = add_header(headers, &failed, "Content-Type", req->content_type);
	if (req->range)
		headers = add_header(headers, &failed, "Range", req->range);
	if (req->if_match)
		headers = add_header(headers, &failed, "If-Match", req->if_match);
	if (failed) {
		rc = CURLE_OUT_OF_MEMORY;
		goto out_free;
	}

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, st->sigv4_provider);
	curl_easy_setopt(c, CURLOPT_USERPWD, st->userpwd);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	/* A stalled connection (no byte for a minute) fails and is retried. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	/* Reads reach the sink in chunks of up to this size: fewer, larger socket writes in
	 * the gateway's proxy mode, still bounded memory. */
	curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 128L * 1024);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(req->method, "PUT") == 0 || strcmp(req->method, "POST") == 0) {
		/* The body from memory (never copied); the method named explicitly. */
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	} else if (strcmp(req->method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	}
	errbuf[0] = '\0';
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	/* The handle keeps pointers to these until the next reset. */
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
out_free:
	curl_slist_free_all(headers);
	free(url);
	return rc;
}

static bool curl_is_transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static pc_err status_to_err(long status, const char *code)
{
	if (status == 403 || status == 401)
		return PC_EAUTH;
	if (status == 404)
		return PC_ENOTFOUND;
	if (status == 416)
		return PC_ERANGE;
	if (status == 409 || status == 412)
		return PC_ECONFLICT;
	if (status == 400 &&
	    (strcmp(code, "InvalidAccessKeyId") == 0 || strcmp(code, "ExpiredToken") == 0 ||
	     strcmp(code, "InvalidToken") == 0))
		return PC_EAUTH;
	if (status >= 500)
		return PC_EUNAVAILABLE;
	return PC_EPROTO;
}

/* Backoff before retry number n (0-based): a random wait in [d/2, d], d = 200 ms * 2^n. */
static unsigned backoff_ms(unsigned n)
{
	unsigned d = S3_BACKOFF_FIRST_MS;
	unsigned short r = 0;

	for (unsigned i = 0; i < n && d < S3_BACKOFF_MAX_MS; i++)
		d *= 2;
	if (d > S3_BACKOFF_MAX_MS)
		d = S3_BACKOFF_MAX_MS;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (unsigned short)(time(NULL) & 0xffff);
	return d / 2 + (unsigned)(r % (d / 2 + 1));
}

pc_err s3_perform(struct s3_store *st, const struct s3_request *req, struct s3_response *resp)
{
	char errbuf[CURL_ERROR_SIZE];
	const char *key = req->key ? req->key : "";
	unsigned attempt;
	bool answered = false; /* the last attempt got an HTTP answer (not a curl failure) */
	pc_err err = PC_EINTERNAL;

	for (attempt = 0;; attempt++) {
		bool transient = false;
		CURLcode rc;

		answered = false;
		s3_response_clear(resp);
		rc = perform_once(st, req, resp, errbuf);
		if (rc == CURLE_WRITE_ERROR && resp->sink_err != PC_OK)
			return resp->sink_err; /* the sink refused: its error, no retry */
		if (s3_str_failed(&resp->body))
			rc = CURLE_OUT_OF_MEMORY;
		if (rc == CURLE_OUT_OF_MEMORY) {
			snprintf(resp->message, sizeof(resp->message), "out of memory");
			err = PC_ENOMEM;
		} else if (rc != CURLE_OK) {
			snprintf(resp->message, sizeof(resp->message), "%s",
				 errbuf[0] ? errbuf : curl_easy_strerror(rc));
			transient = curl_is_transient(rc);
			err = rc == CURLE_OPERATION_TIMEDOUT ? PC_ETIMEOUT
			      : transient		     ? PC_EUNAVAILABLE
							     : PC_EIO;
		} else if (resp->status / 100 == 2) {
			return PC_OK;
		} else {
			const char *xml = resp->body.p;

			answered = true;
			s3_xml_text(xml, "Code", resp->code, sizeof(resp->code));
			if (!s3_xml_text(xml, "Message", resp->message, sizeof(resp->message)))
				snprintf(resp->message, sizeof(resp->message), "%s",
					 resp->status == 403   ? "access denied"
					 : resp->status == 404 ? "not found"
							       : "no error details in the reply");
			err = status_to_err(resp->status, resp->code);
			transient = resp->status >= 500;
		}
		/* A streamed GET that delivered bytes cannot simply start again. */
		if (!transient || attempt >= st->cfg.retries || resp->delivered > 0)
			break;
		{
			unsigned ms = backoff_ms(attempt);

			log_warn("s3 store: %s s3://%s/%s: %s%s%s; retry %u of %u in %u ms",
				 req->method, st->cfg.bucket, key, resp->code,
				 resp->code[0] ? ": " : "", resp->message, attempt + 1,
				 st->cfg.retries, ms);
			pc_sleep_ms(ms);
		}
	}
	/* The detail names the request, the HTTP status and S3's error code, or the endpoint
	 * and curl's reason: what objstore_errmsg gives the caller. */
	if (answered && (err == PC_ENOTFOUND || err == PC_ERANGE))
		log_debug("s3 store: %s s3://%s/%s: HTTP %ld%s%s: %s", req->method, st->cfg.bucket,
			  key, resp->status, resp->code[0] ? " " : "", resp->code, resp->message);
	else if (answered)
		objstore_fail(&st->base, err, "s3 store: %s s3://%s/%s failed: HTTP %ld%s%s: %s%s",
			      req->method, st->cfg.bucket, key, resp->status,
			      resp->code[0] ? " " : "", resp->code, resp->message,
			      err == PC_EAUTH ? " (check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
						"and AWS_SESSION_TOKEN)"
					      : "");
	else
		objstore_fail(&st->base, err,
			      "s3 store: %s s3://%s/%s failed after %u attempt%s: %s (endpoint %s)",
			      req->method, st->cfg.bucket, key, attempt + 1, attempt ? "s" : "",
			      resp->message, st->cfg.base_url);
	return err;
}
