/* urlcode.c - percent-decoding of URL components. */
#include "picluster/urlcode.h"

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

pc_err url_percent_decode(const char *s, size_t n, bool plus_is_space, char *out, size_t cap)
{
	pc_err err = PC_OK;
	size_t o = 0;

	if (cap == 0)
		return PC_ERANGE;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			int hi = n - i >= 3 ? hex_value(s[i + 1]) : -1;
			int lo = n - i >= 3 ? hex_value(s[i + 2]) : -1;

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				err = PC_EINVAL;
				break;
			}
			c = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		}
		if (o + 1 >= cap) {
			err = PC_ERANGE;
			break;
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return err;
}
