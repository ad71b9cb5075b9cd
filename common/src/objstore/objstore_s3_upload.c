/* objstore_s3_upload.c - writing to S3: one PUT or a multipart upload, and removing what an
 * interrupted upload left. */
#include "s3_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "picluster/log.h"

/* The part buffer starts small and doubles up to the part size: small results stay small. */
#define S3_FIRST_BUFFER (64u * 1024)

/*
 * A writer buffers up to one part. Bytes go to S3 only when the buffer is full and more
 * arrive, so an object that fits in one part is a single PUT at commit, and every uploaded
 * part but the last is exactly part_size (S3 wants >= 5 MiB for all but the last).
 *
 *   CreateMultipartUpload  POST   /KEY?uploads=                 -> <UploadId>
 *   UploadPart             PUT    /KEY?partNumber=N&uploadId=ID  -> ETag header
 *   CompleteMultipartUpload POST  /KEY?uploadId=ID  <CompleteMultipartUpload> N + ETag list
 *   AbortMultipartUpload   DELETE /KEY?uploadId=ID
 */
struct s3_writer {
	struct objstore_writer base;
	char *key;
	const char *content_type;
	unsigned char *buf;
	size_t len, cap;
	uint64_t total;
	char *upload_id; /* NULL until the first part goes out */
	char **etags;	 /* etags[i] belongs to part i + 1 */
	unsigned nparts;
	pc_err failed; /* the first error of a write: commit refuses with it */
};

static const char *content_type_of(const char *name)
{
	size_t n = strlen(name);

	if (n >= 4 && strcmp(name + n - 4, ".txt") == 0)
		return "text/plain";
	if (n >= 5 && strcmp(name + n - 5, ".json") == 0)
		return "application/json";
	return "application/octet-stream";
}

static void writer_free(struct s3_writer *w)
{
	for (unsigned i = 0; i < w->nparts; i++)
		free(w->etags[i]);
	free(w->etags);
	free(w->upload_id);
	free(w->buf);
	free(w->key);
	free(w);
}

pc_err s3_writer_open(objstore *os, const char *name, objstore_writer **out)
{
	struct s3_store *st = (struct s3_store *)os;
	struct s3_writer *w;

	w = calloc(1, sizeof(*w));
	if (!w)
		return PC_ENOMEM;
	w->base.os = os;
	w->key = s3_full_key(st, name);
	w->content_type = content_type_of(name);
	w->cap = S3_FIRST_BUFFER < st->cfg.part_size ? S3_FIRST_BUFFER : st->cfg.part_size;
	w->buf = malloc(w->cap);
	if (!w->key || !w->buf) {
		writer_free(w);
		return PC_ENOMEM;
	}
	*out = &w->base;
	return PC_OK;
}

static pc_err create_upload(struct s3_store *st, struct s3_writer *w)
{
	const struct sigv4_param q[] = {{"uploads", ""}};
	struct s3_request req = {.method = "POST",
				 .key = w->key,
				 .query = q,
				 .nquery = 1,
				 .content_type = w->content_type};
	struct s3_response resp = {0};
	char id[1024];
	pc_err err;

	err = s3_perform(st, &req, &resp);
	if (err == PC_OK && !s3_xml_text(resp.body.p, "UploadId", id, sizeof(id)))
		err = objstore_fail(
		    &st->base, PC_EPROTO,
		    "s3 store: CreateMultipartUpload of %s: no UploadId in the reply", w->key);
	if (err == PC_OK) {
		w->upload_id = strdup(id);
		if (!w->upload_id)
			err = PC_ENOMEM;
	}
	s3_response_clear(&resp);
	return err;
}

/* Uploads the buffer as the next part, starting the multipart upload first if needed. */
static pc_err upload_part(struct s3_store *st, struct s3_writer *w)
{
	char number[16];
	struct sigv4_param q[2];
	struct s3_request req;
	struct s3_response resp = {0};
	char **etags;
	pc_err err;

	if (w->nparts >= S3_MAX_PARTS)
		return objstore_fail(&st->base, PC_ERANGE,
				     "s3 store: %s needs more than %d parts; raise part_size",
				     w->key, S3_MAX_PARTS);
	if (!w->upload_id) {
		err = create_upload(st, w);
		if (err != PC_OK)
			return err;
	}
	etags = realloc(w->etags, (w->nparts + 1) * sizeof(*etags));
	if (!etags)
		return PC_ENOMEM;
	w->etags = etags;
	snprintf(number, sizeof(number), "%u", w->nparts + 1);
	q[0] = (struct sigv4_param){"partNumber", number};
	q[1] = (struct sigv4_param){"uploadId", w->upload_id};
	req = (struct s3_request){.method = "PUT",
				  .key = w->key,
				  .query = q,
				  .nquery = 2,
				  .body = w->buf,
				  .body_len = w->len,
				  .content_type = "application/octet-stream"};
	err = s3_perform(st, &req, &resp);
	if (err == PC_OK && !resp.etag[0])
		err = objstore_fail(&st->base, PC_EPROTO,
				    "s3 store: UploadPart %u of %s: no ETag in the reply",
				    w->nparts + 1, w->key);
	if (err == PC_OK) {
		w->etags[w->nparts] = strdup(resp.etag);
		if (w->etags[w->nparts]) {
			w->nparts++;
			w->len = 0;
		} else {
			err = PC_ENOMEM;
		}
	}
	s3_response_clear(&resp);
	return err;
}

pc_err s3_write(objstore_writer *base, const void *data, size_t len)
{
	struct s3_writer *w = (struct s3_writer *)base;
	struct s3_store *st = (struct s3_store *)base->os;
	const unsigned char *p = data;

	if (w->failed != PC_OK)
		return w->failed;
	while (len > 0) {
		size_t n;

		if (w->len == w->cap && w->cap < st->cfg.part_size) {
			size_t cap =
			    w->cap * 2 < st->cfg.part_size ? w->cap * 2 : st->cfg.part_size;
			unsigned char *buf = realloc(w->buf, cap);

			if (!buf) {
				w->failed = PC_ENOMEM;
				return w->failed;
			}
			w->buf = buf;
			w->cap = cap;
		}
		if (w->len == w->cap) {
			/* Full, and more is coming: this buffer is a part (not the last one). */
			pc_err err = upload_part(st, w);

			if (err != PC_OK) {
				w->failed = err;
				return err;
			}
		}
		n = w->cap - w->len < len ? w->cap - w->len : len;
		memcpy(w->buf + w->len, p, n);
		w->len += n;
		w->total += n;
		p += n;
		len -= n;
	}
	return PC_OK;
}

/* Aborts w's multipart upload. The store's errmsg keeps the failure that led here: an abort
 * is cleanup, its own failure only logged. */
static pc_err abort_upload(struct s3_store *st, struct s3_writer *w)
{
	const struct sigv4_param q[] = {{"uploadId", w->upload_id}};
	struct s3_request req = {.method = "DELETE", .key = w->key, .query = q, .nquery = 1};
	struct s3_response resp = {0};
	char cause[OBJSTORE_ERRMSG_MAX];
	pc_err err;

	memcpy(cause, st->base.errmsg, sizeof(cause));
	err = s3_perform(st, &req, &resp);
	memcpy(st->base.errmsg, cause, sizeof(cause));
	s3_response_clear(&resp);
	if (err == PC_ENOTFOUND)
		err = PC_OK; /* NoSuchUpload: already gone */
	if (err != PC_OK)
		log_error(
		    "s3 store: could not abort multipart upload %s of %s: its parts stay in the "
		    "bucket until objstore_discard_incomplete or an "
		    "AbortIncompleteMultipartUpload lifecycle rule removes them",
		    w->upload_id, w->key);
	return err;
}

void s3_abort(objstore_writer *base)
{
	struct s3_writer *w = (struct s3_writer *)base;

	if (w->upload_id)
		abort_upload((struct s3_store *)base->os, w);
	writer_free(w);
}

static pc_err put_single(struct s3_store *st, struct s3_writer *w)
{
	struct s3_request req = {.method = "PUT",
				 .key = w->key,
				 .body = w->buf,
				 .body_len = w->len,
				 .content_type = w->content_type};
	struct s3_response resp = {0};
	pc_err err;

	err = s3_perform(st, &req, &resp);
	s3_response_clear(&resp);
	return err;
}

static pc_err complete_upload(struct s3_store *st, struct s3_writer *w)
{
	const struct sigv4_param q[] = {{"uploadId", w->upload_id}};
	struct s3_str body = {0};
	struct s3_request req;
	struct s3_response resp = {0};
	pc_err err;

	s3_str_add(&body, "<CompleteMultipartUpload "
			  "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (unsigned i = 0; i < w->nparts; i++) {
		s3_str_addf(&body, "<Part><PartNumber>%u</PartNumber><ETag>", i + 1);
		s3_str_add_xml(&body, w->etags[i]);
		s3_str_add(&body, "</ETag></Part>");
	}
	s3_str_add(&body, "</CompleteMultipartUpload>");
	if (s3_str_failed(&body)) {
		s3_str_clear(&body);
		return PC_ENOMEM;
	}
	req = (struct s3_request){.method = "POST",
				  .key = w->key,
				  .query = q,
				  .nquery = 1,
				  .body = body.p,
				  .body_len = body.len,
				  .content_type = "application/xml"};
	err = s3_perform(st, &req, &resp);
	/* S3 may answer 200 and still fail: the error is then in the body. */
	if (err == PC_OK && resp.body.p && strstr(resp.body.p, "<Error>")) {
		s3_xml_text(resp.body.p, "Code", resp.code, sizeof(resp.code));
		s3_xml_text(resp.body.p, "Message", resp.message, sizeof(resp.message));
		err =
		    objstore_fail(&st->base, PC_EUNAVAILABLE,
				  "s3 store: CompleteMultipartUpload of %s failed: HTTP 200 %s: %s",
				  w->key, resp.code, resp.message);
	} else if (err == PC_ENOTFOUND && strcmp(resp.code, "NoSuchUpload") == 0) {
		/* A retried Complete whose first attempt succeeded after all: the object
		 * is there if its size is ours. */
		struct objstore_stat sz;
		const char *name = w->key + strlen(st->cfg.prefix);

		if (s3_stat(&st->base, name, &sz) == PC_OK && sz.size == w->total)
			err = PC_OK;
		else
			objstore_fail(&st->base, err,
				      "s3 store: CompleteMultipartUpload of %s: HTTP %ld %s: %s",
				      w->key, resp.status, resp.code, resp.message);
	}
	s3_response_clear(&resp);
	s3_str_clear(&body);
	return err;
}

pc_err s3_commit(objstore_writer *base)
{
	struct s3_writer *w = (struct s3_writer *)base;
	struct s3_store *st = (struct s3_store *)base->os;
	pc_err err = w->failed;

	if (err == PC_OK && !w->upload_id) {
		/* It all fits in one part: one PUT, nothing to abort if it fails. */
		err = put_single(st, w);
	} else {
		if (err == PC_OK && w->len > 0)
			err = upload_part(st, w);
		if (err == PC_OK)
			err = complete_upload(st, w);
		if (err != PC_OK && w->upload_id)
			abort_upload(st, w);
	}
	writer_free(w);
	return err;
}

/*
 * ListMultipartUploads for the exact key (GET /?uploads=&prefix=KEY, page by page with
 * key-marker and upload-id-marker) and AbortMultipartUpload for each one found.
 */
pc_err s3_discard_incomplete(objstore *os, const char *name)
{
	struct s3_store *st = (struct s3_store *)os;
	struct s3_writer w = {0}; /* only key and upload_id, for abort_upload */
	char key_marker[1100] = "", id_marker[1100] = "";
	unsigned pages = 0;
	pc_err err = PC_OK;

	w.key = s3_full_key(st, name);
	if (!w.key)
		return PC_ENOMEM;
	do {
		struct sigv4_param q[4] = {{"uploads", ""}, {"prefix", w.key}};
		struct s3_request req = {.method = "GET", .query = q, .nquery = 2};
		struct s3_response resp = {0};
		char truncated[16] = "";
		const char *p;

		if (key_marker[0]) {
			q[2] = (struct sigv4_param){"key-marker", key_marker};
			q[3] = (struct sigv4_param){"upload-id-marker", id_marker};
			req.nquery = 4;
		}
		err = s3_perform(st, &req, &resp);
		for (p = resp.body.p; err == PC_OK && p && (p = strstr(p, "<Upload>"));) {
			const char *end = strstr(p, "</Upload>");
			char ukey[1100], uid[1100];
			char *one;

			if (!end)
				break;
			one = strndup(p, (size_t)(end - p) + 9);
			if (!one) {
				err = PC_ENOMEM;
				break;
			}
			if (s3_xml_text(one, "Key", ukey, sizeof(ukey)) &&
			    s3_xml_text(one, "UploadId", uid, sizeof(uid)) &&
			    strcmp(ukey, w.key) == 0) {
				w.upload_id = uid;
				err = abort_upload(st, &w);
				w.upload_id = NULL;
				if (err == PC_OK)
					log_info("s3 store: aborted incomplete upload %s of %s",
						 uid, w.key);
			}
			free(one);
			p = end;
		}
		if (err == PC_OK &&
		    s3_xml_text(resp.body.p, "IsTruncated", truncated, sizeof(truncated)) &&
		    strcmp(truncated, "true") == 0) {
			if (!s3_xml_text(resp.body.p, "NextKeyMarker", key_marker,
					 sizeof(key_marker)) ||
			    !s3_xml_text(resp.body.p, "NextUploadIdMarker", id_marker,
					 sizeof(id_marker)))
				key_marker[0] = '\0';
		} else {
			key_marker[0] = '\0';
		}
		s3_response_clear(&resp);
	} while (err == PC_OK && key_marker[0] && ++pages < 1000);
	free(w.key);
	return err;
}
