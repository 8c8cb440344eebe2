// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <math.h>
#include <stdio.h>
#include "jsonw.h"

struct json_object *jw_chk(struct jw *w, struct json_object *o)
{
	if (!o)
		w->oom = true;
	return o;
}

struct json_object *jw_obj(struct jw *w)
{
	return jw_chk(w, json_object_new_object());
}

struct json_object *jw_arr(struct jw *w, int n)
{
	return jw_chk(w, json_object_new_array_ext(n > 0 ? n : 1));
}

void jw_put(struct jw *w, struct json_object *o, const char *key, struct json_object *v)
{
	if (!o || json_object_object_add(o, key, v)) {
		json_object_put(v);
		w->oom = true;
	}
}

void jw_append(struct jw *w, struct json_object *a, struct json_object *v)
{
	if (!a || json_object_array_add(a, v)) {
		json_object_put(v);
		w->oom = true;
	}
}

struct json_object *jw_u64(struct jw *w, uint64_t v)
{
	return jw_chk(w, json_object_new_uint64(v));
}

struct json_object *jw_i64(struct jw *w, int64_t v)
{
	return jw_chk(w, json_object_new_int64(v));
}

struct json_object *jw_bool(struct jw *w, bool v)
{
	return jw_chk(w, json_object_new_boolean(v));
}

struct json_object *jw_str(struct jw *w, const char *s)
{
	return s ? jw_chk(w, json_object_new_string(s)) : NULL;
}

struct json_object *jw_str_or_null(struct jw *w, const char *s, bool empty_null)
{
	return s && (*s || !empty_null) ? jw_str(w, s) : NULL;
}

struct json_object *jw_double(struct jw *w, double v, const char *fmt)
{
	char buf[64];

	if (!isfinite(v))
		return NULL;
	snprintf(buf, sizeof(buf), fmt, v);
	return jw_chk(w, json_object_new_double_s(v, buf));
}
