/* s3_url.c - parses s3://BUCKET/PREFIX?endpoint=...&region=... and the AWS_* credentials. */
#include "s3_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "picluster/log.h"
#include "picluster/urlcode.h"

/* A new string: text[0..len) with %XX decoded; NULL for a bad escape, a NUL, or no memory. */
static char *percent_decode(const char *text, size_t len)
{
	char *out = malloc(len + 1);

	if (out && url_percent_decode(text, len, false, out, len + 1) != PC_OK) {
		free(out);
		out = NULL;
	}
	return out;
}

static bool is_valid_bucket(const char *b, size_t len)
{
	/* S3: 3-63 of [a-z0-9.-]; GCS also allows '_' and up to 222 with dots. */
	if (len < 3 || len > 222)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = b[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		      c == '_'))
			return false;
	}
	return isalnum((unsigned char)b[0]) && isalnum((unsigned char)b[len - 1]);
}

static bool is_valid_region(const char *r)
{
	if (!r[0] || strlen(r) > 64)
		return false;
	for (; *r; r++)
		if (!((*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') || *r == '-'))
			return false;
	return true;
}

/*
 * endpoint=http[s]://HOST[:PORT][/]: sets base_url (as given, without a trailing '/') and
 * host (what a client sends as Host: lower case, the scheme's default port left out, the
 * way botocore and curl write it).
 */
static pc_err parse_endpoint(struct s3_config *cfg, const char *ep)
{
	const char *hostport, *end, *colon;
	size_t scheme_len, hp_len;
	bool https;
	struct s3_str host = {0};

	if (strncmp(ep, "http://", 7) == 0) {
		scheme_len = 7;
		https = false;
	} else if (strncmp(ep, "https://", 8) == 0) {
		scheme_len = 8;
		https = true;
	} else {
		log_error("s3 store: endpoint '%.200s' must start with http:// or https://", ep);
		return PC_EINVAL;
	}
	hostport = ep + scheme_len;
	end = strchr(hostport, '/');
	hp_len = end ? (size_t)(end - hostport) : strlen(hostport);
	if (hp_len == 0 || (end && strcmp(end, "/") != 0) || memchr(hostport, '@', hp_len) ||
	    memchr(hostport, '[', hp_len)) {
		log_error("s3 store: endpoint '%.200s' must be scheme://HOST[:PORT] (no path, no "
			  "user, no IPv6 literal)",
			  ep);
		return PC_EINVAL;
	}
	for (size_t i = 0; i < hp_len; i++) {
		char c = hostport[i];

		if (!(isalnum((unsigned char)c) || c == '.' || c == '-' || c == ':'))
			goto bad_host;
	}
	cfg->base_url = strndup(ep, scheme_len + hp_len);
	colon = memchr(hostport, ':', hp_len);
	if (colon) {
		char *endp;
		unsigned long port;

		/* "http://:80" has a port but no host. */
		if (colon == hostport)
			goto bad_host;
		errno = 0;
		port = strtoul(colon + 1, &endp, 10);
		if (errno || endp != hostport + hp_len || colon + 1 == endp || port == 0 ||
		    port > 65535)
			goto bad_host;
		for (const char *p = hostport; p < colon; p++)
			s3_str_addf(&host, "%c", tolower((unsigned char)*p));
		if (port != (https ? 443ul : 80ul))
			s3_str_addf(&host, ":%lu", port);
	} else {
		for (size_t i = 0; i < hp_len; i++)
			s3_str_addf(&host, "%c", tolower((unsigned char)hostport[i]));
	}
	cfg->host = s3_str_take(&host);
	if (!cfg->base_url || !cfg->host)
		return PC_ENOMEM;
	cfg->path_style = true;
	return PC_OK;

bad_host:
	s3_str_clear(&host);
	log_error("s3 store: bad host or port in endpoint '%.200s'", ep);
	return PC_EINVAL;
}

static pc_err parse_size(const char *name, const char *v, unsigned long long lo,
			 unsigned long long hi, unsigned long long *out)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || n < lo || n > hi) {
		log_error("s3 store: %s=%.100s must be an integer from %llu to %llu", name, v, lo,
			  hi);
		return PC_EINVAL;
	}
	*out = n;
	return PC_OK;
}

static pc_err parse_query(struct s3_config *cfg, const char *q, char **endpoint)
{
	pc_err err = PC_OK;

	while (*q && err == PC_OK) {
		const char *amp = strchr(q, '&');
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', len);
		char *key, *value;
		unsigned long long n = 0;

		if (!eq) {
			log_error("s3 store: URL parameter '%.*s' has no value", (int)len, q);
			return PC_EINVAL;
		}
		key = percent_decode(q, (size_t)(eq - q));
		value = percent_decode(eq + 1, len - (size_t)(eq - q) - 1);
		if (!key || !value) {
			log_error("s3 store: bad %%-escape in URL parameter '%.*s'", (int)len, q);
			err = PC_EINVAL;
		} else if (strcmp(key, "endpoint") == 0) {
			free(*endpoint);
			*endpoint = value;
			value = NULL;
		} else if (strcmp(key, "region") == 0) {
			free(cfg->region);
			cfg->region = value;
			value = NULL;
		} else if (strcmp(key, "part_size") == 0) {
			err = parse_size(key, value, S3_MIN_PART_SIZE, S3_MAX_PART_SIZE, &n);
			if (err == PC_OK)
				cfg->part_size = (size_t)n;
		} else if (strcmp(key, "retries") == 0) {
			err = parse_size(key, value, 0, 10, &n);
			if (err == PC_OK)
				cfg->retries = (unsigned)n;
		} else {
			log_error("s3 store: unknown URL parameter '%.100s' (known: endpoint, "
				  "region, part_size, retries)",
				  key);
			err = PC_EINVAL;
		}
		free(key);
		free(value);
		q += len;
		if (*q == '&')
			q++;
	}
	return err;
}

static char *env_dup(const char *name)
{
	const char *v = getenv(name);

	return v && v[0] ? strdup(v) : NULL;
}

/* The prefix in [p, e): its slashes trimmed, then the same rules as object names; stored with
 * one trailing '/' (or "" for none) in cfg->prefix. */
static pc_err parse_prefix(struct s3_config *cfg, const char *p, const char *e)
{
	char *prefix, *with_slash;
	size_t n;

	while (p < e && *p == '/')
		p++;
	while (e > p && e[-1] == '/')
		e--;
	prefix = strndup(p, (size_t)(e - p));
	if (!prefix)
		return PC_ENOMEM;
	if (prefix[0] && !objstore_name_is_valid(prefix)) {
		log_error("s3 store: bad prefix '%.200s' (segments of [A-Za-z0-9._-])", prefix);
		free(prefix);
		return PC_EINVAL;
	}
	if (prefix[0]) {
		n = strlen(prefix);
		with_slash = realloc(prefix, n + 2);
		if (!with_slash) {
			free(prefix);
			return PC_ENOMEM;
		}
		with_slash[n] = '/';
		with_slash[n + 1] = '\0';
		prefix = with_slash;
	}
	cfg->prefix = prefix;
	return PC_OK;
}

/* cfg->region when the URL gave none: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1; then
 * checked whichever way it came. */
static pc_err settle_region(struct s3_config *cfg)
{
	if (!cfg->region) {
		cfg->region = env_dup("AWS_REGION");
		if (!cfg->region)
			cfg->region = env_dup("AWS_DEFAULT_REGION");
		if (!cfg->region)
			cfg->region = strdup("us-east-1");
		if (!cfg->region)
			return PC_ENOMEM;
	}
	if (!is_valid_region(cfg->region)) {
		log_error("s3 store: bad region '%.100s'", cfg->region);
		return PC_EINVAL;
	}
	return PC_OK;
}

/* No endpoint= given: AWS, virtual-hosted style on the regional endpoint; a bucket with dots
 * would not match the wildcard certificate, so it goes path-style. */
static pc_err aws_endpoint(struct s3_config *cfg)
{
	struct s3_str base = {0}, host = {0};

	cfg->path_style = strchr(cfg->bucket, '.') != NULL;
	if (cfg->path_style)
		s3_str_addf(&host, "s3.%s.amazonaws.com", cfg->region);
	else
		s3_str_addf(&host, "%s.s3.%s.amazonaws.com", cfg->bucket, cfg->region);
	s3_str_addf(&base, "https://%s", host.p ? host.p : "");
	cfg->host = s3_str_take(&host);
	cfg->base_url = s3_str_take(&base);
	return cfg->host && cfg->base_url ? PC_OK : PC_ENOMEM;
}

/* The credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN. */
static pc_err read_credentials(struct s3_config *cfg)
{
	cfg->access_key = env_dup("AWS_ACCESS_KEY_ID");
	cfg->secret_key = env_dup("AWS_SECRET_ACCESS_KEY");
	cfg->session_token = env_dup("AWS_SESSION_TOKEN");
	if (!cfg->access_key || !cfg->secret_key) {
		log_error("s3 store: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for s3://%s",
			  cfg->bucket);
		return PC_EAUTH;
	}
	if (strchr(cfg->access_key, ':')) {
		log_error("s3 store: AWS_ACCESS_KEY_ID must not contain ':'");
		return PC_EAUTH;
	}
	return PC_OK;
}

pc_err s3_config_parse(struct s3_config *cfg, const char *rest)
{
	const char *query = strchr(rest, '?');
	size_t path_len = query ? (size_t)(query - rest) : strlen(rest);
	const char *slash = memchr(rest, '/', path_len);
	size_t bucket_len = slash ? (size_t)(slash - rest) : path_len;
	char *endpoint = NULL;
	pc_err err;

	*cfg = (struct s3_config){.part_size = S3_DEFAULT_PART_SIZE, .retries = S3_DEFAULT_RETRIES};
	if (!is_valid_bucket(rest, bucket_len)) {
		log_error("s3 store: bad bucket name in s3://%.200s", rest);
		return PC_EINVAL;
	}
	cfg->bucket = strndup(rest, bucket_len);
	if (!cfg->bucket)
		return PC_ENOMEM;
	err = parse_prefix(cfg, slash ? slash : rest + path_len, rest + path_len);
	if (err == PC_OK && query)
		err = parse_query(cfg, query + 1, &endpoint);
	if (err == PC_OK)
		err = settle_region(cfg);
	if (err == PC_OK)
		err = endpoint ? parse_endpoint(cfg, endpoint) : aws_endpoint(cfg);
	if (err == PC_OK)
		err = read_credentials(cfg);
	free(endpoint);
	if (err != PC_OK)
		s3_config_clear(cfg);
	return err;
}

void s3_config_clear(struct s3_config *cfg)
{
	free(cfg->bucket);
	free(cfg->prefix);
	free(cfg->region);
	free(cfg->base_url);
	free(cfg->host);
	free(cfg->access_key);
	if (cfg->secret_key)
		memset(cfg->secret_key, 0, strlen(cfg->secret_key));
	free(cfg->secret_key);
	free(cfg->session_token);
	*cfg = (struct s3_config){0};
}
