/* http_quota.c - a key's effective limits and the RateLimit headers of its daily budget. */
#include "http/http.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "picluster/clock.h"

/*
 * Digits counted today, per key name, for QUOTA_CACHE_MS: the headers of a busy key cost no
 * Redis round trip per request. The count is a hint for clients (the admit script checks the
 * real one), so a second's staleness is harmless; a POST refreshes its own key's entry.
 */
#define QUOTA_CACHE_MS	  1000
#define QUOTA_CACHE_SLOTS 64
#define DAY_S		  86400

/* The budget's name in RateLimit-Policy and RateLimit. */
#define POLICY "\"digits-per-day\""

struct quota_slot {
	char name[API_KEY_NAME_MAX + 1];
	char day[JOBSTORE_DAY_LEN + 1];
	uint64_t digits;
	int64_t expires_ms; /* 0: empty */
};

static pthread_mutex_t quota_lock = PTHREAD_MUTEX_INITIALIZER;
static struct quota_slot quota_cache[QUOTA_CACHE_SLOTS];

void http_limits_of(const struct http_req *r, struct http_limits *out)
{
	const struct gw_config *c = &r->gw->cfg;
	const struct api_key *k = &r->key;

	out->max_digits =
	    k->max_digits && k->max_digits < c->max_digits ? k->max_digits : c->max_digits;
	out->max_queued = k->max_queued ? k->max_queued : c->max_queued;
	out->max_running = k->max_running; /* no gateway-wide default per key */
	out->digits_per_day = k->digits_per_day ? k->digits_per_day : c->digits_per_day;
}

unsigned http_quota_reset_s(void)
{
	return (unsigned)(DAY_S - (time(NULL) % DAY_S));
}

static bool cache_get(const char *name, const char *day, int64_t now, uint64_t *digits)
{
	bool hit = false;

	pthread_mutex_lock(&quota_lock);
	for (size_t i = 0; i < QUOTA_CACHE_SLOTS && !hit; i++) {
		const struct quota_slot *s = &quota_cache[i];

		if (s->expires_ms > now && strcmp(s->name, name) == 0 && strcmp(s->day, day) == 0) {
			*digits = s->digits;
			hit = true;
		}
	}
	pthread_mutex_unlock(&quota_lock);
	return hit;
}

/* Stores a count, replacing the name's entry, else an expired one, else the oldest. */
static void cache_put(const char *name, const char *day, int64_t now, uint64_t digits)
{
	size_t victim = 0;

	pthread_mutex_lock(&quota_lock);
	for (size_t i = 0; i < QUOTA_CACHE_SLOTS; i++) {
		if (strcmp(quota_cache[i].name, name) == 0 || quota_cache[i].expires_ms <= now) {
			victim = i;
			break;
		}
		if (quota_cache[i].expires_ms < quota_cache[victim].expires_ms)
			victim = i;
	}
	snprintf(quota_cache[victim].name, sizeof(quota_cache[victim].name), "%s", name);
	snprintf(quota_cache[victim].day, sizeof(quota_cache[victim].day), "%s", day);
	quota_cache[victim].digits = digits;
	quota_cache[victim].expires_ms = now + QUOTA_CACHE_MS;
	pthread_mutex_unlock(&quota_lock);
}

/* The two header lines (draft-ietf-httpapi-ratelimit-headers): the policy, a budget of q
 * digits per w = 86400 s, and what remains (r) until it is renewed in t seconds. Without a
 * daily limit there is no budget to announce. */
static void render(struct http_req *r, uint64_t digits_today)
{
	struct http_limits lim;
	uint64_t left;

	http_limits_of(r, &lim);
	if (lim.digits_per_day == 0) {
		r->ratelimit[0] = '\0';
		return;
	}
	left = digits_today < lim.digits_per_day ? lim.digits_per_day - digits_today : 0;
	snprintf(r->ratelimit, sizeof(r->ratelimit),
		 "RateLimit-Policy: " POLICY ";q=%" PRIu64 ";w=%d\r\n"
		 "RateLimit: " POLICY ";r=%" PRIu64 ";t=%u\r\n",
		 lim.digits_per_day, DAY_S, left, http_quota_reset_s());
}

void http_quota_headers(struct http_req *r)
{
	char day[JOBSTORE_DAY_LEN + 1];
	uint64_t digits = 0;
	int64_t now = pc_monotonic_ms();
	jobstore *st;

	r->ratelimit[0] = '\0';
	if (!r->key_name[0])
		return;
	jobstore_day_of(time(NULL), day);
	if (!cache_get(r->key_name, day, now, &digits)) {
		/* Not http_store: a Redis outage must not turn every answer into a 503 here. */
		if (!r->thr || gw_jobstore_connect(r->gw, &r->thr->st) != PC_OK)
			return;
		st = r->thr->st;
		if (jobstore_key_usage(st, r->key_name, day, &digits) != PC_OK)
			return;
		cache_put(r->key_name, day, now, digits);
	}
	render(r, digits);
}

void http_quota_note(struct http_req *r, const char *day, uint64_t digits_today)
{
	if (!r->key_name[0])
		return;
	cache_put(r->key_name, day, pc_monotonic_ms(), digits_today);
	render(r, digits_today);
}
