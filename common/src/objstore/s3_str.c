/* s3_str.c - growable strings with sticky failure, percent-encoding and XML escaping. */
#include "s3_str.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool s3_str_reserve(struct s3_str *s, size_t extra)
{
	size_t want, cap;
	char *p;

	if (s->failed)
		return false;
	if (extra > (size_t)-1 / 2 - s->len) {
		s->failed = true;
		return false;
	}
	want = s->len + extra + 1;
	if (want <= s->cap)
		return true;
	cap = s->cap ? s->cap : 64;
	while (cap < want)
		cap *= 2;
	p = realloc(s->p, cap);
	if (!p) {
		s->failed = true;
		return false;
	}
	s->p = p;
	s->cap = cap;
	return true;
}

void s3_str_addn(struct s3_str *s, const char *text, size_t len)
{
	if (!s3_str_reserve(s, len))
		return;
	memcpy(s->p + s->len, text, len);
	s->len += len;
	s->p[s->len] = '\0';
}

void s3_str_add(struct s3_str *s, const char *text)
{
	s3_str_addn(s, text, strlen(text));
}

void s3_str_addf(struct s3_str *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		s->failed = true;
		return;
	}
	if (!s3_str_reserve(s, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(s->p + s->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	s->len += (size_t)n;
}

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

void s3_str_add_encoded(struct s3_str *s, const char *text, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (is_unreserved(*p) || (keep_slash && *p == '/')) {
			s3_str_addn(s, (const char *)p, 1);
		} else {
			char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};

			s3_str_addn(s, esc, 3);
		}
	}
}

void s3_str_add_xml(struct s3_str *s, const char *text)
{
	for (const char *p = text; *p; p++) {
		switch (*p) {
		case '&':
			s3_str_add(s, "&amp;");
			break;
		case '<':
			s3_str_add(s, "&lt;");
			break;
		case '>':
			s3_str_add(s, "&gt;");
			break;
		case '"':
			s3_str_add(s, "&quot;");
			break;
		case '\'':
			s3_str_add(s, "&apos;");
			break;
		default:
			s3_str_addn(s, p, 1);
		}
	}
}

bool s3_str_failed(const struct s3_str *s)
{
	return s->failed;
}

char *s3_str_take(struct s3_str *s)
{
	char *p;

	if (s->failed || !s3_str_reserve(s, 0)) {
		s3_str_clear(s);
		return NULL;
	}
	s->p[s->len] = '\0';
	p = s->p;
	*s = (struct s3_str){0};
	return p;
}

void s3_str_clear(struct s3_str *s)
{
	free(s->p);
	*s = (struct s3_str){0};
}
