/* test_procid.c - process identities (common/src/procid.c) against real processes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "picluster/procid.h"

static void test_self(void **state)
{
	char id[PROCID_MAX];
	struct procid_stat ps;
	unsigned long long start;
	pid_t pid;

	assert_int_equal(procid_of(getpid(), id, sizeof(id)), PC_OK);
	assert_true(procid_parse(id, &pid, &start));
	assert_int_equal(pid, getpid());
	assert_int_equal(procid_stat(getpid(), &ps), PC_OK);
	assert_true(ps.start_ticks == start);
	assert_int_equal(ps.session, getsid(0));
	assert_true(procid_is_alive(id));
	/* The same pid with another start time is another process. */
	snprintf(id, sizeof(id), "%d:%llu", (int)getpid(), start + 1);
	assert_false(procid_is_alive(id));
	assert_int_equal(procid_of(getpid(), id, 4), PC_ERANGE);
}

/* A child that has exited: a zombie is not alive, a reaped one does not exist. */
static void test_ended_child(void **state)
{
	char id[PROCID_MAX];
	int pipefd[2], status;
	char c;
	pid_t child;

	assert_int_equal(pipe(pipefd), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(pipefd[1]);
		if (read(pipefd[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(pipefd[0]);
	assert_int_equal(procid_of(child, id, sizeof(id)), PC_OK);
	assert_true(procid_is_alive(id));
	close(pipefd[1]); /* the child reads EOF and exits */
	for (int i = 0; i < 500 && procid_is_alive(id); i++)
		usleep(10000);
	assert_false(procid_is_alive(id)); /* a zombie until reaped */
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_false(procid_is_alive(id));
	assert_int_equal(procid_of(child, id, sizeof(id)), PC_ENOTFOUND);
}

static void test_parse(void **state)
{
	static const char *const bad[] = {"",	    "1:5",	     "0:5",  "-3:5",  "12",
					  "12:",    "12:x",	     ":12",  "12:5 ", " 12:5",
					  "12:5:6", "99999999999:1", "12:-5"};
	unsigned long long start;
	pid_t pid;

	assert_true(procid_parse("4242:123456", &pid, &start));
	assert_int_equal(pid, 4242);
	assert_true(start == 123456);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(procid_parse(bad[i], &pid, &start));
		assert_false(procid_is_alive(bad[i]));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_self),
	    cmocka_unit_test(test_ended_child),
	    cmocka_unit_test(test_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
