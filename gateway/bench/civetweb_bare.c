/* civetweb_bare.c - the smallest civetweb JSON handler: the HTTP ceiling bench-gateway compares to.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <civetweb.h>

/* Answers every request with a fixed 200 JSON body of about a job's size. */
static int handler(struct mg_connection *conn, void *cbdata)
{
	static const char body[] = "{\"id\":\"00000000-0000-4000-8000-000000000000\","
				   "\"state\":\"created\",\"digits\":1000}";
	char buf[512];
	int n = snprintf(buf, sizeof(buf),
			 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n%s",
			 sizeof(body) - 1, body);

	if (n > 0 && (size_t)n < sizeof(buf))
		mg_write(conn, buf, (size_t)n);
	return 200;
}

int main(int argc, char **argv)
{
	const char *options[] = {"listening_ports",
				 argc > 1 ? argv[1] : "127.0.0.1:8089",
				 "num_threads",
				 argc > 2 ? argv[2] : "64",
				 "enable_keep_alive",
				 "yes",
				 "tcp_nodelay",
				 "1",
				 NULL};
	struct mg_callbacks cb;
	struct mg_context *ctx;
	sigset_t sigs;
	int sig;

	if (argc > 3 || (argc > 1 && strcmp(argv[1], "--help") == 0)) {
		fprintf(stderr, "usage: %s [HOST:PORT [THREADS]]\n", argv[0]);
		return 2;
	}
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	memset(&cb, 0, sizeof(cb));
	ctx = mg_start(&cb, NULL, options);
	if (!ctx) {
		fprintf(stderr, "%s: cannot listen on %s\n", argv[0], options[1]);
		return 1;
	}
	mg_set_request_handler(ctx, "/", handler, NULL);
	sigwait(&sigs, &sig);
	mg_stop(ctx);
	return 0;
}
