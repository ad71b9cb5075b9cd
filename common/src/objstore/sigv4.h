/* sigv4.h - AWS Signature Version 4: the pure signing core and presigned GET URLs. */
#ifndef PICLUSTER_SIGV4_H
#define PICLUSTER_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "picluster/error.h"

/* A lowercase hex SHA-256 or HMAC-SHA256 with its NUL. */
#define SIGV4_HEX_SIZE 65

/* A query parameter, not yet encoded; value "" is written "key=". */
struct sigv4_param {
	const char *key;
	const char *value;
};

/* A header to sign; the name in lower case. */
struct sigv4_header {
	const char *name;
	const char *value;
};

/* What gets signed. Nothing here depends on the clock: tests sign with a fixed time. */
struct sigv4_request {
	const char *method; /* "GET" */
	const char *path;   /* absolute, already URI-encoded ("/test%24file.text") */
	const struct sigv4_param *query;
	size_t nquery;
	const struct sigv4_header *headers; /* must include host (and x-amz-date for headers) */
	size_t nheaders;
	const char *payload_hash; /* hex SHA-256 of the body, or "UNSIGNED-PAYLOAD" */
};

/* Who signs, where and when. */
struct sigv4_scope {
	const char *access_key;
	const char *secret_key;
	const char *region;  /* "us-east-1" */
	const char *service; /* "s3" */
	time_t now;
};

/* Writes the hex SHA-256 of len bytes at data into out. */
void sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_HEX_SIZE]);

/* Formats t as the SigV4 time stamp "YYYYMMDDTHHMMSSZ" (UTC). */
void sigv4_amz_date(time_t t, char out[17]);

/*
 * The canonical query string: each key and value RFC 3986-encoded, pairs sorted by encoded
 * key then value, joined as k=v with '&' ("uploads" becomes "uploads="). *out is a new
 * string (free()); PC_ENOMEM on failure. The same string must be sent on the wire: libcurl
 * signs the query exactly as written.
 */
pc_err sigv4_canonical_query(const struct sigv4_param *params, size_t n, char **out);

/*
 * The canonical request:
 *   METHOD \n PATH \n CANONICAL_QUERY \n (name:trimmed-value \n)* \n SIGNED_HEADERS \n HASH
 * with headers sorted by name and SIGNED_HEADERS their names joined by ';'.
 * *out is a new string (free()).
 */
pc_err sigv4_canonical_request(const struct sigv4_request *req, char **out);

/*
 * The string to sign:
 *   "AWS4-HMAC-SHA256" \n AMZ_DATE \n DATE/REGION/SERVICE/aws4_request \n hex(SHA256(creq))
 * *out is a new string (free()).
 */
pc_err sigv4_string_to_sign(const struct sigv4_scope *sc, const char *canonical_request,
			    char **out);

/*
 * The signature: hex(HMAC(kSigning, string_to_sign)) where kSigning is
 * HMAC(HMAC(HMAC(HMAC("AWS4" + secret, DATE), REGION), SERVICE), "aws4_request").
 */
void sigv4_signature(const struct sigv4_scope *sc, const char *string_to_sign,
		     char out[SIGV4_HEX_SIZE]);

/* All three steps for one request. PC_ENOMEM on failure. */
pc_err sigv4_sign_request(const struct sigv4_request *req, const struct sigv4_scope *sc,
			  char out[SIGV4_HEX_SIZE]);

/*
 * A presigned GET URL (query-string authentication):
 *   BASE PATH ?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=KEY%2FDATE%2FREGION%2Fs3%2F
 *   aws4_request&X-Amz-Date=...&X-Amz-Expires=N&X-Amz-SignedHeaders=host
 *   [&X-Amz-Security-Token=...]&X-Amz-Signature=...
 * signed over the canonical request with those parameters sorted, the single header
 * host:HOST and the payload hash UNSIGNED-PAYLOAD. base is "scheme://host[:port]" as the
 * client will connect, host the Host header it will send. *url is a new string (free()).
 */
pc_err sigv4_presign_get(const struct sigv4_scope *sc, const char *base, const char *host,
			 const char *path, const char *session_token, unsigned expires_s,
			 char **url);

#endif
