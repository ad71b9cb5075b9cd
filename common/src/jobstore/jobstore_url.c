/* jobstore_url.c - Redis URLs: parsing, checking, redacting; passwords from URLs and files. */
#include "jobstore_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "picluster/log.h"
#include "picluster/urlcode.h"

static pc_err url_fail(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static pc_err url_fail(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (why && cap) {
		va_start(ap, fmt);
		vsnprintf(why, cap, fmt, ap);
		va_end(ap);
	}
	return PC_EINVAL;
}

/* Parses exactly the decimal digits [s, end) into 0..max; false for empty, signs, junk. */
static bool parse_uint(const char *s, const char *end, long max, int *out)
{
	long v = 0;

	if (s == end || end - s > 10)
		return false;
	for (const char *p = s; p < end; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (*p - '0');
	}
	if (v > max)
		return false;
	*out = (int)v;
	return true;
}

static bool is_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

/* Databases 0..65535: Redis's default is 16, and SELECT refuses what the server lacks. */
#define JOBSTORE_DB_MAX 65535

static const char url_tcp[] = "redis://";
static const char url_unix[] = "unix://";

/*
 * Where the userinfo of a URL is. After the scheme ("://"), the userinfo ends at an '@':
 * for redis:// the last one (host, port and database never hold one, a password may); for
 * unix:// the first "@/" (a socket path may hold '@', e.g. /run/redis@a/redis.sock), and none
 * when the path follows the scheme at once. A unix:// URL with an '@' but no "@/" masks up to
 * its last '@' as well, so that redaction never leaves a password that parsing refuses.
 * Sets *ui (start of the userinfo) and *at (its '@'); false when there is none.
 */
static bool find_userinfo(const char *url, const char **ui, const char **at)
{
	const char *sep = strstr(url, "://");
	const char *a = NULL;

	if (!sep)
		return false;
	*ui = sep + 3;
	if (strncmp(url, url_unix, sizeof(url_unix) - 1) == 0) {
		if (**ui == '/')
			return false;
		a = strstr(*ui, "@/");
	}
	if (!a)
		a = strrchr(*ui, '@');
	*at = a;
	return a != NULL;
}

/* Percent-decodes the userinfo [ui, at) into user and password (a ':' splits them). */
static pc_err parse_userinfo(const char *ui, const char *at, struct jobstore_url *out, char *why,
			     size_t why_cap)
{
	const char *colon = memchr(ui, ':', (size_t)(at - ui));
	const char *user_end = colon ? colon : at;
	pc_err rc;

	rc = url_percent_decode(ui, (size_t)(user_end - ui), false, out->user, sizeof(out->user));
	if (rc)
		return url_fail(why, why_cap, "Redis URL: %s user name",
				rc == PC_ERANGE ? "too long a" : "malformed %-escape in the");
	if (colon) {
		rc = url_percent_decode(colon + 1, (size_t)(at - colon - 1), false, out->password,
					sizeof(out->password));
		if (rc)
			return url_fail(why, why_cap, "Redis URL: %s password",
					rc == PC_ERANGE ? "too long a"
							: "malformed %-escape in the");
	}
	/* "default" is the user the one-argument AUTH means; it also works before Redis 6. */
	if (strcmp(out->user, "default") == 0)
		out->user[0] = '\0';
	return PC_OK;
}

/* The part after the userinfo of unix://: "/path[?db=N]". */
static pc_err parse_unix(const char *path, const char *end, struct jobstore_url *out, char *why,
			 size_t why_cap)
{
	const char *q = strchr(path, '?');
	const char *path_end = q ? q : end;

	out->is_unix = true;
	if (path[0] != '/')
		return url_fail(why, why_cap,
				"unix socket URL needs an absolute path: unix:///path or "
				"unix://:PASSWORD@/path");
	if (path_end - path < 2)
		return url_fail(why, why_cap, "unix socket URL has no socket path");
	if ((size_t)(path_end - path) >= sizeof(out->path))
		return url_fail(why, why_cap, "unix socket path too long");
	memcpy(out->path, path, (size_t)(path_end - path));
	out->path[path_end - path] = '\0';
	if (q) {
		if (strncmp(q, "?db=", 4) != 0)
			return url_fail(why, why_cap,
					"unix socket URL: only the query ?db=N is understood");
		if (!parse_uint(q + 4, end, JOBSTORE_DB_MAX, &out->db))
			return url_fail(why, why_cap, "unix socket URL: db must be a number 0..%d",
					JOBSTORE_DB_MAX);
	}
	return PC_OK;
}

/* The part after the userinfo of redis://: "HOST[:PORT][/DB]". */
static pc_err parse_tcp(const char *p, const char *end, struct jobstore_url *out, char *why,
			size_t why_cap)
{
	const char *host_end = p;

	while (host_end < end && is_host_char(*host_end))
		host_end++;
	if (host_end == p)
		return url_fail(why, why_cap, "Redis URL has no host");
	if (host_end < end && *host_end != ':' && *host_end != '/')
		return url_fail(why, why_cap,
				"Redis URL: unexpected '%c' in host (IPv6 is not supported)",
				*host_end);
	if ((size_t)(host_end - p) >= sizeof(out->host))
		return url_fail(why, why_cap, "Redis URL: host name too long");
	memcpy(out->host, p, (size_t)(host_end - p));
	out->host[host_end - p] = '\0';
	out->port = 6379;
	p = host_end;
	if (p < end && *p == ':') {
		const char *port_end = memchr(p, '/', (size_t)(end - p));

		if (!port_end)
			port_end = end;
		if (!parse_uint(p + 1, port_end, 65535, &out->port) || out->port == 0)
			return url_fail(why, why_cap, "Redis URL: port must be a number 1..65535");
		p = port_end;
	}
	if (p < end) {
		/* p is at '/': a database number must follow. */
		if (!parse_uint(p + 1, end, JOBSTORE_DB_MAX, &out->db))
			return url_fail(why, why_cap, "Redis URL: database must be a number 0..%d",
					JOBSTORE_DB_MAX);
	}
	return PC_OK;
}

pc_err jobstore_url_parse(const char *url, struct jobstore_url *out, char *why, size_t why_cap)
{
	const char *ui, *at, *rest, *end;
	bool is_unix;
	pc_err rc;

	if (why && why_cap)
		why[0] = '\0';
	memset(out, 0, sizeof(*out));
	if (!url || !*url)
		return url_fail(why, why_cap, "empty Redis URL");
	end = url + strlen(url);
	is_unix = strncmp(url, url_unix, sizeof(url_unix) - 1) == 0;
	if (!is_unix && strncmp(url, url_tcp, sizeof(url_tcp) - 1) != 0)
		return url_fail(why, why_cap,
				"Redis URL must be redis://[:PASSWORD@]HOST:PORT[/DB] or "
				"unix://[:PASSWORD@]/path[?db=N]");
	rest = url + (is_unix ? sizeof(url_unix) : sizeof(url_tcp)) - 1;
	if (find_userinfo(url, &ui, &at)) {
		rc = parse_userinfo(ui, at, out, why, why_cap);
		if (rc)
			goto out_clear;
		rest = at + 1;
	}
	rc = is_unix ? parse_unix(rest, end, out, why, why_cap)
		     : parse_tcp(rest, end, out, why, why_cap);
out_clear:
	if (rc) {
		/* A refused URL leaves no credentials behind. */
		explicit_bzero(out, sizeof(*out));
	}
	return rc;
}

const char *jobstore_url_redact(const char *url, char *out, size_t cap)
{
	const char *ui, *at, *colon;

	if (!cap)
		return out;
	if (!url) {
		snprintf(out, cap, "(none)");
		return out;
	}
	if (!find_userinfo(url, &ui, &at)) {
		snprintf(out, cap, "%s", url);
		return out;
	}
	colon = memchr(ui, ':', (size_t)(at - ui));
	if (colon && colon + 1 < at)
		snprintf(out, cap, "%.*s:***%s", (int)(colon - url), url, at);
	else
		snprintf(out, cap, "%s", url); /* a user name alone: nothing secret */
	return out;
}

pc_err jobstore_url_split_password(const char *url, char *url_out, size_t url_cap,
				   char *password_out, size_t password_cap, char *why,
				   size_t why_cap)
{
	struct jobstore_url *u;
	const char *ui, *at, *colon;
	int n;
	pc_err rc;

	if (url_cap)
		url_out[0] = '\0';
	if (password_cap)
		password_out[0] = '\0';
	u = malloc(sizeof(*u)); /* PATH_MAX inside: too big for small thread stacks */
	if (!u)
		return PC_ENOMEM;
	rc = jobstore_url_parse(url, u, why, why_cap);
	if (rc)
		goto out_free;
	if (!find_userinfo(url, &ui, &at) || !(colon = memchr(ui, ':', (size_t)(at - ui)))) {
		n = snprintf(url_out, url_cap, "%s", url);
	} else if (colon == ui) {
		/* ":PASSWORD@": the userinfo goes as a whole. */
		n = snprintf(url_out, url_cap, "%.*s%s", (int)(ui - url), url, at + 1);
	} else {
		/* "USER:PASSWORD@" keeps "USER@". */
		n = snprintf(url_out, url_cap, "%.*s%s", (int)(colon - url), url, at);
	}
	if (n < 0 || (size_t)n >= url_cap || strlen(u->password) >= password_cap) {
		url_fail(why, why_cap, "Redis URL or password too long");
		rc = PC_ERANGE;
		goto out_free;
	}
	snprintf(password_out, password_cap, "%s", u->password);
out_free:
	explicit_bzero(u, sizeof(*u));
	free(u);
	if (rc && url_cap)
		url_out[0] = '\0';
	return rc;
}

pc_err jobstore_password_file_read(const char *path, char *password_out, size_t password_cap,
				   char *why, size_t why_cap)
{
	char buf[JOBSTORE_PASSWORD_MAX + 2];
	size_t len;
	FILE *f;
	pc_err rc = PC_OK;

	if (password_cap)
		password_out[0] = '\0';
	f = fopen(path, "re");
	if (!f) {
		url_fail(why, why_cap, "cannot read the Redis password file %s: %s", path,
			 strerror(errno));
		return PC_EIO;
	}
	if (!fgets(buf, sizeof(buf), f)) {
		if (ferror(f)) {
			url_fail(why, why_cap, "cannot read the Redis password file %s: %s", path,
				 strerror(errno));
			rc = PC_EIO;
		} else {
			buf[0] = '\0';
		}
	}
	fclose(f);
	if (rc)
		goto out_clear;
	len = strcspn(buf, "\n");
	if (buf[len] != '\n' && len >= sizeof(buf) - 1) {
		url_fail(why, why_cap, "the Redis password file %s: first line too long", path);
		rc = PC_ERANGE;
		goto out_clear;
	}
	buf[len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (len == 0) {
		url_fail(why, why_cap, "the Redis password file %s is empty", path);
		rc = PC_EINVAL;
	} else if (len >= password_cap) {
		url_fail(why, why_cap, "the Redis password file %s: password too long", path);
		rc = PC_ERANGE;
	} else {
		memcpy(password_out, buf, len + 1);
	}
out_clear:
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

pc_err jobstore_url_check(const char *url, char *why, size_t why_cap)
{
	struct jobstore_url u;

	return jobstore_url_parse(url, &u, why, why_cap);
}
