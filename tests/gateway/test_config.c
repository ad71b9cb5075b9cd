/* test_config.c - pi-gateway's flag and environment parsing (gateway/src/config.c). */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define ARGV(...) ((char *[]){"pi-gateway", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"pi-gateway", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(cfg, err, ...) \
	gw_config_parse(cfg, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), err, sizeof(err))

static const char *const env_vars[] = {
    "PICLUSTER_LISTEN",
    "PICLUSTER_REDIS",
    "PICLUSTER_STORE",
    "PICLUSTER_SCHEDULER",
    "PICLUSTER_RANKS",
    "PICLUSTER_MAX_DIGITS",
    "PICLUSTER_MAX_QUEUED",
    "PICLUSTER_MAX_RUNNING",
    "PICLUSTER_KEY_PREFIX",
    "PICLUSTER_INSTANCE",
    "PICLUSTER_DOWNLOAD",
    "PICLUSTER_PRESIGN_EXPIRY",
    "PICLUSTER_STATE_DIR",
    "PICLUSTER_SLURM_PARTITION",
    "PICLUSTER_SLURM_ARGS",
    "PICLUSTER_TRUSTED_PROXY",
    "PICLUSTER_REQUEST_TIMEOUT",
    "PICLUSTER_KEEP_ALIVE_TIMEOUT",
    "PICLUSTER_REDIS_PASSWORD",
    "PICLUSTER_REDIS_PASSWORD_FILE",
    "PICLUSTER_AUTH",
    "PICLUSTER_METRICS_PUBLIC",
};

static int clear_env(void **state)
{
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
	return 0;
}

static void test_defaults(void **state)
{
	struct gw_config cfg;
	char err[256];

	assert_int_equal(PARSE(&cfg, err, "--store", "file:///tmp/x"), PC_OK);
	assert_string_equal(cfg.listen_host, "127.0.0.1");
	assert_int_equal(cfg.listen_port, 8080);
	assert_string_equal(cfg.scheduler, "local");
	assert_int_equal(cfg.max_digits, 100000000);
	assert_int_equal(cfg.download, GW_DOWNLOAD_PROXY);
	assert_int_equal(cfg.presign_expiry, 900);
	assert_string_equal(cfg.key_prefix, "picluster:");
	/* The host name, whatever the port: a restart on another port keeps its jobs. */
	assert_true(cfg.instance[0] != '\0');
	assert_null(strstr(cfg.instance, "8080"));
	assert_false(cfg.help);
}

/* The hostile-client settings: timeouts that bound a stalled client, and the fronts whose
 * X-Forwarded-For is believed. */
static void test_exposure_flags(void **state)
{
	struct gw_config cfg;
	char err[256];

	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s"), PC_OK);
	assert_int_equal(cfg.request_timeout_ms, 10000);
	assert_int_equal(cfg.keep_alive_timeout_ms, 2000);
	assert_int_equal(cfg.n_trusted, 0);
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "--request-timeout", "500",
			       "--keep-alive-timeout", "0", "--trusted-proxy",
			       "127.0.0.1,10.1.2.3"),
			 PC_OK);
	assert_int_equal(cfg.request_timeout_ms, 500);
	assert_int_equal(cfg.keep_alive_timeout_ms, 0);
	assert_int_equal(cfg.n_trusted, 2);
	assert_int_equal(cfg.trusted[1].s_addr, htonl(0x0a010203));
	setenv("PICLUSTER_TRUSTED_PROXY", "127.0.0.2", 1);
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s"), PC_OK);
	assert_int_equal(cfg.n_trusted, 1);
	unsetenv("PICLUSTER_TRUSTED_PROXY");
	static char *bad[] = {"",    "127.0.0.1,",	     ",127.0.0.1", "localhost",
			      "::1", "127.0.0.1,,127.0.0.2", "1.2.3.4/8"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!bad[i][0])
			continue; /* "" is "none", tested below */
		assert_int_equal(
		    PARSE(&cfg, err, "--store", "file:///s", "--trusted-proxy", bad[i]), PC_EINVAL);
		assert_non_null(strstr(err, "--trusted-proxy"));
	}
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "--trusted-proxy", ""), PC_OK);
	assert_int_equal(cfg.n_trusted, 0);
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "--request-timeout", "99"),
			 PC_EINVAL);
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "--keep-alive-timeout", "-1"),
			 PC_EINVAL);
}

static void test_all_flags(void **state)
{
	struct gw_config cfg;
	char err[256];

	assert_int_equal(PARSE(&cfg, err, "--listen", "127.0.0.1:9001", "--redis",
			       "unix:///tmp/r.sock?db=2", "--store", "file:///s", "--scheduler",
			       "none", "--ranks", "4", "--max-digits", "5000", "--max-queued", "7",
			       "--max-running=3", "--key-prefix", "t:", "--instance", "gw-a",
			       "--download", "redirect", "--presign-expiry", "60", "--state-dir",
			       "/tmp/st", "--slurm-partition", "debug", "--slurm-time", "00:05:00",
			       "--slurm-account", "acct", "--slurm-args", "--qos=low --exclusive",
			       "--slurm-script", "/x/pi.sbatch", "--http-threads", "8"),
			 PC_OK);
	assert_int_equal(cfg.listen_port, 9001);
	assert_string_equal(cfg.redis_url, "unix:///tmp/r.sock?db=2");
	assert_string_equal(cfg.scheduler, "none");
	assert_int_equal(cfg.ranks, 4);
	assert_int_equal(cfg.max_digits, 5000);
	assert_int_equal(cfg.max_queued, 7);
	assert_int_equal(cfg.max_running, 3);
	assert_string_equal(cfg.key_prefix, "t:");
	assert_string_equal(cfg.instance, "gw-a");
	assert_int_equal(cfg.download, GW_DOWNLOAD_REDIRECT);
	assert_int_equal(cfg.presign_expiry, 60);
	assert_string_equal(cfg.state_dir, "/tmp/st");
	assert_string_equal(cfg.slurm_partition, "debug");
	assert_string_equal(cfg.slurm_time, "00:05:00");
	assert_string_equal(cfg.slurm_account, "acct");
	assert_string_equal(cfg.slurm_args, "--qos=low --exclusive");
	assert_string_equal(cfg.slurm_script, "/x/pi.sbatch");
	assert_int_equal(cfg.http_threads, 8);
}

static void test_env_and_flags_win(void **state)
{
	struct gw_config cfg;
	char err[256];

	setenv("PICLUSTER_STORE", "file:///from-env", 1);
	setenv("PICLUSTER_MAX_QUEUED", "12", 1);
	setenv("PICLUSTER_RANKS", "3", 1);
	assert_int_equal(PARSE(&cfg, err, "--ranks", "5"), PC_OK);
	assert_string_equal(cfg.store_url, "file:///from-env");
	assert_int_equal(cfg.max_queued, 12);
	assert_int_equal(cfg.ranks, 5); /* the flag wins */
	clear_env(NULL);
}

static void test_bad_env(void **state)
{
	struct gw_config cfg;
	char err[256];

	setenv("PICLUSTER_MAX_RUNNING", "lots", 1);
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s"), PC_EINVAL);
	assert_non_null(strstr(err, "PICLUSTER_MAX_RUNNING"));
	clear_env(NULL);
}

static void test_rejects(void **state)
{
	static const char *const bad[][2] = {
	    {"--ranks", "0"},
	    {"--ranks", "-1"},
	    {"--ranks", "2x"},
	    {"--ranks", ""},
	    {"--ranks", " 2"},
	    {"--max-digits", "0"},
	    {"--max-digits", "99999999999999999999999"},
	    {"--listen", "8080"},
	    {"--listen", "127.0.0.1:70000"},
	    {"--listen", "::1:80"},
	    {"--listen", "host:80"},
	    {"--scheduler", "pbs"},
	    {"--download", "both"},
	    {"--presign-expiry", "0"},
	    {"--max-running", "+3"},
	};
	struct gw_config cfg;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = {"pi-gateway",	   "--store",	      "file:///s",
				(char *)bad[i][0], (char *)bad[i][1], NULL};

		err[0] = '\0';
		assert_int_equal(gw_config_parse(&cfg, 5, argv, err, sizeof(err)), PC_EINVAL);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "--bogus"), PC_EINVAL);
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "--ranks"), PC_EINVAL);
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "extra"), PC_EINVAL);
	assert_int_equal(PARSE(&cfg, err, "--ranks", "2"), PC_EINVAL); /* no --store */
	assert_non_null(strstr(err, "--store"));
}

static void test_help(void **state)
{
	struct gw_config cfg;
	char err[256];

	assert_int_equal(PARSE(&cfg, err, "--help"), PC_OK);
	assert_true(cfg.help);
	assert_int_equal(PARSE(&cfg, err, "-h"), PC_OK);
	assert_true(cfg.help);
}

/* The Redis password: out of the URL, from a file, from PICLUSTER_REDIS_PASSWORD; never in
 * redis_url nor in a message. */
static void test_redis_password(void **state)
{
	char path[] = "/tmp/gw-config-pw-XXXXXX";
	struct gw_config cfg;
	char err[256];
	int fd;

	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s"), PC_OK);
	assert_string_equal(cfg.redis_password, "");
	assert_int_equal(
	    PARSE(&cfg, err, "--store", "file:///s", "--redis", "redis://:s%40cret@h:1/2"), PC_OK);
	assert_string_equal(cfg.redis_url, "redis://h:1/2");
	assert_string_equal(cfg.redis_password, "s@cret");
	assert_int_equal(
	    PARSE(&cfg, err, "--store", "file:///s", "--redis", "unix://alice:pw@/run/r.sock?db=1"),
	    PC_OK);
	assert_string_equal(cfg.redis_url, "unix://alice@/run/r.sock?db=1");
	assert_string_equal(cfg.redis_password, "pw");

	/* The environment is the fallback; the URL wins. */
	setenv("PICLUSTER_REDIS_PASSWORD", "from-env", 1);
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s"), PC_OK);
	assert_string_equal(cfg.redis_password, "from-env");
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "--redis", "redis://:u@h"),
			 PC_OK);
	assert_string_equal(cfg.redis_password, "u");

	/* A file (flag or PICLUSTER_REDIS_PASSWORD_FILE) also wins over the environment. */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "from-file\n", 10), 10);
	close(fd);
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "--redis-password-file", path),
			 PC_OK);
	assert_string_equal(cfg.redis_password, "from-file");
	setenv("PICLUSTER_REDIS_PASSWORD_FILE", path, 1);
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s"), PC_OK);
	assert_string_equal(cfg.redis_password, "from-file");
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "--redis", "redis://:s3cret@h"),
			 PC_EINVAL);
	assert_non_null(strstr(err, "give one"));
	assert_null(strstr(err, "s3cret"));
	unsetenv("PICLUSTER_REDIS_PASSWORD_FILE");
	unlink(path);
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "--redis-password-file", path),
			 PC_EINVAL);
	assert_non_null(strstr(err, "cannot read"));
	assert_string_equal(cfg.redis_password, "");
	unsetenv("PICLUSTER_REDIS_PASSWORD");

	/* A malformed URL is refused without quoting it. */
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "--redis", "redis://:s3cret@"),
			 PC_EINVAL);
	assert_non_null(strstr(err, "--redis"));
	assert_null(strstr(err, "s3cret"));
}

/* --auth keys|none, --metrics-public (a flag without a value; 1 or 0 in the environment), and
 * the loopback test behind the --auth none warning. */
static void test_auth_flags(void **state)
{
	struct gw_config cfg;
	char err[256];

	/* The default is keys: a gateway started without --auth refuses anonymous callers. */
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s"), PC_OK);
	assert_int_equal(cfg.auth, GW_AUTH_KEYS);
	assert_false(cfg.metrics_public);
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "--auth", "none"), PC_OK);
	assert_int_equal(cfg.auth, GW_AUTH_NONE);
	assert_true(gw_config_listen_is_loopback(&cfg));
	assert_int_equal(
	    PARSE(&cfg, err, "--store", "file:///s", "--auth", "keys", "--metrics-public"), PC_OK);
	assert_int_equal(cfg.auth, GW_AUTH_KEYS);
	assert_true(cfg.metrics_public);
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "--auth", "Keys"), PC_EINVAL);
	assert_non_null(strstr(err, "--auth wants keys or none"));
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "--metrics-public=1"), PC_EINVAL);
	setenv("PICLUSTER_AUTH", "keys", 1);
	setenv("PICLUSTER_METRICS_PUBLIC", "1", 1);
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s"), PC_OK);
	assert_int_equal(cfg.auth, GW_AUTH_KEYS);
	assert_true(cfg.metrics_public);
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "--auth", "none"), PC_OK);
	assert_int_equal(cfg.auth, GW_AUTH_NONE);
	setenv("PICLUSTER_AUTH", "none", 1);
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s"), PC_OK);
	assert_int_equal(cfg.auth, GW_AUTH_NONE);
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "--auth", "keys"), PC_OK);
	assert_int_equal(cfg.auth, GW_AUTH_KEYS);
	setenv("PICLUSTER_METRICS_PUBLIC", "yes", 1);
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s"), PC_EINVAL);
	setenv("PICLUSTER_METRICS_PUBLIC", "0", 1);
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s"), PC_OK);
	assert_false(cfg.metrics_public);

	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "--listen", "127.8.9.1:0"),
			 PC_OK);
	assert_true(gw_config_listen_is_loopback(&cfg));
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "--listen", "0.0.0.0:80"), PC_OK);
	assert_false(gw_config_listen_is_loopback(&cfg));
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "--listen", "10.1.2.3:80"),
			 PC_OK);
	assert_false(gw_config_listen_is_loopback(&cfg));
	assert_int_equal(PARSE(&cfg, err, "--store", "file:///s", "--listen", "128.0.0.1:80"),
			 PC_OK);
	assert_false(gw_config_listen_is_loopback(&cfg));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_defaults, clear_env),
	    cmocka_unit_test_setup(test_all_flags, clear_env),
	    cmocka_unit_test_setup(test_exposure_flags, clear_env),
	    cmocka_unit_test_setup(test_auth_flags, clear_env),
	    cmocka_unit_test_setup(test_env_and_flags_win, clear_env),
	    cmocka_unit_test_setup(test_bad_env, clear_env),
	    cmocka_unit_test_setup(test_rejects, clear_env),
	    cmocka_unit_test_setup(test_help, clear_env),
	    cmocka_unit_test_setup(test_redis_password, clear_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
