/* durable.c - publishing a file whole: temporary file + fsync + rename, then the directory. */
#include "picluster/durable.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

/* Closes fd (when >= 0) without changing errno: the failure being reported is another's. */
static void close_keeping_errno(int fd)
{
	int e = errno;

	if (fd >= 0)
		close(fd);
	errno = e;
}

pc_err pc_durable_publish(int fd, const char *tmp_path, const char *final_path,
			  const char **failed_call)
{
	*failed_call = NULL;
	if (fsync(fd) < 0) {
		*failed_call = "fsync";
		close_keeping_errno(fd);
		return pc_err_from_errno(errno);
	}
	if (close(fd) < 0) {
		*failed_call = "close";
		return pc_err_from_errno(errno);
	}
	if (rename(tmp_path, final_path) < 0) {
		*failed_call = "rename";
		return pc_err_from_errno(errno);
	}
	return PC_OK;
}

pc_err pc_durable_sync_dir(const char *dir, const char **failed_call)
{
	int fd;

	*failed_call = NULL;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		*failed_call = "open directory";
		return pc_err_from_errno(errno);
	}
	if (fsync(fd) < 0) {
		*failed_call = "fsync directory";
		close_keeping_errno(fd);
		return pc_err_from_errno(errno);
	}
	close(fd);
	return PC_OK;
}
