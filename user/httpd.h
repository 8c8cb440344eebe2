/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The Prometheus endpoint: a small libmicrohttpd server on its own thread
 * that answers GET/HEAD /metrics from the latest exposition text the main
 * loop published (classic text format or OpenMetrics, chosen by the
 * scraper's Accept header). The main loop renders once per interval and
 * calls httpd_publish(); scrapes never wait for or touch the collector.
 */
#ifndef PMT_HTTPD_H
#define PMT_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct httpd;

/* "PORT" (then 127.0.0.1: loopback by default), "ADDR:PORT" (IPv4, or a
 * host name resolved with getaddrinfo, IPv4 preferred), "[IPv6]:PORT".
 * Port 1-65535, or 0 only when allow_zero (tests: ephemeral). 0, or
 * -EINVAL with a one-line reason in err. */
int httpd_parse_listen(const char *arg, bool allow_zero, struct sockaddr_storage *out,
		       socklen_t *outlen, char *err, size_t errlen);

/* Listen on the address httpd_parse_listen() accepts and serve from a
 * libmicrohttpd internal thread. 0, or -errno with a one-line reason in err
 * ("cannot listen on 127.0.0.1:9100: Address already in use"). */
int httpd_start(const char *listen, bool allow_zero, struct httpd **out, char *err, size_t errlen);

/* The bound port (the real one after port 0). */
uint16_t httpd_port(const struct httpd *h);

/* Replace what /metrics serves: text (classic format, version 0.0.4) and
 * om (OpenMetrics 1.0.0, ends in "# EOF\n"). Both are copied; the swap is
 * done under a mutex, so any thread may publish at any time. 0 or -ENOMEM. */
int httpd_publish(struct httpd *h, const char *text, size_t text_len, const char *om,
		  size_t om_len);

/* Responses that could not be built or queued since start. */
uint64_t httpd_errors(const struct httpd *h);

/* Stop the server thread, close the socket, free everything. NULL-safe. */
void httpd_stop(struct httpd *h);

#endif
