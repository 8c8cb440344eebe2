/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Command line: every knob in one struct env. */
#ifndef PMT_OPTIONS_H
#define PMT_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

#define OPT_MAX_PIDS 64

/* Allocation sites (--sites-*): defaults and bounds. The BPF side records
 * at most PMT_SITES_MAX_DEPTH frames (include/pymemtop.h). */
#define OPT_SITES_DEPTH_DEFAULT	 16
#define OPT_SITES_DEPTH_MAX	 32
#define OPT_SITES_STACKS_DEFAULT 8192
#define OPT_SITES_STACKS_MIN	 64
#define OPT_SITES_STACKS_MAX	 1048576
#define OPT_SITES_TOP_DEFAULT	 10
#define OPT_SITES_TOP_MAX	 1000
#define OPT_SITES_RATE_DEFAULT	 1000
#define OPT_SITES_RATE_MAX	 1000000
#define OPT_PROM_SITES_MAX	 100

struct env {
	bool batch; /* -b: plain-text frames */
	bool json; /* --json: NDJSON frames */
	long frames; /* -n: stop after this many frames; 0 = forever */
	double interval_s; /* -d */
	int pids[OPT_MAX_PIDS]; /* -p */
	int npids;
	int verbose; /* -v, repeatable */
	unsigned int max_procs; /* --max-procs: per-process map entries */
	unsigned int max_threads; /* --max-threads: in-flight stash entries */
	bool precise; /* --precise: per-call allocator probes on the -p processes */
	bool pool_refills; /* --pool-refills: a pool-refill uprobe in every process */
	bool no_color; /* --no-color, or NO_COLOR set: attributes only */
	const char *prom_file; /* --prom-file: textfile for node_exporter */
	const char *listen; /* --listen: serve /metrics */
	int prom_pids; /* --prom-pids: per-PID series for the N largest */
	bool quiet; /* --quiet: no frames on stdout (implied by the two above) */
	bool sites; /* allocation-site sampling; default on, --no-sites: off */
	bool sites_report; /* --sites: a text report of the sites after each frame (implies -b) */
	unsigned int sites_depth; /* --sites-depth: Python frames recorded per sample */
	unsigned int sites_max_stacks; /* --sites-max-stacks: distinct stacks in the BPF map */
	int sites_top; /* --sites-top: sites per process in JSON, report, detail view */
	int prom_sites; /* --prom-sites: per-PID series of this many sites each (0: none) */
	int prom_types; /* --prom-types: per group, series of this many types (0: none) */
	bool sites_by_flow; /* --sites-by flow: rank sites by flow, not live bytes */
	unsigned int sites_max_rate; /* --sites-max-rate: walks/s per process at arenas and malloc
				      * growth; 0: no limit */
	const char *folded; /* --folded: collapsed stacks file, rewritten every interval */
	const char *inspect; /* --inspect: print what an interpreter file is, then exit */
	bool help, version;
};

/* 0 on success (env filled; help/version set when asked), -EINVAL on a
 * bad command line after printing one line to err. */
int options_parse(int argc, char **argv, struct env *env, FILE *err);
void options_usage(FILE *out);

#endif
