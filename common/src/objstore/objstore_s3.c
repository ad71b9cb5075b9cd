/* objstore_s3.c - the s3:// object store: open, stat, ranged GET, remove, presign (uploads:
 * objstore_s3_upload.c). */
#include "s3_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "picluster/log.h"

static const struct objstore_ops s3_ops;

char *s3_full_key(const struct s3_store *st, const char *name)
{
	struct s3_str s = {0};

	s3_str_add(&s, st->cfg.prefix);
	s3_str_add(&s, name);
	return s3_str_take(&s);
}

pc_err objstore_s3_open(objstore **out, const char *rest)
{
	struct s3_store *st;
	struct s3_str s = {0};
	pc_err err;

	*out = NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return PC_EINTERNAL;
	st = calloc(1, sizeof(*st));
	if (!st) {
		err = PC_ENOMEM;
		goto out_global;
	}
	st->base.ops = &s3_ops;
	err = s3_config_parse(&st->cfg, rest);
	if (err != PC_OK)
		goto out_free_st;
	s3_str_addf(&s, "aws:amz:%s:s3", st->cfg.region);
	st->sigv4_provider = s3_str_take(&s);
	s3_str_addf(&s, "%s:%s", st->cfg.access_key, st->cfg.secret_key);
	st->userpwd = s3_str_take(&s);
	st->curl = curl_easy_init();
	if (!st->sigv4_provider || !st->userpwd || !st->curl) {
		err = PC_ENOMEM;
		goto out_free_fields;
	}
	*out = &st->base;
	return PC_OK;

out_free_fields:
	if (st->curl)
		curl_easy_cleanup(st->curl);
	free(st->sigv4_provider);
	free(st->userpwd);
	s3_config_clear(&st->cfg);
out_free_st:
	free(st);
out_global:
	curl_global_cleanup();
	return err;
}

static void s3_free(objstore *os)
{
	struct s3_store *st = (struct s3_store *)os;

	curl_easy_cleanup(st->curl);
	free(st->sigv4_provider);
	if (st->userpwd)
		memset(st->userpwd, 0, strlen(st->userpwd));
	free(st->userpwd);
	s3_config_clear(&st->cfg);
	free(st);
	curl_global_cleanup();
}

pc_err s3_stat(objstore *os, const char *name, struct objstore_stat *out)
{
	struct s3_store *st = (struct s3_store *)os;
	struct s3_request req = {.method = "HEAD"};
	struct s3_response resp = {0};
	pc_err err;
	char *key = s3_full_key(st, name);

	if (!key)
		return PC_ENOMEM;
	req.key = key;
	err = s3_perform(st, &req, &resp);
	if (err == PC_OK && !resp.have_length) {
		err = objstore_fail(&st->base, PC_EPROTO, "s3 store: HEAD %s: no Content-Length",
				    key);
	}
	if (err == PC_OK)
		out->size = resp.content_length;
	s3_response_clear(&resp);
	free(key);
	return err;
}

/* A ranged read in progress: where it stands, and the ETag that pins the object. */
struct s3_read {
	objstore_sink sink;
	void *ctx;
	uint64_t offset, length; /* the range still to deliver */
	char etag[256];
};

/* Checks a GET's answer before its first byte: 206 for exactly the range asked for, from an
 * object big enough (S3 cuts a range at the object's end instead of refusing it). */
static pc_err read_body_start(void *ctx, const struct s3_request *req, long status,
			      const char *content_range, uint64_t content_length)
{
	struct s3_read *r = ctx;
	uint64_t first, last, total;

	if (status == 200 && r->offset == 0 && content_length == r->length)
		return PC_OK; /* the whole object, sent without a range */
	if (status != 206 || sscanf(content_range, "bytes %" SCNu64 "-%" SCNu64 "/%" SCNu64, &first,
				    &last, &total) != 3) {
		log_error("s3 store: GET %s: expected 206 with Content-Range, got %ld '%s'",
			  req->key, status, content_range);
		return PC_EPROTO;
	}
	if (total < r->offset || total - r->offset < r->length)
		return PC_ERANGE;
	if (first != r->offset || last != r->offset + r->length - 1) {
		log_error("s3 store: GET %s: asked for %s, got %s", req->key, req->range,
			  content_range);
		return PC_EPROTO;
	}
	return PC_OK;
}

static pc_err read_sink(void *ctx, const void *buf, size_t len)
{
	struct s3_read *r = ctx;

	if (len > r->length)
		return PC_EPROTO;
	return r->sink(r->ctx, buf, len);
}

static pc_err s3_read(objstore *os, const char *name, uint64_t offset, uint64_t length,
		      objstore_sink sink, void *ctx)
{
	struct s3_store *st = (struct s3_store *)os;
	struct s3_read r = {.sink = sink, .ctx = ctx, .offset = offset, .length = length};
	unsigned resumes = 0;
	pc_err err;
	char *key;

	if (length == 0) {
		/* HTTP cannot ask for an empty range: check the offset against the size. */
		struct objstore_stat sz;

		err = s3_stat(os, name, &sz);
		if (err == PC_OK && offset > sz.size)
			err = PC_ERANGE;
		return err;
	}
	key = s3_full_key(st, name);
	if (!key)
		return PC_ENOMEM;
	for (;;) {
		char range[64];
		struct s3_request req = {.method = "GET",
					 .key = key,
					 .range = range,
					 .if_match = r.etag[0] ? r.etag : NULL,
					 .sink = read_sink,
					 .sink_ctx = &r,
					 .on_body_start = read_body_start};
		struct s3_response resp = {0};

		snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, r.offset,
			 r.offset + r.length - 1);
		err = s3_perform(st, &req, &resp);
		if (!r.etag[0])
			snprintf(r.etag, sizeof(r.etag), "%s", resp.etag);
		r.offset += resp.delivered;
		r.length -= resp.delivered;
		/* Cut off after some bytes: resume where it stopped, from the same object
		 * version (If-Match), a bounded number of times. */
		if ((err == PC_EUNAVAILABLE || err == PC_ETIMEOUT) && resp.delivered > 0 &&
		    r.length > 0 && r.etag[0] && resumes++ < st->cfg.retries) {
			log_warn("s3 store: GET %s cut off; resuming at byte %" PRIu64, key,
				 r.offset);
			s3_response_clear(&resp);
			continue;
		}
		if (err == PC_OK && r.length != 0)
			err =
			    objstore_fail(os, PC_EPROTO,
					  "s3 store: GET %s: the reply was %" PRIu64 " bytes short",
					  key, r.length);
		s3_response_clear(&resp);
		break;
	}
	free(key);
	return err;
}

static pc_err s3_remove(objstore *os, const char *name)
{
	struct s3_store *st = (struct s3_store *)os;
	struct s3_request req = {.method = "DELETE"};
	struct s3_response resp = {0};
	pc_err err;

	req.key = s3_full_key(st, name);
	if (!req.key)
		return PC_ENOMEM;
	err = s3_perform(st, &req, &resp);
	if (err == PC_ENOTFOUND)
		err = PC_OK;
	s3_response_clear(&resp);
	free((char *)req.key);
	return err;
}

pc_err objstore_s3_presign_at(objstore *os, const char *name, unsigned expires_s, time_t now,
			      char **url)
{
	struct s3_store *st = (struct s3_store *)os;
	struct sigv4_scope sc;
	struct s3_str path = {0};
	char *key, *p;
	pc_err err;

	*url = NULL;
	if (!os || os->ops != &s3_ops)
		return PC_ENOTSUP;
	if (!objstore_name_is_valid(name) || expires_s == 0 || expires_s > S3_MAX_PRESIGN)
		return PC_EINVAL;
	key = s3_full_key(st, name);
	if (!key)
		return PC_ENOMEM;
	s3_add_path(&path, st, key);
	p = s3_str_take(&path);
	free(key);
	if (!p)
		return PC_ENOMEM;
	sc = (struct sigv4_scope){.access_key = st->cfg.access_key,
				  .secret_key = st->cfg.secret_key,
				  .region = st->cfg.region,
				  .service = "s3",
				  .now = now};
	err = sigv4_presign_get(&sc, st->cfg.base_url, st->cfg.host, p, st->cfg.session_token,
				expires_s, url);
	free(p);
	return err;
}

static pc_err s3_presign_get(objstore *os, const char *name, unsigned expires_s, char **url)
{
	return objstore_s3_presign_at(os, name, expires_s, time(NULL), url);
}

static const struct objstore_ops s3_ops = {
    .scheme = "s3",
    .free = s3_free,
    .writer_open = s3_writer_open,
    .write = s3_write,
    .commit = s3_commit,
    .abort = s3_abort,
    .stat = s3_stat,
    .read = s3_read,
    .remove = s3_remove,
    .discard_incomplete = s3_discard_incomplete,
    .presign_get = s3_presign_get,
};
