/* log.h - one-line log records on stderr: time, level, program, message. */
#ifndef PICLUSTER_LOG_H
#define PICLUSTER_LOG_H

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* Sets the program name shown in each record (borrowed: must outlive logging) and the
 * lowest level written. Safe to call once at start-up; logging before it uses "picluster". */
void log_init(const char *program, enum log_level min_level);

/* Writes one record: "2026-11-27T23:05:56.123Z INFO pi-gateway: message\n". The record is
 * formatted into one buffer and written with a single write(2), so concurrent threads and
 * processes sharing stderr never interleave within a line. Never fails visibly. */
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_write(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_write(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
