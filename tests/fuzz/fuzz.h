/* fuzz.h - what every libFuzzer target shares: input copies, quiet logs, invariant checks. */
#ifndef PICLUSTER_FUZZ_H
#define PICLUSTER_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "picluster/log.h"

/* libFuzzer's entry points; declared here so that -Wmissing-prototypes builds stay quiet. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/*
 * An invariant of the parser under test: a failure prints the condition and aborts, which
 * libFuzzer reports as a crash and saves the input as an artifact.
 */
#define FUZZ_CHECK(cond)                                                                     \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                      \
			abort();                                                             \
		}                                                                            \
	} while (0)

/*
 * A NUL-terminated heap copy of data[0..size) (parsers want C strings): exactly size + 1
 * bytes, so AddressSanitizer sees any read past the terminator. Aborts without memory.
 */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	FUZZ_CHECK(s != NULL);
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/*
 * Silences the project's log records: parsers log every rejected input, and a write(2) per
 * execution would cost most of the fuzzer's speed. A level above ERROR drops them all.
 */
static inline void fuzz_quiet_logs(void)
{
	log_init("fuzz", (enum log_level)(LOG_LEVEL_ERROR + 1));
}

#endif
