/* procid.c - "PID:STARTTICKS" process identities, read from /proc. */
#include "picluster/procid.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads the state (field 3) and start time (field 22) of /proc/PID/stat. */
static pc_err read_stat(pid_t pid, char *state, unsigned long long *start)
{
	char path[64], buf[1024];
	const char *p;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? PC_ENOTFOUND : PC_EIO;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return PC_ENOTFOUND;
	buf[n] = '\0';
	/* "pid (comm) state ...": comm may hold spaces and parentheses, so fields are counted
	 * from the last ')'. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return PC_EIO;
	p += 2;
	*state = *p;
	for (field = 3; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	if (field != 22 || *p < '0' || *p > '9')
		return PC_EIO;
	errno = 0;
	*start = strtoull(p, NULL, 10);
	return errno ? PC_EIO : PC_OK;
}

pc_err procid_of(pid_t pid, char *out, size_t cap)
{
	unsigned long long start;
	char state;
	pc_err rc = read_stat(pid, &state, &start);
	int n;

	if (rc != PC_OK)
		return rc;
	n = snprintf(out, cap, "%d:%llu", (int)pid, start);
	return n > 0 && (size_t)n < cap ? PC_OK : PC_ERANGE;
}

bool procid_parse(const char *id, pid_t *pid, unsigned long long *start_ticks)
{
	char *end;
	long p;
	unsigned long long s;

	if (id[0] < '1' || id[0] > '9')
		return false;
	errno = 0;
	p = strtol(id, &end, 10);
	if (errno || *end != ':' || p <= 1 || p > 0x3fffffff)
		return false;
	if (end[1] < '0' || end[1] > '9')
		return false;
	s = strtoull(end + 1, &end, 10);
	if (errno || *end)
		return false;
	*pid = (pid_t)p;
	*start_ticks = s;
	return true;
}

bool procid_is_alive(const char *id)
{
	unsigned long long want, start;
	pid_t pid;
	char state;

	if (!procid_parse(id, &pid, &want))
		return false;
	if (read_stat(pid, &state, &start) != PC_OK)
		return false;
	return start == want && state != 'Z' && state != 'X';
}
