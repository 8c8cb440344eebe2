/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Allocation sites as `pymemtop --json` gives them (docs/metrics.md), for
 * the tests of what shows them: the --sites report (test_sitesreport.c)
 * and the live display's detail view (test_view.c). A pool-refill site
 * with three callers, one without Python frames, one whose code was freed.
 */
#ifndef PMT_TEST_SITES_JSON_H
#define PMT_TEST_SITES_JSON_H

#define STACK_CACHE                                                                                \
	"[{\"function\": \"make_nodes\", \"file\": \"/srv/app/cache.py\", \"line\": 12},"          \
	" {\"function\": \"leaf_alloc\", \"file\": \"/srv/app/cache.py\", \"line\": 20},"          \
	" {\"function\": \"fill\", \"file\": \"/srv/app/cache.py\", \"line\": 31},"                \
	" {\"function\": \"main\", \"file\": \"/srv/app/main.py\", \"line\": 40}]"

#define SITE_CACHE                                                                                 \
	"{\"function\": \"make_nodes\", \"file\": \"/srv/app/cache.py\", \"line\": 12,"            \
	" \"source\": \"pool_refill\", \"estimated_bytes\": 9437184, \"samples\": 512,"            \
	" \"recent_bytes\": 1048576, \"recent_samples\": 64,"                                      \
	" \"live_bytes\": 8388608, \"live_samples\": 448,"                                         \
	" \"size_class_bytes\": [0, 0, 0, 9437184, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,"            \
	"  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], \"stack\": " STACK_CACHE "}"

#define SITE_NOPY                                                                                  \
	"{\"function\": \"[no Python frames]\", \"file\": null, \"line\": null,"                   \
	" \"source\": \"malloc\", \"estimated_bytes\": 2097152, \"samples\": 60,"                  \
	" \"recent_bytes\": 0, \"recent_samples\": 0, \"size_class_bytes\": null, \"stack\": []}"

#define SITE_UNKNOWN                                                                               \
	"{\"function\": \"[unknown code]\", \"file\": null, \"line\": null,"                       \
	" \"source\": \"arena\", \"estimated_bytes\": 1048576, \"samples\": 5,"                    \
	" \"recent_bytes\": 262144, \"recent_samples\": 1, \"size_class_bytes\": null,"            \
	" \"stack\": [{\"function\": \"[unknown code]\", \"file\": null, \"line\": null},"         \
	"  {\"function\": \"run\", \"file\": \"/srv/app/main.py\", \"line\": 7}]}"

/* The sites members of a process object (JSON text, no braces). */
#define SITES_FIELDS                                                                               \
	"\"sites_source\": \"pool_refill+malloc\", \"sites_reason\": null,"                        \
	" \"sites_total\": {\"estimated_bytes\": 12897484, \"samples\": 577},"                     \
	" \"sites_recent_seconds\": 60,"                                                           \
	" \"sites\": [" SITE_CACHE ", " SITE_NOPY ", " SITE_UNKNOWN "]"

#endif
