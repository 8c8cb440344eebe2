/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Process models for the consumers' tests (display, Prometheus, --sites),
 * written as the JSON `pymemtop --json` prints and read into a struct
 * pm_proc through the field table, strictly: a key the table does not
 * have, or a value of the wrong type, fails the test. So a field renamed
 * in the table fails these tests instead of silently reading as null.
 * Include after cmocka.h.
 */
#ifndef PMT_TEST_MODEL_FIXTURE_H
#define PMT_TEST_MODEL_FIXTURE_H

#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "model.h"

static void fx_group(struct pm_proc *p, struct json_object *o, enum pm_group g);

static enum pm_id fx_field(enum pm_group g, const char *key)
{
	for (int i = 0; i < PM_NFIELDS; i++)
		if (pm_fields[i].group == g && !strcmp(pm_fields[i].key, key))
			return i;
	fail_msg("test JSON: \"%s\" is no field of the model (model.c's table)", key);
	return PM_NONE;
}

static bool fx_is_num(struct json_object *v)
{
	return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

static void fx_vec(struct pm_proc *p, enum pm_id id, struct json_object *a)
{
	union pm_num v[PMT_NBUCKETS + 1] = { 0 };
	int n, nnull = 0;

	if (!json_object_is_type(a, json_type_array))
		fail_msg("test JSON: %s is no array", pm_fields[id].key);
	n = (int)json_object_array_length(a);
	assert_true(n <= pm_fields[id].len);
	for (int i = 0; i < n; i++) {
		struct json_object *x = json_object_array_get_idx(a, i);

		if (!x) {
			nnull++;
			continue;
		}
		assert_true(!nnull && fx_is_num(x)); /* nulls only at the end */
		if (pm_fields[id].type == PM_T_F64V)
			v[i].d = json_object_get_double(x);
		else if (pm_fields[id].type == PM_T_U64V)
			v[i].u = json_object_get_uint64(x);
		else
			v[i].i = json_object_get_int64(x);
	}
	assert_true(pm_set_vec(p, id, v, n, nnull));
}

static void fx_frame(struct pm_proc *p, struct json_object *o, struct pm_frame *f)
{
	struct json_object *v;

	f->function = "?";
	f->file = NULL;
	f->line = -1;
	json_object_object_foreach(o, key, val)
	{
		v = val;
		if (!strcmp(key, "function") && json_object_is_type(v, json_type_string))
			f->function = pm_own_str(p, json_object_get_string(v));
		else if (!strcmp(key, "file") && json_object_is_type(v, json_type_string))
			f->file = pm_own_str(p, json_object_get_string(v));
		else if (!strcmp(key, "line") && json_object_is_type(v, json_type_int))
			f->line = json_object_get_int(v);
		else if (strcmp(key, "file") && strcmp(key, "line") && strcmp(key, "function") &&
			 strcmp(key, "source") && strcmp(key, "estimated_bytes") &&
			 strcmp(key, "samples") && strcmp(key, "recent_bytes") &&
			 strcmp(key, "recent_samples") && strcmp(key, "size_class_bytes") &&
			 strcmp(key, "live_bytes") && strcmp(key, "live_samples") &&
			 strcmp(key, "stack"))
			fail_msg("test JSON: \"%s\" is no key of a site", key);
	}
}

static uint64_t fx_u64(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_uint64(v) : 0;
}

static void fx_site(struct pm_proc *p, struct json_object *o, struct pm_site *s)
{
	struct json_object *v;

	memset(s, 0, sizeof(*s));
	fx_frame(p, o, &s->where);
	if (json_object_object_get_ex(o, "source", &v) && json_object_is_type(v, json_type_string))
		s->source = pm_own_str(p, json_object_get_string(v));
	s->bytes = fx_u64(o, "estimated_bytes");
	s->samples = fx_u64(o, "samples");
	s->recent_bytes = fx_u64(o, "recent_bytes");
	s->recent_samples = fx_u64(o, "recent_samples");
	if (json_object_object_get_ex(o, "live_bytes", &v) && v) {
		s->live_ok = true;
		s->live_bytes = json_object_get_uint64(v);
		s->live_samples = fx_u64(o, "live_samples");
	}
	if (json_object_object_get_ex(o, "size_class_bytes", &v) && v) {
		s->has_classes = true;
		for (int c = 0; c < PMT_NCLASSES && c < (int)json_object_array_length(v); c++)
			s->class_bytes[c] = json_object_get_uint64(json_object_array_get_idx(v, c));
	}
	if (!json_object_object_get_ex(o, "stack", &v) || !v || !json_object_array_length(v))
		return;
	s->nframes = (int)json_object_array_length(v);
	s->stack = calloc(s->nframes, sizeof(*s->stack));
	assert_non_null(s->stack);
	for (int f = 0; f < s->nframes; f++)
		fx_frame(p, json_object_array_get_idx(v, f), &s->stack[f]);
}

static void fx_sites(struct pm_proc *p, struct json_object *a)
{
	assert_true(json_object_is_type(a, json_type_array));
	p->nsites = (int)json_object_array_length(a);
	p->sites = calloc(p->nsites ? p->nsites : 1, sizeof(*p->sites));
	assert_non_null(p->sites);
	for (int i = 0; i < p->nsites; i++)
		fx_site(p, json_object_array_get_idx(a, i), &p->sites[i]);
	pm_set_obj(p, PM_SITES, true);
}

static void fx_types(struct pm_proc *p, struct json_object *a)
{
	assert_true(json_object_is_type(a, json_type_array));
	p->ntypes = (int)json_object_array_length(a);
	assert_true(p->ntypes <= HT_TOP);
	for (int i = 0; i < p->ntypes; i++) {
		struct json_object *o = json_object_array_get_idx(a, i), *v;
		struct ht_entry *t = &p->types[i];

		if (json_object_object_get_ex(o, "type", &v))
			snprintf(t->name, sizeof(t->name), "%s", json_object_get_string(v));
		t->objects = fx_u64(o, "objects");
		t->bytes = fx_u64(o, "bytes");
		t->objects_error = fx_u64(o, "objects_error");
		if (json_object_object_get_ex(o, "objects_growth", &v) && v) {
			t->growth_ok = true;
			t->growth = json_object_get_int64(v);
		}
	}
	pm_set_obj(p, PM_HEAP_TYPES, true);
	pm_set_acc(p, PM_HEAP_TYPES, PM_ESTIMATED);
}

static void fx_value(struct pm_proc *p, enum pm_id id, struct json_object *v)
{
	const struct pm_field *f = &pm_fields[id];

	if (!v) {
		pm_set_obj(p, id, false);
		return;
	}
	switch (f->type) {
	case PM_T_I64:
		assert_true(json_object_is_type(v, json_type_int));
		pm_set_i64(p, id, json_object_get_int64(v));
		break;
	case PM_T_U64:
		assert_true(json_object_is_type(v, json_type_int));
		pm_set_u64(p, id, json_object_get_uint64(v));
		break;
	case PM_T_F64:
		assert_true(fx_is_num(v));
		pm_set_f64(p, id, json_object_get_double(v));
		break;
	case PM_T_BOOL:
		assert_true(json_object_is_type(v, json_type_boolean));
		pm_set_bool(p, id, json_object_get_boolean(v));
		break;
	case PM_T_STR:
		assert_true(json_object_is_type(v, json_type_string));
		pm_set_str(p, id, pm_own_str(p, json_object_get_string(v)));
		break;
	case PM_T_OBJ:
		assert_true(json_object_is_type(v, json_type_object));
		pm_set_obj(p, id, true);
		fx_group(p, v, f->child);
		break;
	case PM_T_SITES:
		fx_sites(p, v);
		break;
	case PM_T_TYPES:
		fx_types(p, v);
		break;
	case PM_T_ACC:
		break; /* after the values: fx_accuracy */
	default:
		fx_vec(p, id, v);
	}
}

static void fx_group(struct pm_proc *p, struct json_object *o, enum pm_group g)
{
	json_object_object_foreach(o, key, val) fx_value(p, fx_field(g, key), val);
}

static void fx_accuracy(struct pm_proc *p, struct json_object *o)
{
	struct json_object *acc;

	if (!json_object_object_get_ex(o, "accuracy", &acc) || !acc)
		return;
	json_object_object_foreach(acc, key, val)
	{
		enum pm_id id = fx_field(PM_G_PROC, key);
		const char *a = val ? json_object_get_string(val) : NULL;

		assert_true(pm_fields[id].flags & PMF_ACC);
		pm_set_acc(p, id, !a ? PM_ACC_NONE : !strcmp(a, "exact") ? PM_EXACT : PM_ESTIMATED);
	}
}

/* The model of a process object (o is not consumed); model_free it. */
static void fixture_model_of(struct json_object *o, struct pm_proc *p)
{
	memset(p, 0, sizeof(*p));
	assert_true(json_object_is_type(o, json_type_object));
	fx_group(p, o, PM_G_PROC);
	fx_accuracy(p, o);
}

/* The model of a JSON text. */
static __attribute__((unused)) void fixture_model(const char *json, struct pm_proc *p)
{
	struct json_object *o = json_tokener_parse(json);

	if (!o)
		fail_msg("bad JSON in the test: %.200s", json);
	fixture_model_of(o, p);
	json_object_put(o);
}

#endif
