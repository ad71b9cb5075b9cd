/* s3_str.h - a growable string for building S3 URLs, canonical requests and XML bodies. */
#ifndef PICLUSTER_S3_STR_H
#define PICLUSTER_S3_STR_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Appends never fail visibly: on allocation failure the string is marked failed and later
 * appends do nothing, so a sequence of appends is checked once with s3_str_failed().
 * Zero-initialise (struct s3_str s = {0}); s3_str_clear() frees.
 */
struct s3_str {
	char *p; /* NUL-terminated when len > 0 or after any append */
	size_t len;
	size_t cap;
	bool failed;
};

void s3_str_add(struct s3_str *s, const char *text);
void s3_str_addn(struct s3_str *s, const char *text, size_t len);
void s3_str_addf(struct s3_str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Appends text percent-encoded as SigV4 and S3 want it (RFC 3986): A-Z a-z 0-9 - . _ ~ are
 * kept, every other byte becomes %XX with upper-case hex; '/' is kept when keep_slash (object
 * key paths) and encoded otherwise (query keys and values).
 */
void s3_str_add_encoded(struct s3_str *s, const char *text, bool keep_slash);

/* Appends text with & < > " ' escaped for an XML element's content. */
void s3_str_add_xml(struct s3_str *s, const char *text);

bool s3_str_failed(const struct s3_str *s);

/* Gives the buffer to the caller (free()) and resets s; NULL if an append failed. */
char *s3_str_take(struct s3_str *s);

void s3_str_clear(struct s3_str *s);

#endif
