/* test_metrics.c - request counters, the duration histogram and their Prometheus text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/metrics.h"

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static void test_render(void **state)
{
	static struct http_metrics m; /* zeroed, as in the gateway */
	uint64_t counts[JOB_STATE_COUNT] = {1, 2, 3, 4, 5, 6};
	char *text = NULL;
	size_t len = 0;

	http_metrics_count_request(&m, HTTP_ROUTE_POST_JOB, 201);
	http_metrics_count_request(&m, HTTP_ROUTE_POST_JOB, 201);
	http_metrics_count_request(&m, HTTP_ROUTE_POST_JOB, 400);
	http_metrics_count_request(&m, HTTP_ROUTE_DOWNLOAD, 206);
	http_metrics_count_request(&m, HTTP_ROUTE_OTHER, 418); /* not in the table */
	http_metrics_count_request(&m, HTTP_ROUTE_COUNT, 404); /* out of range: "other" */
	http_metrics_observe_duration(&m, 50);		       /* <= 0.1 s */
	http_metrics_observe_duration(&m, 1000);	       /* <= 1 s (bounds are inclusive) */
	http_metrics_observe_duration(&m, 7200000);	       /* > 1 h: +Inf only */
	http_metrics_observe_duration(&m, -5);		       /* clock skew counts as 0 */

	assert_int_equal(http_metrics_render(&m, true, counts, 7, &text, &len), PC_OK);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	assert_true(
	    has_line(text, "picluster_http_requests_total{route=\"post_job\",status=\"201\"} 2"));
	assert_true(
	    has_line(text, "picluster_http_requests_total{route=\"post_job\",status=\"400\"} 1"));
	assert_true(
	    has_line(text, "picluster_http_requests_total{route=\"download\",status=\"206\"} 1"));
	assert_true(
	    has_line(text, "picluster_http_requests_total{route=\"other\",status=\"other\"} 1"));
	assert_true(
	    has_line(text, "picluster_http_requests_total{route=\"other\",status=\"404\"} 1"));
	assert_false(
	    has_line(text, "picluster_http_requests_total{route=\"get_job\",status=\"200\"} 0"));
	assert_true(has_line(text, "picluster_jobs{state=\"running\"} 3"));
	assert_true(has_line(text, "picluster_jobs{state=\"cancelled\"} 6"));
	assert_true(has_line(text, "picluster_queue_depth 7"));
	assert_true(has_line(text, "picluster_redis_up 1"));
	assert_true(has_line(text, "picluster_job_duration_seconds_bucket{le=\"0.1\"} 2"));
	assert_true(has_line(text, "picluster_job_duration_seconds_bucket{le=\"0.5\"} 2"));
	assert_true(has_line(text, "picluster_job_duration_seconds_bucket{le=\"1\"} 3"));
	assert_true(has_line(text, "picluster_job_duration_seconds_bucket{le=\"3600\"} 3"));
	assert_true(has_line(text, "picluster_job_duration_seconds_bucket{le=\"+Inf\"} 4"));
	assert_true(has_line(text, "picluster_job_duration_seconds_count 4"));
	assert_true(has_line(text, "picluster_job_duration_seconds_sum 7201.050"));
	assert_true(has_line(text, "# TYPE picluster_job_duration_seconds histogram"));
	free(text);

	/* Redis down: the job gauges are left out, the counters stay. */
	assert_int_equal(http_metrics_render(&m, false, counts, 7, &text, &len), PC_OK);
	assert_true(has_line(text, "picluster_redis_up 0"));
	assert_null(strstr(text, "picluster_jobs{"));
	assert_null(strstr(text, "picluster_queue_depth"));
	assert_true(
	    has_line(text, "picluster_http_requests_total{route=\"post_job\",status=\"201\"} 2"));
	free(text);
}

static void test_route_names(void **state)
{
	assert_string_equal(http_route_name(HTTP_ROUTE_GET_JOB), "get_job");
	assert_string_equal(http_route_name(HTTP_ROUTE_METRICS), "metrics");
	assert_string_equal(http_route_name(HTTP_ROUTE_COUNT), "other");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render),
	    cmocka_unit_test(test_route_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
