/* fuzz_range.c - libFuzzer target: the Range header of downloads (http_parse_range). */
#include "fuzz.h"

#include "http/request.h"

/*
 * The first 8 bytes are the object's size (the first byte alone when the input is shorter,
 * so small objects are common), the rest the header value. An accepted range must lie
 * inside the object and be non-empty; the download route sends exactly those bytes.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t obj_size = 0, first = 7, length = 7;
	size_t skip;
	char *header;
	pc_err rc;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		obj_size = data[0] >> 1;
		skip = 1;
	} else if (size >= 9) {
		memcpy(&obj_size, data + 1, 8);
		skip = 9;
	} else {
		obj_size = 10000000002ull; /* 3. and 1e10 digits and a newline */
		skip = 1;
	}
	header = fuzz_strdup(data + skip, size - skip);
	rc = http_parse_range(header, obj_size, &first, &length);
	if (rc == PC_OK) {
		FUZZ_CHECK(obj_size > 0);
		FUZZ_CHECK(first < obj_size);
		FUZZ_CHECK(length >= 1 && length <= obj_size - first);
	} else {
		FUZZ_CHECK(rc == PC_ERANGE);
		FUZZ_CHECK(first == 7 && length == 7); /* untouched on failure */
	}
	free(header);
	return 0;
}
