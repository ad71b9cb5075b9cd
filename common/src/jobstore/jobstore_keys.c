/* jobstore_keys.c - API keys in Redis: create, look up, list and revoke, and daily usage. */
#include "jobstore_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Keys (under the store's prefix; see jobstore.h):
 *   apikeys                    hash name -> sha256 hex of the secret
 *   apikey:<sha256 hex>        hash of the key's settings
 *   usage:<name>:<YYYY-MM-DD>  string: digits counted that UTC day
 */

/* KEYS: apikeys, apikey:<hex>. ARGV: name, hex, admin, created_at, max_queued, max_running,
 * max_digits, digits_per_day ("" for a limit left to the gateway's default). 1 = stored (or
 * stored already by this very call, sent again after a lost reply: same name, same hash);
 * 0 = the name belongs to another key. */
static const char script_create[] =
    "local cur = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if cur then if cur == ARGV[2] then return 1 end return 0 end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('HSET', KEYS[2], 'name', ARGV[1], 'admin', ARGV[3], 'created_at', ARGV[4])\n"
    "local f = {'max_queued', 'max_running', 'max_digits', 'digits_per_day'}\n"
    "for i = 1, 4 do\n"
    "  if ARGV[4 + i] ~= '' then redis.call('HSET', KEYS[2], f[i], ARGV[4 + i]) end\n"
    "end\n"
    "return 1\n";

/* KEYS: apikeys. ARGV: name, prefix. Deletes the key's record and its name together: 1, or 0
 * when no key has that name. */
static const char script_revoke[] = "local h = redis.call('HGET', KEYS[1], ARGV[1])\n"
				    "if not h then return 0 end\n"
				    "redis.call('DEL', ARGV[2] .. 'apikey:' .. h)\n"
				    "redis.call('HDEL', KEYS[1], ARGV[1])\n"
				    "return 1\n";

bool jobstore_key_name_is_valid(const char *name)
{
	size_t n = 0;

	if (!name)
		return false;
	for (; name[n]; n++) {
		char c = name[n];

		if (n >= API_KEY_NAME_MAX)
			return false;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

static void hash_hex(const uint8_t hash[API_KEY_HASH_LEN], char out[2 * API_KEY_HASH_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < API_KEY_HASH_LEN; i++) {
		out[2 * i] = digits[hash[i] >> 4];
		out[2 * i + 1] = digits[hash[i] & 15];
	}
	out[2 * API_KEY_HASH_LEN] = '\0';
}

/* A limit as the script's argument: "" for 0 (the gateway's default). */
static void limit_arg(uint64_t v, char out[24])
{
	if (v)
		snprintf(out, 24, "%" PRIu64, v);
	else
		out[0] = '\0';
}

pc_err jobstore_key_create(jobstore *st, const struct api_key *k,
			   const uint8_t hash[API_KEY_HASH_LEN])
{
	char hex[2 * API_KEY_HASH_LEN + 1], names[JOBSTORE_KEY_MAX], rec[JOBSTORE_KEY_MAX];
	char created[24], lim[4][24];
	const char *args[10];
	redisReply *r = NULL;
	pc_err rc;

	if (!jobstore_key_name_is_valid(k->name))
		return PC_EINVAL;
	hash_hex(hash, hex);
	rc = jobstore_key_of(st, names, sizeof(names), "apikeys", "");
	if (!rc)
		rc = jobstore_key_of(st, rec, sizeof(rec), "apikey:", hex);
	if (rc)
		return rc;
	snprintf(created, sizeof(created), "%" PRId64, k->created_at_ms);
	limit_arg(k->max_queued, lim[0]);
	limit_arg(k->max_running, lim[1]);
	limit_arg(k->max_digits, lim[2]);
	limit_arg(k->digits_per_day, lim[3]);
	args[0] = names;
	args[1] = rec;
	args[2] = k->name;
	args[3] = hex;
	args[4] = k->admin ? "1" : "0";
	args[5] = created;
	for (int i = 0; i < 4; i++)
		args[6 + i] = lim[i];
	rc = jobstore_eval_text(st, script_create, 2, 10, args, &r);
	if (rc)
		return rc;
	if (r->type != REDIS_REPLY_INTEGER)
		rc = PC_EPROTO;
	else if (r->integer != 1)
		rc = PC_EEXISTS;
	freeReplyObject(r);
	return rc;
}

/* Fills *out from an HGETALL reply of apikey:<hex>: PC_ENOTFOUND when empty, PC_EPROTO when
 * the name is missing or invalid or a number is malformed. */
static pc_err parse_key(const redisReply *r, struct api_key *out)
{
	uint64_t created = 0;
	bool have_name = false;

	memset(out, 0, sizeof(*out));
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
		return PC_EPROTO;
	if (r->elements == 0)
		return PC_ENOTFOUND;
	for (size_t i = 0; i < r->elements; i += 2) {
		const redisReply *k = r->element[i], *v = r->element[i + 1];
		bool ok = true;

		if (v->type != REDIS_REPLY_STRING)
			return PC_EPROTO;
		if (jobstore_reply_field_is(k, "name")) {
			if (v->len > API_KEY_NAME_MAX)
				return PC_EPROTO;
			memcpy(out->name, v->str, v->len);
			out->name[v->len] = '\0';
			have_name = jobstore_key_name_is_valid(out->name);
		} else if (jobstore_reply_field_is(k, "admin")) {
			out->admin = v->len == 1 && v->str[0] == '1';
		} else if (jobstore_reply_field_is(k, "created_at")) {
			ok = jobstore_reply_u64(v, &created) && created <= INT64_MAX;
		} else if (jobstore_reply_field_is(k, "max_queued")) {
			ok = jobstore_reply_u64(v, &out->max_queued);
		} else if (jobstore_reply_field_is(k, "max_running")) {
			ok = jobstore_reply_u64(v, &out->max_running);
		} else if (jobstore_reply_field_is(k, "max_digits")) {
			ok = jobstore_reply_u64(v, &out->max_digits);
		} else if (jobstore_reply_field_is(k, "digits_per_day")) {
			ok = jobstore_reply_u64(v, &out->digits_per_day);
		}
		if (!ok)
			return PC_EPROTO;
	}
	out->created_at_ms = (int64_t)created;
	return have_name ? PC_OK : PC_EPROTO;
}

/* HGETALL of apikey:<hex> into *out. */
static pc_err lookup_hex(jobstore *st, const char *hex, struct api_key *out)
{
	char key[JOBSTORE_KEY_MAX];
	const char *argv[2] = {"HGETALL", key};
	size_t lens[2];
	redisReply *r = NULL;
	pc_err rc = jobstore_key_of(st, key, sizeof(key), "apikey:", hex);

	if (rc)
		return rc;
	lens[0] = strlen(argv[0]);
	lens[1] = strlen(key);
	rc = jobstore_call(st, 2, argv, lens, JOBSTORE_RETRY_SAFE, -1, &r);
	if (rc)
		return rc;
	rc = parse_key(r, out);
	freeReplyObject(r);
	return rc;
}

pc_err jobstore_key_lookup(jobstore *st, const uint8_t hash[API_KEY_HASH_LEN], struct api_key *out)
{
	char hex[2 * API_KEY_HASH_LEN + 1];

	hash_hex(hash, hex);
	return lookup_hex(st, hex, out);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct api_key *)a)->name, ((const struct api_key *)b)->name);
}

pc_err jobstore_key_list(jobstore *st, struct api_key **keys, size_t *count)
{
	char names[JOBSTORE_KEY_MAX], hex[2 * API_KEY_HASH_LEN + 1];
	const char *argv[2] = {"HGETALL", names};
	size_t lens[2], n = 0;
	struct api_key *out = NULL;
	redisReply *r = NULL;
	pc_err rc;

	*keys = NULL;
	*count = 0;
	rc = jobstore_key_of(st, names, sizeof(names), "apikeys", "");
	if (rc)
		return rc;
	lens[0] = strlen(argv[0]);
	lens[1] = strlen(names);
	rc = jobstore_call(st, 2, argv, lens, JOBSTORE_RETRY_SAFE, -1, &r);
	if (rc)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
		rc = PC_EPROTO;
		goto out_free_reply;
	}
	if (r->elements == 0)
		goto out_free_reply;
	out = calloc(r->elements / 2, sizeof(*out));
	if (!out) {
		rc = PC_ENOMEM;
		goto out_free_reply;
	}
	for (size_t i = 0; i < r->elements; i += 2) {
		const redisReply *v = r->element[i + 1];

		if (v->type != REDIS_REPLY_STRING || v->len != 2 * API_KEY_HASH_LEN) {
			rc = PC_EPROTO;
			goto out_free_keys;
		}
		memcpy(hex, v->str, v->len);
		hex[v->len] = '\0';
		rc = lookup_hex(st, hex, &out[n]);
		if (rc == PC_ENOTFOUND) /* revoked meanwhile */
			continue;
		if (rc)
			goto out_free_keys;
		n++;
	}
	rc = PC_OK;
	if (n == 0)
		goto out_free_keys;
	qsort(out, n, sizeof(*out), by_name);
	*keys = out;
	*count = n;
	goto out_free_reply;

out_free_keys:
	free(out);
out_free_reply:
	freeReplyObject(r);
	return rc;
}

pc_err jobstore_key_revoke(jobstore *st, const char *name)
{
	char names[JOBSTORE_KEY_MAX];
	const char *args[3];
	redisReply *r = NULL;
	pc_err rc;

	if (!jobstore_key_name_is_valid(name))
		return PC_EINVAL;
	rc = jobstore_key_of(st, names, sizeof(names), "apikeys", "");
	if (rc)
		return rc;
	args[0] = names;
	args[1] = name;
	args[2] = st->prefix;
	/* Sent again after a lost reply, a revoke that did run answers PC_ENOTFOUND. */
	rc = jobstore_eval_text(st, script_revoke, 1, 3, args, &r);
	if (rc)
		return rc;
	if (r->type != REDIS_REPLY_INTEGER)
		rc = PC_EPROTO;
	else if (r->integer != 1)
		rc = PC_ENOTFOUND;
	freeReplyObject(r);
	return rc;
}

/* "YYYY-MM-DD" by shape (digits and dashes). */
static bool day_is_valid(const char *day)
{
	if (!day || strlen(day) != 10)
		return false;
	for (int i = 0; i < 10; i++) {
		bool dash = i == 4 || i == 7;

		if (dash ? day[i] != '-' : (day[i] < '0' || day[i] > '9'))
			return false;
	}
	return true;
}

pc_err jobstore_usage_key(const jobstore *st, const char *name, const char *day, char *out,
			  size_t cap)
{
	char what[API_KEY_NAME_MAX + 16];

	if (!jobstore_key_name_is_valid(name) || !day_is_valid(day))
		return PC_EINVAL;
	snprintf(what, sizeof(what), "%s:%s", name, day);
	return jobstore_key_of(st, out, cap, "usage:", what);
}

pc_err jobstore_key_usage(jobstore *st, const char *name, const char *day, uint64_t *digits)
{
	char key[JOBSTORE_KEY_MAX];
	const char *argv[2] = {"GET", key};
	size_t lens[2];
	redisReply *r = NULL;
	pc_err rc;

	*digits = 0;
	rc = jobstore_usage_key(st, name, day, key, sizeof(key));
	if (rc)
		return rc;
	lens[0] = strlen(argv[0]);
	lens[1] = strlen(key);
	rc = jobstore_call(st, 2, argv, lens, JOBSTORE_RETRY_SAFE, -1, &r);
	if (rc)
		return rc;
	if (r->type == REDIS_REPLY_STRING) {
		if (!jobstore_reply_u64(r, digits))
			rc = PC_EPROTO;
	} else if (r->type != REDIS_REPLY_NIL) {
		rc = PC_EPROTO;
	}
	freeReplyObject(r);
	return rc;
}
