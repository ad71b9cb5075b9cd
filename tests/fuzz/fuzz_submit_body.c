/* fuzz_submit_body.c - libFuzzer target: the POST /job body parser (http_parse_submit_body). */
#include "fuzz.h"

#include "http/request.h"

/* The gateway's default --max-digits is far below this; a large bound reaches more code. */
#define MAX_DIGITS 1000000000000ull

/*
 * The body is copied into a buffer of exactly its size, without a terminator, as civetweb
 * hands it over: the parser takes a length and must never read past it.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = malloc(size ? size : 1);
	char msg[256];
	uint64_t digits = 7;
	pc_err rc;

	FUZZ_CHECK(body != NULL);
	if (size)
		memcpy(body, data, size);
	msg[0] = '\0';
	rc = http_parse_submit_body(body, size, MAX_DIGITS, &digits, msg, sizeof(msg));
	if (rc == PC_OK) {
		FUZZ_CHECK(digits >= 1 && digits <= MAX_DIGITS);
		/* A valid body is a JSON object: it has at least "{", "}" and "digits". */
		FUZZ_CHECK(size >= 12);
	} else {
		FUZZ_CHECK(rc == PC_EINVAL);
		FUZZ_CHECK(digits == 0);
		FUZZ_CHECK(msg[0] != '\0' && memchr(msg, '\0', sizeof(msg)) != NULL);
	}
	free(body);
	return 0;
}
