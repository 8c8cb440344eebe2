// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * model.c: the field table against the field list of docs/metrics.md
 * (every field documented, every documented field in the table, types and
 * units agreeing), every unavailable value of a built model with a reason
 * of its own, copies that outlive the process table, the JSON keys coming
 * from the table only, and vector storage bounds.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "model.h"
#include "table.h"

#define DOC "docs/metrics.md"

/* ---- the documentation ------------------------------------------------------ */

struct doc_row {
	char names[512]; /* the first column */
	char type[256]; /* the second */
};

/* Rows of the process object's field list: from "### Process object" to
 * the next "## " heading, those whose first column names fields. */
static int doc_rows(struct doc_row *rows, int max)
{
	FILE *f = fopen(DOC, "r");
	char line[8192];
	bool in = false;
	int n = 0;

	if (!f)
		fail_msg("%s: %s (run from the top of the tree)", DOC, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *a, *b, *c;

		if (!strncmp(line, "### Process object", 18))
			in = true;
		else if (in && !strncmp(line, "## ", 3))
			break;
		if (!in || strncmp(line, "| `", 3) || n == max)
			continue;
		a = line + 1;
		b = strchr(a, '|');
		c = b ? strchr(b + 1, '|') : NULL;
		assert_non_null(c);
		snprintf(rows[n].names, sizeof(rows[n].names), "%.*s", (int)(b - a), a);
		snprintf(rows[n].type, sizeof(rows[n].type), "%.*s", (int)(c - b - 1), b + 1);
		n++;
	}
	fclose(f);
	return n;
}

/* Is `name` one of the backticked names of the row? */
static bool row_names(const struct doc_row *r, const char *name)
{
	char want[200];

	snprintf(want, sizeof(want), "`%s`", name);
	return strstr(r->names, want) != NULL;
}

static void check_type(const char *path, const struct pm_field *f, const char *type)
{
	static const char *const unit_word[PM_U_NR] = {
		[PM_U_BYTES] = "bytes",
		[PM_U_SECONDS] = "seconds",
		[PM_U_UNIX_TIME] = "unix seconds",
		[PM_U_BYTES_PER_S] = "bytes per second",
		[PM_U_PER_S] = "per second",
		[PM_U_RATIO] = "ratio",
	};
	bool ok;

	switch (f->type) {
	case PM_T_I64:
	case PM_T_U64:
		ok = strstr(type, "int") || strstr(type, "counter");
		break;
	case PM_T_F64:
		ok = strstr(type, "float") != NULL;
		break;
	case PM_T_BOOL:
		ok = strstr(type, "bool") != NULL;
		break;
	case PM_T_STR:
		ok = strstr(type, "string") || strchr(type, '"');
		break;
	case PM_T_OBJ:
	case PM_T_ACC:
		ok = strstr(type, "object") != NULL;
		break;
	case PM_T_SITES:
	case PM_T_TYPES:
		ok = strstr(type, "array") != NULL;
		break;
	default:
		ok = strchr(type, '[') != NULL;
	}
	if (!ok)
		fail_msg("%s: docs say \"%s\", the table type %d", path, type, f->type);
	if (unit_word[f->unit] && !strstr(type, unit_word[f->unit]))
		fail_msg("%s: docs say \"%s\", the table's unit is %s", path, type,
			 pm_unit_name(f->unit));
}

static void test_doc_lists_every_field(void **state)
{
	static struct doc_row rows[256];
	int n = doc_rows(rows, 256);
	char path[160];

	(void)state;
	assert_true(n > 50);
	for (int i = 0; i < PM_NFIELDS; i++) {
		int r;

		pm_path(i, path, sizeof(path));
		for (r = 0; r < n && !row_names(&rows[r], path); r++)
			;
		if (r == n)
			fail_msg("%s is in the field table, not in %s", path, DOC);
		check_type(path, &pm_fields[i], rows[r].type);
	}
	/* and the other way: every documented name is a field */
	for (int r = 0; r < n; r++) {
		char *s = rows[r].names, *b, *e;

		while ((b = strchr(s, '`')) && (e = strchr(b + 1, '`'))) {
			int i;

			for (i = 0; i < PM_NFIELDS; i++)
				if (strlen(pm_path(i, path, sizeof(path))) == (size_t)(e - b - 1) &&
				    !strncmp(path, b + 1, e - b - 1))
					break;
			if (i == PM_NFIELDS)
				fail_msg("%s documents `%.*s`, not in the field table", DOC,
					 (int)(e - b - 1), b + 1);
			s = e + 1;
		}
	}
}

/* Paths are unique: JSON keys cannot collide. */
static void test_paths_unique(void **state)
{
	char a[160], b[160];

	(void)state;
	for (int i = 0; i < PM_NFIELDS; i++)
		for (int k = i + 1; k < PM_NFIELDS; k++)
			if (!strcmp(pm_path(i, a, sizeof(a)), pm_path(k, b, sizeof(b))))
				fail_msg("two fields at %s", a);
	assert_string_equal(pm_path(PM_RATE_GC_TIME_RATIO, a, sizeof(a)), "rates.gc_time_ratio");
	assert_string_equal(pm_path(PM_GROWTH_RSS_STEADY, a, sizeof(a)), "growth.rss_bytes.steady");
}

/* ---- built models ----------------------------------------------------------- */

static struct interp *new_interp(void)
{
	struct interp *in = calloc(1, sizeof(*in));

	assert_non_null(in);
	snprintf(in->path, sizeof(in->path), "/usr/bin/python3.11");
	snprintf(in->info.version, sizeof(in->info.version), "3.11.2");
	in->info.is_python = true;
	return in;
}

static void entry(struct proc_entry *e, struct interp *in)
{
	memset(e, 0, sizeof(*e));
	e->pid = 77;
	e->interp = in;
	e->cur.t = 10;
	snprintf(e->comm, sizeof(e->comm), "python3");
	snprintf(e->cmdline, sizeof(e->cmdline), "python3 app.py");
	snprintf(e->sites_reason, sizeof(e->sites_reason), "off (--no-sites)");
}

/* Every value a model lacks says why in its own words, not the generic
 * fallback: a process not yet read, without interpreter and with one. */
static void check_reasons(const struct pm_proc *p)
{
	char path[160];

	for (int i = 0; i < PM_NFIELDS; i++) {
		const char *r = pm_reason(p, i);

		if (pm_fields[i].group == PM_G_PROBES || pm_fields[i].type == PM_T_ACC)
			continue; /* the reasons themselves */
		if (pm_ok(p, i)) {
			assert_null(r);
			continue;
		}
		assert_non_null(r);
		if (!strcmp(r, "unavailable"))
			fail_msg("%s is unavailable without a reason",
				 pm_path(i, path, sizeof(path)));
	}
}

static void test_unavailable_has_reason(void **state)
{
	struct interp *in = new_interp();
	struct proc_entry e;
	struct pm_proc p;

	(void)state;
	entry(&e, NULL);
	assert_int_equal(model_build(&e, 10, &p), 0);
	check_reasons(&p);
	assert_false(pm_ok(&p, PM_PYTHON_BUILD));
	assert_string_equal(pm_reason(&p, PM_BUILD_LAYOUT), "interpreter not identified");
	model_free(&p);

	entry(&e, in);
	assert_int_equal(model_build(&e, 10, &p), 0);
	check_reasons(&p);
	assert_string_equal(pm_reason(&p, PM_RSS_BYTES), "/proc/PID/status not read");
	assert_string_equal(pm_reason(&p, PM_SITES), "off (--no-sites)");
	assert_string_equal(pm_reason(&p, PM_HEAP_LIVE_BYTES), "heap layout unknown");
	assert_string_equal(pm_reason(&p, PM_RATE_MMAP_BYTES), "needs two samples");
	model_free(&p);
	free(in);
}

/* A copy owns every string: the table entry can change or go. */
static void test_copy_outlives_entry(void **state)
{
	struct interp *in = new_interp();
	struct proc_entry *e = calloc(1, sizeof(*e));
	struct pm_proc p, c;

	(void)state;
	assert_non_null(e);
	entry(e, in);
	model_build(e, 10, &p);
	assert_int_equal(model_copy(&c, &p), 0);
	model_free(&p);
	memset(e, 'x', sizeof(*e)); /* reused */
	free(e);
	memset(in, 'y', sizeof(*in));
	free(in);
	assert_string_equal(pm_str(&c, PM_CMDLINE), "python3 app.py");
	assert_string_equal(pm_str(&c, PM_PYTHON_VERSION), "3.11.2");
	assert_string_equal(pm_str(&c, PM_BUILD_PATH), "/usr/bin/python3.11");
	assert_string_equal(pm_reason(&c, PM_SITES), "off (--no-sites)");
	model_free(&c);
}

/* Every key of the JSON is a field of its group; null where unavailable. */
static void check_keys(struct json_object *o, enum pm_group g)
{
	json_object_object_foreach(o, key, val)
	{
		int i;

		for (i = 0; i < PM_NFIELDS; i++)
			if (pm_fields[i].group == g && !strcmp(pm_fields[i].key, key))
				break;
		if (i == PM_NFIELDS)
			fail_msg("JSON key \"%s\" is not in the field table", key);
		if (pm_fields[i].type == PM_T_OBJ && val)
			check_keys(val, pm_fields[i].child);
	}
}

static void test_json_keys_are_fields(void **state)
{
	struct interp *in = new_interp();
	struct proc_entry e;
	struct pm_proc p;
	struct json_object *o;

	(void)state;
	entry(&e, in);
	e.cur.has_status = true;
	e.cur.rss_bytes = 1 << 20;
	model_build(&e, 10, &p);
	o = model_json(&p);
	assert_non_null(o);
	check_keys(o, PM_G_PROC);
	assert_int_equal(json_object_get_uint64(json_object_object_get(o, "rss_bytes")), 1 << 20);
	assert_null(json_object_object_get(o, "heap_live_bytes"));
	assert_true(json_object_object_get_ex(o, "heap_live_bytes", NULL)); /* null, present */
	json_object_put(o);
	model_free(&p);
	free(in);
}

/* A rate missing on a first frame says so, though its source has a
 * reason of its own for what it cannot count. */
static void test_rate_reason(void **state)
{
	struct pm_proc p = { 0 };

	(void)state;
	pm_set_str(&p, PM_PROBES_ALLOC, "process_vm_readv:ntimes_arena_allocated");
	pm_set_str(&p, PM_PROBES_ALLOC_REASON, "counted in whole arenas");
	pm_set_u64(&p, PM_ALLOC_BYTES_TOTAL, 1 << 20);
	pm_set_obj(&p, PM_RATES, true);
	pm_set_na_own(&p, PM_RATE_ALLOC_BYTES);
	assert_string_equal(pm_reason(&p, PM_RATE_ALLOC_BYTES), "needs two samples");
	assert_string_equal(pm_reason(&p, PM_RATE_ALLOCS), "counted in whole arenas");
	assert_string_equal(pm_reason(&p, PM_ALLOCS_TOTAL), "counted in whole arenas");
}

/* Vectors share one bounded store; one that does not fit is refused. */
static void test_vector_bounds(void **state)
{
	struct pm_proc p = { 0 };
	uint64_t v[PM_VEC_MAX] = { 0 };
	double d;
	uint64_t u;

	(void)state;
	v[2] = 7;
	assert_true(pm_set_vec(&p, PM_GC_COLLECTIONS_TOTAL, v, 3, 0));
	assert_true(pm_elem_u64(&p, PM_GC_COLLECTIONS_TOTAL, 2, &u) && u == 7);
	assert_false(pm_elem_u64(&p, PM_GC_COLLECTIONS_TOTAL, 3, &u));
	assert_true(pm_set_vec(&p, PM_ALLOC_SIZE_CLASSES, v, PMT_NBUCKETS, 1));
	assert_false(pm_elem(&p, PM_ALLOC_SIZE_CLASSES, PMT_NBUCKETS - 1, &d)); /* the null one */
	assert_false(pm_set_vec(&p, PM_HEAP_SIZE_CLASSES, v, PM_VEC_MAX, 0));
	assert_false(pm_ok(&p, PM_HEAP_SIZE_CLASSES));
	/* a double where a counter is asked for: no */
	assert_false(pm_elem_u64(&p, PM_GC_SECONDS_TOTAL, 0, &u));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doc_lists_every_field),
		cmocka_unit_test(test_paths_unique),
		cmocka_unit_test(test_unavailable_has_reason),
		cmocka_unit_test(test_copy_outlives_entry),
		cmocka_unit_test(test_json_keys_are_fields),
		cmocka_unit_test(test_vector_bounds),
		cmocka_unit_test(test_rate_reason),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
