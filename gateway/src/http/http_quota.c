/* http_quota.c - a key's effective limits and the RateLimit headers of its daily budget. */
#include "http/http.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "picluster/clock.h"

/*
 * Digits counted today, per key name, in the thread's cache (http.h) for HTTP_CACHE_MS: the
 * headers of a busy key cost no Redis round trip and no lock per request. The count is a hint
 * for clients (the admit script checks the real one), so a second's staleness is harmless; a
 * POST refreshes its own thread's entry.
 */
#define DAY_S 86400

/* The budget's name in RateLimit-Policy and RateLimit. */
#define POLICY "\"digits-per-day\""

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

static bool cache_get(const struct http_thread *thr, const char *name, const char *day, int64_t now,
		      uint64_t *digits)
{
	for (size_t i = 0; thr && i < HTTP_CACHE_SLOTS; i++) {
		const struct http_usage_slot *u = &thr->usage[i];

		if (u->expires_ms > now && strcmp(u->name, name) == 0 && strcmp(u->day, day) == 0) {
			*digits = u->digits;
			return true;
		}
	}
	return false;
}

/* Stores a count, replacing the name's entry, else an expired one, else the oldest. */
static void cache_put(struct http_thread *thr, const char *name, const char *day, int64_t now,
		      uint64_t digits)
{
	size_t victim = 0;

	if (!thr)
		return;
	for (size_t i = 0; i < HTTP_CACHE_SLOTS; i++) {
		if (strcmp(thr->usage[i].name, name) == 0 || thr->usage[i].expires_ms <= now) {
			victim = i;
			break;
		}
		if (thr->usage[i].expires_ms < thr->usage[victim].expires_ms)
			victim = i;
	}
	snprintf(thr->usage[victim].name, sizeof(thr->usage[victim].name), "%s", name);
	snprintf(thr->usage[victim].day, sizeof(thr->usage[victim].day), "%s", day);
	thr->usage[victim].digits = digits;
	thr->usage[victim].expires_ms = now + HTTP_CACHE_MS;
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
	if (!cache_get(r->thr, r->key_name, day, now, &digits)) {
		/* Not http_store: a Redis outage must not turn every answer into a 503 here. */
		if (!r->thr || gw_jobstore_connect(r->gw, &r->thr->st) != PC_OK)
			return;
		st = r->thr->st;
		if (jobstore_key_usage(st, r->key_name, day, &digits) != PC_OK)
			return;
		cache_put(r->thr, r->key_name, day, now, digits);
	}
	render(r, digits);
}

void http_quota_note(struct http_req *r, const char *day, uint64_t digits_today)
{
	if (!r->key_name[0])
		return;
	cache_put(r->thr, r->key_name, day, pc_monotonic_ms(), digits_today);
	render(r, digits_today);
}
