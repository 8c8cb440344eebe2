"""The layout registry against the builds it describes.

- registry_matches_dwarf[NAME]: every offset pymemtop resolves for an
  interpreter file (pymemtop --inspect: its registry row, with what the
  file's _Py_DebugOffsets covers) equals what the DWARF of the same
  build-id says: the pyenv builds carry theirs; Debian's come from the
  -dbg packages installed in the roots (gdb runs inside the root, where it
  finds /usr/lib/debug/.build-id/...). Facts that are not in DWARF (macros:
  arena and pool sizes, _PyStackRef's tag bits; function arguments) are
  checked live by the heap and sites tests instead.
- readme_table_matches_registry: the README's "What works where" table
  says what --inspect says of each build of the matrix.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile

from harness import ROOT, PYMEMTOP, Fail, Skip, check, interpreters  # noqa: F401


def inspect(path):
    p = subprocess.run([PYMEMTOP, "--inspect", path], capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == 0, f"--inspect {path}: {p.returncode} {p.stderr.strip()}")
    return json.loads(p.stdout)


def interp_file(py):
    """The ELF file holding the interpreter, as the host opens it: the
    executable, a pyenv build's libpython, gdb's libpython3.14."""
    if py.embed:
        return py.root + "/usr/lib/x86_64-linux-gnu/libpython3.14.so.1.0", \
            "/usr/lib/x86_64-linux-gnu/libpython3.14.so.1.0"
    if "/.pyenv/" in py or "/versions/" in py:
        lib = glob_one(os.path.dirname(os.path.dirname(py)) + f"/lib/libpython3.{py.minor}.so.1.0")
        return lib, lib
    return py.host_path, str(py)


def glob_one(path):
    check(os.path.exists(path), f"{path} missing")
    return path


def off(struct, field):
    return f"(long)&(({struct}*)0)->{field}"


def dwarf_exprs(minor, fields):
    """registry field -> gdb expression, for what this minor's DWARF has."""
    rt, it, ts = "_PyRuntimeState", "PyInterpreterState", "PyThreadState"
    gc, co = "struct _gc_runtime_state", "PyCodeObject"
    e = {
        "rt_interp_head": off(rt, "interpreters.head"),
        "rt_interp_main": off(rt, "interpreters.main"),
        "gc_enabled": off(gc, "enabled"),
        "gc_generations": off(gc, "generations"),
        "gc_generation0": off(gc, "generation0"),
        "gc_gen_threshold": off("struct gc_generation", "threshold"),
        "gc_gen_count": off("struct gc_generation", "count"),
        "gc_gen_size": "(long)sizeof(struct gc_generation)",
        "gc_stats": off(gc, "generation_stats"),
        "ts_thread_id": off(ts, "thread_id"),
        "code.co_filename": off(co, "co_filename"),
        "code.co_name": off(co, "co_name"),
        "code.co_firstlineno": off(co, "co_firstlineno"),
        "code.str_ascii_data": "(long)sizeof(PyASCIIObject)",
        "code.str_compact_data": "(long)sizeof(PyCompactUnicodeObject)",
    }
    e["gc_state"] = off(rt, "gc") if minor == 8 else off(it, "gc")
    if minor <= 11:
        e["rt_tstate_current"] = off(rt, "gilstate.tstate_current")
    if minor <= 10:
        e.update({"ts_top_frame": off(ts, "frame"), "fr_previous": off("PyFrameObject", "f_back"),
                  "fr_code": off("PyFrameObject", "f_code"),
                  "fr_instr": off("PyFrameObject", "f_lasti"),
                  "fr_instr_size": "(long)sizeof(((PyFrameObject*)0)->f_lasti)",
                  "code.co_code": off(co, "co_code"),
                  "code.co_linetable": off(co, "co_lnotab" if minor < 10 else "co_linetable")})
    else:
        fr = "struct _PyInterpreterFrame"
        instr = "prev_instr" if minor <= 12 else "instr_ptr"
        e.update({"fr_previous": off(fr, "previous"),
                  "fr_code": off(fr, "f_code" if minor <= 12 else "f_executable"),
                  "fr_instr": off(fr, instr),
                  "fr_instr_size": f"(long)sizeof((({fr}*)0)->{instr})",
                  "code.co_qualname": off(co, "co_qualname"),
                  "code.co_linetable": off(co, "co_linetable"),
                  "code.co_code_adaptive": off(co, "co_code_adaptive")})
        if minor <= 12:
            e.update({"ts_top_frame": off(ts, "cframe"),
                      "cf_current_frame": off("_PyCFrame", "current_frame")})
        else:
            e["ts_top_frame"] = off(ts, "current_frame")
    if minor >= 12:
        obm = "struct _obmalloc_state"
        e.update({"rt_allocators": off(rt, "allocators"), "is_obmalloc": off(it, "obmalloc"),
                  "is_gil_holder": off(it, "_gil.last_holder"),
                  "obm_arenas": off(obm, "mgmt.arenas"), "obm_maxarenas": off(obm, "mgmt.maxarenas"),
                  "obm_nfp2lasta": off(obm, "mgmt.nfp2lasta"), "fr_owner": off(fr, "owner"),
                  "fr_owner_skip": "(long)" + ("FRAME_OWNED_BY_CSTACK" if minor <= 13
                                               else "FRAME_OWNED_BY_INTERPRETER")})
    if minor == 15:
        st, gs = "struct gc_generation_stats", "struct gc_stats"
        e.update({"ring.item_size": f"(long)sizeof({st})", "ring.ts_stop": off(st, "ts_stop"),
                  "ring.collections": off(st, "collections"),
                  "ring.collected": off(st, "collected"),
                  "ring.uncollectable": off(st, "uncollectable"),
                  "ring.candidates": off(st, "candidates"), "ring.duration": off(st, "duration"),
                  "ring.young_items": f"(long)(sizeof((({gs}*)0)->young.items)/sizeof({st}))",
                  "ring.young_index": off(gs, "young.index"), "ring.old": off(gs, "old"),
                  "ring.old_size": f"(long)sizeof((({gs}*)0)->old[0])",
                  "ring.old_items": f"(long)(sizeof((({gs}*)0)->old[0].items)/sizeof({st}))",
                  "ring.old_index": off("struct gc_old_stats_buffer", "index"),
                  "ring.update_seq": off(gs, "update_seq"), "ring.size": f"(long)sizeof({gs})"})
    else:
        e["gc_stats_stride"] = "(long)sizeof(struct gc_generation_stats)"
    missing = sorted(set(e) - set(fields))
    check(not missing, f"registry fields missing from --inspect: {missing}")
    return e


def gdb_values(py, inner_file, exprs, debug_dir=None):
    """Evaluate exprs with gdb on the file's DWARF (inside the root for a
    root's build: its gdb finds the -dbg package's file by build-id;
    debug_dir: where else to look for it)."""
    names = sorted(exprs)
    script = "".join(f"print {exprs[n]}\n" for n in names)
    if debug_dir:
        script = f"set debug-file-directory {debug_dir}\nfile {inner_file}\n" + script
    with tempfile.NamedTemporaryFile("w", suffix=".gdb", dir=(py.root or None) and
                                     py.root + "/tmp", delete=False) as f:
        f.write(script)
    try:
        inner_script = f.name[len(py.root):] if py.root else f.name
        argv = ["gdb", "-nx", "-batch", "-x", inner_script, inner_file]
        if py.root:
            argv = ["chroot", py.root] + argv
        p = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    finally:
        os.unlink(f.name)
    vals = re.findall(r"^\$\d+ = (-?\d+)$", p.stdout, re.M)
    check(len(vals) == len(names), f"gdb gave {len(vals)} values for {len(names)} "
          f"expressions: {p.stderr.strip()[-600:]}")
    return dict(zip(names, map(int, vals)))


def no_debug_info(py, inner_file, debug_dir=None):
    """Why this build has no DWARF here, or None."""
    pre = ["-ex", f"set debug-file-directory {debug_dir}", "-ex", f"file {inner_file}"] \
        if debug_dir else []
    argv = ["gdb", "-nx", "-batch", *pre, "-ex", "print sizeof(PyInterpreterState)", inner_file]
    if py.root:
        argv = ["chroot", py.root] + argv
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if re.search(r"^\$1 = \d+$", p.stdout, re.M):
        return None
    return (p.stderr.strip().splitlines() or ["no debug info"])[-1]


def host_debug_package(info, work):
    """Debian 12's python3.11: the python3.11-dbg of the installed version,
    unpacked into work (the archive keeps a few versions); its debug-file
    directory. Skip when the archive no longer has that version."""
    ver = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "python3.11"],
                         capture_output=True, text=True).stdout.strip()
    p = subprocess.run(["apt-get", "download", f"python3.11-dbg={ver}"], cwd=work,
                       capture_output=True, text=True, timeout=600)
    debs = [f for f in os.listdir(work) if f.endswith(".deb")]
    if p.returncode or not debs:
        have = subprocess.run(["apt-cache", "madison", "python3.11-dbg"], capture_output=True,
                              text=True).stdout.split("\n")
        have = ", ".join(l.split("|")[1].strip() for l in have if "|" in l)
        raise Skip(f"the archive has no python3.11-dbg {ver}, the installed python3.11's "
                   f"version (it has {have or 'none'}): no DWARF for build-id "
                   f"{info['build']['build_id']}; its 3.11 row is checked on pyenv 3.11's "
                   f"DWARF and this build live")
    subprocess.run(["dpkg-deb", "-x", os.path.join(work, debs[0]), work], check=True)
    return os.path.join(work, "usr", "lib", "debug")


def test_registry_matches_dwarf(python):
    py = python
    host_file, inner_file = interp_file(py)
    info = inspect(host_file)
    lay = info["layout"]
    check(lay["ok"], f"{py.name}: no layout: {lay['reason']}")
    work = tempfile.mkdtemp(prefix="pmt-dbg-")
    try:
        debug_dir = host_debug_package(info, work) if py.name == "debian-3.11" else None
        why = no_debug_info(py, inner_file, debug_dir)
        check(not why, f"{py.name}: {inner_file}: no DWARF ({why}): make roots installs the "
              f"-dbg packages")
        fields = lay["fields"]
        exprs = dwarf_exprs(py.minor, fields)
        got = gdb_values(py, inner_file, exprs, debug_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bad = []
    for name, want in sorted(got.items()):
        have = fields[name]
        alt = fields.get("gc_generations_alt") if name == "gc_generations" else None
        if have != want and not (alt and alt == want):
            bad.append(f"{name}: registry {have}, DWARF {want}")
    check(not bad, f"{py.name} ({info['version']}, build-id {info['build']['build_id']}, row "
          f"{lay['row']}): " + "; ".join(bad))
    print(f"  {py.name}: Python {info['version']} build-id {info['build']['build_id']}: "
          f"{len(got)} facts of row {lay['row']} equal its DWARF", flush=True)


def readme_table():
    """The README's 'What works where' rows: {kind: {column: text}}, kind
    the first cell's word before ':' ("distro", "embedder", "pyenv")."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    part = text.split("## What works where", 1)[1].split("\n## ", 1)[0]
    rows = [l for l in part.splitlines() if l.startswith("|")]
    head = [c.strip() for c in rows[0].strip("|").split("|")]
    table = {}
    for r in rows[2:]:
        cells = [c.strip() for c in r.strip("|").split("|")]
        table[cells[0].split(":")[0]] = dict(zip(head, cells))
    return table


def minors(cell):
    """The minor versions a versions cell names ("3.11, 3.13-3.15")."""
    got = set()
    for lo, hi in re.findall(r"3\.(\d+)-3\.(\d+)", cell):
        got |= set(range(int(lo), int(hi) + 1))
    got |= {int(m) for m in re.findall(r"3\.(\d+)(?!-|\d)", cell)}
    return got


def check_row(name, minor, info, row):
    """What --inspect says of one build against its README row."""
    check(minor in minors(row["versions"]), f"{name}: 3.{minor} not in {row['versions']!r}")
    src = info["gc"]["source"] or ""
    if src == "usdt":
        check("USDT" in row["GC"], f"{name}: GC by USDT, README: {row['GC']!r}")
    elif src == "process_vm_readv:gc_stats":
        check("gc_stats" in row["GC"] and f"3.{minor}" in row["GC"],
              f"{name}: GC from gc_stats, README: {row['GC']!r}")
    else:
        check(src.startswith("uprobe:") and "uprobe" in row["GC"] and
              all(f in row["GC"] for f in src[7:].split("+") if "constprop" not in f),
              f"{name}: GC {src!r}, README: {row['GC']!r}")
    heap = info["heap"]
    word = {"symtab": ".symtab", "decoded": "decoded", "_PyRuntime": "_PyRuntime"}
    check(heap["ok"] and "exact" in row["heap"] and word[heap["source"]] in row["heap"],
          f"{name}: heap {heap['source']} ({heap['reason']}), README: {row['heap']!r}")
    if info["layout"]["debug_offsets"] and row is not None and "pyenv" not in name:
        check("_Py_DebugOffsets" in row["heap"], f"{name}: README heap {row['heap']!r}")
    flow = row["allocation flow"]
    check(heap["arena_counter"] is not None and "arena counter" in flow,
          f"{name}: arena counter {heap['arena_counter']}, README: {flow!r}")
    refill = heap["pool_refill"]["probe"] is not None
    check(refill == ("--pool-refills" in flow and not (minor == 8 and "3.8" in flow)),
          f"{name}: refill probe {heap['pool_refill']}, README: {flow!r}")
    check(info["sites"]["ok"] == (row["sites"] == "yes"), f"{name}: sites {info['sites']}")
    prec = heap["precise"]
    if prec["ok"]:
        check(row["--precise"].startswith("exact"), f"{name}: --precise works, README "
              f"{row['--precise']!r}")
    else:
        check("refused" in row["--precise"] and
              ("LTO" in prec["reason"]) == ("LTO" in row["--precise"]),
              f"{name}: --precise {prec['reason']!r}, README {row['--precise']!r}")


def test_readme_table_matches_registry():
    """Each build of the matrix against its row of the README's 'What
    works where' table (versions, GC source, heap source, default
    allocation flow, pool refills, sites, --precise), as --inspect says of
    it; and the free-threaded and 3.16 fixtures against the last row."""
    table = readme_table()
    checked = 0
    for name, py, why in interpreters():
        if py is None:
            check(not why.startswith("FAIL "), why[5:])
            continue
        kind = "embedder" if py.embed else "distro" if py.distro else "pyenv"
        check(kind in table, f"README table has no '{kind}:' row ({list(table)})")
        check_row(name, py.minor, inspect(interp_file(py)[0]), table[kind])
        checked += 1
    check(checked >= 12, f"only {checked} builds checked")
    last = next(r for k, r in table.items() if k.startswith("free-threaded"))
    for fixture, why in (("fake_python315t", "free-threaded"), ("fake_python316", "3.16")):
        info = inspect(os.path.join(ROOT, ".output", "fixtures", fixture))
        check(not info["heap"]["ok"] and why in info["heap"]["reason"],
              f"{fixture}: heap {info['heap']}")
        check("null" in last["heap"] and "refused" in last["--precise"] and
              not info["sites"]["ok"], f"{fixture}: README row {last}")


def test_inspect_bad_input():
    """--inspect: a missing file, a file that is not ELF, a truncated ELF
    file, a directory: one line on stderr and exit status 1; no argument:
    exit status 2; a program that is not CPython: JSON saying so, 0."""
    from harness import run_cli, one_line_error, FIXTURES
    for path, needle in (("/nonexistent/python3", "No such file"),
                         (os.path.join(FIXTURES, "notelf.bin"), "not an x86-64 ELF"),
                         (os.path.join(FIXTURES, "truncated.elf"), "--inspect"),
                         ("/", "--inspect")):
        rc, out, err = run_cli("--inspect", path)
        one_line_error(rc, err, 1, needle)
        check(not out, f"--inspect {path}: output {out!r}")
    rc, out, err = run_cli("--inspect")
    one_line_error(rc, err, 2, "needs an argument")
    info = inspect(os.path.join(FIXTURES, "not_python"))
    check(info["python"] is False and "layout" not in info, f"not_python: {info}")
