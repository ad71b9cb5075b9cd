/* clock.h - milliseconds for deadlines and waits: a monotonic clock and a sleep. */
#ifndef PICLUSTER_CLOCK_H
#define PICLUSTER_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC: for deadlines and elapsed times, never for dates (those are
 * job_now_ms, on the wall clock). Never fails. */
int64_t pc_monotonic_ms(void);

/* Sleeps ms milliseconds (nothing for ms <= 0); a signal does not cut the sleep short. */
void pc_sleep_ms(long ms);

#endif
