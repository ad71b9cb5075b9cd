/* keeper.c - holds this gateway's instance claim, and recovers jobs of gateways that are gone. */
#include "workers/workers.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "picluster/jobpool.h"
#include "picluster/jobstore.h"
#include "picluster/log.h"
#include "picluster/procid.h"

/*
 * A submitter takes job ids into processing:<instance> and acknowledges them once submitted.
 * If it dies in between, those ids wait there. Two things make sure they never wait forever:
 *   - this gateway claims its instance name in Redis (a key with a TTL, renewed every
 *     second), and its submitter only takes ids while the claim is held; a restart of the same
 *     instance on the same host takes over the claim of its dead predecessor at once (the
 *     token names the holder's process), elsewhere after the TTL;
 *   - every few seconds any gateway, API-only ones included, hands the processing lists of
 *     owners without a live claim back to the queue (one script, atomic per pass).
 * A job recovered this way may have been submitted already; the duplicate compute loses the
 * queued -> running race in Redis and exits without writing anything.
 *
 * The same for the warm workers: a `pi-compute --worker` keeps a heartbeat key with a short
 * TTL, and every second any gateway gives the processing list of a worker whose heartbeat
 * has expired back to the pool queue, its running job back to queued (jobpool_recover_dead).
 * A worker that was only slow and comes back cannot complete that job any more.
 */

#define KEEP_INTERVAL_MS  1000
#define ORPHAN_PASS_EVERY 5 /* keeper passes between two orphan recoveries */

pc_err gw_instance_token_init(struct gateway *gw)
{
	char host[128], self[PROCID_MAX];
	int n;

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if (procid_of(getpid(), self, sizeof(self)) != PC_OK)
		return PC_EIO;
	n = snprintf(gw->instance_token, sizeof(gw->instance_token), "%s|%s", host, self);
	return n > 0 && (size_t)n < sizeof(gw->instance_token) ? PC_OK : PC_EIO;
}

/* True when holder's token names a process of this host that has ended. */
static bool holder_has_ended(const struct gateway *gw, const char *holder)
{
	const char *ours = strchr(gw->instance_token, '|');
	const char *bar = strchr(holder, '|');
	size_t host_len = ours ? (size_t)(ours - gw->instance_token) : 0;

	if (!ours || !bar || (size_t)(bar - holder) != host_len ||
	    strncmp(holder, gw->instance_token, host_len) != 0)
		return false; /* another host: only its TTL can tell */
	return !procid_is_alive(bar + 1);
}

/* Claims or renews the instance; sets gw->instance_held. *warned limits the log to one line
 * per episode of another holder. */
static void keep_claim(struct gateway *gw, jobstore *st, bool *warned)
{
	const char *name = gw->cfg.instance;
	char holder[GW_INSTANCE_TOKEN_MAX], ended[GW_INSTANCE_TOKEN_MAX];
	bool was_held = atomic_load(&gw->instance_held);
	pc_err rc;

	rc = jobstore_instance_hold(st, name, gw->instance_token, NULL, GW_INSTANCE_TTL_MS, holder,
				    sizeof(holder));
	if (rc == PC_EEXISTS && holder_has_ended(gw, holder)) {
		/* A copy: holder receives the answer of the next call. */
		snprintf(ended, sizeof(ended), "%s", holder);
		log_info("instance %s: its previous holder %s has ended; taking over", name, ended);
		rc = jobstore_instance_hold(st, name, gw->instance_token, ended, GW_INSTANCE_TTL_MS,
					    holder, sizeof(holder));
	}
	atomic_store(&gw->instance_held, rc == PC_OK);
	if (rc == PC_OK) {
		if (*warned)
			log_info("instance %s: claimed; submitting", name);
		*warned = false;
	} else if (rc == PC_EEXISTS && !*warned) {
		log_warn(
		    "instance %s is held by %s, a live gateway: this one submits nothing until "
		    "that claim ends (give each gateway its own --instance)",
		    name, holder);
		*warned = true;
	} else if (rc != PC_EEXISTS && was_held) {
		log_warn("instance %s: cannot renew the claim (%s); submitting pauses", name,
			 pc_strerror(rc));
	}
}

/* Hands the lists of dead owners back to the queue. */
static void recover_orphans(jobstore *st)
{
	uint64_t moved = 0;
	pc_err rc = jobstore_instance_recover_orphans(st, &moved);

	if (rc != PC_OK)
		log_warn("keeper: recovering jobs of ended gateways failed: %s", pc_strerror(rc));
	else if (moved)
		log_info("keeper: %llu job(s) taken by gateways that have ended are queued again",
			 (unsigned long long)moved);
}

/* Gives the jobs of pool workers whose heartbeat expired back to the pool queue. The
 * PC_EUNAVAILABLE of a Redis outage is logged once, until a pass succeeds again. */
static void recover_pool(jobstore *st, bool *warned)
{
	uint64_t moved = 0;
	pc_err rc = jobpool_recover_dead(st, &moved);

	if (rc != PC_OK) {
		if (!*warned)
			log_warn("keeper: recovering jobs of dead pool workers failed: %s",
				 pc_strerror(rc));
		*warned = true;
		return;
	}
	*warned = false;
	if (moved)
		log_info("keeper: %llu job(s) of pool workers that stopped beating are queued for "
			 "the pool again",
			 (unsigned long long)moved);
}

void *gw_keeper_main(void *arg)
{
	struct gateway *gw = arg;
	bool submits = sched_submits(gw->sched), adopted = false, warned = false;
	bool pool_warned = false;
	unsigned pass = 0;
	jobstore *st = NULL;

	while (!atomic_load(&gw->stopping)) {
		if (gw_jobstore_connect(gw, &st) != PC_OK) {
			atomic_store(&gw->instance_held, false);
			gw_nap(gw, KEEP_INTERVAL_MS);
			continue;
		}
		if (submits)
			keep_claim(gw, st, &warned);
		if (!adopted)
			adopted = jobstore_instance_adopt_lists(st) == PC_OK;
		if (pass++ % ORPHAN_PASS_EVERY == 0)
			recover_orphans(st);
		recover_pool(st, &pool_warned);
		gw_nap(gw, KEEP_INTERVAL_MS);
	}
	/* The claim is left to expire: a submitter still finishing its last id keeps it. */
	jobstore_free(st);
	return NULL;
}
