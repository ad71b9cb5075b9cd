/* keys_secret.c - API key secrets: random, base64url-encoded, and their SHA-256. */
#include "keys/keys.h"

#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void gw_key_secret_encode(const uint8_t raw[GW_KEY_SECRET_RAW], char out[GW_KEY_SECRET_LEN + 1])
{
	size_t o = strlen(GW_KEY_SECRET_PREFIX);
	uint32_t acc = 0;
	int bits = 0;

	memcpy(out, GW_KEY_SECRET_PREFIX, o);
	/* 6 bits per character, most significant first; the last of 43 characters carries the
	 * remaining 4 bits (256 = 42 * 6 + 4) followed by two zero bits. */
	for (size_t i = 0; i < GW_KEY_SECRET_RAW; i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = b64url[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		out[o++] = b64url[(acc << (6 - bits)) & 63];
	out[o] = '\0';
}

pc_err gw_key_secret_new(char out[GW_KEY_SECRET_LEN + 1])
{
	uint8_t raw[GW_KEY_SECRET_RAW];
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

		if (n < 0) {
			out[0] = '\0';
			return PC_EIO;
		}
		got += (size_t)n;
	}
	gw_key_secret_encode(raw, out);
	explicit_bzero(raw, sizeof(raw));
	return PC_OK;
}

bool gw_key_secret_is_wellformed(const char *s, size_t len)
{
	size_t p = strlen(GW_KEY_SECRET_PREFIX);
	const char *last;

	if (len != GW_KEY_SECRET_LEN || memcmp(s, GW_KEY_SECRET_PREFIX, p) != 0)
		return false;
	for (size_t i = p; i < len; i++)
		if (!s[i] || !strchr(b64url, s[i]))
			return false;
	/* The last character's two low bits are padding and must be zero. */
	last = strchr(b64url, s[len - 1]);
	return ((last - b64url) & 3) == 0;
}

pc_err gw_key_secret_hash(const char *s, size_t len, uint8_t hash[API_KEY_HASH_LEN])
{
	unsigned int n = 0;

	if (EVP_Digest(s, len, hash, &n, EVP_sha256(), NULL) != 1 || n != API_KEY_HASH_LEN)
		return PC_EINTERNAL;
	return PC_OK;
}
