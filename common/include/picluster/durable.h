/* durable.h - publishing a file whole: temporary file + fsync + rename, then the directory. */
#ifndef PICLUSTER_DURABLE_H
#define PICLUSTER_DURABLE_H

#include "picluster/error.h"

/*
 * Publishes the temporary file tmp_path (open as fd, fully written) under final_path, in the
 * order that survives a crash: fsync(fd) first (data before name; a full disk may show only
 * here, with delayed allocation), close(fd), then rename(tmp_path, final_path), so that
 * final_path names the whole new file or the previous one, never a partial file. Both paths
 * must be in one file system (keep the temporary file beside final_path). fd is closed
 * whatever happens; tmp_path is left to the caller on failure (remove it). Make the rename
 * itself durable with pc_durable_sync_dir on the directory.
 *
 * PC_OK, or the failed call's pc_err with *failed_call ("fsync", "close" or "rename") and
 * errno as that call left them.
 */
pc_err pc_durable_publish(int fd, const char *tmp_path, const char *final_path,
			  const char **failed_call);

/*
 * fsyncs the directory dir so that entries created, renamed or removed in it are durable.
 * PC_OK, or the failed call's pc_err with *failed_call ("open directory" or "fsync
 * directory") and errno as that call left them.
 */
pc_err pc_durable_sync_dir(const char *dir, const char **failed_call);

#endif
