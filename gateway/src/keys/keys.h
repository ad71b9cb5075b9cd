/* keys.h - API key secrets (made, checked and hashed here) and `pi-gateway key`. */
#ifndef PICLUSTER_GATEWAY_KEYS_H
#define PICLUSTER_GATEWAY_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "picluster/error.h"
#include "picluster/jobstore.h"

/*
 * A secret is "pk_" and the 32 random bytes (256 bits) from getrandom(2) in unpadded
 * base64url (RFC 4648, section 5): 3 + 43 = 46 characters of [A-Za-z0-9_-]. Redis keeps only
 * SHA-256 of these 46 bytes.
 */
#define GW_KEY_SECRET_PREFIX "pk_"
#define GW_KEY_SECRET_RAW    32
#define GW_KEY_SECRET_LEN    (3 + 43)

/* Encodes raw as a secret into out (GW_KEY_SECRET_LEN + 1 bytes, NUL-terminated). */
void gw_key_secret_encode(const uint8_t raw[GW_KEY_SECRET_RAW], char out[GW_KEY_SECRET_LEN + 1]);

/* A new random secret into out. PC_EIO when getrandom fails. */
pc_err gw_key_secret_new(char out[GW_KEY_SECRET_LEN + 1]);

/* True when s (len bytes) has a secret's shape: the prefix, then 43 base64url characters
 * whose last one carries no stray bits (so each secret has exactly one spelling). */
bool gw_key_secret_is_wellformed(const char *s, size_t len);

/* SHA-256 of s (len bytes) into hash. PC_EINTERNAL when libcrypto fails. */
pc_err gw_key_secret_hash(const char *s, size_t len, uint8_t hash[API_KEY_HASH_LEN]);

/*
 * `pi-gateway key create|list|revoke ...`: argv[0] is "key". Prints what the subcommand
 * prints and returns the exit status: 0 done, 2 bad input (unknown flag, bad name or number,
 * a taken name on create, an unknown name on revoke), 1 Redis unreachable or refusing the
 * password.
 */
int gw_keys_main(int argc, char **argv);

/* The usage text of `pi-gateway key`. */
void gw_keys_usage(FILE *out, const char *program);

#endif
