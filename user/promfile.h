/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Atomic replacement of the Prometheus textfile that node_exporter's
 * textfile collector reads. pymemtop runs as root and the directory may be
 * controlled by other users, so the writer never follows a symlink at the
 * target, never opens anything but its own freshly created (O_EXCL)
 * temporary file, and works relative to one directory fd throughout.
 */
#ifndef PMT_PROMFILE_H
#define PMT_PROMFILE_H

#include <stddef.h>

/* Replace the file at path with data, atomically: readers (node_exporter)
 * see the old content or the new, never a partial file. 0, or -errno with a
 * one-line reason in err (e.g. "/x/pymemtop.prom is a symlink: refusing to
 * write through it"). On any failure the previous file at path is untouched
 * and no temporary file is left behind.
 *
 * The temporary file is ".<base>.<16 hex digits>.tmp" in the same
 * directory (never ending in ".prom"). Something other than a regular file
 * at path is refused: a symlink -ELOOP, a directory -EISDIR, anything else
 * -EINVAL; so are an empty path, one ending in '/' and a base name of "."
 * or "..". The new file has mode 0644 whatever the umask. err may be NULL. */
int promfile_write(const char *path, const char *data, size_t len, char *err, size_t errlen);

#endif
