// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * httpd.c: listen-address parsing, then a real server on 127.0.0.1 with
 * an ephemeral port, spoken to with raw HTTP over a socket: 503 before the
 * first publish, content negotiation (classic text vs OpenMetrics, q=0),
 * HEAD, 405/404, republishing, publishing while scrapes run, a port in use,
 * and requests a scraper would never send (huge headers, idle connections).
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "httpd.h"

#define CT_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define CT_OM	"application/openmetrics-text; version=1.0.0; charset=utf-8"
#define PROM_ACCEPT                                                                                \
	"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"   \
	"q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

static const char TEXT[] = "# HELP pymemtop_up Whether pymemtop runs.\n"
			   "# TYPE pymemtop_up gauge\n"
			   "pymemtop_up 1\n";
static const char OM[] = "# HELP pymemtop_up Whether pymemtop runs.\n"
			 "# TYPE pymemtop_up gauge\n"
			 "pymemtop_up 1\n"
			 "# EOF\n";

/* --- a raw HTTP client ---------------------------------------------------- */

struct resp {
	char *raw; /* the whole response, NUL-terminated */
	size_t len;
	int status; /* -1: no status line (connection closed early) */
	const char *body;
	size_t body_len;
};

static int connect_local(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Send req as is, read until the server closes (HTTP/1.0 or
 * "Connection: close"), split status, headers and body. */
static void http_raw(uint16_t port, const char *req, size_t reqlen, struct resp *r)
{
	size_t cap = 4096, off = 0;
	int fd = connect_local(port);
	char *eoh;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	while (off < reqlen) {
		n = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);
		if (n <= 0)
			break; /* the server may refuse early */
		off += (size_t)n;
	}
	r->raw = malloc(cap);
	assert_non_null(r->raw);
	while ((n = recv(fd, r->raw + r->len, cap - r->len - 1, 0)) > 0) {
		r->len += (size_t)n;
		if (cap - r->len < 1024) {
			r->raw = realloc(r->raw, cap *= 2);
			assert_non_null(r->raw);
		}
	}
	close(fd);
	r->raw[r->len] = '\0';
	r->status = -1;
	if (sscanf(r->raw, "HTTP/1.%*d %d", &r->status) != 1)
		r->status = -1;
	eoh = strstr(r->raw, "\r\n\r\n");
	if (eoh) {
		r->body = eoh + 4;
		r->body_len = r->len - (size_t)(r->body - r->raw);
	}
}

static void http(uint16_t port, const char *method, const char *path, const char *accept,
		 struct resp *r)
{
	char req[1024];
	int n;

	n = snprintf(req, sizeof(req),
		     "%s %s HTTP/1.1\r\nHost: localhost\r\n%s%s%s"
		     "Connection: close\r\n\r\n",
		     method, path, accept ? "Accept: " : "", accept ? accept : "",
		     accept ? "\r\n" : "");
	http_raw(port, req, (size_t)n, r);
}

/* The value of header name in r, copied to buf; NULL when absent. */
static const char *header(const struct resp *r, const char *name, char *buf, size_t len)
{
	const char *end = r->body ? r->body : r->raw + r->len;
	size_t nl = strlen(name);

	for (const char *p = strstr(r->raw, "\r\n"); p && p + 2 < end; p = strstr(p + 2, "\r\n")) {
		if (!strncasecmp(p + 2, name, nl) && p[2 + nl] == ':') {
			const char *v = p + 3 + nl + strspn(p + 3 + nl, " ");

			snprintf(buf, len, "%.*s", (int)strcspn(v, "\r\n"), v);
			return buf;
		}
	}
	return NULL;
}

static void assert_body(const struct resp *r, const char *want)
{
	assert_non_null(r->body);
	assert_int_equal(r->body_len, strlen(want));
	assert_memory_equal(r->body, want, r->body_len);
}

/* --- httpd_parse_listen ----------------------------------------------------- */

static int parse(const char *arg, bool allow_zero, struct sockaddr_storage *ss, char *err)
{
	socklen_t len = 0;
	int rc;

	err[0] = '\0';
	rc = httpd_parse_listen(arg, allow_zero, ss, &len, err, 128);
	if (rc == 0)
		assert_int_equal(len, ss->ss_family == AF_INET ? sizeof(struct sockaddr_in)
							       : sizeof(struct sockaddr_in6));
	else
		assert_true(err[0] && !strchr(err, '\n'));
	return rc;
}

static void assert_v4(const struct sockaddr_storage *ss, const char *addr, uint16_t port)
{
	const struct sockaddr_in *s4 = (const void *)ss;
	char a[INET_ADDRSTRLEN];

	assert_int_equal(ss->ss_family, AF_INET);
	assert_string_equal(inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a)), addr);
	assert_int_equal(ntohs(s4->sin_port), port);
}

static void test_parse_good(void **state)
{
	const struct sockaddr_in6 *s6;
	struct sockaddr_storage ss;
	char err[128], a[INET6_ADDRSTRLEN];

	(void)state;
	assert_int_equal(parse("9100", false, &ss, err), 0);
	assert_v4(&ss, "127.0.0.1", 9100);
	assert_int_equal(parse("0.0.0.0:9100", false, &ss, err), 0);
	assert_v4(&ss, "0.0.0.0", 9100);
	assert_int_equal(parse("10.1.2.3:65535", false, &ss, err), 0);
	assert_v4(&ss, "10.1.2.3", 65535);
	assert_int_equal(parse("[::1]:9100", false, &ss, err), 0);
	s6 = (const void *)&ss;
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_string_equal(inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a)), "::1");
	assert_int_equal(ntohs(s6->sin6_port), 9100);
	assert_int_equal(parse("[::]:1", false, &ss, err), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	/* localhost: IPv4 preferred, but a host with only ::1 is fine too */
	assert_int_equal(parse("localhost:9100", false, &ss, err), 0);
	if (ss.ss_family == AF_INET) {
		assert_v4(&ss, "127.0.0.1", 9100);
	} else {
		assert_int_equal(ss.ss_family, AF_INET6);
		assert_true(IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr));
		assert_int_equal(ntohs(s6->sin6_port), 9100);
	}
	assert_int_equal(parse("0", true, &ss, err), 0);
	assert_v4(&ss, "127.0.0.1", 0);
	assert_int_equal(parse("127.0.0.1:0", true, &ss, err), 0);
	assert_v4(&ss, "127.0.0.1", 0);
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"",	    ":",	"abc",	     "70000", "65536",	   "-1",    "+80",
		" 80",	    "80 ",	"1.2.3.4:",  ":9100", "[::1",	   "[::1]", "[::1]9100",
		"::1:9100", "[abc]:80", "1.2.3.4:x", "0",     "1.2.3.4:0",
	};
	struct sockaddr_storage ss;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], false, &ss, err) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	}
	assert_int_equal(parse(NULL, true, &ss, err), -EINVAL);
	assert_int_equal(parse("70000", true, &ss, err), -EINVAL);
	assert_int_equal(parse("no-such-host.invalid:80", false, &ss, err), -EINVAL);
	assert_non_null(strstr(err, "no-such-host.invalid"));
	assert_int_equal(parse("0", false, &ss, err), -EINVAL);
	assert_non_null(strstr(err, "'0'"));
}

/* --- the server --------------------------------------------------------- */

static int start(void **state)
{
	struct httpd *h;
	char err[128];

	assert_int_equal(httpd_start("127.0.0.1:0", true, &h, err, sizeof(err)), 0);
	assert_true(httpd_port(h) > 0);
	*state = h;
	return 0;
}

static int stop(void **state)
{
	struct httpd *h = *state;

	assert_int_equal(httpd_errors(h), 0);
	httpd_stop(h);
	return 0;
}

static void publish(struct httpd *h, const char *text, const char *om)
{
	assert_int_equal(httpd_publish(h, text, strlen(text), om, strlen(om)), 0);
}

static void test_unavailable_before_publish(void **state)
{
	struct httpd *h = *state;
	struct resp r;

	http(httpd_port(h), "GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 503);
	assert_body(&r, "no data yet\n");
	free(r.raw);
}

static void test_text_by_default(void **state)
{
	struct httpd *h = *state;
	struct resp r;
	char v[128];

	publish(h, TEXT, OM);
	http(httpd_port(h), "GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(header(&r, "Content-Type", v, sizeof(v)));
	assert_string_equal(v, CT_TEXT);
	assert_body(&r, TEXT);
	free(r.raw);

	http(httpd_port(h), "GET", "/metrics", "*/*", &r); /* curl's default */
	assert_int_equal(r.status, 200);
	assert_body(&r, TEXT);
	free(r.raw);
}

static void test_openmetrics_for_prometheus(void **state)
{
	struct httpd *h = *state;
	struct resp r;
	char v[128];

	publish(h, TEXT, OM);
	http(httpd_port(h), "GET", "/metrics", PROM_ACCEPT, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(header(&r, "Content-Type", v, sizeof(v)));
	assert_string_equal(v, CT_OM);
	assert_body(&r, OM);
	free(r.raw);

	http(httpd_port(h), "GET", "/metrics", "Application/OpenMetrics-Text", &r);
	assert_body(&r, OM);
	free(r.raw);
}

static void test_openmetrics_q0_gets_text(void **state)
{
	static const char *const text_accepts[] = {
		"application/openmetrics-text;q=0, text/plain",
		"application/openmetrics-text; q=0.0",
		"application/openmetrics-text;version=1.0.0;q=0.000,*/*;q=0.1",
		"text/plain;q=1,application/openmetrics-text;q=0.5",
		"application/json",
		"application/openmetrics-text;q=0;",
		"text/plain; ,;",
		";;;,,,;q=",
	};
	struct httpd *h = *state;
	struct resp r;
	char v[128];

	publish(h, TEXT, OM);
	for (size_t i = 0; i < sizeof(text_accepts) / sizeof(text_accepts[0]); i++) {
		http(httpd_port(h), "GET", "/metrics", text_accepts[i], &r);
		assert_int_equal(r.status, 200);
		assert_non_null(header(&r, "Content-Type", v, sizeof(v)));
		if (strcmp(v, CT_TEXT))
			fail_msg("Accept '%s' got '%s'", text_accepts[i], v);
		assert_body(&r, TEXT);
		free(r.raw);
	}
	http(httpd_port(h), "GET", "/metrics",
	     "text/plain;q=0.5, application/openmetrics-text;q=0.6", &r);
	assert_body(&r, OM);
	free(r.raw);
}

static void test_head(void **state)
{
	struct httpd *h = *state;
	struct resp r;
	char v[128];

	publish(h, TEXT, OM);
	http(httpd_port(h), "HEAD", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(header(&r, "Content-Type", v, sizeof(v)));
	assert_string_equal(v, CT_TEXT);
	assert_non_null(header(&r, "Content-Length", v, sizeof(v)));
	assert_int_equal(atoi(v), strlen(TEXT));
	assert_non_null(r.body);
	assert_int_equal(r.body_len, 0);
	free(r.raw);
}

static void test_other_methods_and_paths(void **state)
{
	static const char post[] = "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
				   "Connection: close\r\n\r\nhello";
	struct httpd *h = *state;
	struct resp r;
	char v[128];

	publish(h, TEXT, OM);
	http(httpd_port(h), "POST", "/metrics", NULL, &r);
	assert_int_equal(r.status, 405);
	assert_non_null(header(&r, "Allow", v, sizeof(v)));
	assert_string_equal(v, "GET, HEAD");
	free(r.raw);
	http_raw(httpd_port(h), post, sizeof(post) - 1, &r);
	assert_int_equal(r.status, 405);
	free(r.raw);
	http(httpd_port(h), "DELETE", "/", NULL, &r);
	assert_int_equal(r.status, 405);
	free(r.raw);

	http(httpd_port(h), "GET", "/nope", NULL, &r);
	assert_int_equal(r.status, 404);
	free(r.raw);
	http(httpd_port(h), "GET", "/metrics/", NULL, &r);
	assert_int_equal(r.status, 404);
	free(r.raw);
	http(httpd_port(h), "GET", "/", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(r.body);
	assert_non_null(strstr(r.body, "/metrics"));
	free(r.raw);

	/* HTTP/1.0 and a query string */
	http_raw(httpd_port(h), "GET /metrics?x=1 HTTP/1.0\r\n\r\n", 29, &r);
	assert_int_equal(r.status, 200);
	assert_body(&r, TEXT);
	free(r.raw);
}

/* Two requests on one HTTP/1.1 connection, as Prometheus scrapes. */
static void test_keep_alive(void **state)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	struct httpd *h = *state;
	int fd = connect_local(httpd_port(h));

	publish(h, TEXT, OM);
	for (int i = 0; i < 2; i++) {
		char buf[4096], *eoh = NULL;
		size_t len = 0;
		ssize_t n;

		assert_int_equal(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), sizeof(req) - 1);
		while (!eoh || len < (size_t)(eoh + 4 - buf) + strlen(TEXT)) {
			n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
			if (n <= 0)
				fail_msg("request %d: connection closed after %zu bytes", i, len);
			len += (size_t)n;
			buf[len] = '\0';
			eoh = strstr(buf, "\r\n\r\n");
		}
		assert_memory_equal(buf, "HTTP/1.1 200", 12);
		assert_null(strcasestr(buf, "Connection: close"));
		assert_string_equal(eoh + 4, TEXT);
	}
	close(fd);
}

static void test_publish_replaces(void **state)
{
	struct httpd *h = *state;
	struct resp r;

	publish(h, TEXT, OM);
	publish(h, "second 2\n", "second 2\n# EOF\n");
	http(httpd_port(h), "GET", "/metrics", NULL, &r);
	assert_body(&r, "second 2\n");
	free(r.raw);
	http(httpd_port(h), "GET", "/metrics", PROM_ACCEPT, &r);
	assert_body(&r, "second 2\n# EOF\n");
	free(r.raw);
	assert_int_equal(httpd_publish(h, "", 0, "# EOF\n", 6), 0); /* empty is data too */
	http(httpd_port(h), "GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_body(&r, "");
	free(r.raw);
}

static char body_a[64 * 1024], body_b[3 * 1024];
static volatile bool publishing;

static void *publisher(void *arg)
{
	struct httpd *h = arg;

	for (unsigned long i = 0; __atomic_load_n(&publishing, __ATOMIC_RELAXED); i++) {
		const char *b = i % 2 ? body_b : body_a;

		httpd_publish(h, b, strlen(b), b, strlen(b));
	}
	return NULL;
}

static void test_publish_while_serving(void **state)
{
	struct httpd *h = *state;
	int seen_a = 0, seen_b = 0;
	pthread_t t;
	struct resp r;

	memset(body_a, 'a', sizeof(body_a) - 2);
	body_a[sizeof(body_a) - 2] = '\n';
	memset(body_b, 'b', sizeof(body_b) - 2);
	body_b[sizeof(body_b) - 2] = '\n';
	publish(h, body_a, body_a);
	publishing = true;
	assert_int_equal(pthread_create(&t, NULL, publisher, h), 0);
	for (int i = 0; i < 50; i++) {
		http(httpd_port(h), "GET", "/metrics", i % 2 ? PROM_ACCEPT : NULL, &r);
		assert_int_equal(r.status, 200);
		assert_non_null(r.body);
		if (r.body_len == strlen(body_a) && !memcmp(r.body, body_a, r.body_len))
			seen_a++;
		else if (r.body_len == strlen(body_b) && !memcmp(r.body, body_b, r.body_len))
			seen_b++;
		else
			fail_msg("request %d: a torn body of %zu bytes", i, r.body_len);
		free(r.raw);
	}
	__atomic_store_n(&publishing, false, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	assert_int_equal(seen_a + seen_b, 50);
}

static void test_address_in_use(void **state)
{
	struct httpd *h = *state, *h2 = (void *)1;
	char arg[32], err[128];

	snprintf(arg, sizeof(arg), "127.0.0.1:%u", httpd_port(h));
	assert_int_equal(httpd_start(arg, false, &h2, err, sizeof(err)), -EADDRINUSE);
	assert_null(h2);
	assert_non_null(strstr(err, "in use"));
	assert_non_null(strstr(err, arg));
	assert_null(strchr(err, '\n'));

	assert_int_equal(httpd_start("1.2.3.4:", false, &h2, err, sizeof(err)), -EINVAL);
	assert_null(h2);
}

/* Requests a scraper never sends: the server survives and still answers. */
static void test_hostile_requests(void **state)
{
	struct httpd *h = *state;
	size_t hdr = 256 * 1024;
	char *big = malloc(hdr + 64);
	int idle[48];
	struct resp r;

	publish(h, TEXT, OM);
	/* a header far over the per-connection memory limit */
	assert_non_null(big);
	strcpy(big, "GET /metrics HTTP/1.1\r\nX-Big: ");
	memset(big + strlen(big), 'x', hdr);
	strcpy(big + strlen("GET /metrics HTTP/1.1\r\nX-Big: ") + hdr, "\r\n\r\n");
	http_raw(httpd_port(h), big, strlen(big), &r);
	assert_true(r.status == -1 || r.status >= 400);
	free(r.raw);
	free(big);

	/* more idle connections than the limit, then a real scrape */
	for (size_t i = 0; i < sizeof(idle) / sizeof(idle[0]); i++)
		idle[i] = connect_local(httpd_port(h));
	for (size_t i = 0; i < sizeof(idle) / sizeof(idle[0]); i++)
		close(idle[i]);
	usleep(100 * 1000);
	http(httpd_port(h), "GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_body(&r, TEXT);
	free(r.raw);

	/* garbage */
	http_raw(httpd_port(h), "\x01\x02garbage\r\n\r\n", 13, &r);
	assert_true(r.status == -1 || r.status == 400);
	free(r.raw);
}

static void test_ipv6(void **state)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct timeval tv = { .tv_sec = 5 };
	struct httpd *h;
	char err[128], buf[256];
	ssize_t n;
	int fd;

	(void)state;
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (fd >= 0)
			close(fd);
		skip(); /* no IPv6 loopback here */
	}
	close(fd);
	assert_int_equal(httpd_start("[::1]:0", true, &h, err, sizeof(err)), 0);
	publish(h, TEXT, OM);
	sa.sin6_port = htons(httpd_port(h));
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25, MSG_NOSIGNAL), 25);
	n = recv(fd, buf, sizeof(buf) - 1, MSG_WAITALL);
	assert_true(n > 12);
	buf[n] = '\0';
	assert_memory_equal(buf, "HTTP/1.", 7);
	assert_memory_equal(buf + 9, "200", 3);
	close(fd);
	httpd_stop(h);
}

static void test_stop_null(void **state)
{
	(void)state;
	httpd_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test_setup_teardown(test_unavailable_before_publish, start, stop),
		cmocka_unit_test_setup_teardown(test_text_by_default, start, stop),
		cmocka_unit_test_setup_teardown(test_openmetrics_for_prometheus, start, stop),
		cmocka_unit_test_setup_teardown(test_openmetrics_q0_gets_text, start, stop),
		cmocka_unit_test_setup_teardown(test_head, start, stop),
		cmocka_unit_test_setup_teardown(test_other_methods_and_paths, start, stop),
		cmocka_unit_test_setup_teardown(test_keep_alive, start, stop),
		cmocka_unit_test_setup_teardown(test_publish_replaces, start, stop),
		cmocka_unit_test_setup_teardown(test_publish_while_serving, start, stop),
		cmocka_unit_test_setup_teardown(test_address_in_use, start, stop),
		cmocka_unit_test_setup_teardown(test_hostile_requests, start, stop),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_stop_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
