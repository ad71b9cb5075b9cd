/* fuzz_s3_xml.c - libFuzzer target: text of S3's XML answers (s3_xml_text). */
#include "fuzz.h"

#include "objstore/s3_int.h"

/*
 * The first byte picks the element the S3 backend looks for and the size of the output
 * buffer (0 included); the rest is the answer's body as S3 sent it. The text must fit its
 * buffer, and unescaping can only shorten it.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const tags[] = {"Code", "Message",		"UploadId",
					   "Key",  "IsTruncated",	"NextKeyMarker",
					   "ETag", "NextUploadIdMarker"};
	char out[520];
	size_t cap;
	const char *tag;
	char *xml;
	bool found;

	if (size < 1)
		return 0;
	tag = tags[data[0] & 7];
	cap = (size_t)(data[0] >> 3) * 16 + (data[0] & 1); /* 0 .. 497 */
	xml = fuzz_strdup(data + 1, size - 1);
	memset(out, 'x', sizeof(out));
	found = s3_xml_text(xml, tag, out, cap);
	for (size_t i = cap; i < sizeof(out); i++)
		FUZZ_CHECK(out[i] == 'x');
	if (cap == 0) {
		FUZZ_CHECK(!found);
	} else {
		FUZZ_CHECK(memchr(out, '\0', cap) != NULL);
		FUZZ_CHECK(strlen(out) <= strlen(xml));
		if (!found)
			FUZZ_CHECK(out[0] == '\0');
		else
			FUZZ_CHECK(strstr(xml, tag) != NULL);
	}
	FUZZ_CHECK(!s3_xml_text(NULL, tag, out, cap));
	free(xml);
	return 0;
}
