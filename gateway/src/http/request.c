/* request.c - strict parsing of request paths, query strings, job bodies and Range headers. */
#include "http/request.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "picluster/urlcode.h"

/* Matches "<prefix><one segment>" and validates the segment as a job id. */
static enum http_path id_route(const char *rest, enum http_path kind, char id[JOB_ID_LEN + 1])
{
	if (strchr(rest, '/'))
		return HTTP_PATH_UNKNOWN;
	if (!job_id_is_valid(rest))
		return HTTP_PATH_BAD_ID;
	memcpy(id, rest, JOB_ID_LEN);
	id[JOB_ID_LEN] = '\0';
	return kind;
}

enum http_path http_path_parse(const char *path, char id[JOB_ID_LEN + 1])
{
	size_t len = strnlen(path, HTTP_MAX_PATH + 1);

	id[0] = '\0';
	if (len > HTTP_MAX_PATH)
		return HTTP_PATH_TOO_LONG;
	if (strcmp(path, "/job") == 0)
		return HTTP_PATH_JOB_NEW;
	if (strcmp(path, "/jobs") == 0)
		return HTTP_PATH_JOBS;
	if (strcmp(path, "/healthz") == 0)
		return HTTP_PATH_HEALTHZ;
	if (strcmp(path, "/metrics") == 0)
		return HTTP_PATH_METRICS;
	if (strncmp(path, "/job/download/", 14) == 0)
		return id_route(path + 14, HTTP_PATH_DOWNLOAD, id);
	if (strncmp(path, "/job/", 5) == 0)
		return id_route(path + 5, HTTP_PATH_JOB, id);
	return HTTP_PATH_UNKNOWN;
}

/* URL-decodes [s, s + n) into out ('+' is a space); any failure is a bad request. */
static pc_err url_decode(const char *s, size_t n, char *out, size_t cap)
{
	return url_percent_decode(s, n, true, out, cap) == PC_OK ? PC_OK : PC_EINVAL;
}

pc_err http_query_param(const char *query, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);
	const char *p = query;

	if (!query)
		return PC_ENOTFOUND;
	while (*p) {
		const char *end = strchr(p, '&');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=')
			return url_decode(p + klen + 1, n - klen - 1, out, cap);
		if (n == klen && strncmp(p, key, klen) == 0)
			return url_decode("", 0, out, cap);
		p += n;
		if (*p == '&')
			p++;
	}
	return PC_ENOTFOUND;
}

/*
 * Deepest nesting of arrays and objects in [s, s + len), counting brackets outside strings
 * only, and stopping as soon as max is exceeded. jansson parses by recursion, one frame per
 * level, and civetweb's worker threads run on 100 KiB stacks: a body of a few hundred '['
 * must never reach it. Malformed input is left for jansson to report.
 */
static bool json_depth_is_within(const char *s, size_t len, unsigned max)
{
	unsigned depth = 0;
	bool in_string = false, escaped = false;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (in_string) {
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max)
				return false;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return true;
}

pc_err http_parse_submit_body(const char *body, size_t len, uint64_t max_digits, uint64_t *digits,
			      char *msg, size_t msg_cap)
{
	json_error_t jerr;
	json_t *root, *value;
	json_int_t n;
	pc_err rc = PC_EINVAL;

	*digits = 0;
	if (!json_depth_is_within(body, len, HTTP_MAX_JSON_DEPTH)) {
		snprintf(msg, msg_cap, "body is nested deeper than %d levels", HTTP_MAX_JSON_DEPTH);
		return PC_EINVAL;
	}
	/* Without JSON_DECODE_ANY the top level must be an object or array; without
	 * JSON_DISABLE_EOF_CHECK anything after it but whitespace is an error. */
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(msg, msg_cap, "body is not valid JSON: %s", jerr.text);
		return PC_EINVAL;
	}
	if (!json_is_object(root)) {
		snprintf(msg, msg_cap, "body must be a JSON object like {\"digits\": 1000}");
		goto out_decref;
	}
	value = json_object_get(root, "digits");
	if (!value) {
		snprintf(msg, msg_cap, "\"digits\" is missing");
		goto out_decref;
	}
	if (json_object_size(root) != 1) {
		snprintf(msg, msg_cap, "unknown field: the body holds only \"digits\"");
		goto out_decref;
	}
	if (!json_is_integer(value)) {
		snprintf(msg, msg_cap, "\"digits\" must be a JSON integer from 1 to %llu",
			 (unsigned long long)max_digits);
		goto out_decref;
	}
	n = json_integer_value(value);
	if (n < 1 || (uint64_t)n > max_digits) {
		snprintf(msg, msg_cap, "\"digits\" must be from 1 to %llu",
			 (unsigned long long)max_digits);
		goto out_decref;
	}
	*digits = (uint64_t)n;
	rc = PC_OK;
out_decref:
	json_decref(root);
	return rc;
}

/* Parses a run of decimal digits at *p into *out and advances *p; PC_EINVAL if none. */
static pc_err parse_digits(const char **p, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return PC_EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return PC_EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*out = v;
	return PC_OK;
}

pc_err http_parse_range(const char *header, uint64_t size, uint64_t *first, uint64_t *length)
{
	const char *p = header;
	uint64_t a, b;

	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "bytes", 5) != 0)
		return PC_ERANGE;
	p += 5;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p++ != '=')
		return PC_ERANGE;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '-') {
		p++;
		if (parse_digits(&p, &b) != PC_OK || b == 0)
			return PC_ERANGE;
		a = b >= size ? 0 : size - b;
		b = size - 1;
	} else {
		if (parse_digits(&p, &a) != PC_OK || *p++ != '-')
			return PC_ERANGE;
		if (*p >= '0' && *p <= '9') {
			if (parse_digits(&p, &b) != PC_OK || b < a)
				return PC_ERANGE;
			if (b >= size)
				b = size - 1;
		} else {
			b = size - 1;
		}
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '\0' || size == 0 || a >= size)
		return PC_ERANGE;
	*first = a;
	*length = b - a + 1;
	return PC_OK;
}
