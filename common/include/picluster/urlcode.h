/* urlcode.h - percent-decoding of URL components, shared by the HTTP API and the store URLs. */
#ifndef PICLUSTER_URLCODE_H
#define PICLUSTER_URLCODE_H

#include <stdbool.h>
#include <stddef.h>

#include "picluster/error.h"

/*
 * Decodes the %XX escapes of s[0..n) into out, NUL-terminated; with plus_is_space a '+'
 * becomes a space (form encoding of query strings). PC_EINVAL for a malformed escape or an
 * encoded NUL (which would cut a C string short), PC_ERANGE when out's cap bytes are too few.
 * out is always NUL-terminated when cap > 0, also on failure.
 */
pc_err url_percent_decode(const char *s, size_t n, bool plus_is_space, char *out, size_t cap);

#endif
