/* procid.c - "PID:STARTTICKS" process identities, read from /proc. */
#include "picluster/procid.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

pc_err procid_stat(pid_t pid, struct procid_stat *out)
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
	/* "pid (comm) state ppid pgrp session ... starttime(22) ...": comm may hold spaces and
	 * parentheses, so fields are counted from the last ')'. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return PC_EIO;
	p += 2;
	out->state = *p;
	out->session = 0;
	out->start_ticks = 0;
	for (field = 3; *p && field < 22; p++) {
		char *end;
		unsigned long long v;

		if (*p != ' ')
			continue;
		field++;
		if (field != 6 && field != 22)
			continue;
		errno = 0;
		v = strtoull(p + 1, &end, 10);
		if (errno || end == p + 1 || (*end != ' ' && *end != '\0'))
			return PC_EIO;
		if (field == 6)
			out->session = (pid_t)v;
		else
			out->start_ticks = v;
	}
	return field == 22 ? PC_OK : PC_EIO;
}

pc_err procid_of(pid_t pid, char *out, size_t cap)
{
	struct procid_stat ps;
	pc_err rc = procid_stat(pid, &ps);
	int n;

	if (rc != PC_OK)
		return rc;
	n = snprintf(out, cap, "%d:%llu", (int)pid, ps.start_ticks);
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
	struct procid_stat ps;
	unsigned long long want;
	pid_t pid;

	if (!procid_parse(id, &pid, &want))
		return false;
	if (procid_stat(pid, &ps) != PC_OK)
		return false;
	return ps.start_ticks == want && ps.state != 'Z' && ps.state != 'X';
}
