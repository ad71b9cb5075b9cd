/* s3_int.h - the S3 backend's private parts: its settings, one HTTP request, XML helpers. */
#ifndef PICLUSTER_S3_INT_H
#define PICLUSTER_S3_INT_H

#include <curl/curl.h>

#include "objstore_int.h"
#include "s3_str.h"
#include "sigv4.h"

#define S3_MIN_PART_SIZE     (5ull << 20) /* S3's minimum for every part but the last */
#define S3_MAX_PART_SIZE     (5ull << 30)
#define S3_DEFAULT_PART_SIZE (8ull << 20)
#define S3_MAX_PARTS	     10000
#define S3_DEFAULT_RETRIES   4
#define S3_MAX_PRESIGN	     604800 /* seconds: SigV4 allows at most 7 days */

/* Settings from the store URL and the environment. */
struct s3_config {
	char *bucket;
	char *prefix;	  /* "" or "a/b/": prepended to every object name */
	char *region;	  /* "us-east-1" */
	char *base_url;	  /* "https://BUCKET.s3.REGION.amazonaws.com", "http://127.0.0.1:9000" */
	char *host;	  /* Host header for presigning: lower case, default port dropped */
	bool path_style;  /* keys under /BUCKET/ (custom endpoints, dotted buckets) */
	size_t part_size; /* bytes per multipart part */
	unsigned retries; /* further attempts after a transient failure */
	char *access_key;
	char *secret_key;
	char *session_token; /* NULL without one */
};

/* Parses "BUCKET[/PREFIX][?QUERY]" (the URL after "s3://") and the AWS_* variables. PC_EINVAL
 * for a malformed URL, PC_EAUTH without credentials; a message is logged. */
pc_err s3_config_parse(struct s3_config *cfg, const char *rest);
void s3_config_clear(struct s3_config *cfg);

struct s3_store {
	struct objstore base;
	struct s3_config cfg;
	char *sigv4_provider; /* "aws:amz:REGION:s3" for CURLOPT_AWS_SIGV4 */
	char *userpwd;	      /* "ACCESS:SECRET" for CURLOPT_USERPWD */
	CURL *curl;	      /* reused between requests: keeps connections open */
};

/* One S3 request. key NULL addresses the bucket itself. */
struct s3_request {
	const char *method; /* GET HEAD PUT POST DELETE */
	const char *key;    /* full key, prefix included */
	const struct sigv4_param *query;
	size_t nquery;
	const void *body; /* PUT/POST body, sent with its SHA-256 */
	size_t body_len;
	const char *content_type;
	const char *range;    /* "bytes=A-B" */
	const char *if_match; /* an ETag */
	/* A 2xx GET streams its body here instead of into the response. */
	objstore_sink sink;
	void *sink_ctx;
	/* Called once before the first byte reaches sink; may refuse the response. */
	pc_err (*on_body_start)(void *ctx, const struct s3_request *req, long status,
				const char *content_range, uint64_t content_length);
};

struct s3_response {
	long status;
	struct s3_str body; /* non-streamed bodies: XML replies and errors (bounded) */
	char etag[256];
	char content_range[128];
	uint64_t content_length;
	bool have_length;
	uint64_t delivered; /* bytes given to the sink */
	pc_err sink_err;
	char code[64];	   /* S3's error Code, "" if none */
	char message[512]; /* S3's error Message, or what went wrong */
};

/*
 * Sends req, retrying 5xx answers and connection failures with exponential backoff (up to
 * cfg.retries more attempts; a streamed GET is not retried here once bytes were delivered).
 * Returns PC_OK for a 2xx answer; otherwise the error from the status and S3's error Code
 * (403 PC_EAUTH, 404 PC_ENOTFOUND, 416 PC_ERANGE, 409/412 PC_ECONFLICT, other 4xx PC_EPROTO,
 * 5xx and unreachable PC_EUNAVAILABLE, timeouts PC_ETIMEOUT) after logging it. resp is
 * filled in either way; the caller clears it with s3_response_clear.
 */
pc_err s3_perform(struct s3_store *st, const struct s3_request *req, struct s3_response *resp);

void s3_response_clear(struct s3_response *resp);

/* Copies the unescaped text of the first <tag>...</tag> in xml into out (truncated to cap).
 * False when the element is missing. */
bool s3_xml_text(const char *xml, const char *tag, char *out, size_t cap);

/* Appends the request path for key ("/BUCKET/KEY" or "/KEY"), URI-encoded. */
void s3_add_path(struct s3_str *s, const struct s3_store *st, const char *key);

/* PREFIX + name: the object's key, a new string (NULL when out of memory). */
char *s3_full_key(const struct s3_store *st, const char *name);

/* The backend's object-store operations (objstore.h says what each does): reading in
 * objstore_s3.c, writing in objstore_s3_upload.c. */
pc_err s3_stat(objstore *os, const char *name, struct objstore_stat *out);
pc_err s3_writer_open(objstore *os, const char *name, objstore_writer **out);
pc_err s3_write(objstore_writer *base, const void *data, size_t len);
pc_err s3_commit(objstore_writer *base);
void s3_abort(objstore_writer *base);
pc_err s3_discard_incomplete(objstore *os, const char *name);

#endif
