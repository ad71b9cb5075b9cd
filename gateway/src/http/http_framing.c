/* http_framing.c - refuses requests whose body length or target could be read two ways. */
#include "http/http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Content-Length's value: one or more digits, then optional whitespace (RFC 9110 8.6). */
static bool is_plain_length(const char *v)
{
	size_t n = strspn(v, "0123456789");

	return n > 0 && v[n + strspn(v + n, " \t")] == '\0';
}

/*
 * RFC 9112 6.3: a body's length comes from exactly one place, or a proxy in front and this
 * server may split the same bytes into different requests (request smuggling). civetweb
 * itself takes the first Content-Length it finds, and lets "Transfer-Encoding: identity" fall
 * through to Content-Length, so the ambiguous cases are refused here before any routing.
 */
bool http_framing_is_ambiguous(const struct mg_request_info *ri, char *why, size_t cap)
{
	const char *length = NULL, *coding = NULL;
	int n_length = 0, n_coding = 0, n_host = 0;
	bool http11 = ri->http_version && strcmp(ri->http_version, "1.1") == 0;

	for (int i = 0; i < ri->num_headers; i++) {
		const char *name = ri->http_headers[i].name;

		if (strcasecmp(name, "Content-Length") == 0) {
			n_length++;
			length = ri->http_headers[i].value;
		} else if (strcasecmp(name, "Transfer-Encoding") == 0) {
			n_coding++;
			coding = ri->http_headers[i].value;
		} else if (strcasecmp(name, "Host") == 0) {
			n_host++;
		}
	}
	if (n_length > 1)
		snprintf(why, cap, "more than one Content-Length header");
	else if (n_coding > 1)
		snprintf(why, cap, "more than one Transfer-Encoding header");
	else if (n_length && n_coding)
		snprintf(why, cap, "both Content-Length and Transfer-Encoding");
	else if (length && !is_plain_length(length))
		snprintf(why, cap, "Content-Length must be a decimal number");
	else if (coding && strcasecmp(coding, "chunked") != 0)
		snprintf(why, cap, "the only transfer coding accepted is chunked");
	else if (coding && !http11)
		snprintf(why, cap, "Transfer-Encoding is not allowed in HTTP/1.0");
	else if (http11 && n_host != 1)
		snprintf(why, cap, "an HTTP/1.1 request carries exactly one Host header");
	else
		return false;
	return true;
}

bool http_request_has_body(const struct mg_request_info *ri)
{
	if (ri->content_length > 0)
		return true;
	for (int i = 0; i < ri->num_headers; i++)
		if (strcasecmp(ri->http_headers[i].name, "Transfer-Encoding") == 0)
			return true;
	return false;
}
