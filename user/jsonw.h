/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Building JSON with json-c, every allocation checked: a failed
 * json_object_new_* or add marks the writer (w->oom) instead of being
 * added as null or crashing on a NULL container; the caller drops the
 * whole document then. A NULL value on purpose is JSON null.
 */
#ifndef PMT_JSONW_H
#define PMT_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

struct jw {
	bool oom;
};

/* o, marking w when it is NULL (a failed json_object_new_*). */
struct json_object *jw_chk(struct jw *w, struct json_object *o);
struct json_object *jw_obj(struct jw *w);
struct json_object *jw_arr(struct jw *w, int n);
/* Into an object (NULL: already failed, v is dropped) or an array. */
void jw_put(struct jw *w, struct json_object *o, const char *key, struct json_object *v);
void jw_append(struct jw *w, struct json_object *a, struct json_object *v);
struct json_object *jw_u64(struct jw *w, uint64_t v);
struct json_object *jw_i64(struct jw *w, int64_t v);
struct json_object *jw_bool(struct jw *w, bool v);
/* A string; NULL or "" (with empty_null) gives JSON null. */
struct json_object *jw_str(struct jw *w, const char *s);
struct json_object *jw_str_or_null(struct jw *w, const char *s, bool empty_null);
/* A double printed with fmt; not finite: null. */
struct json_object *jw_double(struct jw *w, double v, const char *fmt);

#endif
