/* http_auth.c - --auth keys: the Authorization: Bearer check, with a short cache of keys. */
#include "http/http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "keys/keys.h"
#include "picluster/clock.h"
#include "picluster/log.h"

/*
 * Verified keys in the thread's cache (http.h): a request with a cached key costs no Redis
 * round trip and takes no lock, and a revoked key is refused at most HTTP_CACHE_MS after
 * `pi-gateway key revoke`. Only keys Redis confirmed are kept (an unknown secret is asked
 * about every time); a full cache evicts the entry nearest expiry.
 */
static bool cache_get(const struct http_thread *thr, const uint8_t hash[API_KEY_HASH_LEN],
		      int64_t now, struct api_key *out)
{
	for (size_t i = 0; thr && i < HTTP_CACHE_SLOTS; i++) {
		if (thr->keys[i].expires_ms > now &&
		    memcmp(thr->keys[i].hash, hash, API_KEY_HASH_LEN) == 0) {
			*out = thr->keys[i].key;
			return true;
		}
	}
	return false;
}

static void cache_put(struct http_thread *thr, const uint8_t hash[API_KEY_HASH_LEN], int64_t now,
		      const struct api_key *k)
{
	size_t victim = 0;

	if (!thr)
		return;
	for (size_t i = 0; i < HTTP_CACHE_SLOTS; i++) {
		if (memcmp(thr->keys[i].hash, hash, API_KEY_HASH_LEN) == 0 ||
		    thr->keys[i].expires_ms <= now) {
			victim = i;
			break;
		}
		if (thr->keys[i].expires_ms < thr->keys[victim].expires_ms)
			victim = i;
	}
	memcpy(thr->keys[victim].hash, hash, API_KEY_HASH_LEN);
	thr->keys[victim].key = *k;
	thr->keys[victim].expires_ms = now + HTTP_CACHE_MS;
}

/* 401 with the challenge; the body never repeats what the client sent. */
static void unauthorized(struct http_req *r, const char *why)
{
	http_send_error(r, 401, "unauthorized", "WWW-Authenticate: Bearer\r\n", "%s", why);
}

/*
 * The secret of the request's one Authorization header, "Bearer" (any case), one or more
 * spaces, then the token (RFC 7235 section 2.1, RFC 6750 section 2.1): *secret and *len, or
 * NULL with why set. Whitespace after the token is the header's, not the token's (RFC 9110
 * section 5.5: not part of the field value), so it is left out of *len. A second
 * Authorization header is malformed too.
 */
static const char *bearer_secret(const struct mg_request_info *ri, size_t *len, const char **why)
{
	const char *value = NULL, *p;
	int seen = 0;

	for (int i = 0; i < ri->num_headers; i++) {
		if (strcasecmp(ri->http_headers[i].name, "Authorization") == 0) {
			value = ri->http_headers[i].value;
			seen++;
		}
	}
	if (seen == 0 || !value) {
		*why = "this request needs an API key: Authorization: Bearer <secret>";
		return NULL;
	}
	if (seen > 1) {
		*why = "send one Authorization header";
		return NULL;
	}
	if (strncasecmp(value, "Bearer", 6) != 0 || value[6] != ' ') {
		*why = "the Authorization header must be Bearer <secret>";
		return NULL;
	}
	p = value + 6;
	while (*p == ' ')
		p++;
	*len = strlen(p);
	while (*len > 0 && (p[*len - 1] == ' ' || p[*len - 1] == '\t'))
		(*len)--;
	if (!gw_key_secret_is_wellformed(p, *len)) {
		*why = "the API key is malformed";
		return NULL;
	}
	return p;
}

bool http_authenticate(struct http_req *r)
{
	uint8_t hash[API_KEY_HASH_LEN];
	struct api_key key;
	const char *secret, *why = NULL;
	size_t len = 0;
	int64_t now;
	jobstore *st;
	pc_err rc;

	if (r->gw->cfg.auth != GW_AUTH_KEYS) {
		r->admin = true; /* --auth none: everyone may do everything, as before keys */
		return true;
	}
	secret = bearer_secret(r->ri, &len, &why);
	if (!secret) {
		unauthorized(r, why);
		return false;
	}
	if (gw_key_secret_hash(secret, len, hash) != PC_OK) {
		http_send_error(r, 500, "internal", NULL, "cannot hash the key");
		return false;
	}
	now = pc_monotonic_ms();
	if (!cache_get(r->thr, hash, now, &key)) {
		st = http_store(r);
		if (!st)
			return false;
		rc = jobstore_key_lookup(st, hash, &key);
		if (rc == PC_ENOTFOUND) {
			unauthorized(r, "unknown or revoked API key");
			return false;
		}
		if (rc != PC_OK) {
			http_send_pc_error(r, rc, "API key");
			return false;
		}
		cache_put(r->thr, hash, now, &key);
	}
	snprintf(r->key_name, sizeof(r->key_name), "%s", key.name);
	r->admin = key.admin;
	r->key = key;
	http_quota_headers(r);
	return true;
}
