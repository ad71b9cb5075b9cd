/* sigv4.c - AWS Signature Version 4 (HMAC-SHA256 from OpenSSL's libcrypto), without a clock. */
#include "sigv4.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "s3_str.h"

static void to_hex(const unsigned char *bin, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[bin[i] >> 4];
		out[2 * i + 1] = hex[bin[i] & 15];
	}
	out[2 * len] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_HEX_SIZE])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(data, len, md);
	to_hex(md, sizeof(md), out);
}

void sigv4_amz_date(time_t t, char out[17])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* out = HMAC-SHA256(key, msg); HMAC() cannot fail with a valid digest and sizes this small. */
static void hmac(const void *key, size_t keylen, const char *msg, unsigned char out[32])
{
	unsigned int outlen = 32;

	HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out, &outlen);
}

struct enc_pair {
	char *key;
	char *value;
};

static int enc_pair_cmp(const void *a, const void *b)
{
	const struct enc_pair *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : strcmp(x->value, y->value);
}

static char *encode(const char *text)
{
	struct s3_str s = {0};

	s3_str_add(&s, "");
	s3_str_add_encoded(&s, text, false);
	return s3_str_take(&s);
}

pc_err sigv4_canonical_query(const struct sigv4_param *params, size_t n, char **out)
{
	struct enc_pair *pairs;
	struct s3_str s = {0};
	pc_err err = PC_ENOMEM;
	size_t i;

	*out = NULL;
	pairs = calloc(n ? n : 1, sizeof(*pairs));
	if (!pairs)
		return PC_ENOMEM;
	for (i = 0; i < n; i++) {
		pairs[i].key = encode(params[i].key);
		pairs[i].value = encode(params[i].value ? params[i].value : "");
		if (!pairs[i].key || !pairs[i].value)
			goto out_free_pairs;
	}
	qsort(pairs, n, sizeof(*pairs), enc_pair_cmp);
	s3_str_add(&s, "");
	for (i = 0; i < n; i++)
		s3_str_addf(&s, "%s%s=%s", i ? "&" : "", pairs[i].key, pairs[i].value);
	*out = s3_str_take(&s);
	if (*out)
		err = PC_OK;
out_free_pairs:
	for (i = 0; i < n; i++) {
		free(pairs[i].key);
		free(pairs[i].value);
	}
	free(pairs);
	return err;
}

static int header_cmp(const void *a, const void *b)
{
	const struct sigv4_header *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* Appends value with leading and trailing blanks removed and inner runs of blanks collapsed
 * to one space, as SigV4's canonical headers require. */
static void add_trimmed(struct s3_str *s, const char *value)
{
	bool pending_space = false;

	while (*value == ' ' || *value == '\t')
		value++;
	for (; *value; value++) {
		if (*value == ' ' || *value == '\t') {
			pending_space = true;
			continue;
		}
		if (pending_space)
			s3_str_add(s, " ");
		pending_space = false;
		s3_str_addn(s, value, 1);
	}
}

pc_err sigv4_canonical_request(const struct sigv4_request *req, char **out)
{
	const struct sigv4_header **sorted;
	struct s3_str s = {0};
	char *query = NULL;
	pc_err err;
	size_t i;

	*out = NULL;
	sorted = calloc(req->nheaders ? req->nheaders : 1, sizeof(*sorted));
	if (!sorted)
		return PC_ENOMEM;
	for (i = 0; i < req->nheaders; i++)
		sorted[i] = &req->headers[i];
	qsort(sorted, req->nheaders, sizeof(*sorted), header_cmp);
	err = sigv4_canonical_query(req->query, req->nquery, &query);
	if (err != PC_OK)
		goto out_free_sorted;
	s3_str_addf(&s, "%s\n%s\n%s\n", req->method, req->path, query);
	for (i = 0; i < req->nheaders; i++) {
		s3_str_addf(&s, "%s:", sorted[i]->name);
		add_trimmed(&s, sorted[i]->value);
		s3_str_add(&s, "\n");
	}
	s3_str_add(&s, "\n");
	for (i = 0; i < req->nheaders; i++)
		s3_str_addf(&s, "%s%s", i ? ";" : "", sorted[i]->name);
	s3_str_addf(&s, "\n%s", req->payload_hash);
	*out = s3_str_take(&s);
	err = *out ? PC_OK : PC_ENOMEM;
	free(query);
out_free_sorted:
	free(sorted);
	return err;
}

/* "YYYYMMDD/REGION/SERVICE/aws4_request" */
static void add_scope(struct s3_str *s, const struct sigv4_scope *sc)
{
	char amz_date[17];

	sigv4_amz_date(sc->now, amz_date);
	s3_str_addf(s, "%.8s/%s/%s/aws4_request", amz_date, sc->region, sc->service);
}

pc_err sigv4_string_to_sign(const struct sigv4_scope *sc, const char *canonical_request, char **out)
{
	struct s3_str s = {0};
	char amz_date[17];
	char hash[SIGV4_HEX_SIZE];

	sigv4_amz_date(sc->now, amz_date);
	sigv4_sha256_hex(canonical_request, strlen(canonical_request), hash);
	s3_str_addf(&s, "AWS4-HMAC-SHA256\n%s\n", amz_date);
	add_scope(&s, sc);
	s3_str_addf(&s, "\n%s", hash);
	*out = s3_str_take(&s);
	return *out ? PC_OK : PC_ENOMEM;
}

void sigv4_signature(const struct sigv4_scope *sc, const char *string_to_sign,
		     char out[SIGV4_HEX_SIZE])
{
	unsigned char k[32], k2[32];
	char date[9], amz_date[17];
	char secret[256];
	unsigned char sig[32];

	sigv4_amz_date(sc->now, amz_date);
	memcpy(date, amz_date, 8);
	date[8] = '\0';
	/* "AWS4" + secret: secrets are 40 characters; longer ones are cut, which only makes
	 * the signature wrong (the server then says so), never overflows. */
	snprintf(secret, sizeof(secret), "AWS4%s", sc->secret_key);
	/* Separate buffers for key and result: HMAC() is not documented to allow aliasing. */
	hmac(secret, strlen(secret), date, k);
	hmac(k, sizeof(k), sc->region, k2);
	hmac(k2, sizeof(k2), sc->service, k);
	hmac(k, sizeof(k), "aws4_request", k2);
	hmac(k2, sizeof(k2), string_to_sign, sig);
	to_hex(sig, sizeof(sig), out);
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(k2, sizeof(k2));
}

pc_err sigv4_sign_request(const struct sigv4_request *req, const struct sigv4_scope *sc,
			  char out[SIGV4_HEX_SIZE])
{
	char *creq, *sts;
	pc_err err;

	out[0] = '\0';
	err = sigv4_canonical_request(req, &creq);
	if (err != PC_OK)
		return err;
	err = sigv4_string_to_sign(sc, creq, &sts);
	if (err == PC_OK) {
		sigv4_signature(sc, sts, out);
		free(sts);
	}
	free(creq);
	return err;
}

pc_err sigv4_presign_get(const struct sigv4_scope *sc, const char *base, const char *host,
			 const char *path, const char *session_token, unsigned expires_s,
			 char **url)
{
	struct s3_str credential = {0}, s = {0};
	char amz_date[17], expires[16], sig[SIGV4_HEX_SIZE];
	struct sigv4_param params[6];
	struct sigv4_header hdr = {"host", host};
	struct sigv4_request req;
	size_t n = 0;
	char *cred;
	pc_err err;

	*url = NULL;
	sigv4_amz_date(sc->now, amz_date);
	snprintf(expires, sizeof(expires), "%u", expires_s);
	s3_str_addf(&credential, "%s/", sc->access_key);
	add_scope(&credential, sc);
	cred = s3_str_take(&credential);
	if (!cred)
		return PC_ENOMEM;
	/* In the order botocore writes them; the canonical query sorts them anyway. */
	params[n++] = (struct sigv4_param){"X-Amz-Algorithm", "AWS4-HMAC-SHA256"};
	params[n++] = (struct sigv4_param){"X-Amz-Credential", cred};
	params[n++] = (struct sigv4_param){"X-Amz-Date", amz_date};
	params[n++] = (struct sigv4_param){"X-Amz-Expires", expires};
	params[n++] = (struct sigv4_param){"X-Amz-SignedHeaders", "host"};
	if (session_token && session_token[0])
		params[n++] = (struct sigv4_param){"X-Amz-Security-Token", session_token};
	req = (struct sigv4_request){.method = "GET",
				     .path = path,
				     .query = params,
				     .nquery = n,
				     .headers = &hdr,
				     .nheaders = 1,
				     .payload_hash = "UNSIGNED-PAYLOAD"};
	err = sigv4_sign_request(&req, sc, sig);
	if (err != PC_OK)
		goto out_free_cred;
	s3_str_addf(&s, "%s%s?", base, path);
	for (size_t i = 0; i < n; i++) {
		s3_str_addf(&s, "%s=", params[i].key);
		s3_str_add_encoded(&s, params[i].value, false);
		s3_str_add(&s, "&");
	}
	s3_str_addf(&s, "X-Amz-Signature=%s", sig);
	*url = s3_str_take(&s);
	err = *url ? PC_OK : PC_ENOMEM;
out_free_cred:
	free(cred);
	return err;
}
