// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The Prometheus endpoint (see httpd.h): libmicrohttpd on an internal
 * thread, serving copies of the last published exposition text. Every
 * response owns a private copy of its body (MHD_RESPMEM_MUST_COPY, taken
 * under the mutex), so publishing never races a scrape in flight.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "httpd.h"

#define CT_TEXT	 "text/plain; version=0.0.4; charset=utf-8"
#define CT_OM	 "application/openmetrics-text; version=1.0.0; charset=utf-8"
#define CT_PLAIN "text/plain; charset=utf-8"

struct httpd {
	struct MHD_Daemon *d;
	pthread_mutex_t lock;
	char *text, *om; /* NULL until the first publish */
	size_t text_len, om_len;
	uint64_t errors; /* __atomic */
	uint16_t port;
};

static int parse_port(const char *s, bool allow_zero, uint16_t *port, char *err, size_t errlen)
{
	unsigned long v = 0;
	const char *p;

	for (p = s; *p >= '0' && *p <= '9' && v <= 65535; p++)
		v = v * 10 + (unsigned long)(*p - '0');
	if (!*s || *p || v > 65535 || (v == 0 && !allow_zero)) {
		if (*s)
			snprintf(err, errlen, "invalid port '%s' (want 1-65535)", s);
		else
			snprintf(err, errlen, "missing port");
		return -EINVAL;
	}
	*port = (uint16_t)v;
	return 0;
}

static in_port_t *port_of(struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return &((struct sockaddr_in6 *)ss)->sin6_port;
	return &((struct sockaddr_in *)ss)->sin_port;
}

int httpd_parse_listen(const char *arg, bool allow_zero, struct sockaddr_storage *out,
		       socklen_t *outlen, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai, *pick = NULL;
	char host[256] = "127.0.0.1";
	const char *colon, *port_s = arg;
	uint16_t port;
	int rc;

	if (!arg || !*arg) {
		snprintf(err, errlen, "empty listen address (want PORT, ADDR:PORT or [IPv6]:PORT)");
		return -EINVAL;
	}
	if (arg[0] == '[') {
		const char *close = strchr(arg, ']');

		if (!close || close[1] != ':') {
			snprintf(err, errlen, "bad listen address '%s' (want [IPv6]:PORT)", arg);
			return -EINVAL;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(close - arg - 1), arg + 1);
		port_s = close + 2;
		hints.ai_family = AF_INET6;
		hints.ai_flags = AI_NUMERICHOST;
	} else if ((colon = strchr(arg, ':'))) {
		if (colon == arg || colon - arg >= (long)sizeof(host) || strchr(colon + 1, ':')) {
			snprintf(err, errlen,
				 "bad listen address '%s' (want ADDR:PORT or [IPv6]:PORT)", arg);
			return -EINVAL;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(colon - arg), arg);
		port_s = colon + 1;
	}
	if ((rc = parse_port(port_s, allow_zero, &port, err, errlen)))
		return rc;
	if ((rc = getaddrinfo(host, NULL, &hints, &res))) {
		snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
		return -EINVAL;
	}
	for (ai = res; ai; ai = ai->ai_next) /* IPv4 first, like the default */
		if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
		    (!pick || (pick->ai_family != AF_INET && ai->ai_family == AF_INET)))
			pick = ai;
	if (!pick) {
		freeaddrinfo(res);
		snprintf(err, errlen, "'%s' has no IPv4 or IPv6 address", host);
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out, pick->ai_addr, pick->ai_addrlen);
	*outlen = pick->ai_addrlen;
	freeaddrinfo(res);
	*port_of(out) = htons(port);
	return 0;
}

/* A q value ("0", "0.5", "1.000") in thousandths; by hand, not strtod:
 * the UI may setlocale(). */
static int parse_q(const char *s)
{
	int q = (*s == '1') ? 1000 : 0, scale = 100;

	if (*s != '0' && *s != '1')
		return 1000; /* malformed: ignore it */
	for (s++, s += (*s == '.'); *s >= '0' && *s <= '9' && scale; s++, scale /= 10)
		q += (*s - '0') * scale;
	return q > 1000 ? 1000 : q;
}

/* OpenMetrics when the Accept header lists it with q > 0 and a q at least
 * that of text/plain or a wildcard; anything else gets the classic text. */
static bool want_openmetrics(const char *accept)
{
	int om = 0, text = 0;

	while (accept && *accept) {
		size_t n, tn;
		int q = 1000;

		accept += strspn(accept, " \t,");
		n = strcspn(accept, ",");
		tn = strcspn(accept, ";, \t");
		for (const char *p = accept; (p = memchr(p, ';', n - (size_t)(p - accept)));) {
			p += 1 + strspn(p + 1, " \t");
			if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=')
				q = parse_q(p + 2);
		}
		if (tn == 28 && !strncasecmp(accept, "application/openmetrics-text", tn))
			om = q > om ? q : om;
		else if ((tn == 10 && !strncasecmp(accept, "text/plain", tn)) ||
			 (tn == 6 && !strncasecmp(accept, "text/*", tn)) ||
			 (tn == 3 && !strncmp(accept, "*/*", tn)))
			text = q > text ? q : text;
		accept += n;
	}
	return om > 0 && om >= text;
}

static enum MHD_Result respond(struct httpd *h, struct MHD_Connection *c, unsigned int status,
			       const char *type, const char *body, size_t len,
			       enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, mode);
	enum MHD_Result ret = MHD_NO;

	if (r && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) == MHD_YES &&
	    (status != MHD_HTTP_METHOD_NOT_ALLOWED ||
	     MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") == MHD_YES))
		ret = MHD_queue_response(c, status, r);
	if (ret != MHD_YES)
		__atomic_add_fetch(&h->errors, 1, __ATOMIC_RELAXED);
	if (r)
		MHD_destroy_response(r);
	return ret;
}

#define STATIC_BODY(s) s, sizeof(s) - 1, MHD_RESPMEM_PERSISTENT

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct httpd *h = cls;
	enum MHD_Result ret;
	bool om;

	(void)version, (void)upload_data;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return respond(h, c, MHD_HTTP_METHOD_NOT_ALLOWED, CT_PLAIN,
			       STATIC_BODY("method not allowed\n"));
	/* MHD 0.9.75 closes the connection after a response queued in the
	 * first call (headers only): answer once the request is complete, so
	 * a scraper can keep its connection. A body on a GET is dropped. */
	if (!*con_cls || *upload_data_size) {
		*con_cls = h;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!strcmp(url, "/"))
		return respond(h, c, MHD_HTTP_OK, CT_PLAIN,
			       STATIC_BODY("pymemtop: metrics at /metrics\n"));
	if (strcmp(url, "/metrics"))
		return respond(h, c, MHD_HTTP_NOT_FOUND, CT_PLAIN, STATIC_BODY("not found\n"));
	om = want_openmetrics(
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
	pthread_mutex_lock(&h->lock);
	if (!h->text)
		ret = respond(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, CT_PLAIN,
			      STATIC_BODY("no data yet\n"));
	else if (om)
		ret = respond(h, c, MHD_HTTP_OK, CT_OM, h->om, h->om_len, MHD_RESPMEM_MUST_COPY);
	else
		ret = respond(h, c, MHD_HTTP_OK, CT_TEXT, h->text, h->text_len,
			      MHD_RESPMEM_MUST_COPY);
	pthread_mutex_unlock(&h->lock);
	return ret;
}

int httpd_start(const char *listen, bool allow_zero, struct httpd **out, char *err, size_t errlen)
{
	struct sockaddr_storage ss, bound;
	socklen_t len, blen = sizeof(bound);
	const union MHD_DaemonInfo *info;
	char a[NI_MAXHOST] = "?", where[NI_MAXHOST + 16];
	struct httpd *h;
	int rc;

	*out = NULL;
	if ((rc = httpd_parse_listen(listen, allow_zero, &ss, &len, err, errlen)))
		return rc;
	getnameinfo((struct sockaddr *)&ss, len, a, sizeof(a), NULL, 0, NI_NUMERICHOST);
	snprintf(where, sizeof(where), ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", a,
		 ntohs(*port_of(&ss)));
	if (!(h = calloc(1, sizeof(*h)))) {
		snprintf(err, errlen, "cannot listen on %s: %s", where, strerror(ENOMEM));
		return -ENOMEM;
	}
	pthread_mutex_init(&h->lock, NULL);
	/* MHD picks the socket family from MHD_USE_IPv6, not from SOCK_ADDR.
	 * No MHD_USE_ERROR_LOG: it would print to stderr under the TUI. */
	errno = 0;
	h->d = MHD_start_daemon(
		MHD_USE_AUTO_INTERNAL_THREAD | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0,
		NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_CONNECTION_LIMIT, 32u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384, MHD_OPTION_END);
	if (!h->d) {
		/* MHD keeps the failing call's errno (0.9.75: bind, listen) */
		rc = errno ? errno : EIO;
		snprintf(err, errlen, "cannot listen on %s: %s", where, strerror(rc));
		httpd_stop(h);
		return -rc;
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_LISTEN_FD);
	if (info && !getsockname(info->listen_fd, (struct sockaddr *)&bound, &blen))
		h->port = ntohs(*port_of(&bound));
	*out = h;
	return 0;
}

uint16_t httpd_port(const struct httpd *h)
{
	return h->port;
}

int httpd_publish(struct httpd *h, const char *text, size_t text_len, const char *om, size_t om_len)
{
	char *t = malloc(text_len + 1), *o = malloc(om_len + 1), *old_t, *old_o;

	if (!t || !o) {
		free(t);
		free(o);
		return -ENOMEM;
	}
	if (text_len)
		memcpy(t, text, text_len);
	if (om_len)
		memcpy(o, om, om_len);
	pthread_mutex_lock(&h->lock);
	old_t = h->text, old_o = h->om;
	h->text = t, h->text_len = text_len;
	h->om = o, h->om_len = om_len;
	pthread_mutex_unlock(&h->lock);
	free(old_t);
	free(old_o);
	return 0;
}

uint64_t httpd_errors(const struct httpd *h)
{
	return __atomic_load_n(&h->errors, __ATOMIC_RELAXED);
}

void httpd_stop(struct httpd *h)
{
	if (!h)
		return;
	if (h->d)
		MHD_stop_daemon(h->d);
	pthread_mutex_destroy(&h->lock);
	free(h->text);
	free(h->om);
	free(h);
}
