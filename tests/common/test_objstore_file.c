/* test_objstore_file.c - the object-store interface and its file:// backend, on a temp dir. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include <cmocka.h>

#include "picluster/objstore.h"
#include "test_sink.h"

struct fixture {
	char dir[64];
	char url[96];
	objstore *os;
};

static pc_err failing_sink(void *ctx, const void *buf, size_t len)
{
	size_t *calls = ctx;

	(*calls)++;
	return PC_ECONFLICT;
}

static int rm_tree(const char *path)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/objstore-test-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	/* A subdirectory that does not exist yet: open must create it. */
	snprintf(f->url, sizeof(f->url), "file://%s/store/", f->dir);
	if (objstore_open(&f->os, f->url) != PC_OK)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	objstore_free(f->os);
	rm_tree(f->dir);
	free(f);
	return 0;
}

/* Fills buf with a pattern that depends on the position, so misplaced bytes show. */
static void pattern(unsigned char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)((i * 31 + seed * 7 + (i >> 13)) & 0xff);
}

static void put_object(objstore *os, const char *name, const unsigned char *data, size_t len,
		       size_t chunk)
{
	objstore_writer *w;

	assert_int_equal(objstore_writer_open(os, name, &w), PC_OK);
	for (size_t off = 0; off < len; off += chunk)
		assert_int_equal(
		    objstore_write(w, data + off, len - off < chunk ? len - off : chunk), PC_OK);
	assert_int_equal(objstore_writer_commit(w), PC_OK);
}

/* Lists the entries of dir (other than . and ..) into one string, sorted by readdir order. */
static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_names(void **state)
{
	static const char *const good[] = {"a", "jobs/0f8e/pi.txt", "a.b/c-d/e_f", "...", "a/.x"};
	static const char *const bad[] = {"",	    "/a", "a/",	  "a//b",  "..",  "../a", "a/..",
					  "a/../b", ".",  "./a",  "a/./b", "a b", "a\\b", "a:b",
					  "a%2e",   "é",  "a\nb", "a?b",   "a~b"};
	char longname[300];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(objstore_name_is_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(objstore_name_is_valid(bad[i]));
	assert_false(objstore_name_is_valid(NULL));
	memset(longname, 'a', sizeof(longname));
	longname[255] = '\0';
	assert_true(objstore_name_is_valid(longname));
	longname[255] = 'a';
	longname[256] = '\0';
	assert_false(objstore_name_is_valid(longname));
}

static void test_open_urls(void **state)
{
	objstore *os = (objstore *)1;

	assert_int_equal(objstore_open(&os, "file://relative/dir"), PC_EINVAL);
	assert_null(os);
	assert_int_equal(objstore_open(&os, "file:///tmp/../etc"), PC_EINVAL);
	assert_int_equal(objstore_open(&os, "file:///tmp/.."), PC_EINVAL);
	assert_int_equal(objstore_open(&os, "file:///tmp/."), PC_EINVAL);
	assert_int_equal(objstore_open(&os, "ftp://x/y"), PC_EINVAL);
	assert_int_equal(objstore_open(&os, "/tmp/x"), PC_EINVAL);
	assert_int_equal(objstore_open(&os, NULL), PC_EINVAL);
	/* A file where the directory should be. */
	assert_int_equal(objstore_open(&os, "file:///dev/null/x"), PC_EIO);
	assert_null(os);
}

static void test_invalid_names_refused(void **state)
{
	struct fixture *f = *state;
	objstore_writer *w = (objstore_writer *)1;
	struct objstore_stat st;
	char *url = (char *)1;
	size_t calls = 0;

	assert_int_equal(objstore_writer_open(f->os, "../escape", &w), PC_EINVAL);
	assert_null(w);
	assert_int_equal(objstore_writer_open(f->os, "/etc/passwd", &w), PC_EINVAL);
	assert_int_equal(objstore_stat(f->os, "a//b", &st), PC_EINVAL);
	assert_int_equal(objstore_read(f->os, "..", 0, 1, failing_sink, &calls), PC_EINVAL);
	assert_int_equal(objstore_delete(f->os, "x/../../y"), PC_EINVAL);
	assert_int_equal(objstore_presign_get(f->os, "../a", 60, &url), PC_EINVAL);
	assert_null(url);
	assert_int_equal(calls, 0);
}

static void test_write_read_stat_delete(void **state)
{
	struct fixture *f = *state;
	const size_t len = 1000 * 1000 + 17; /* several read chunks, not a multiple of one */
	unsigned char *data = malloc(len);
	struct test_sink c = {.buf = malloc(len), .cap = len};
	struct objstore_stat st;
	char path[256];

	assert_non_null(data);
	assert_non_null(c.buf);
	pattern(data, len, 1);
	put_object(f->os, "jobs/abc/pi.txt", data, len, 4093);

	assert_int_equal(objstore_stat(f->os, "jobs/abc/pi.txt", &st), PC_OK);
	assert_int_equal(st.size, len);
	snprintf(path, sizeof(path), "%s/store/jobs/abc", f->dir);
	assert_int_equal(count_entries(path), 1); /* no temporary file left */

	/* The whole object, in bounded chunks. */
	assert_int_equal(objstore_read(f->os, "jobs/abc/pi.txt", 0, len, test_sink_collect, &c),
			 PC_OK);
	assert_int_equal(c.len, len);
	assert_memory_equal(c.buf, data, len);
	assert_true(c.calls >= 4);
	assert_true(c.max_chunk <= 256 * 1024);

	/* Ranges: inside, at the end, empty, and past the end. */
	c.len = c.calls = 0;
	assert_int_equal(
	    objstore_read(f->os, "jobs/abc/pi.txt", 12345, 300000, test_sink_collect, &c), PC_OK);
	assert_int_equal(c.len, 300000);
	assert_memory_equal(c.buf, data + 12345, 300000);
	c.len = 0;
	assert_int_equal(objstore_read(f->os, "jobs/abc/pi.txt", len - 1, 1, test_sink_collect, &c),
			 PC_OK);
	assert_int_equal(c.len, 1);
	assert_int_equal(c.buf[0], data[len - 1]);
	c.len = c.calls = 0;
	assert_int_equal(objstore_read(f->os, "jobs/abc/pi.txt", len, 0, test_sink_collect, &c),
			 PC_OK);
	assert_int_equal(c.len, 0);
	assert_int_equal(objstore_read(f->os, "jobs/abc/pi.txt", len - 1, 2, test_sink_collect, &c),
			 PC_ERANGE);
	assert_int_equal(objstore_read(f->os, "jobs/abc/pi.txt", len + 1, 0, test_sink_collect, &c),
			 PC_ERANGE);
	assert_int_equal(
	    objstore_read(f->os, "jobs/abc/pi.txt", UINT64_MAX, 2, test_sink_collect, &c),
	    PC_ERANGE);
	assert_int_equal(c.calls, 0);

	/* A sink's error stops the read and comes back. */
	{
		size_t calls = 0;

		assert_int_equal(
		    objstore_read(f->os, "jobs/abc/pi.txt", 0, len, failing_sink, &calls),
		    PC_ECONFLICT);
		assert_int_equal(calls, 1);
	}

	/* Overwrite with a smaller object: readers see the new one whole. */
	put_object(f->os, "jobs/abc/pi.txt", data + 1, 10, 10);
	assert_int_equal(objstore_stat(f->os, "jobs/abc/pi.txt", &st), PC_OK);
	assert_int_equal(st.size, 10);

	assert_int_equal(objstore_delete(f->os, "jobs/abc/pi.txt"), PC_OK);
	assert_int_equal(objstore_stat(f->os, "jobs/abc/pi.txt", &st), PC_ENOTFOUND);
	assert_int_equal(objstore_read(f->os, "jobs/abc/pi.txt", 0, 1, test_sink_collect, &c),
			 PC_ENOTFOUND);
	assert_int_equal(objstore_delete(f->os, "jobs/abc/pi.txt"), PC_OK); /* idempotent */
	assert_int_equal(objstore_stat(f->os, "jobs/none/pi.txt", &st), PC_ENOTFOUND);
	/* A directory is not an object. */
	assert_int_equal(objstore_stat(f->os, "jobs/abc", &st), PC_ENOTFOUND);
	assert_int_equal(objstore_read(f->os, "jobs", 0, 0, test_sink_collect, &c), PC_ENOTFOUND);

	/* An empty object is an object. */
	put_object(f->os, "empty", data, 0, 1);
	assert_int_equal(objstore_stat(f->os, "empty", &st), PC_OK);
	assert_int_equal(st.size, 0);

	/* The file store cannot presign. */
	{
		char *url = (char *)1;

		assert_int_equal(objstore_presign_get(f->os, "empty", 60, &url), PC_ENOTSUP);
		assert_null(url);
	}
	free(c.buf);
	free(data);
}

static void test_abort_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	objstore_writer *w;
	struct objstore_stat st;
	char path[256];
	unsigned char data[5000];

	pattern(data, sizeof(data), 2);
	assert_int_equal(objstore_writer_open(f->os, "jobs/ab/pi.txt", &w), PC_OK);
	assert_int_equal(objstore_write(w, data, sizeof(data)), PC_OK);
	/* Not visible before commit. */
	assert_int_equal(objstore_stat(f->os, "jobs/ab/pi.txt", &st), PC_ENOTFOUND);
	objstore_writer_abort(w);
	assert_int_equal(objstore_stat(f->os, "jobs/ab/pi.txt", &st), PC_ENOTFOUND);
	snprintf(path, sizeof(path), "%s/store/jobs/ab", f->dir);
	assert_int_equal(count_entries(path), 0);

	/* Abort of a replacement keeps the old object. */
	put_object(f->os, "jobs/ab/pi.txt", data, 100, 100);
	assert_int_equal(objstore_writer_open(f->os, "jobs/ab/pi.txt", &w), PC_OK);
	assert_int_equal(objstore_write(w, data, sizeof(data)), PC_OK);
	objstore_writer_abort(w);
	assert_int_equal(objstore_stat(f->os, "jobs/ab/pi.txt", &st), PC_OK);
	assert_int_equal(st.size, 100);
	assert_int_equal(count_entries(path), 1);
	objstore_writer_abort(NULL);
}

/* A writer killed before commit or abort leaves its temporary file; discard removes it and
 * nothing else. */
static void test_discard_incomplete(void **state)
{
	struct fixture *f = *state;
	struct objstore_stat st;
	unsigned char data[3000];
	char path[256];
	int status;
	pid_t pid;

	pattern(data, sizeof(data), 3);
	put_object(f->os, "jobs/k/pi.txt", data, 100, 100);
	put_object(f->os, "jobs/k/pi.txt.other", data, 10, 10);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		objstore_writer *w;

		if (objstore_writer_open(f->os, "jobs/k/pi.txt", &w) != PC_OK ||
		    objstore_write(w, data, sizeof(data)) != PC_OK)
			_exit(1);
		_exit(0); /* as if killed: neither commit nor abort */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	snprintf(path, sizeof(path), "%s/store/jobs/k", f->dir);
	assert_int_equal(count_entries(path), 3);
	assert_int_equal(objstore_discard_incomplete(f->os, "jobs/k/pi.txt"), PC_OK);
	assert_int_equal(count_entries(path), 2);
	assert_int_equal(objstore_stat(f->os, "jobs/k/pi.txt", &st), PC_OK);
	assert_int_equal(st.size, 100);
	assert_int_equal(objstore_stat(f->os, "jobs/k/pi.txt.other", &st), PC_OK);
	/* Nothing to do, or no directory at all: fine. */
	assert_int_equal(objstore_discard_incomplete(f->os, "jobs/k/pi.txt"), PC_OK);
	assert_int_equal(objstore_discard_incomplete(f->os, "jobs/none/pi.txt"), PC_OK);
	assert_int_equal(objstore_discard_incomplete(f->os, "../x"), PC_EINVAL);
}

/* Concurrent writers of one name: each its own handle and content; one whole object wins. */
#define WRITERS 4

struct writer_arg {
	const char *url;
	unsigned id;
	pc_err err;
};

static size_t writer_len(unsigned id)
{
	return 300000 + id * 70001;
}

static void *writer_thread(void *p)
{
	struct writer_arg *a = p;
	size_t len = writer_len(a->id);
	unsigned char *data = malloc(len);
	objstore *os = NULL;
	objstore_writer *w = NULL;

	a->err = PC_ENOMEM;
	if (!data)
		return NULL;
	memset(data, 'a' + a->id, len);
	a->err = objstore_open(&os, a->url);
	if (a->err == PC_OK)
		a->err = objstore_writer_open(os, "jobs/same/pi.txt", &w);
	for (size_t off = 0; a->err == PC_OK && off < len; off += 8192)
		a->err = objstore_write(w, data + off, len - off < 8192 ? len - off : 8192);
	if (a->err == PC_OK)
		a->err = objstore_writer_commit(w);
	else
		objstore_writer_abort(w);
	objstore_free(os);
	free(data);
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	struct fixture *f = *state;
	pthread_t th[WRITERS];
	struct writer_arg args[WRITERS];
	struct objstore_stat st;
	struct test_sink c;
	char path[256];
	unsigned winner;

	for (unsigned i = 0; i < WRITERS; i++) {
		args[i] = (struct writer_arg){.url = f->url, .id = i, .err = PC_EINTERNAL};
		assert_int_equal(pthread_create(&th[i], NULL, writer_thread, &args[i]), 0);
	}
	for (unsigned i = 0; i < WRITERS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(args[i].err, PC_OK);
	}
	assert_int_equal(objstore_stat(f->os, "jobs/same/pi.txt", &st), PC_OK);
	c = (struct test_sink){.buf = malloc(st.size), .cap = st.size};
	assert_non_null(c.buf);
	assert_int_equal(
	    objstore_read(f->os, "jobs/same/pi.txt", 0, st.size, test_sink_collect, &c), PC_OK);
	winner = (unsigned)(c.buf[0] - 'a');
	assert_true(winner < WRITERS);
	assert_int_equal(st.size, writer_len(winner));
	for (size_t i = 0; i < c.len; i++)
		if (c.buf[i] != 'a' + winner)
			fail_msg("byte %zu is '%c', expected writer %u's '%c'", i, c.buf[i], winner,
				 'a' + winner);
	snprintf(path, sizeof(path), "%s/store/jobs/same", f->dir);
	assert_int_equal(count_entries(path), 1);
	free(c.buf);
}

/* What a failure case run in a child process saw (a child, so that a mount namespace, a file
 * size limit or dropped privileges never reach the other tests). */
struct child_seen {
	int skipped;	 /* the case cannot be set up here (no mount namespace) */
	pc_err open_err; /* objstore_open, then objstore_writer_open */
	pc_err write_err, again_err, commit_err;
	char write_msg[512], commit_msg[512];
};

/* Writes `len` bytes to `name` in 16 KiB writes until one fails, then once more, then commits:
 * the failure must stick, and commit must refuse with it and keep its detail. */
static void write_until_failure(objstore *os, const char *name, size_t len, struct child_seen *r)
{
	static unsigned char chunk[16384];
	objstore_writer *w;

	r->open_err = objstore_writer_open(os, name, &w);
	snprintf(r->write_msg, sizeof(r->write_msg), "%s", objstore_errmsg(os));
	if (r->open_err != PC_OK)
		return;
	memset(chunk, '7', sizeof(chunk));
	for (size_t done = 0; done < len && r->write_err == PC_OK; done += sizeof(chunk))
		r->write_err = objstore_write(w, chunk, sizeof(chunk));
	snprintf(r->write_msg, sizeof(r->write_msg), "%s", objstore_errmsg(os));
	r->again_err = objstore_write(w, chunk, 1);
	r->commit_err = objstore_writer_commit(w);
	snprintf(r->commit_msg, sizeof(r->commit_msg), "%s", objstore_errmsg(os));
}

/* Runs fn(dir, &seen) in a child and returns what it saw. */
static struct child_seen in_child(void (*fn)(const char *dir, struct child_seen *r),
				  const char *dir)
{
	struct child_seen r;
	int fds[2], status;
	pid_t pid;

	memset(&r, 0, sizeof(r));
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		fn(dir, &r);
		_exit(write(fds[1], &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 1);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &r, sizeof(r)), (ssize_t)sizeof(r));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return r;
}

/* A 64 KiB tmpfs in a private mount namespace (root only), filled past its end. */
static void fill_small_disk(const char *dir, struct child_seen *r)
{
	char mnt[128], url[160];
	objstore *os;

	snprintf(mnt, sizeof(mnt), "%s/small", dir);
	if (mkdir(mnt, 0755) != 0 || unshare(CLONE_NEWNS) != 0 ||
	    mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", mnt, "tmpfs", 0, "size=64k") != 0) {
		r->skipped = 1;
		return;
	}
	snprintf(url, sizeof(url), "file://%s", mnt);
	r->open_err = objstore_open(&os, url);
	if (r->open_err == PC_OK) {
		write_until_failure(os, "jobs/full/pi.txt", 1 << 20, r);
		objstore_free(os);
	}
}

/* A file size limit (RLIMIT_FSIZE, as a quota would refuse): EFBIG instead of SIGXFSZ. */
static void exceed_file_size(const char *dir, struct child_seen *r)
{
	struct rlimit lim = {.rlim_cur = 64 * 1024, .rlim_max = RLIM_INFINITY};
	char url[160];
	objstore *os;

	signal(SIGXFSZ, SIG_IGN);
	snprintf(url, sizeof(url), "file://%s/store", dir);
	r->open_err = objstore_open(&os, url);
	if (r->open_err != PC_OK)
		return;
	if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
		r->skipped = 1;
	else
		write_until_failure(os, "jobs/big/pi.txt", 1 << 20, r);
	objstore_free(os);
}

/* A store whose directories this process may not write: as root, after dropping to nobody
 * (root passes every permission check); otherwise read-only modes are enough. */
static void write_without_permission(const char *dir, struct child_seen *r)
{
	char url[160];
	objstore *os;

	snprintf(url, sizeof(url), "file://%s/store", dir);
	if (geteuid() == 0) {
		if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
		    setresuid(65534, 65534, 65534) != 0) {
			r->skipped = 1;
			return;
		}
	} else {
		char path[128];

		snprintf(path, sizeof(path), "%s/store", dir);
		if (chmod(path, 0555) != 0) {
			r->skipped = 1;
			return;
		}
	}
	r->open_err = objstore_open(&os, url);
	if (r->open_err != PC_OK)
		return;
	write_until_failure(os, "jobs/denied/pi.txt", 1024, r);
	objstore_free(os);
}

/* A full disk reads as PC_ENOSPACE, with errno's text; a write after it and the commit
 * return the same, and nothing is published. */
static void test_full_disk(void **state)
{
	struct fixture *f = *state;
	struct child_seen r;
	struct objstore_stat st;

	r = in_child(fill_small_disk, f->dir);
	if (r.skipped) {
		fprintf(stderr, "  (no tmpfs in a private mount namespace here: ENOSPC not run)\n");
	} else {
		assert_int_equal(r.open_err, PC_OK);
		assert_int_equal(r.write_err, PC_ENOSPACE);
		assert_non_null(strstr(r.write_msg, "No space left on device"));
		assert_non_null(strstr(r.write_msg, "jobs/full/pi.txt"));
		assert_int_equal(r.again_err, PC_ENOSPACE);
		assert_int_equal(r.commit_err, PC_ENOSPACE);
		assert_string_equal(r.commit_msg, r.write_msg);
	}

	r = in_child(exceed_file_size, f->dir);
	assert_false(r.skipped);
	assert_int_equal(r.open_err, PC_OK);
	assert_int_equal(r.write_err, PC_ENOSPACE);
	assert_non_null(strstr(r.write_msg, "File too large"));
	assert_int_equal(r.again_err, PC_ENOSPACE);
	assert_int_equal(r.commit_err, PC_ENOSPACE);
	assert_string_equal(r.commit_msg, r.write_msg);
	assert_int_equal(objstore_stat(f->os, "jobs/big/pi.txt", &st), PC_ENOTFOUND);
	assert_string_equal(objstore_errmsg(f->os), "");
}

/* Permission refused reads as PC_EAUTH, naming the directory and errno's text. */
static void test_permission_denied(void **state)
{
	struct fixture *f = *state;
	struct child_seen r;

	/* mkdtemp's 0700 would refuse nobody the whole tree: let it reach the store. */
	assert_int_equal(chmod(f->dir, 0755), 0);
	r = in_child(write_without_permission, f->dir);
	assert_false(r.skipped);
	assert_int_equal(r.open_err, PC_EAUTH);
	assert_non_null(strstr(r.write_msg, "Permission denied"));
	assert_non_null(strstr(r.write_msg, "/store/jobs"));
	assert_string_equal(pc_strerror(PC_EAUTH), "access denied");
	assert_string_equal(pc_strerror(PC_ENOSPACE), "no space left on the storage");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_open_urls),
	    cmocka_unit_test_setup_teardown(test_invalid_names_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_read_stat_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_discard_incomplete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_disk, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_permission_denied, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
