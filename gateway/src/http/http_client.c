/* http_client.c - who the client is: the peer, or the address a trusted front names. */
#include "http/http.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* True when the peer is one of --trusted-proxy's addresses. */
static bool peer_is_trusted(const struct gateway *gw, const char *peer)
{
	struct in_addr addr;

	if (gw->cfg.n_trusted == 0 || inet_pton(AF_INET, peer, &addr) != 1)
		return false;
	for (unsigned i = 0; i < gw->cfg.n_trusted; i++)
		if (gw->cfg.trusted[i].s_addr == addr.s_addr)
			return true;
	return false;
}

/*
 * The last X-Forwarded-For entry is the one the trusted front appended (or set): entries
 * before it came from the client and prove nothing. Copied only if it is an IP address.
 */
static bool last_forwarded(const char *xff, char *out, size_t cap)
{
	const char *last = strrchr(xff, ',');
	char buf[INET6_ADDRSTRLEN];
	unsigned char scratch[sizeof(struct in6_addr)];
	size_t len;

	last = last ? last + 1 : xff;
	last += strspn(last, " \t");
	len = strcspn(last, " \t");
	if (len == 0 || len >= sizeof(buf) || len >= cap)
		return false;
	memcpy(buf, last, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, scratch) != 1 && inet_pton(AF_INET6, buf, scratch) != 1)
		return false;
	memcpy(out, buf, len + 1);
	return true;
}

void http_client_address(struct http_req *r)
{
	const char *peer = r->ri->remote_addr;
	const char *xff;

	snprintf(r->client, sizeof(r->client), "%s", peer);
	if (!peer_is_trusted(r->gw, peer))
		return;
	xff = mg_get_header(r->conn, "X-Forwarded-For");
	if (xff)
		last_forwarded(xff, r->client, sizeof(r->client));
}
