// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Command-line parsing. top(1) conventions: -b batch, -n frames, -d
 * seconds (fractions allowed, unlike htop's tenths), -p PID list.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "heaptypes.h"
#include "options.h"
#include "pymemtop.h"

enum {
	OPT_JSON = 256,
	OPT_ONCE,
	OPT_VERSION,
	OPT_MAX_PROCS,
	OPT_MAX_THREADS,
	OPT_PRECISE,
	OPT_POOL_REFILLS,
	OPT_NO_COLOR,
	OPT_PROM_FILE,
	OPT_LISTEN,
	OPT_PROM_PIDS,
	OPT_QUIET,
	OPT_SITES,
	OPT_NO_SITES,
	OPT_SITES_DEPTH,
	OPT_SITES_MAX_STACKS,
	OPT_SITES_TOP,
	OPT_SITES_MAX_RATE,
	OPT_PROM_SITES,
	OPT_PROM_TYPES,
	OPT_SITES_BY,
	OPT_FOLDED,
	OPT_INSPECT,
};

#ifdef PMT_SITES_MAX_DEPTH
_Static_assert(OPT_SITES_DEPTH_MAX == PMT_SITES_MAX_DEPTH, "--sites-depth bound");
#endif

static const struct option long_opts[] = {
	{ "batch", no_argument, NULL, 'b' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "iterations", required_argument, NULL, 'n' },
	{ "delay", required_argument, NULL, 'd' },
	{ "pid", required_argument, NULL, 'p' },
	{ "once", no_argument, NULL, OPT_ONCE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "max-procs", required_argument, NULL, OPT_MAX_PROCS },
	{ "max-threads", required_argument, NULL, OPT_MAX_THREADS },
	{ "precise", no_argument, NULL, OPT_PRECISE },
	{ "pool-refills", no_argument, NULL, OPT_POOL_REFILLS },
	{ "no-color", no_argument, NULL, OPT_NO_COLOR },
	{ "prom-file", required_argument, NULL, OPT_PROM_FILE },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "prom-pids", required_argument, NULL, OPT_PROM_PIDS },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "sites", no_argument, NULL, OPT_SITES },
	{ "no-sites", no_argument, NULL, OPT_NO_SITES },
	{ "sites-depth", required_argument, NULL, OPT_SITES_DEPTH },
	{ "sites-max-stacks", required_argument, NULL, OPT_SITES_MAX_STACKS },
	{ "sites-top", required_argument, NULL, OPT_SITES_TOP },
	{ "sites-max-rate", required_argument, NULL, OPT_SITES_MAX_RATE },
	{ "prom-sites", required_argument, NULL, OPT_PROM_SITES },
	{ "prom-types", required_argument, NULL, OPT_PROM_TYPES },
	{ "sites-by", required_argument, NULL, OPT_SITES_BY },
	{ "folded", required_argument, NULL, OPT_FOLDED },
	{ "inspect", required_argument, NULL, OPT_INSPECT },
	{},
};

void options_usage(FILE *out)
{
	fputs("Usage: pymemtop [-b] [--json] [-n N] [-d SECS] [-p PID[,PID...] [--precise]]\n"
	      "                [--once] [--pool-refills] [--no-color] [-v] [--max-procs N]\n"
	      "                [--max-threads N] [--prom-file PATH] [--listen [ADDR:]PORT]\n"
	      "                [--prom-pids N] [--prom-types N] [--quiet]\n"
	      "                [--no-sites | [--sites]\n"
	      "                [--sites-depth N] [--sites-max-stacks N] [--sites-top N]\n"
	      "                [--sites-max-rate N] [--sites-by live|flow] [--folded PATH]\n"
	      "                [--prom-sites N]]\n"
	      "                [--help] [--version] [--inspect FILE]\n"
	      "\n"
	      "Memory and garbage-collector activity of every CPython process on the host,\n"
	      "observed with eBPF; nothing is injected into or stops the processes.\n"
	      "On a terminal: a live display, one row per process (h there for help);\n"
	      "when stdout or stdin is not a terminal, plain-text frames as with -b.\n"
	      "\n"
	      "  -b, --batch          plain-text frames on stdout (like top -b)\n"
	      "      --json           NDJSON: one JSON object per line per frame\n"
	      "  -n, --iterations N   stop after N frames (default: run until interrupted)\n"
	      "  -d, --delay SECS     interval between frames in seconds, fractions allowed\n"
	      "                       (default 1; seconds as in top, not tenths as in htop)\n"
	      "  -p, --pid PID,...    only these processes (up to 64; repeatable);\n"
	      "                       pymemtop exits when all of them have exited\n"
	      "      --precise        with -p only: count every object-allocator call (exact\n"
	      "                       allocs, frees, size histogram) and take the sites from\n"
	      "                       objects followed to their free (sites_source object);\n"
	      "                       each call then costs ~1 us more, so allocation-heavy\n"
	      "                       code runs several times slower. Refused, with the\n"
	      "                       reason, on builds where the allocator is compiled into\n"
	      "                       its callers (LTO); there 3.11 samples class instances\n"
	      "                       (sites_source instance), the refill probe the flow\n"
	      "      --pool-refills   allocation flow per size class from a uprobe on\n"
	      "                       pymalloc's pool refill in every process: ~1 us per\n"
	      "                       16 KiB pool (4 KiB before 3.10), ~2.5 us with the\n"
	      "                       allocation site walked at each, i.e. 5-15% for\n"
	      "                       processes that grow by hundreds of MB/s\n"
	      "                       (default: whole arenas, free)\n"
	      "      --once           one frame after one interval (= -n 1)\n"
	      "      --no-color       live display without colors (also: NO_COLOR set)\n"
	      "      --prom-file PATH write Prometheus metrics to PATH every interval,\n"
	      "                       atomically, for node_exporter's textfile collector\n"
	      "                       (PATH ends in .prom)\n"
	      "      --listen [ADDR:]PORT  serve Prometheus /metrics over HTTP (127.0.0.1 when\n"
	      "                       only a port is given)\n"
	      "      --prom-pids N    also per-PID series for the N largest processes\n"
	      "      --prom-sites N   with --prom-pids: also each one's N heaviest allocation\n"
	      "                       sites, 1-100 (not more than --sites-top)\n"
	      "      --prom-types N   per group, the N types whose live objects hold the most\n"
	      "                       bytes (estimated from the heap), 1-20\n"
	      "      --quiet          no frames on stdout (implied by --prom-file/--listen\n"
	      "                       unless -b or --json is given)\n"
	      "      --no-sites       no allocation sites. By default the allocating thread's\n"
	      "                       Python stack is sampled at rare events that stand for\n"
	      "                       a known number of bytes (a pool refill with\n"
	      "                       --pool-refills, else a new arena; malloc heap growth)\n"
	      "                       and each process's heaviest sites are in --json and\n"
	      "                       the detail view (Enter)\n"
	      "      --sites          after each text frame, each process's top allocation\n"
	      "                       sites with their callers (implies -b)\n"
	      "      --sites-depth N  Python frames recorded per sample, 1-32 (default 16)\n"
	      "      --sites-max-stacks N  distinct stacks kept in the BPF map, 64-1048576\n"
	      "                       (default 8192)\n"
	      "      --sites-top N    sites per process in --json, --sites and the detail\n"
	      "                       view, 1-1000 (default 10)\n"
	      "      --sites-by live|flow  rank sites (and weigh --folded stacks) by the\n"
	      "                       bytes their samples still hold (live, the default)\n"
	      "                       or by the bytes they put into service (flow)\n"
	      "      --sites-max-rate N  stack walks per second per process at new arenas\n"
	      "                       and malloc growth, 0-1000000, 0: no limit (default\n"
	      "                       1000, ~0.3% of a core); events over it are counted,\n"
	      "                       not walked (pool refills are never limited)\n"
	      "      --folded PATH    collapsed stacks of every process for flame graph\n"
	      "                       tools, written to PATH every interval, atomically\n"
	      "  -v, --verbose        more diagnostics on stderr (repeat for debug)\n"
	      "      --max-procs N    per-process BPF map entries (default 32768)\n"
	      "      --max-threads N  BPF map entries for threads inside the GC\n"
	      "                       (default 16384)\n"
	      "  -h, --help           this help\n"
	      "      --version        version\n"
	      "      --inspect FILE   what pymemtop makes of an interpreter file (its build,\n"
	      "                       layout registry row, offsets, what it would hook), as\n"
	      "                       JSON; no root needed, no process touched\n"
	      "\n"
	      "Live display columns: PID USER PY RSS HEAP (pymalloc arenas) LIVE (bytes in\n"
	      "live blocks) GROWTH (heap per second over 60 s, ! = steady growth: suspected\n"
	      "leak) ALLOC/s GC/s GC% COMMAND; - = unavailable (Enter on the row says why).\n"
	      "Keys: q/Esc quit, h/? help, M R P G N sort by heap/RSS/alloc/GC/PID, < > sort\n"
	      "column, I invert, Up/Down/j/k select, Enter details, / filter, Space pause,\n"
	      "d interval, E units, c full command line.\n"
	      "\n"
	      "Needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE, CAP_SYS_ADMIN) and a kernel\n"
	      "with BTF. Every JSON field and column is described in docs/metrics.md and\n"
	      "pymemtop(8).\n"
	      "Exit status: 0 ok, 1 runtime error, 2 bad command line.\n",
	      out);
}

static int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)*s)) /* strtoul takes blanks and signs */
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_interval(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0.05 || v > 86400)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_pids(const char *arg, struct env *env, FILE *err)
{
	char buf[1024], *tok, *save = NULL;
	int before = env->npids;
	unsigned long v;

	if (strlen(arg) >= sizeof(buf)) {
		fprintf(err, "pymemtop: -p: list too long\n");
		return -EINVAL;
	}
	strcpy(buf, arg);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (parse_ulong(tok, 1, INT_MAX, &v)) {
			fprintf(err, "pymemtop: -p: '%s' is not a PID\n", tok);
			return -EINVAL;
		}
		if (env->npids == OPT_MAX_PIDS) {
			fprintf(err, "pymemtop: -p: at most %d PIDs\n", OPT_MAX_PIDS);
			return -EINVAL;
		}
		env->pids[env->npids++] = (int)v;
	}
	if (env->npids == before) {
		fprintf(err, "pymemtop: -p: no PID given\n");
		return -EINVAL;
	}
	return 0;
}

static void set_defaults(struct env *env)
{
	memset(env, 0, sizeof(*env));
	env->interval_s = 1.0;
	env->max_procs = PMT_DEFAULT_MAX_PROCS;
	env->max_threads = PMT_DEFAULT_MAX_THREADS;
	env->sites = true;
	env->sites_depth = OPT_SITES_DEPTH_DEFAULT;
	env->sites_max_stacks = OPT_SITES_STACKS_DEFAULT;
	env->sites_top = OPT_SITES_TOP_DEFAULT;
	env->sites_max_rate = OPT_SITES_RATE_DEFAULT;
	/* no-color.org: set and not empty */
	env->no_color = getenv("NO_COLOR") && *getenv("NO_COLOR");
}

/* --sites-depth, --sites-max-stacks, --sites-top, --sites-max-rate:
 * numbers in a range. */
static const struct sites_knob {
	int opt;
	const char *name;
	unsigned long min, max;
} sites_knobs[] = {
	{ OPT_SITES_DEPTH, "--sites-depth", 1, OPT_SITES_DEPTH_MAX },
	{ OPT_SITES_MAX_STACKS, "--sites-max-stacks", OPT_SITES_STACKS_MIN, OPT_SITES_STACKS_MAX },
	{ OPT_SITES_TOP, "--sites-top", 1, OPT_SITES_TOP_MAX },
	{ OPT_SITES_MAX_RATE, "--sites-max-rate", 0, OPT_SITES_RATE_MAX },
	{ OPT_PROM_SITES, "--prom-sites", 1, OPT_PROM_SITES_MAX },
	{ OPT_PROM_TYPES, "--prom-types", 1, HT_TOP },
};

static const struct sites_knob *sites_knob(int c)
{
	for (size_t i = 0; i < sizeof(sites_knobs) / sizeof(sites_knobs[0]); i++)
		if (sites_knobs[i].opt == c)
			return &sites_knobs[i];
	return NULL;
}

static int apply_sites_knob(struct env *env, const struct sites_knob *k, const char *arg, FILE *err)
{
	unsigned long v;

	if (parse_ulong(arg, k->min, k->max, &v)) {
		fprintf(err, "pymemtop: %s: '%s' is not a number in [%lu, %lu]\n", k->name, arg,
			k->min, k->max);
		return -EINVAL;
	}
	if (k->opt == OPT_SITES_DEPTH)
		env->sites_depth = v;
	else if (k->opt == OPT_SITES_MAX_STACKS)
		env->sites_max_stacks = v;
	else if (k->opt == OPT_SITES_MAX_RATE)
		env->sites_max_rate = v;
	else if (k->opt == OPT_PROM_SITES)
		env->prom_sites = (int)v;
	else if (k->opt == OPT_PROM_TYPES)
		env->prom_types = (int)v;
	else
		env->sites_top = (int)v;
	return 0;
}

/* Apply one parsed option. 0, or -EINVAL after one line on err. */
static int apply_option(struct env *env, int c, const char *arg, FILE *err)
{
	unsigned long v;

	switch (c) {
	case 'b':
		env->batch = true;
		break;
	case OPT_JSON:
		env->json = true;
		break;
	case 'n':
		if (parse_ulong(arg, 1, LONG_MAX, &v)) {
			fprintf(err, "pymemtop: -n: '%s' is not a positive whole number\n", arg);
			return -EINVAL;
		}
		env->frames = (long)v;
		break;
	case 'd':
		if (parse_interval(arg, &env->interval_s)) {
			fprintf(err,
				"pymemtop: -d: '%s' is not a number of seconds in [0.05, 86400]\n",
				arg);
			return -EINVAL;
		}
		break;
	case 'p':
		return parse_pids(arg, env, err);
	case OPT_ONCE:
		env->frames = 1;
		break;
	case 'v':
		env->verbose++;
		break;
	case 'h':
		env->help = true;
		break;
	case OPT_VERSION:
		env->version = true;
		break;
	case OPT_PRECISE:
		env->precise = true;
		break;
	case OPT_POOL_REFILLS:
		env->pool_refills = true;
		break;
	case OPT_NO_COLOR:
		env->no_color = true;
		break;
	case OPT_PROM_FILE:
		if (!*arg) {
			fprintf(err, "pymemtop: --prom-file: empty path\n");
			return -EINVAL;
		}
		env->prom_file = arg;
		break;
	case OPT_LISTEN:
		if (!*arg) {
			fprintf(err, "pymemtop: --listen: empty address\n");
			return -EINVAL;
		}
		env->listen = arg;
		break;
	case OPT_PROM_PIDS:
		if (parse_ulong(arg, 1, 10000, &v)) {
			fprintf(err, "pymemtop: --prom-pids: '%s' is not a number in [1, 10000]\n",
				arg);
			return -EINVAL;
		}
		env->prom_pids = (int)v;
		break;
	case OPT_QUIET:
		env->quiet = true;
		break;
	case OPT_SITES:
		env->sites_report = true;
		break;
	case OPT_NO_SITES:
		env->sites = false;
		break;
	case OPT_INSPECT:
		if (!*arg) {
			fprintf(err, "pymemtop: --inspect: empty path\n");
			return -EINVAL;
		}
		env->inspect = arg;
		break;
	case OPT_FOLDED:
		if (!*arg) {
			fprintf(err, "pymemtop: --folded: empty path\n");
			return -EINVAL;
		}
		env->folded = arg;
		break;
	case OPT_SITES_BY:
		if (strcmp(arg, "live") && strcmp(arg, "flow")) {
			fprintf(err, "pymemtop: --sites-by: '%s' is neither live nor flow\n", arg);
			return -EINVAL;
		}
		env->sites_by_flow = !strcmp(arg, "flow");
		break;
	case OPT_SITES_DEPTH:
	case OPT_SITES_MAX_STACKS:
	case OPT_SITES_TOP:
	case OPT_SITES_MAX_RATE:
	case OPT_PROM_SITES:
	case OPT_PROM_TYPES:
		return apply_sites_knob(env, sites_knob(c), arg, err);
	case OPT_MAX_PROCS:
	case OPT_MAX_THREADS:
		if (parse_ulong(arg, 64, 4194304, &v)) {
			fprintf(err, "pymemtop: %s: '%s' is not a number in [64, 4194304]\n",
				c == OPT_MAX_PROCS ? "--max-procs" : "--max-threads", arg);
			return -EINVAL;
		}
		if (c == OPT_MAX_PROCS)
			env->max_procs = v;
		else
			env->max_threads = v;
		break;
	}
	return 0;
}

/* getopt's '?' or ':' for the word argv[cur]: a long option ("--x" or
 * "--x=val") or a short one (optopt, possibly inside a group "-bx"). */
static void report_bad_option(int c, const char *word, FILE *err)
{
	const char *eq = strchr(word, '=');
	bool is_long = !strncmp(word, "--", 2);

	if (c == ':' && is_long)
		fprintf(err, "pymemtop: option '%s' needs an argument (see --help)\n", word);
	else if (c == ':')
		fprintf(err, "pymemtop: option '-%c' needs an argument (see --help)\n", optopt);
	else if (is_long && eq && optopt)
		fprintf(err, "pymemtop: option '%.*s' takes no value (see --help)\n",
			(int)(eq - word), word);
	else if (is_long)
		fprintf(err, "pymemtop: unknown option '%s' (see --help)\n", word);
	else
		fprintf(err, "pymemtop: unknown option '-%c' (see --help)\n",
			isprint(optopt) ? optopt : '?');
}

/* Allocation-site options together: what needs sampling is refused with
 * --no-sites (knob: the last --sites-depth/-max-stacks/-top/-max-rate given, or
 * NULL); --sites is a text report, so it means -b and cannot share
 * stdout with --json or --quiet. */
static int check_sites(struct env *env, const char *knob, FILE *err)
{
	const char *what = env->sites_report ? "--sites" : env->folded ? "--folded" : knob;

	if (!env->sites && what) {
		fprintf(err, "pymemtop: %s: allocation sites are turned off by --no-sites\n", what);
		return -EINVAL;
	}
	if (env->sites_report && env->json) {
		fprintf(err, "pymemtop: --sites is a text report; with --json the sites are in "
			     "each process object\n");
		return -EINVAL;
	}
	if (env->sites_report && env->quiet) {
		fprintf(err, "pymemtop: --sites prints on stdout, which --quiet keeps empty\n");
		return -EINVAL;
	}
	if (env->sites_report)
		env->batch = true;
	return 0;
}

int options_parse(int argc, char **argv, struct env *env, FILE *err)
{
	const char *knob = NULL;
	int c, cur;

	set_defaults(env);
	optind = 0; /* 0, not 1: glibc then also drops its position inside "-abc" */
	opterr = 0;
	/* '+': no argument permutation, so argv[cur] is the word being parsed
	 * (a positional argument is an error anyway). */
	for (cur = 1; (c = getopt_long(argc, argv, "+:bn:d:p:vh", long_opts, NULL)) != -1;
	     cur = optind) {
		if (c == '?' || c == ':') {
			report_bad_option(c, argv[cur < argc ? cur : argc - 1], err);
			return -EINVAL;
		}
		if (apply_option(env, c, optarg, err))
			return -EINVAL;
		if (sites_knob(c))
			knob = sites_knob(c)->name;
	}
	if (optind < argc) {
		fprintf(err, "pymemtop: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -EINVAL;
	}
	if (check_sites(env, knob, err))
		return -EINVAL;
	if (env->prom_pids && !env->prom_file && !env->listen) {
		fprintf(err, "pymemtop: --prom-pids needs --prom-file or --listen\n");
		return -EINVAL;
	}
	if (env->prom_types && !env->prom_file && !env->listen) {
		fprintf(err, "pymemtop: --prom-types needs --prom-file or --listen\n");
		return -EINVAL;
	}
	if (env->prom_sites && !env->prom_pids) {
		fprintf(err, "pymemtop: --prom-sites needs --prom-pids N: sites are exported for "
			     "the per-PID processes only\n");
		return -EINVAL;
	}
	if (env->prom_sites > env->sites_top) {
		fprintf(err,
			"pymemtop: --prom-sites %d: only --sites-top (%d) sites are kept per "
			"process; raise --sites-top\n",
			env->prom_sites, env->sites_top);
		return -EINVAL;
	}
	if ((env->prom_file || env->listen) && !env->batch && !env->json)
		env->quiet = true; /* a service: the exports, no frames on stdout */
	if (env->precise && !env->npids) {
		fprintf(err,
			"pymemtop: --precise needs -p PID: it slows the processes it watches\n");
		return -EINVAL;
	}
	return 0;
}
