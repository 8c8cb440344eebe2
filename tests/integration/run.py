#!/usr/bin/env python3
"""pymemtop root integration tests.

Loads the real BPF programs (by running ./pymemtop) and checks its numbers
against real Python workloads' own ground truth (gc.get_stats(), /proc).
Runs on every interpreter of the test matrix (harness.interpreters():
Debian's python3.11, pyenv 3.8-3.13, the 3.13-3.15 builds of the Debian
roots and gdb embedding libpython3.14); prints PASS/FAIL/SKIP lines and a
final "N passed, N failed, N skipped" line.

Usage: tests/integration/run.py [-k SUBSTRING]
"""
import fcntl
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403
from harness import (ROOT, PYMEMTOP, WORKLOAD, FIXTURES, MIB, OUR_PROGS, Fail, Skip,  # noqa: E402
                     check, interpreters, pythons_present, first_python, Workload, Pymemtop,
                     run_cli, one_line_error)
from test_registry import (t_registry_matches_dwarf, t_readme_table_matches_registry,  # noqa: E402
                           t_inspect_bad_input)


# --- per-interpreter tests --------------------------------------------------

def check_gc_delta(p0, p1, done, python, what):
    """pymemtop's GC deltas between two frames against the workload's own
    gc.get_stats() delta: collections and collected (+ uncollectable)
    exactly; on 3.15 (its ring buffers) also candidates and seconds."""
    sb, sa = done["stats_before"], done["stats_after"]
    own = [a["collections"] - b["collections"] for a, b in zip(sa, sb)]
    check(own == [0, 0, 7], f"{what}: workload's own gc.get_stats() delta {own}, want [0, 0, 7]")
    seen = [a - b for a, b in zip(p1["gc_collections_total"], p0["gc_collections_total"])]
    check(seen == own, f"{what}: pymemtop saw {seen} collections per generation, CPython {own}")
    own_col = [a["collected"] + a["uncollectable"] - b["collected"] - b["uncollectable"]
               for a, b in zip(sa, sb)]
    col = [a - b for a, b in zip(p1["gc_collected_total"], p0["gc_collected_total"])]
    check(col == own_col, f"{what}: collected {col}, CPython {own_col}")
    secs = p1["gc_seconds_total"][2] - p0["gc_seconds_total"][2]
    check(secs > 0, f"{what}: gen-2 GC time did not grow ({secs})")
    if "duration" in sa[2]:  # 3.15: CPython's own durations, read without a probe
        check(p1["probes"]["gc"] == "process_vm_readv:gc_stats", f"{what}: {p1['probes']}")
        own_s = sa[2]["duration"] - sb[2]["duration"]
        check(abs(secs - own_s) < 2e-6, f"{what}: gen-2 seconds {secs}, CPython {own_s}")
        cand = [a - b for a, b in zip(p1["gc_candidates_total"], p0["gc_candidates_total"])]
        own_c = [a["candidates"] - b["candidates"] for a, b in zip(sa, sb)]
        check(cand == own_c, f"{what}: candidates {cand}, CPython {own_c}")
    else:
        check(p1["gc_candidates_total"] is None, f"{what}: candidates without a ring buffer?")
    check(p1["gc_model"] == "generational", f"{what}: gc_model {p1['gc_model']}")
    check(p1["gc_thresholds"] == list(done["threshold"]) and p1["gc_enabled"] is False,
          f"{what}: thresholds {p1['gc_thresholds']} enabled {p1['gc_enabled']}, CPython "
          f"{done['threshold']} {done['enabled']}")


def t_running_before_gc_exact(python):
    """Started before pymemtop, and another after it: discovered with the
    exact version the interpreter reports, GC source live; after each calls
    gc.collect() exactly 7 times with automatic GC off, pymemtop's deltas
    of collections and objects collected per generation equal the
    workload's own gc.get_stats() delta (3.15: candidates and seconds too),
    and its GC state (thresholds, enabled) equals gc.get_threshold(),
    gc.isenabled()."""
    k = 7
    wl = Workload(python, "gc", k)
    pm = Pymemtop("-d", "0.25")
    late = None
    try:
        p = pm.wait_proc(wl.pid)
        check(p["python_version"] == wl.ready["version"],
              f"python_version {p['python_version']!r}, interpreter says {wl.ready['version']!r}")
        check(p["probes"]["gc"] is not None, f"no GC source: {p['probes'].get('gc_reason')}")
        b = p["python_build"]
        check(b["layout"] and b["layout"].startswith(f"3.{python.minor}") and
              b["debug_offsets"] == (python.minor >= 13), f"python_build {b}")
        # what the process is: the script and its arguments, not "python3"
        if not python.embed:
            check(p["command"] == f"{wl.script} {wl.inner_ctl} gc {k}",
                  f"command {p['command']!r}")
        late = Workload(python, "gc", k)
        for w, what in ((wl, "started before"), (late, "started after")):
            t0 = time.time()
            p0 = pm.wait_proc(w.pid, after=t0)
            done, t_done = w.step()
            p1 = pm.wait_proc(w.pid, after=t_done + 0.05)
            check_gc_delta(p0, p1, done, python, what)
    finally:
        wl.finish()
        if late:
            late.finish()
        pm.stop()


def t_started_after_mmap_rss_exit(python):
    """Started after pymemtop: discovered; 64 MiB touched shows in mmap and RSS; exit seen."""
    pm = Pymemtop("-d", "0.25")
    wl = None
    try:
        pm.wait(lambda f: True, what="first frame")
        wl = Workload(python, "touch", 64)
        p0 = pm.wait_proc(wl.pid)
        check(p0["python_version"] == wl.ready["version"],
              f"python_version {p0['python_version']!r}, want {wl.ready['version']!r}")
        done, t_done = wl.step()
        p1 = pm.wait_proc(wl.pid, after=t_done + 0.05)
        dm = p1["mmap_bytes_total"] - p0["mmap_bytes_total"]
        dr = p1["rss_bytes"] - p0["rss_bytes"]
        check(dm >= 64 * MIB, f"mmap_bytes_total grew {dm} bytes, want >= 64 MiB")
        check(dm < 80 * MIB, f"mmap_bytes_total grew {dm} bytes, implausibly more than 64 MiB")
        check(dr >= 60 * MIB, f"rss_bytes grew {dr} bytes, want >= 60 MiB")
        truth = done["rss_bytes"]
        check(abs(p1["rss_bytes"] - truth) < 0.05 * truth,
              f"rss_bytes {p1['rss_bytes']} vs /proc VmRSS {truth}")
        t_exit = time.time()
        wl.finish()
        pm.wait(lambda f: f["time"] > t_exit and pm.proc_in(f, wl.pid) is None,
                what=f"frame without exited pid {wl.pid}")
        wl = None
    finally:
        if wl:
            wl.finish()
        pm.stop()


def t_forked_worker(python):
    """A worker forked without exec (gunicorn, multiprocessing) is found at once,
    with the parent's version and exactly its own K gen-2 GCs since the fork."""
    k = 5
    pm = Pymemtop("-d", "0.25")
    wl = None
    try:
        pm.wait(lambda f: True, what="first frame")
        wl = Workload(python, "fork", k)
        parent = pm.wait_proc(wl.pid)
        done, t_done = wl.step()
        child = done["child_pid"]
        own = [a - b for a, b in zip(done["gc_after"], done["gc_before"])]
        check(own == [0, 0, k], f"child's own gc.get_stats() delta {own}, want [0, 0, {k}]")
        # counted from the fork (3.15: dated by CPython's own ring buffers)
        p = pm.wait_proc(child, lambda p: p["gc_collections_total"] == own, after=t_done,
                         timeout=5, what=f"frame with forked pid {child} and its {k} GCs")
        check(p["python_version"] == parent["python_version"],
              f"child python_version {p['python_version']!r}, parent {parent['python_version']!r}")
        check(p["ppid"] == wl.pid, f"child ppid {p['ppid']}, want {wl.pid}")
        t_exit = time.time()
        wl.finish()
        wl = None
        pm.wait(lambda f: f["time"] > t_exit and pm.proc_in(f, child) is None,
                what=f"frame without exited child {child}")
    finally:
        if wl:
            wl.finish()
        pm.stop()


def check_plateau(pm, wl, i, python):
    """Step the plateaus workload once; pymemtop's heap must match CPython's."""
    open(os.path.join(wl.ctl, f"go{i}"), "w").close()
    truth = wl._wait_json(f"done{i}.json")
    t_done = time.time()
    # a snapshot taken after the plateau was reached (they are rate-limited)
    frame = pm.wait(lambda f: pm.proc_in(f, wl.pid) is not None
                    and pm.proc_in(f, wl.pid)["heap_arena_bytes"] is not None
                    and f["time"] - pm.proc_in(f, wl.pid)["heap_snapshot_age_seconds"]
                    > t_done + 0.05, what=f"frame with a fresh heap snapshot of pid {wl.pid}")
    p = pm.proc_in(frame, wl.pid)
    arena = truth["arena_size"]  # as CPython prints it: the build's, not assumed
    check(p["heap_arena_bytes"] == truth["arenas"] * arena,
          f"plateau {i}: heap_arena_bytes {p['heap_arena_bytes']}, CPython "
          f"{truth['arenas']} arenas x {arena} = {truth['arenas'] * arena}")
    live = p["heap_live_bytes"]
    check(abs(live - truth["live_bytes"]) <= 0.01 * truth["live_bytes"],
          f"plateau {i}: heap_live_bytes {live}, CPython bytes in allocated blocks "
          f"{truth['live_bytes']}")
    blocks = p["heap_live_blocks"] + (p["heap_raw_blocks"] or 0)
    check(p["heap_raw_blocks"] is not None, f"heap_raw_blocks null: {p['probes']}")
    check(abs(blocks - truth["allocated_blocks"]) <= 0.01 * truth["allocated_blocks"],
          f"plateau {i}: live+raw blocks {blocks}, sys.getallocatedblocks() "
          f"{truth['allocated_blocks']}")
    check(sum(p["heap_size_classes"]) == p["heap_live_blocks"], "size classes do not add up")
    check(p["heap_arenas_allocated_total"] == truth["arenas_total"],
          f"plateau {i}: heap_arenas_allocated_total {p['heap_arenas_allocated_total']}, "
          f"CPython arenas allocated total {truth['arenas_total']}")
    check(p["accuracy"]["heap_live_bytes"] == "exact", f"accuracy {p['accuracy']}")
    return p


def t_heap_accuracy(python):
    """heap_arena_bytes exact and live blocks/bytes within 1% of CPython's own
    figures at every plateau, for a process started before and one after pymemtop."""
    before = Workload(python, "plateaus", 3)
    pm = Pymemtop("-d", "0.2")
    after = None
    try:
        pm.wait(lambda f: True, what="first frame")
        after = Workload(python, "plateaus", 3)
        for i in range(3):
            for wl in (before, after):
                p = check_plateau(pm, wl, i, python)
        check(p["gc_generation_counts"] is not None and p["gc_thresholds"][1] == 10,
              f"GC state: counts {p['gc_generation_counts']}, thresholds {p['gc_thresholds']}")
    finally:
        before.finish()
        if after:
            after.finish()
        pm.stop()


def step_allocs(pm, wl, i):
    """Step the allocs workload; the first frame sampled after it is done."""
    open(os.path.join(wl.ctl, f"go{i}"), "w").close()
    truth = wl._wait_json(f"done{i}.json")
    t_done = os.path.getmtime(os.path.join(wl.ctl, f"done{i}.json"))
    return truth, pm.wait_proc(wl.pid, after=t_done + 0.05)


ALLOCS_N = 50000


def check_arena_flow(pm, wl, p0):
    """Make the objects; the arena-count estimate of alloc_bytes_total must
    be 0.9-1.2x the bytes of the blocks made (whole arenas; pools of these
    classes waste 3-9%)."""
    check(p0["allocs_total"] is None and p0["alloc_size_classes"] is None,
          f"no per-allocation source, yet allocs_total {p0['allocs_total']}")
    check(p0["accuracy"]["alloc_bytes_total"] == "estimated", f"{p0['accuracy']}")
    check(p0["probes"]["alloc"] == "process_vm_readv:ntimes_arena_allocated", f"{p0['probes']}")
    truth, _ = step_allocs(pm, wl, 0)
    t_done = os.path.getmtime(os.path.join(wl.ctl, "done0.json"))
    frame = pm.wait(lambda f: pm.proc_in(f, wl.pid) is not None
                    and f["time"] - pm.proc_in(f, wl.pid)["heap_snapshot_age_seconds"]
                    > t_done + 0.05, what="a snapshot after the allocations")
    p1 = pm.proc_in(frame, wl.pid)
    made = sum(n * ((s + 15) // 16 * 16) for n, s in zip(truth["classes"].values(),
                                                         truth["sizes"]))
    got = p1["alloc_bytes_total"] - p0["alloc_bytes_total"]
    check(0.9 * made <= got <= 1.2 * made, f"{made} bytes in blocks made, arena estimate {got}")


def t_alloc_flow(python):
    """Default mode (no per-process probe): alloc_bytes_total from CPython's
    own arena counter, 0.9-1.2x the bytes of 50 000 + 25 000 objects made;
    per-allocation fields null with the reason (on Debian's stripped builds
    too: the counter is decoded from _PyObject_DebugMallocStats or read
    through _PyRuntime)."""
    wl = Workload(python, "allocs", ALLOCS_N)
    pm = Pymemtop("-d", "0.2", "-p", str(wl.pid))
    try:
        p0 = pm.wait_proc(wl.pid, lambda p: p["heap_arena_bytes"] is not None,
                          after=time.time() + 0.3)
        reason = "3.8" if wl.ready["version"].startswith("3.8.") else "--pool-refills"
        check(reason in p0["probes"].get("alloc_reason", ""), f"reason: {p0['probes']}")
        check_arena_flow(pm, wl, p0)
    finally:
        wl.finish()
        pm.stop()


def t_alloc_flow_pool_refills(python):
    """--pool-refills: N objects of one size class made and kept; the
    refill estimate for that class must be within 1% of N (refills x pool
    capacity), pool_refills_total consistent with it. 3.8 (refill inlined):
    the arena estimate instead, with the reason."""
    wl = Workload(python, "allocs", ALLOCS_N)
    pm = Pymemtop("-d", "0.2", "-p", str(wl.pid), "--pool-refills")
    try:
        p0 = pm.wait_proc(wl.pid, lambda p: p["heap_arena_bytes"] is not None,
                          after=time.time() + 0.3)
        if wl.ready["version"].startswith("3.8."):
            check("3.8" in p0["probes"].get("alloc_reason", ""), f"reason: {p0['probes']}")
            check_arena_flow(pm, wl, p0)
            return
        check(p0["accuracy"]["allocs_total"] == "estimated", f"accuracy {p0['accuracy']}")
        check(p0["probes"]["alloc"] == "uprobe:pool_refill", f"probes {p0['probes']}")
        truth, p1 = step_allocs(pm, wl, 0)
        for cls, n in truth["classes"].items():
            c = int(cls)
            est = p1["alloc_size_classes"][c] - p0["alloc_size_classes"][c]
            check(abs(est - n) <= 0.01 * n,
                  f"class {c}: {n} objects made, refill estimate {est}")
            refills = p1["pool_refills_total"][c] - p0["pool_refills_total"][c]
            check(refills > 0 and est % refills == 0, f"class {c}: {refills} refills, {est}")
        check(p1["alloc_bytes_total"] > p0["alloc_bytes_total"] and
              p1["allocs_total"] == sum(p1["alloc_size_classes"][:32]), "totals do not add up")
        check(p1["frees_total"] is None, "frees_total is precise-mode only")
    finally:
        wl.finish()
        pm.stop()


def t_precise_exact(python):
    """--precise: exactly N allocations in class 25 and N/2 in class 30, then
    exactly as many frees sized from the pool headers; a stripped libpython
    (gdb's) too, its functions found through the allocator table and the
    unwind table. On an LTO build (Debian's python3.X): refused with the
    reason, default mode kept."""
    wl = Workload(python, "allocs", ALLOCS_N)
    pm = Pymemtop("-d", "0.2", "-p", str(wl.pid), "--precise")
    try:
        frame = pm.wait(lambda f: pm.proc_in(f, wl.pid) is not None, what="first frame")
        p0 = pm.wait_proc(wl.pid, after=frame["time"] + 0.3)
        if p0["probes"].get("precise_reason"):
            check(python.distro and not python.embed,
                  f"refused: {p0['probes']['precise_reason']}")
            check("LTO" in p0["probes"]["precise_reason"], f"reason {p0['probes']}")
            # refused: the refill probe stands in for the chosen process
            check(p0["accuracy"]["allocs_total"] == "estimated", "refill fallback missing")
            check(frame["precise_cost"] is not None, "cost not measured")
            return
        cost = frame["precise_cost"]
        check(cost is not None and 0 < cost["alloc_call_seconds"] < 1e-4,
              f"precise_cost {cost}")
        check(p0["accuracy"]["allocs_total"] == "exact" and
              p0["accuracy"]["frees_total"] == "exact", f"accuracy {p0['accuracy']}")
        truth, p1 = step_allocs(pm, wl, 0)
        for cls, n in truth["classes"].items():
            c = int(cls)
            got = p1["alloc_size_classes"][c] - p0["alloc_size_classes"][c]
            check(got == n, f"class {c}: {n} allocations made, {got} counted")
        _, p2 = step_allocs(pm, wl, 1)
        for cls, n in truth["classes"].items():
            c = int(cls)
            got = p2["free_size_classes"][c] - p1["free_size_classes"][c]
            check(got == n, f"class {c}: {n} objects freed, {got} frees counted")
        check(p2["allocs_total"] == sum(p2["alloc_size_classes"]), "allocs do not add up")
    finally:
        wl.finish()
        rc, err = pm.stop()
    check(not python.distro or python.embed or "LTO" in err,
          f"no refusal on stderr: {err.strip()}")


def t_heap_walk_deferred_while_growing():
    """A heap of 80 MiB (20 480 pool headers of 4 KiB on 3.9, over the
    16 384 limit) growing by 160 MiB more at ~100 MiB/s is not walked
    while it grows (heap_snapshots.deferred counts the frames), yet in
    those frames its arena counter moves on; once the growth stops, a
    walked snapshot of the whole heap comes within seconds, with the live
    bytes made."""
    name, python = first_python("pyenv-3.9", "pyenv-3.8")
    wl = Workload(python, "grow_twice", 80)
    pm = Pymemtop("-d", "0.1", "-p", str(wl.pid))
    try:
        pm.wait_proc(wl.pid, lambda p: p["heap_arena_bytes"] is not None, what="a first snapshot")
        open(os.path.join(wl.ctl, "go0"), "w").close()
        d0 = wl._wait_json("done0.json")
        p0 = pm.wait_proc(wl.pid, lambda p: p["heap_live_bytes"] >= d0["bytes"]
                          and p["heap_snapshot_age_seconds"] < 0.5, after=time.time(),
                          what="a walked snapshot after the first growth")
        a0 = p0["heap_arenas_allocated_total"]
        before = pm.wait(lambda f: True)["heap_snapshots"]["deferred"]
        t1 = time.time()
        open(os.path.join(wl.ctl, "go1"), "w").close()
        d1 = wl._wait_json("done1.json")
        frames = [f for f in list(pm.frames) if f["time"] > t1 and pm.proc_in(f, wl.pid)]
        deferred = [f for f in frames if f["heap_snapshots"]["deferred"] > before]
        check(deferred, f"{name}: no walk deferred while the 80 MiB heap grew by 160 MiB "
              f"({len(frames)} frames)")
        check(any(pm.proc_in(f, wl.pid)["heap_arenas_allocated_total"] > a0 and
                  pm.proc_in(f, wl.pid)["heap_snapshot_age_seconds"] > 0 for f in deferred),
              f"{name}: the arena counter did not move in frames without a walk")
        p = pm.wait_proc(wl.pid, lambda p: p["heap_live_bytes"] >= d1["bytes"]
                         and p["heap_snapshot_age_seconds"] < 0.5, after=time.time(),
                         timeout=15, what="a walked snapshot of the whole heap after the growth")
        check(p["heap_arena_bytes"] >= p["heap_live_bytes"], f"{name}: {p['heap_arena_bytes']}")
    finally:
        wl.finish()
        pm.stop()


def t_growth_marks_a_steady_leak():
    """A process growing its heap steadily for 40 s is marked as steady
    growth with about its real rate; an idle one beside it is not."""
    _, python = first_python("debian-3.11", "pyenv-3.12")
    leak = Workload(python, "leak", 40)
    idle = Workload(python, "idle")
    pm = Pymemtop("-d", "1", "-p", f"{leak.pid},{idle.pid}")
    try:
        pm.wait_proc(leak.pid, what="first frame")
        open(os.path.join(leak.ctl, "go"), "w").close()
        p = pm.wait_proc(leak.pid, lambda p: (p["growth"]["heap_live_bytes"] or {}).get(
            "steady"), timeout=45, what="steady heap growth marked")
        rate = p["growth"]["heap_live_bytes"]["bytes_per_s"]
        # 1456 x 144-byte blocks per 0.1 s (plus the list), a little less
        # with the loop's own time
        check(1.0e6 <= rate <= 2.6e6, f"heap growth {rate:.0f} B/s, made ~2.1e6 B/s")
        q = pm.wait_proc(idle.pid)
        g = q["growth"]["heap_live_bytes"]
        check(g is None or not g["steady"], f"idle process marked as growing: {g}")
    finally:
        leak.finish()
        idle.finish()
        pm.stop()


def t_allocator_recognised():
    """PYTHONMALLOC=malloc: heap metrics null with the reason; tracemalloc and
    debug hooks in front of pymalloc: still read, allocator says hooked."""
    pythons = [p for _, p in pythons_present("debian-3.11", "pyenv-3.12", "pyenv-3.13")]
    cases = [("PYTHONMALLOC", "malloc", "malloc"), ("PYTHONTRACEMALLOC", "1", "pymalloc+hooks"),
             ("PYTHONMALLOC", "pymalloc_debug", "pymalloc+hooks")]
    procs = []
    try:
        for python in pythons:
            for var, val, want in cases:
                env = dict(os.environ, **{var: val})
                q = subprocess.Popen([python, "-c", "import time; x = [object() for _ in "
                                      "range(50000)]; print(1, flush=True); time.sleep(60)"],
                                     env=env, stdout=subprocess.PIPE)
                q.stdout.readline()
                procs.append((q, python, var, val, want))
        pids = ",".join(str(q.pid) for q, *_ in procs)
        rc, out, err = run_cli("--json", "-n", "2", "-d", "0.3", "-p", pids)
        check(rc == 0, f"pymemtop exit {rc}: {err.strip()}")
        frame = json.loads(out.splitlines()[-1])
        for q, python, var, val, want in procs:
            p = next(p for p in frame["processes"] if p["pid"] == q.pid)
            where = f"{python} {var}={val}"
            check(p["heap_allocator"] == want, f"{where}: heap_allocator {p['heap_allocator']}")
            if want == "malloc":
                check(p["heap_live_bytes"] is None and p["accuracy"]["heap_live_bytes"] is None
                      and "malloc" in p["probes"]["heap_reason"],
                      f"{where}: heap not null with a reason: {p['probes']}")
            else:
                check(p["heap_live_blocks"] and p["heap_live_blocks"] > 50000,
                      f"{where}: heap_live_blocks {p['heap_live_blocks']}")
    finally:
        for q, *_ in procs:
            q.kill()
            q.wait()


# --- fixed tests ---------------------------------------------------------------

def t_cli_help_version():
    rc, out, err = run_cli("--help")
    check(rc == 0 and "Usage: pymemtop" in out and "--json" in out, f"--help: {rc} {err}")
    # the man page documents every long option --help lists (roff escapes '-' as '\-')
    with open(os.path.join(ROOT, "docs", "pymemtop.8")) as f:
        man = f.read().replace("\\-", "-")
    missing = sorted(set(re.findall(r"--[a-z][a-z-]+", out)) - set(re.findall(r"--[a-z][a-z-]+", man)))
    check(not missing, f"options in --help but not in docs/pymemtop.8: {missing}")
    rc, out, err = run_cli("--version")
    check(rc == 0 and out.startswith("pymemtop "), f"--version: {rc} {out!r}")


def t_cli_bad_input():
    for args, needle in [(["--bogus"], "unknown option"), (["-x"], "unknown option"),
                         (["-n", "abc"], "-n"), (["-n", "0"], "-n"), (["-d", "0"], "-d"),
                         (["-d", "fast"], "-d"), (["-d"], "needs an argument"),
                         (["-p", "12x"], "-p"), (["-p", ","], "-p"), (["extra"], "unexpected")]:
        rc, out, err = run_cli(*args)
        one_line_error(rc, err, 2, needle)


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def t_pid_not_running():
    rc, out, err = run_cli("-p", str(dead_pid()), "--once")
    one_line_error(rc, err, 1, "no such process")


def t_pid_not_python():
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        rc, out, err = run_cli("-p", str(sleeper.pid), "--once")
        one_line_error(rc, err, 1, "is not a CPython process")
    finally:
        sleeper.kill()
        sleeper.wait()


def t_not_root():
    if not shutil.which("setpriv"):
        raise Skip("setpriv (util-linux) not installed")
    # A copy nobody can execute wherever the checkout lives (e.g. under /root).
    tmp = tempfile.mkdtemp(prefix="pmt-nobody-")
    try:
        os.chmod(tmp, 0o755)
        exe = shutil.copy(PYMEMTOP, tmp)
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "--inh-caps=-all", exe, "--once"], capture_output=True, text=True,
                           timeout=30, stdin=subprocess.DEVNULL)
        one_line_error(p.returncode, p.stderr, 1, "needs root")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def t_no_btf():
    if not shutil.which("unshare"):
        raise Skip("unshare (util-linux) not installed")
    # A private mount namespace where /sys/kernel/btf is an empty tmpfs.
    script = f"mount -t tmpfs none /sys/kernel/btf && exec {PYMEMTOP} --once"
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                       capture_output=True, text=True, timeout=30)
    one_line_error(p.returncode, p.stderr, 1, "BTF")


def bpf_prog_names():
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {p.get("name") for p in json.loads(out)}


def uprobe_points(python, pid):
    """[(what, address in pid, the byte the file has there)] for the uprobes
    pymemtop puts in this process: the GC collector's (system-wide, on its
    interpreter file) and the pool refill's (--pool-refills, this PID only)."""
    from test_registry import inspect, interp_file
    host_file, inner = interp_file(python)
    info = inspect(host_file)
    points = [(f"gc {u['function']}", u["file_offset"]) for u in info["gc"]["uprobes"]]
    if info["heap"]["pool_refill"]["probe"]:
        points.append(("pool refill", info["heap"]["pool_refill"]["probe_file_offset"]))
    # the file's mapping at each offset (map_files and maps agree on names)
    maps = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            w = line.split()
            if len(w) >= 6 and os.path.basename(w[5]) == os.path.basename(inner):
                lo, hi = (int(x, 16) for x in w[0].split("-"))
                maps.append((lo, hi, int(w[2], 16)))
    out = []
    with open(host_file, "rb") as f:
        for what, off in points:
            f.seek(off)
            byte = f.read(1)
            addr = next(lo + off - mo for lo, hi, mo in maps if mo <= off < mo + hi - lo)
            out.append((what, addr, byte))
    return out


def text_bytes(pid, points):
    with open(f"/proc/{pid}/mem", "rb") as m:
        got = []
        for _, addr, _ in points:
            m.seek(addr)
            got.append(m.read(1))
        return got


def t_clean_detach_on_sigterm():
    """All of pymemtop's BPF programs are loaded while it runs, none after
    SIGTERM; the uprobes it put in a running process (the GC collector's
    and, with --pool-refills, the pool refill's: perf-event uprobes, which
    uprobe_events does not list) are breakpoints in the process's own text
    while it runs and the file's bytes again after it exits."""
    name, python = first_python("pyenv-3.12", "pyenv-3.13", "pyenv-3.11",
                                why="needs a pyenv build (GC by uprobe)")
    wl = Workload(python, "idle")
    pm = Pymemtop("-d", "0.25", "--pool-refills")
    try:
        pm.wait_proc(wl.pid)
        names = bpf_prog_names()
        check(OUR_PROGS <= names, f"pymemtop's BPF programs not all loaded while it runs: "
              f"missing {sorted(OUR_PROGS - names)}")
        points = uprobe_points(python, wl.pid)
        check(len(points) >= 2, f"{name}: uprobe points {points}")
        running = text_bytes(wl.pid, points)
        check(all(b == b"\xcc" for b in running),
              f"no breakpoint at the probes while pymemtop runs: {list(zip(points, running))}")
        rc, err = pm.stop()
        check(rc == 0, f"exit status {rc} after SIGTERM: {err.strip()}")
        left = bpf_prog_names() & OUR_PROGS
        check(not left, f"BPF programs left after exit: {sorted(left)}")
        after = text_bytes(wl.pid, points)
        check(after == [b for _, _, b in points],
              f"breakpoints left in pid {wl.pid} after exit: "
              f"{[(w, hex(a), x) for (w, a, _), x in zip(points, after)]}")
    finally:
        wl.finish()
        pm.stop()


def blocked_write_size(pid):
    """The byte count of the write(2) pid is blocked in, or None."""
    with open(f"/proc/{pid}/syscall") as f:
        sc = f.read().split()
    return int(sc[3], 16) if sc and sc[0] == "1" else None


def t_sigterm_with_full_stdout():
    """Frames to a one-page pipe that is read one page at a time: stdio's
    multi-page writes then block half done, and a signal only shortens the
    write(2) it interrupts — stdio writes the rest, and blocks again. A
    SIGTERM then must still end pymemtop within 10 s, with status 0 and
    none of its BPF programs left (make bench waited on such a pymemtop
    twice before pymemtop pointed stdout at /dev/null after a grace)."""
    python = next((p for _, p, _ in interpreters() if p), None)
    if not python:
        raise Skip("no Python interpreter")
    wls = [Workload(python, "idle") for _ in range(4)]  # frames of several pages
    p = subprocess.Popen([PYMEMTOP, "--json", "-d", "0.05"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    fcntl.fcntl(p.stdout.fileno(), 1031, 4096)  # F_SETPIPE_SZ: one page
    try:
        end = time.time() + 20
        while time.time() < end:
            n = blocked_write_size(p.pid)
            if n and n > 4096:
                break  # blocked at the start of a multi-page write
            if n:
                os.read(p.stdout.fileno(), 4096)
            time.sleep(0.02)
        else:
            raise Fail("pymemtop never blocked in a multi-page write")
        os.read(p.stdout.fileno(), 4096)  # room for one page: half written
        time.sleep(0.2)
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            raise Fail(f"pymemtop blocked in write({blocked_write_size(p.pid)}) did not exit "
                       f"within 10 s of SIGTERM")
        check(rc == 0, f"exit status {rc}: {p.stderr.read().decode().strip()}")
        left = bpf_prog_names() & OUR_PROGS
        check(not left, f"BPF programs left after exit: {sorted(left)}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for w in wls:
            w.finish()


def t_exits_when_selected_pids_exit():
    python = next((p for _, p, _ in interpreters() if p), None)
    if not python:
        raise Skip("no Python interpreter")
    wl = Workload(python, "idle")
    pm = Pymemtop("-d", "0.25", "-p", str(wl.pid))
    try:
        pm.wait_proc(wl.pid)
        wl.finish()
        rc = pm.proc.wait(timeout=10)
        check(rc == 0, f"exit status {rc} once the -p process exited")
        check(any(pm.proc_in(f, wl.pid) and pm.proc_in(f, wl.pid)["exited"] for f in pm.frames),
              "the exit was never reported (exited: true)")
    finally:
        pm.stop()


def t_deleted_interpreter():
    """An interpreter file deleted after start is still read via /proc/PID/exe."""
    src = "/usr/bin/python3.11"
    if not os.access(src, os.X_OK):
        raise Skip("Debian's python3.11 not installed")
    tmp = tempfile.mkdtemp(prefix="pmt-del-")
    exe = os.path.join(tmp, "python3.11")
    shutil.copy(src, exe)
    wl = Workload(src, "idle", exe=exe)
    os.unlink(exe)
    try:
        rc, out, err = run_cli("--json", "--once", "-d", "0.2", "-p", str(wl.pid))
        check(rc == 0, f"exit status {rc}: {err.strip()}")
        p = json.loads(out.splitlines()[-1])["processes"][0]
        check(p["python_version"] == wl.ready["version"], f"version {p['python_version']!r}")
        check(p["probes"]["gc"] == "usdt", f"gc probe {p['probes']}")
    finally:
        wl.finish()
        shutil.rmtree(tmp, ignore_errors=True)


def t_mount_namespace_gc():
    """A process in another mount namespace (as in a container) whose
    /usr/bin/python3.11 is a different file than the host's: found, and
    GC probes land on *its* file (by inode, via /proc/PID/exe)."""
    src = "/usr/bin/python3.11"
    if not os.access(src, os.X_OK):
        raise Skip("Debian's python3.11 not installed")
    if not shutil.which("unshare"):
        raise Skip("unshare (util-linux) not installed")
    tmp = tempfile.mkdtemp(prefix="pmt-ns-")
    copy = os.path.join(tmp, "python3.11")
    shutil.copy(src, copy)
    k = 5
    script = f"mount --bind {copy} {src} && exec {src} \"$@\""
    wl = None
    pm = Pymemtop("-d", "0.25")
    try:
        pm.wait(lambda f: True, what="first frame")
        wl = Workload(src, "gc", k, launcher=["unshare", "-m", "--propagation", "private",
                                               "sh", "-c", script, "sh"])
        st_host, st_proc = os.stat(src), os.stat(f"/proc/{wl.pid}/exe")
        check(st_host.st_ino != st_proc.st_ino, "the namespace did not get its own python3.11")
        p0 = pm.wait_proc(wl.pid)
        check(p0["python_version"] == wl.ready["version"], f"version {p0['python_version']!r}")
        check(p0["probes"]["gc"] == "usdt", f"gc probe {p0['probes']}")
        done, t_done = wl.step()
        p1 = pm.wait_proc(wl.pid, after=t_done + 0.05)
        seen = [a - b for a, b in zip(p1["gc_collections_total"], p0["gc_collections_total"])]
        check(seen == [0, 0, k], f"pymemtop saw {seen} collections, want [0, 0, {k}]")
    finally:
        if wl:
            wl.finish()
        pm.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def t_mmap_mremap_munmap_exact():
    """mmap 10 MiB, mremap to 30 MiB and to 5 MiB, munmap: each counted."""
    python = next((p for _, p, _ in interpreters() if p), None)
    if not python:
        raise Skip("no Python interpreter")
    wl = Workload(python, "remap")
    pm = Pymemtop("-d", "0.25", "-p", str(wl.pid))
    try:
        p0 = pm.wait_proc(wl.pid, after=time.time())
        done, t_done = wl.step()
        p1 = pm.wait_proc(wl.pid, after=t_done + 0.05)
        d = {k: p1[k] - p0[k] for k in p1 if k.startswith(("mmap_", "munmap_", "mremap_"))}
        check(d["mremap_calls_total"] == 2, f"mremap calls {d}")
        check(d["mremap_grow_bytes_total"] == 20 * MIB, f"mremap grow {d}")
        check(d["mremap_shrink_bytes_total"] == 25 * MIB, f"mremap shrink {d}")
        check(d["mmap_calls_total"] >= 1 and d["mmap_bytes_total"] >= 10 * MIB, f"mmap {d}")
        check(d["munmap_calls_total"] >= 1 and d["munmap_bytes_total"] >= 5 * MIB, f"munmap {d}")
    finally:
        wl.finish()
        pm.stop()


def t_map_full_drops_are_counted():
    """More live processes than --max-procs: the loss is counted and named."""
    pm = Pymemtop("-d", "0.25", "--max-procs", "64")
    sleepers = []
    try:
        pm.wait(lambda f: True, what="first frame")
        # Each new process maps its libraries: one mm_stats entry each.
        sleepers = [subprocess.Popen(["sleep", "60"]) for _ in range(100)]
        frame = pm.wait(lambda f: f["drops"]["mm_map_full"] > 0, what="mm_map_full > 0")
        check(frame["drops"]["mm_map_full"] > 0, "no drop counted")
    finally:
        for p in sleepers:
            p.kill()
            p.wait()
        rc, err = pm.stop()
    check("raise --max-procs" in err, f"no warning naming the fix on stderr: {err.strip()!r}")


def t_hostile_elf_via_proc():
    """A process mapping hostile 'libpython' files executable: no crash, not Python."""
    mapper = os.path.join(FIXTURES, "mapper")
    if not os.access(mapper, os.X_OK):
        raise Fail(f"{mapper} not built (make unit)")
    tmp = tempfile.mkdtemp(prefix="pmt-hostile-")
    good = os.path.join(FIXTURES, "libpython3.9.so.1.0")
    files = []
    with open(good, "rb") as f:
        data = bytearray(f.read())
    for name, blob in [("libpython3.9.so.1.0", data[:3000]),  # truncated
                       ("libpython3.10.so.1.0", b"\x7fELF" + os.urandom(4000)),
                       ("libpython3.11.so.1.0", data[:64] + b"\xff" * 4096)]:
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(blob)
        files.append(path)
    proc = subprocess.Popen([mapper, *files], stdout=subprocess.PIPE, text=True)
    try:
        check(proc.stdout.readline().strip() == "mapped", "mapper did not map its files")
        rc, out, err = run_cli("-p", str(proc.pid), "--once")
        one_line_error(rc, err, 1, "is not a CPython process")
        rc, out, err = run_cli("--json", "--once", "-d", "0.2")
        check(rc == 0, f"system-wide run with a hostile mapping: exit {rc}: {err.strip()}")
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


# --- the live display in a real terminal (tmux) --------------------------------

TMUX_SOCKET = f"pmt-test-{os.getpid()}"  # our own server: the user's tmux is untouched


def tmux(*args, check_rc=True):
    p = subprocess.run(["tmux", "-L", TMUX_SOCKET, "-f", "/dev/null", *args],
                       capture_output=True, text=True, timeout=10)
    if check_rc and p.returncode:
        raise Fail(f"tmux {' '.join(args)}: {p.stderr.strip()}")
    return p.stdout


class Screen:
    """./pymemtop ARGS on a detached tmux pane of a fixed size. A wrapper
    shell prints a marker, records the tty modes (stty -g) before and after
    and pymemtop's exit status in a file (tmux may miss the status), then
    stays so the restored screen can be read."""

    count = 0

    def __init__(self, args, width=100, height=30, env=None):
        if not shutil.which("tmux"):
            raise Skip("tmux not installed (make deps installs it)")
        Screen.count += 1
        self.name = f"s{Screen.count}"
        self.dir = tempfile.mkdtemp(prefix="pmt-tui-")
        st = os.path.join(self.dir, "status")
        envs = " ".join(f"{k}={v}" for k, v in (env or {}).items())
        # trap: Ctrl-C must not end the wrapper (the child gets SIGINT's
        # default disposition back at exec, as from an interactive shell)
        script = (f"trap : INT; echo BEFORE-PYMEMTOP; stty -g > {st}.before; "
                  f"env {envs} {PYMEMTOP} {' '.join(args)}; rc=$?; "
                  f"stty -g > {st}.after; echo $rc > {st}; exec sleep 600")
        tmux("new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height),
             "sh", "-c", script)
        self.status_file = st

    def text(self, escapes=False):
        return tmux("capture-pane", "-p", *(["-e"] if escapes else []), "-t", self.name)

    def wait(self, pred, what, timeout=15):
        """The screen once pred(text) holds (polled; never a fixed sleep)."""
        end = time.time() + timeout
        while True:
            text = self.text()
            if pred(text):
                return text
            if os.path.exists(self.status_file):
                raise Fail(f"pymemtop exited ({open(self.status_file).read().strip()}) "
                           f"waiting for {what}; screen:\n{text}")
            if time.time() > end:
                raise Fail(f"no {what} within {timeout}s; screen:\n{text}")
            time.sleep(0.1)

    def keys(self, *keys):
        tmux("send-keys", "-t", self.name, *keys)

    def pymemtop_pid(self):
        shell = tmux("display-message", "-p", "-t", self.name, "#{pane_pid}").strip()
        out = subprocess.run(["pgrep", "-P", shell, "-x", "pymemtop"], capture_output=True,
                             text=True).stdout.split()
        check(out, f"no pymemtop child of the pane's shell {shell}")
        return int(out[0])

    def exit_status(self, timeout=10):
        end = time.time() + timeout
        while not os.path.exists(self.status_file) or not os.path.getsize(self.status_file):
            if time.time() > end:
                raise Fail(f"pymemtop still running {timeout}s after quit; screen:\n{self.text()}")
            time.sleep(0.05)
        time.sleep(0.1)  # the wrapper writes stty -g before the status; be sure
        return int(open(self.status_file).read())

    def check_restored(self):
        """After pymemtop: same tty modes, normal screen, visible cursor."""
        before = open(self.status_file + ".before").read()
        after = open(self.status_file + ".after").read()
        check(before == after, f"tty modes not restored: {before.strip()} -> {after.strip()}")
        flags = tmux("display-message", "-p", "-t", self.name,
                     "#{alternate_on} #{cursor_flag}").split()
        check(flags == ["0", "1"], f"alternate screen / cursor after exit: {flags} (want 0 1)")
        check("BEFORE-PYMEMTOP" in self.text(), "the shell's screen was not given back")

    def close(self):
        # the whole (private) server, and wait until it is gone: a session
        # created while it shuts down would die with it
        tmux("kill-server", check_rc=False)
        sock = os.path.join(os.environ.get("TMUX_TMPDIR", "/tmp"), f"tmux-{os.getuid()}",
                            TMUX_SOCKET)
        end = time.time() + 5
        while os.path.exists(sock) and time.time() < end:
            time.sleep(0.05)
        shutil.rmtree(self.dir, ignore_errors=True)


def table_of(text):
    """Rows of the process table on a screen: {pid: {column: value}}, in
    screen order, and the column names."""
    lines = text.splitlines()
    hdr = next((i for i, l in enumerate(lines) if l.split()[:1] == ["PID"]
                and "COMMAND" in l), None)
    if hdr is None:
        return [], []
    cols = lines[hdr].split()
    rows = []
    for l in lines[hdr + 1:]:
        w = l.split()
        if not w or not w[0].isdigit():
            break
        row = dict(zip(cols[:-1], w))
        row["COMMAND"] = " ".join(w[len(cols) - 1:])
        rows.append(row)
    return rows, cols


def order(text):
    return [int(r["PID"]) for r in table_of(text)[0]]


def tui_pythons():
    found = {n: p for n, p, why in interpreters() if p}
    leak = found.get("pyenv-3.12") or found.get("pyenv-3.13")
    others = [found[n] for n in ("debian-3.11", "pyenv-3.8", "pyenv-3.10") if n in found][:2]
    if not leak or not others:
        raise Skip("needs pyenv 3.12 or 3.13 and one of Debian 3.11 / pyenv 3.8 / 3.10")
    return leak, others


def t_tui_end_to_end():
    """The live display in a 100x30 tmux pane: rows with the right versions;
    sorting by heap puts the growing workload first (PID order does not);
    / filters; Enter opens the detail view and Esc closes it; h shows help;
    resizing to 70x20 drops columns and keeps rows; 80x24 is usable; an
    exited process is marked then removed; q exits 0 with the terminal restored."""
    leak_py, other_pys = tui_pythons()
    idle = [Workload(p, "idle") for p in other_pys]
    leak = Workload(leak_py, "leak", 120)  # started last: the highest PID
    open(os.path.join(leak.ctl, "go"), "w").close()
    wls = idle + [leak]
    pids = ",".join(str(w.pid) for w in wls)
    scr = Screen(["-d", "0.5", "-p", pids])
    try:
        text = scr.wait(lambda t: all(w.pid in order(t) for w in wls), "rows of every workload")
        rows, cols = table_of(text)
        check(cols == ["PID", "USER", "PY", "RSS", "HEAP", "LIVE", "GROWTH", "ALLOC/s", "GC/s",
                       "GC%", "COMMAND"], f"columns at 100 wide: {cols}")
        for w in wls:
            r = next(r for r in rows if int(r["PID"]) == w.pid)
            check(r["PY"] == w.ready["version"], f"pid {w.pid}: PY {r['PY']}, "
                  f"interpreter says {w.ready['version']}")
            # what the process is (the script, not "python3"), cut to the pane
            check(len(r["COMMAND"]) >= 10 and f"{WORKLOAD} {w.ctl}".startswith(r["COMMAND"]),
                  f"COMMAND {r['COMMAND']!r}")
            check(r["HEAP"] != "-" or w.ready["version"].startswith("3.11"),
                  f"pid {w.pid}: HEAP unavailable: {r}")
        scr.keys("N")
        scr.wait(lambda t: order(t) == sorted(w.pid for w in wls), "PID order after N")
        # the leak grows ~2 MB/s from a heap like the idle ones'
        scr.keys("M")
        text = scr.wait(lambda t: order(t)[:1] == [leak.pid] and "sort HEAP desc" in t,
                        "the growing workload first after M")
        scr.keys("I")
        scr.wait(lambda t: order(t)[-1:] == [leak.pid] and "sort HEAP asc" in t,
                 "the growing workload last after I")
        scr.keys("I")
        # filter: only the matching row, then Esc gives all back
        scr.keys("/")
        scr.wait(lambda t: "Filter" in t, "the filter prompt")
        scr.keys("-l", f"{leak.ctl} leak")
        scr.wait(lambda t: order(t) == [leak.pid], "only the leak row while typing the filter")
        scr.keys("Enter")
        scr.wait(lambda t: order(t) == [leak.pid] and 'filter "' in t, "the filter kept")
        scr.keys("/")
        scr.keys("Escape")
        scr.wait(lambda t: len(order(t)) == len(wls) and 'filter "' not in t,
                 "all rows after Esc clears the filter")
        # detail view of the selected (first) row
        scr.keys("Home", "Enter")
        text = scr.wait(lambda t: f"PID {leak.pid}" in t and "Python heap" in t,
                        "the detail view of the leak")
        check("Memory" in text and "RSS" in text and "exact" in text, f"detail:\n{text}")
        scr.keys("NPage")
        scr.wait(lambda t: "Garbage collector" in t and "Python heap" not in t,
                 "the detail view scrolled to its GC section")
        scr.keys("Escape")
        scr.wait(lambda t: order(t)[:1] == [leak.pid], "the table back after Esc")
        # interval, units, full command line
        scr.keys("d")
        scr.wait(lambda t: "Interval in seconds" in t, "the interval prompt")
        scr.keys("-l", "0.7")
        scr.keys("Enter")
        scr.wait(lambda t: "every 0.7s" in t, "the new interval in the header")
        scr.keys("E", "E")
        text = scr.wait(lambda t: "units MiB" in t, "sizes in MiB after E E")
        r = next(r for r in table_of(text)[0] if int(r["PID"]) == leak.pid)
        check(re.fullmatch(r"\d+(\.\d)?M", r["HEAP"]), f"HEAP in MiB: {r['HEAP']!r}")
        scr.keys("E", "E")
        scr.keys("c")
        # the command line starts with the interpreter (cut to the pane)
        scr.wait(lambda t: any(int(r["PID"]) == leak.pid and len(r["COMMAND"]) >= 10
                               and f"{leak_py} {WORKLOAD}".startswith(r["COMMAND"])
                               for r in table_of(t)[0]), "the full command line after c")
        scr.keys("c")
        scr.keys("h")
        scr.wait(lambda t: "Keys" in t and "Columns" in t and "filter" in t, "the help screen")
        scr.keys("x")
        scr.wait(lambda t: order(t), "the table back after a key in help")
        # narrow and short: columns go, rows stay, nothing wider than the pane
        tmux("resize-window", "-t", scr.name, "-x", "70", "-y", "20")
        text = scr.wait(lambda t: table_of(t)[1] and "USER" not in table_of(t)[1]
                        and len(order(t)) == len(wls), "rows at 70x20 without USER")
        cols = table_of(text)[1]
        check({"PID", "HEAP", "RSS", "GROWTH", "COMMAND"} <= set(cols), f"columns at 70: {cols}")
        check(max(len(l) for l in text.splitlines()) <= 70, "a line wider than 70 columns")
        tmux("resize-window", "-t", scr.name, "-x", "80", "-y", "24")
        text = scr.wait(lambda t: "PY" in table_of(t)[1] and len(order(t)) == len(wls),
                        "rows with PY at 80x24")
        # an exiting process: marked for one interval, then gone
        gone = idle[0]
        gone.finish()
        scr.wait(lambda t: any(int(r["PID"]) == gone.pid and "<exited>" in r["COMMAND"]
                               for r in table_of(t)[0]), "the exited row marked", timeout=10)
        scr.wait(lambda t: gone.pid not in order(t) and order(t), "the exited row removed")
        scr.keys("q")
        rc = scr.exit_status()
        check(rc == 0, f"q: exit status {rc}")
        scr.check_restored()
    finally:
        for w in wls:
            w.finish()
        scr.close()


def t_display_and_prom_every_build():
    """Every build of the matrix at once, in the live display and in
    Prometheus: an idle workload under each (the Debian roots' chrooted in
    their own mount namespaces, gdb's embedded 3.14 among them) has its
    row with its exact version and its heap and live bytes; then the
    --prom-file textfile passes promtool and has each one's per-PID heap
    series (non-zero) and its exact version in pymemtop_process_info."""
    pys = [p for n, p, why in interpreters() if p is not None]
    missing = [why for n, p, why in interpreters() if p is None and why.startswith("FAIL ")]
    check(not missing, "; ".join(w[5:] for w in missing))
    wls = [Workload(p, "idle") for p in pys]
    pids = ",".join(str(w.pid) for w in wls)
    scr = Screen(["-d", "0.5", "-p", pids], width=170, height=len(wls) + 12)
    pm = None
    work = tempfile.mkdtemp(prefix="pmt-prom-")
    try:
        text = scr.wait(lambda t: all(w.pid in order(t) for w in wls) and all(
            r["HEAP"] != "-" and r["LIVE"] != "-" for r in table_of(t)[0]),
            "a row with heap and live bytes for every build", timeout=25)
        rows = {int(r["PID"]): r for r in table_of(text)[0]}
        for w, py in zip(wls, pys):
            check(rows[w.pid]["PY"] == w.ready["version"],
                  f"{py.name}: PY {rows[w.pid]['PY']}, interpreter says {w.ready['version']}")
        scr.keys("q")
        check(scr.exit_status() == 0, "q did not exit 0")
        need(PROMTOOL)
        path = os.path.join(work, "pymemtop.prom")
        pm = Pymemtop("--prom-file", path, "--prom-pids", str(len(wls)), "-p", pids, "-d", "0.3")
        frame = pm.wait(lambda f: all(pm.proc_in(f, w.pid) and
                                      pm.proc_in(f, w.pid)["heap_arena_bytes"] for w in wls),
                        what="every build's heap in a frame")
        text = wait_for(lambda: (lambda x: x if x and sample(prom_samples(x),
                        "pymemtop_last_update_timestamp_seconds") >= frame["time"] else None)(
                        read_prom_file(path)), "a file written after the frame", 5)
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        check(r.returncode == 0, f"promtool: {(r.stdout + r.stderr).strip()[:400]}")
        s = prom_samples(text)
        info = {dict(lab)["pid"]: dict(lab) for (n, lab) in s if n == "pymemtop_process_info"}
        for w, py in zip(wls, pys):
            lab = info.get(str(w.pid))
            check(lab and lab["python_version"] == w.ready["version"],
                  f"{py.name}: pymemtop_process_info {lab}")
            heap = [v for (n, l), v in s.items() if n == "pymemtop_process_heap_bytes"
                    and dict(l)["pid"] == str(w.pid)]
            check(heap and heap[0] > 0, f"{py.name}: pymemtop_process_heap_bytes {heap}")
    finally:
        scr.close()
        if pm:
            pm.stop()
        for w in wls:
            w.finish()
        shutil.rmtree(work, ignore_errors=True)


def t_tui_signals_and_color():
    """SIGTERM and Ctrl-C end the display with status 0 and the terminal
    restored; a fatal signal (SIGABRT) restores it too before pymemtop dies
    of it; colors are used by default and not with --no-color or NO_COLOR."""
    leak_py, _ = tui_pythons()
    wl = Workload(leak_py, "idle")
    color_sgr = re.compile(r"\x1b\[[0-9;]*(3[0-7]|4[0-7]|38;|48;)")
    try:
        for how, args, env, colored in (("SIGTERM", [], None, True),
                                        ("C-c", ["--no-color"], None, False),
                                        ("C-c", [], {"NO_COLOR": "1"}, False),
                                        ("SIGABRT", [], None, True)):
            scr = Screen(["-d", "0.5", "-p", str(wl.pid), *args], env=env)
            try:
                scr.wait(lambda t: wl.pid in order(t), f"the row ({how} {args} {env})")
                esc = scr.text(escapes=True)
                check(bool(color_sgr.search(esc)) == colored,
                      f"{args} {env}: colors {'missing' if colored else 'used'}")
                if how.startswith("SIG"):
                    os.kill(scr.pymemtop_pid(), getattr(signal, how))
                else:
                    scr.keys("C-c")
                rc = scr.exit_status()
                want = 128 + signal.SIGABRT if how == "SIGABRT" else 0
                check(rc == want, f"{how}: exit status {rc}, want {want}")
                scr.check_restored()
            finally:
                scr.close()
    finally:
        wl.finish()


def t_tui_not_a_tty_is_batch():
    """Without a terminal, pymemtop writes text frames instead (as BSD top)."""
    rc, out, err = run_cli("-n", "1", "-d", "0.2")
    check(rc == 0, f"exit {rc}: {err.strip()}")
    check(out.startswith("pymemtop - ") and "\x1b" not in out, f"not batch text: {out[:200]!r}")
    check(re.search(r"^\s+PID USER\s+PY", out, re.M), f"no column header: {out[:300]!r}")


# --- Prometheus export (issue 5) ----------------------------------------------

PROMETHEUS = "/usr/bin/prometheus"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
PROMTOOL = "/usr/bin/promtool"
SYS_PYTHON = "/usr/bin/python3"  # Debian's, where python3-prometheus-client is
# Prometheus' own parsers check what pymemtop serves: the classic text one and
# the OpenMetrics one (stricter: # EOF, _total, UNIT).
PARSE_PY = r"""
import sys
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
text = sys.stdin.read()
n = sum(len(f.samples) for f in (om if sys.argv[1] == "om" else
                                 text_string_to_metric_families)(text))
print(n)
"""


def prom_python():
    """An interpreter whose default mode has the arena counter (not the
    stripped Debian build): pyenv 3.12, else any pyenv 3.9+."""
    return first_python("pyenv-3.12", "pyenv-3.13", "pyenv-3.11", "pyenv-3.10", "pyenv-3.9",
                        why="needs a pyenv 3.9-3.13 (the arena counter for allocated bytes)")[1]


def need(*paths):
    for p in paths:
        if not os.access(p, os.X_OK):
            raise Skip(f"{p} not installed (make deps installs it)")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, accept=None, timeout=5):
    """(status, content type, body) of one GET; HTTP errors are answers too."""
    import urllib.error
    import urllib.request
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def prom_samples(text):
    """{(name, ((label, value), ...)): value} of an exposition; fails on a
    duplicate series, which promtool does not catch."""
    out = {}
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = line_re.match(line)
        check(m, f"unparsable sample line {line!r}")
        labels = [(k, re.sub(r"\\(.)", lambda e: {"n": "\n"}.get(e.group(1), e.group(1)), v))
                  for k, v in label_re.findall(m.group(2) or "")]
        key = (m.group(1), tuple(sorted(labels)))
        check(key not in out, f"duplicate series {line!r}")
        out[key] = float(m.group(3))
    return out


def sample(samples, name, **labels):
    """The value of the series with exactly these labels, or None."""
    return samples.get((name, tuple(sorted(labels.items()))))


def wait_for(pred, what, timeout=25, every=0.2):
    end = time.time() + timeout
    while True:
        got = pred()
        if got is not None and got is not False:
            return got
        if time.time() > end:
            raise Fail(f"no {what} within {timeout}s")
        time.sleep(every)


def read_prom_file(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


class Server:
    """A Debian prometheus or node_exporter on a loopback ephemeral port."""

    def __init__(self, argv, port, ready_path):
        self.port = port
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        end = time.time() + 20
        while True:
            if self.proc.poll() is not None:
                raise Fail(f"{argv[0]} exited ({self.proc.returncode}): {self.output()}")
            try:
                if http_get(f"http://127.0.0.1:{port}{ready_path}", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            if time.time() > end:
                raise Fail(f"{argv[0]} not ready within 20s: {self.output()}")
            time.sleep(0.1)

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-600:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def node_exporter(textfile_dir):
    port = free_port()
    return Server([NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}",
                   "--collector.disable-defaults", "--collector.textfile",
                   f"--collector.textfile.directory={textfile_dir}",
                   "--web.disable-exporter-metrics"], port, "/metrics")


class Prometheus(Server):
    """Prometheus scraping one target every second, queried over its API."""

    def __init__(self, workdir, job, target_port):
        cfg = os.path.join(workdir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    f"scrape_configs:\n  - job_name: {job}\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{target_port}']\n")
        port = free_port()
        super().__init__([PROMETHEUS, f"--config.file={cfg}",
                          f"--storage.tsdb.path={os.path.join(workdir, 'tsdb')}",
                          f"--web.listen-address=127.0.0.1:{port}",
                          "--log.level=warn"], port, "/-/ready")

    def query(self, expr):
        """The single value of an instant query, or None when it is empty."""
        import urllib.parse
        st, _, body = http_get(f"http://127.0.0.1:{self.port}/api/v1/query?"
                               + urllib.parse.urlencode({"query": expr}))
        check(st == 200, f"query {expr!r}: HTTP {st} {body[:200]}")
        res = json.loads(body)["data"]["result"]
        check(len(res) <= 1, f"query {expr!r}: {len(res)} series, want one: {res}")
        return float(res[0]["value"][1]) if res else None

    def wait_value(self, expr, pred=lambda v: True, timeout=25, what=None):
        def ok():
            v = self.query(expr)
            return v if v is not None and pred(v) else None
        return wait_for(ok, what or f"Prometheus value for {expr}", timeout)


def vm_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return None


def t_prom_textfile_node_exporter_prometheus():
    """--prom-file read by Debian's node_exporter (textfile collector only)
    and scraped every second by Debian's prometheus: the workload's group
    appears with its RSS (vs /proc) and growing allocated bytes,
    node_textfile_scrape_error is 0; on SIGTERM the file stays, with its
    last-update time, and no temporary file is left."""
    need(PROMETHEUS, NODE_EXPORTER)
    python = prom_python()
    work = tempfile.mkdtemp(prefix="pmt-prom-")
    textdir = os.path.join(work, "textfile")
    os.mkdir(textdir)
    path = os.path.join(textdir, "pymemtop.prom")
    wl = Workload(python, "leak", 4)
    pm = Pymemtop("--prom-file", path, "-d", "0.5")
    ne = prom = None
    try:
        ne = node_exporter(textdir)
        prom = Prometheus(work, "node", ne.port)
        sel = '{job="node",group="wl.py",container=""}'
        prom.wait_value(f"pymemtop_python_processes{sel}", lambda v: v == 1,
                        what="wl.py's group in Prometheus")
        check(prom.query('node_textfile_scrape_error{job="node"}') == 0,
              "node_textfile_scrape_error is not 0")
        rss = prom.query(f"pymemtop_resident_memory_bytes{sel}")
        truth = vm_rss(wl.pid)
        check(rss is not None and abs(rss - truth) <= 0.1 * truth,
              f"RSS in Prometheus {rss}, /proc VmRSS {truth}")
        heap = prom.query(f"pymemtop_heap_bytes{sel}")
        check(heap is not None and 0 < heap <= truth, f"heap {heap} B, RSS {truth} B")
        a0 = prom.wait_value(f"pymemtop_allocated_bytes_total{sel}",
                             what="allocated bytes in Prometheus")
        done, _ = wl.step()  # ~8 MB kept in 144-byte blocks
        a1 = prom.wait_value(f"pymemtop_allocated_bytes_total{sel}",
                             lambda v: v >= a0 + 4 * MIB,
                             what=f"allocated bytes grown by 4 MiB from {a0:.0f}")
        gen2 = prom.query(f'pymemtop_gc_collections_total{{job="node",group="wl.py",'
                          f'container="",generation="2"}}')
        check(gen2 is not None and gen2 >= 0, f"gen-2 collections {gen2}")
        last = prom.query('pymemtop_last_update_timestamp_seconds{job="node"}')
        check(last is not None and abs(time.time() - last) < 10,
              f"last update {last}, now {time.time():.0f}")
        check(prom.query('up{job="node"}') == 1, "node_exporter target not up")
        rc, err = pm.stop()
        check(rc == 0, f"pymemtop exit {rc}: {err.strip()}")
        check(os.listdir(textdir) == ["pymemtop.prom"],
              f"textfile directory after SIGTERM: {os.listdir(textdir)}")
        s = prom_samples(read_prom_file(path))
        check(sample(s, "pymemtop_last_update_timestamp_seconds") is not None,
              "the file left on exit has no last-update time")
        check(sample(s, "pymemtop_allocated_bytes_total", group="wl.py", container="")
              >= a1, "the file left on exit is older than the last scrape")
    finally:
        wl.finish()
        pm.stop()
        for s in (prom, ne):
            if s:
                s.stop()
        shutil.rmtree(work, ignore_errors=True)


def t_prom_listen_scraped_directly():
    """--listen scraped every second by Debian's prometheus: up is 1 and the
    group's values match pymemtop's own JSON; classic text by default,
    OpenMetrics ending in # EOF when asked, both accepted by
    prometheus_client's parsers; 404 elsewhere."""
    need(PROMETHEUS)
    python = prom_python()
    work = tempfile.mkdtemp(prefix="pmt-prom-")
    port = free_port()
    wl = Workload(python, "idle")
    pm = Pymemtop("--listen", str(port), "-d", "0.5")
    prom = None
    try:
        pm.wait_proc(wl.pid, lambda p: p["heap_arena_bytes"] is not None,
                         what="the workload's heap in JSON")
        base = f"http://127.0.0.1:{port}"
        st, ctype, text = http_get(base + "/metrics")
        check(st == 200 and ctype == "text/plain; version=0.0.4; charset=utf-8",
              f"classic: HTTP {st} {ctype!r}")
        check("# EOF" not in text, "classic text with an OpenMetrics # EOF")
        prom_samples(text)
        st, ctype, om = http_get(base + "/metrics",
                                 accept="application/openmetrics-text;version=1.0.0,"
                                 "text/plain;version=0.0.4;q=0.5")
        check(st == 200 and ctype.startswith("application/openmetrics-text; version=1.0.0"),
              f"OpenMetrics: HTTP {st} {ctype!r}")
        check(om.endswith("# EOF\n"), f"OpenMetrics does not end in # EOF: {om[-40:]!r}")
        if os.access(SYS_PYTHON, os.X_OK):
            for kind, body in (("text", text), ("om", om)):
                r = subprocess.run([SYS_PYTHON, "-c", PARSE_PY, kind], input=body,
                                   capture_output=True, text=True, timeout=30)
                if "No module named" in r.stderr:
                    print(f"SKIP prom_listen_scraped_directly: prometheus_client parser "
                          f"check: python3-prometheus-client not installed", flush=True)
                    break
                check(r.returncode == 0 and int(r.stdout) > 10,
                      f"prometheus_client {kind} parser: {r.stderr.strip()[-300:]}")
        st, _, body = http_get(base + "/")
        check(st == 200 and "/metrics" in body, f"/: HTTP {st} {body!r}")
        check(http_get(base + "/nope")[0] == 404, "/nope is not 404")
        prom = Prometheus(work, "pymemtop", port)
        sel = '{job="pymemtop",group="wl.py",container=""}'
        prom.wait_value(f"pymemtop_python_processes{sel}", lambda v: v == 1,
                        what="wl.py's group scraped from --listen")
        check(prom.query('up{job="pymemtop"}') == 1, "pymemtop target not up")
        # the workload idles: its heap is steady, the scrape equals JSON
        heap = prom.query(f"pymemtop_heap_bytes{sel}")
        last = pm.wait_proc(wl.pid)
        check(heap == last["heap_arena_bytes"],
              f"heap in Prometheus {heap}, JSON {last['heap_arena_bytes']}")
        check(prom.query(f"pymemtop_heap_live_blocks{sel}") > 1000, "few live blocks")
        check(prom.query('pymemtop_http_errors_total{job="pymemtop"}') == 0, "HTTP errors")
        rc, err = pm.stop()
        check(rc == 0, f"pymemtop exit {rc}: {err.strip()}")
    finally:
        wl.finish()
        pm.stop()
        if prom:
            prom.stop()
        shutil.rmtree(work, ignore_errors=True)


def t_prom_promtool_and_no_duplicates():
    """Real output with two processes of one group, one of another whose
    script name has a quote, a backslash, a newline and invalid UTF-8, and
    --prom-pids: promtool check metrics is clean; no duplicate series; HELP
    and TYPE for every family; the hostile name escaped (U+FFFD for the bad
    bytes); the group's series are the sums of its processes; per-PID
    series for the two largest only, with start_time."""
    need(PROMTOOL)
    python = prom_python()
    work = tempfile.mkdtemp(prefix="pmt-prom-")
    path = os.path.join(work, "pymemtop.prom")
    other = os.fsencode(work) + b'/we"ird\\na\nme\xff\xfe.py'
    other_group = 'we"ird\\na\nme\ufffd\ufffd.py'
    shutil.copy(WORKLOAD, other)
    wls = []
    pm = Pymemtop("--prom-file", path, "--prom-pids", "2", "-d", "0.3")
    try:
        wls.append(Workload(python, "touch", 32))
        wls.append(Workload(python, "idle"))
        wls.append(Workload(python, "idle", script=other))
        wls[0].step()  # the largest: 32 MiB touched
        want = {w.pid for w in wls}
        frame = pm.wait(lambda f: want <= {p["pid"] for p in f["processes"]}
                        and all(p["heap_arena_bytes"] is not None for p in f["processes"]
                                if p["pid"] in want)
                        and os.path.exists(path), what="all three with heaps, and the file")
        # the file written after that frame
        t = frame["time"]
        text = wait_for(lambda: (lambda x: x if x and sample(prom_samples(x),
                        "pymemtop_last_update_timestamp_seconds") > t else None)(
                        read_prom_file(path)), "a file written after the frame", 5)
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        check(r.returncode == 0 and not (r.stdout + r.stderr).strip(),
              f"promtool check metrics: {(r.stdout + r.stderr).strip()[:500]}")
        s = prom_samples(text)
        families = {n for n, _ in s}
        for fam in families:
            base = re.sub(r"_(bucket|sum|count)$", "", fam)
            check(f"# HELP {base} " in text and f"# TYPE {base} " in text,
                  f"{fam}: no HELP or TYPE")
            check(fam.startswith("pymemtop_"), f"{fam}: not pymemtop_")
        check(sample(s, "pymemtop_python_processes", group="wl.py", container="") == 2,
              "wl.py group does not count 2 processes")
        check(sample(s, "pymemtop_python_processes", group=other_group,
                     container="") == 1, f"group {other_group!r} missing")
        check('group="we\\"ird\\\\na\\nme\ufffd\ufffd.py"' in text, "hostile name escaping")
        check("python3" not in {dict(l).get("group") for _, l in s}, "a group named python3")
        # the file is written after the frame: a second frame may differ a
        # little, so compare with the JSON frame whose time is in the file
        upd = sample(s, "pymemtop_last_update_timestamp_seconds")
        fr = wait_for(lambda: next((f for f in pm.frames if abs(f["time"] - upd) < 1e-3),
                                   None), "the JSON frame of the file", 5)
        procs = [p for p in fr["processes"] if p["pid"] in want]
        for fam, key in (("pymemtop_resident_memory_bytes", "rss_bytes"),
                         ("pymemtop_heap_bytes", "heap_arena_bytes")):
            got = sample(s, fam, group="wl.py", container="")
            sum_ = sum(p[key] for p in procs if p["pid"] != wls[2].pid)
            check(got == sum_, f"{fam}{{group=wl.py}} {got}, sum of its processes {sum_}")
        info = [dict(l) for n, l in s if n == "pymemtop_process_info"]
        top2 = sorted(fr["processes"], key=lambda p: -(p["rss_bytes"] or 0))[:2]
        check(sorted(int(i["pid"]) for i in info) == sorted(p["pid"] for p in top2),
              f"per-PID series for {[i['pid'] for i in info]}, want the 2 largest "
              f"{[p['pid'] for p in top2]}")
        for i in info:
            check(i.get("start_time") and i.get("python_version") and i.get("group")
                  and i.get("allocator") == "pymalloc", f"process_info labels {i}")
    finally:
        for w in wls:
            w.finish()
        pm.stop()
        shutil.rmtree(work, ignore_errors=True)


def t_prom_counters_survive_exits():
    """Two processes of one group make exactly K gen-2 collections each: the
    group's counter rises by exactly 2K. One exits (collecting again while
    shutting down) and a third comes and makes K: the counter must rise by K
    more over the exited one's contribution, never fall in any file written,
    and stay once the group is empty."""
    k = 6
    python = prom_python()
    work = tempfile.mkdtemp(prefix="pmt-prom-")
    path = os.path.join(work, "pymemtop.prom")
    pm = Pymemtop("--prom-file", path, "-d", "0.25")
    key = dict(group="wl.py", container="", generation="2")
    a = b = c = None
    seen = []  # the counter in every file read

    def now():
        text = read_prom_file(path)
        s = prom_samples(text) if text else {}
        v = sample(s, "pymemtop_gc_collections_total", **key)
        if v is not None:
            seen.append(v)
        return s

    def group_of(n):
        return wait_for(lambda: (lambda s: s if sample(s, "pymemtop_python_processes",
                                                       group="wl.py", container="") == n
                                 else None)(now()), f"the group with {n} processes", 10, 0.05)

    try:
        a, b = Workload(python, "gc", k), Workload(python, "gc", k)
        c0 = sample(group_of(2), "pymemtop_gc_collections_total", **key)
        a.step()
        b.step()
        wait_for(lambda: sample(now(), "pymemtop_gc_collections_total", **key) == c0 + 2 * k,
                 f"gen-2 collections {c0} + {2 * k}", 10, 0.05)
        a.finish()
        group_of(1)
        c = Workload(python, "gc", k)
        c1 = sample(group_of(2), "pymemtop_gc_collections_total", **key)
        c.step()
        wait_for(lambda: sample(now(), "pymemtop_gc_collections_total", **key) >= c1 + k,
                 f"gen-2 collections {c1} + {k} after one exit", 10, 0.05)
        check(c1 >= c0 + 2 * k, f"{c1} after the exit, want >= {c0 + 2 * k}")
        b.finish()
        c.finish()
        group_of(0)
        end = time.time() + 1.0  # a few more writes of the empty group
        while time.time() < end:
            now()
            time.sleep(0.05)
        check(all(x <= y for x, y in zip(seen, seen[1:])), f"the counter fell: {seen}")
        check(seen[-1] >= c0 + 3 * k, f"after the exits {seen[-1]}, want >= {c0 + 3 * k}")
        check(sample(now(), "pymemtop_heap_bytes", group="wl.py", container="") is None,
              "an empty group still has a heap gauge")
    finally:
        for w in (a, b, c):
            if w:
                w.finish()
        pm.stop()
        shutil.rmtree(work, ignore_errors=True)


def mount_tmpfs(where, size):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", where],
                       capture_output=True, text=True)
    if r.returncode:
        raise Skip(f"cannot mount a tmpfs: {r.stderr.strip()}")


class StderrLines:
    """pymemtop's stderr lines, read by a thread (--json keeps stdout)."""

    def __init__(self, pm):
        self.lines = []
        self.pm = pm
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.pm.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait(self, needle, timeout=10):
        return wait_for(lambda: next((l for l in self.lines if needle in l), None),
                        f"stderr line with {needle!r} (got {self.lines})", timeout, 0.05)


def t_prom_file_faults():
    """A symlink or a directory at PATH, a full filesystem, a read-only one:
    one clear line each on stderr, the previous good file (or the symlink's
    target) untouched, no temporary file, pymemtop keeps running and writes
    again once the fault is gone, counting the failed writes."""
    work = tempfile.mkdtemp(prefix="pmt-prom-")
    mnt = os.path.join(work, "mnt")
    os.mkdir(mnt)
    mounted = False
    pm = None
    try:
        mount_tmpfs(mnt, "1m")
        mounted = True
        path = os.path.join(mnt, "pymemtop.prom")
        victim = os.path.join(work, "victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        os.symlink(victim, path)
        os.mkdir(os.path.join(mnt, "dir.prom"))
        pm = Pymemtop("--prom-file", path, "-d", "0.2")
        err = StderrLines(pm)
        line = err.wait("is a symlink")
        check(line.startswith("pymemtop: ") and path in line, f"symlink: {line!r}")
        time.sleep(0.5)  # a few more intervals: still refused, said once
        check(open(victim).read() == "precious\n" and os.path.islink(path),
              "the symlink was followed or replaced")
        check(sum("is a symlink" in l for l in err.lines) == 1, f"repeated: {err.lines}")
        check(pm.proc.poll() is None, "pymemtop stopped on a symlink")
        os.unlink(path)
        err.wait("written again")

        def good():
            text = read_prom_file(path)
            return text if text and text.endswith("\n") and prom_samples(text) else None

        def temps():
            return {n for n in os.listdir(mnt) if n not in ("dir.prom", "pymemtop.prom", "fill")}

        def unchanged(old, what):
            # a write attempt in flight has its temporary file for a moment:
            # one still there 0.5 s (2.5 intervals) later was left behind
            t1 = temps()
            time.sleep(0.5)
            left = t1 & temps()
            check(read_prom_file(path) == old, f"{what}: the previous file changed")
            check(not left, f"{what}: left behind {sorted(left)}")

        # full filesystem: fill it while pymemtop writes every 0.2 s
        old = wait_for(good, "a good file")
        fd = os.open(os.path.join(mnt, "fill"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for chunk in (65536, 4096):
                try:
                    while os.write(fd, b"\0" * chunk):
                        pass
                except OSError:
                    pass
        finally:
            os.close(fd)
        line = err.wait("No space left on device")
        old = read_prom_file(path)  # whatever the last good write left
        unchanged(old, "full")
        check(prom_samples(old), "the kept file is not a whole exposition")
        os.unlink(os.path.join(mnt, "fill"))
        n = sum("written again" in l for l in err.lines)
        wait_for(lambda: sum("written again" in l for l in err.lines) > n,
                 "written again after the disk filled", 10, 0.05)
        s = prom_samples(wait_for(good, "a good file"))
        check(sample(s, "pymemtop_textfile_write_errors_total") >= 1,
              "failed writes not counted")
        # read-only filesystem
        r = subprocess.run(["mount", "-o", "remount,ro", mnt], capture_output=True, text=True)
        check(r.returncode == 0, f"remount ro: {r.stderr}")
        err.wait("Read-only file system")
        old = read_prom_file(path)
        unchanged(old, "read-only")
        subprocess.run(["mount", "-o", "remount,rw", mnt], check=True)
        n = sum("written again" in l for l in err.lines)
        wait_for(lambda: sum("written again" in l for l in err.lines) > n,
                 "written again after remounting read-write", 10, 0.05)
        check(pm.proc.poll() is None, "pymemtop stopped")
        rc, _ = pm.stop()
        check(rc == 0, f"pymemtop exit {rc}")
        check(not temps(), f"temporary files after exit: {sorted(temps())}")
        # a directory at PATH
        dpath = os.path.join(mnt, "dir.prom")
        pm = Pymemtop("--prom-file", dpath, "-d", "0.2")
        err = StderrLines(pm)
        line = err.wait("is a directory")
        check(dpath in line, f"directory: {line!r}")
        time.sleep(0.5)
        check(os.path.isdir(dpath) and pm.proc.poll() is None, "directory replaced or exit")
        rc, _ = pm.stop()
        check(rc == 0, f"pymemtop exit {rc}")
        pm = None
    finally:
        if pm:
            pm.stop()
        if mounted:
            subprocess.run(["umount", "-l", mnt])
        shutil.rmtree(work, ignore_errors=True)


def t_prom_listen_port_in_use():
    """--listen on a port something else holds: one clear line, exit 1 at
    start; a bad address too."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        rc, out, err = run_cli("--listen", f"127.0.0.1:{port}", "-n", "1")
        one_line_error(rc, err, 1, "in use")
        check(str(port) in err, f"the port is not named: {err!r}")
    rc, out, err = run_cli("--listen", "256.1.1.1:9", "-n", "1")
    one_line_error(rc, err, 1, "--listen")


# --- allocation sites (issue 6) ------------------------------------------------

def site_sum(p, truth, sources=("pool_refill", "arena")):
    """Estimated bytes pymemtop gives the workload's SITE line (pymalloc
    sources: the same line's malloc samples are the keep list growing)."""
    return sum(s["estimated_bytes"] for s in p["sites"] or []
               if s["file"] == truth["file"] and s["line"] == truth["line"]
               and s["source"] in sources)


def wait_sites(pm, wl, t_done, names, truth, timeout=20):
    """The first frame after t_done in which every named site has at least
    3/4 of its truth (the samples of the last interval are in)."""
    return pm.wait_proc(wl.pid, lambda p: p["sites"] is not None and all(
        site_sum(p, truth[n]) >= 0.75 * truth[n]["bytes"] for n in names),
        after=t_done, timeout=timeout, what=f"sites {names} with 3/4 of their bytes")


def check_site_rank(p, truth, big, small, tol, script=WORKLOAD):
    got = {n: site_sum(p, truth[n]) for n in (big, small)}
    for n in (big, small):
        t = truth[n]["bytes"]
        check(abs(got[n] - t) <= tol * t,
              f"{n} ({truth[n]['file']}:{truth[n]['line']}): estimated {got[n]} bytes, "
              f"made {t}; sites: {[(s['function'], s['line'], s['estimated_bytes']) for s in p['sites']]}")
    ranked = [s for s in p["sites"] if s["source"] != "malloc"]
    names = [s["function"] for s in ranked]
    check(names.index(big + "_alloc") < names.index(small + "_alloc"),
          f"ranking {names}, want {big}_alloc before {small}_alloc")
    s0 = ranked[names.index(big + "_alloc")]
    check(s0["stack"][0]["function"] == "big_alloc" and s0["stack"][1]["function"] == "sites"
          and s0["stack"][1]["file"] == script, f"stack {s0['stack'][:3]}")


def t_sites_accuracy(python):
    """Two functions in two files keep 94 MB and 10 MB of objects, interleaved
    9:1: both are named with file and line, ranked right, each within 25% of
    the bytes made — sampled at pool refills (--pool-refills), or at arenas
    on 3.8 (no refill function), as the process's sites_source says; for a
    process started before pymemtop (-p) and one started after it
    (system-wide, found at its exec)."""
    old = None
    for started_after in (False, True):
        wl = pm = None
        try:
            if started_after:
                pm = Pymemtop("-d", "0.5", "--pool-refills")
                pm.wait(lambda f: True, what="first frame")
                wl = Workload(python, "sites", 100)
            else:
                wl = Workload(python, "sites", 100)
                pm = Pymemtop("-d", "0.5", "-p", str(wl.pid), "--pool-refills")
            what = "started after" if started_after else "started before"
            p0 = pm.wait_proc(wl.pid, lambda p: p["sites"] is not None,
                              what=f"sites sampled ({what})")
            old = wl.ready["version"].startswith("3.8.")
            want = "arena+malloc" if old else "pool_refill+malloc"
            check(p0["sites_source"] == want, f"{what}: sites_source {p0['sites_source']}, "
                  f"want {want}")
            done, t_done = wl.step()
            truth = done["sites"]
            p = wait_sites(pm, wl, t_done, ("big", "small"), truth)
            check_site_rank(p, truth, "big", "small", 0.25, wl.script)
            check(p["sites_total"]["estimated_bytes"] >=
                  sum(site_sum(p, truth[n]) for n in truth),
                  f"{what}: sites_total {p['sites_total']} below the sites")
        finally:
            if wl:
                wl.finish()
            if pm:
                pm.stop()


def t_sites_default_mode():
    """Default mode (no per-process probe): the same workload sampled at new
    arenas (1 MiB; 256 KiB before 3.10) and malloc heap growth: the heavy
    site first and within 25%, the light one present."""
    for name, python in pythons_present("debian-3.11", "pyenv-3.12", "pyenv-3.9"):
        wl = Workload(python, "sites", 100)
        pm = Pymemtop("-d", "0.5", "-p", str(wl.pid))
        try:
            p0 = pm.wait_proc(wl.pid, lambda p: p["sites"] is not None, what="sites sampled")
            check(p0["sites_source"] == "arena+malloc", f"{name}: {p0['sites_source']}")
            done, t_done = wl.step()
            truth = done["sites"]
            p = wait_sites(pm, wl, t_done, ("big",), truth)
            got = {n: site_sum(p, truth[n]) for n in truth}
            check(abs(got["big"] - truth["big"]["bytes"]) <= 0.25 * truth["big"]["bytes"],
                  f"{name}: big {got['big']}, made {truth['big']['bytes']}")
            check(0 < got["small"] < got["big"], f"{name}: small {got['small']}, big {got['big']}")
        finally:
            wl.finish()
            pm.stop()


def t_sites_threads():
    """Two threads allocating 40 MB each in different functions: both sites
    named, each with at least half of its bytes (the GIL holder is the
    allocating thread, checked by its thread id)."""
    for _, python in pythons_present("debian-3.11", "pyenv-3.12", "pyenv-3.10"):
        wl = Workload(python, "sites_threads", 80)
        pm = Pymemtop("-d", "0.5", "-p", str(wl.pid), "--pool-refills")
        try:
            pm.wait_proc(wl.pid, lambda p: p["sites"] is not None, what="sites sampled")
            done, t_done = wl.step()
            truth = done["sites"]
            p = pm.wait_proc(wl.pid, lambda p: all(
                site_sum(p, truth[n]) >= 0.5 * truth[n]["bytes"] for n in truth),
                after=t_done, timeout=20, what="both threads' sites")
            for n in truth:
                got = site_sum(p, truth[n])
                check(got <= 1.25 * truth[n]["bytes"], f"{python} {n}: {got} of {truth[n]}")
        finally:
            wl.finish()
            pm.stop()


def t_sites_code_reuse():
    """40 functions made at run time allocate and are freed (their code
    objects' memory reused), then 40 others: the first ones' sites do not
    grow afterwards, the new ones are named with their own names and file,
    never the freed ones'."""
    for _, python in pythons_present("pyenv-3.12", "debian-3.11", "pyenv-3.9"):
        wl = Workload(python, "sites_reuse")
        pm = Pymemtop("-d", "0.3", "-p", str(wl.pid), "--pool-refills", "--sites-top", "500")
        try:
            pm.wait_proc(wl.pid, lambda p: p["sites"] is not None, what="sites sampled")

            def named(p, prefix):
                return [s for s in p["sites"] if s["function"].startswith(prefix)]

            def total(p, prefix):
                return sum(s["estimated_bytes"] for s in named(p, prefix)
                           if s["source"] != "malloc")

            open(os.path.join(wl.ctl, "go0"), "w").close()
            d0 = wl._wait_json("done0.json")
            t0 = time.time()
            p0 = pm.wait_proc(wl.pid, lambda p: total(p, "ghost_") >= 0.75 * d0["ghost_bytes"],
                              after=t0, what="the ghost functions' sites")
            time.sleep(1.0)  # the last samples of the first phase
            g0 = total(pm.wait_proc(wl.pid, after=time.time()), "ghost_")
            open(os.path.join(wl.ctl, "go1"), "w").close()
            d1 = wl._wait_json("done1.json")
            t1 = time.time()
            p1 = pm.wait_proc(wl.pid, lambda p: total(p, "real_") >= 0.75 * d1["real_bytes"],
                              after=t1, what="the new functions' sites")
            check(total(p1, "ghost_") == g0,
                  f"{python}: freed functions' sites grew from {g0} to {total(p1, 'ghost_')}")
            for s in named(p1, "ghost_") + named(p1, "real_"):
                want = "<ghost>" if s["function"].startswith("ghost_") else "<real>"
                check(s["file"] == want and s["line"] == 3,
                      f"{python}: {s['function']} at {s['file']}:{s['line']}")
            check(len(named(p1, "real_")) >= 30, f"{len(named(p1, 'real_'))} real_ sites")
            del p0
        finally:
            wl.finish()
            pm.stop()


LIMITED = "[not walked: over --sites-max-rate]"


def mm_sites(p):
    """(samples, bytes) of the workload's mm_I sites (malloc growth at <mm>:3)."""
    named = [s for s in p["sites"] or [] if s["function"].startswith("mm_")]
    for s in named:
        check(s["file"] == "<mm>" and s["line"] == 3 and s["source"] == "malloc",
              f"{s['function']} at {s['file']}:{s['line']} ({s['source']})")
    return sum(s["samples"] for s in named), sum(s["estimated_bytes"] for s in named)


def limited_site(p, source="malloc"):
    return next((s for s in p["sites"] or [] if s["function"] == LIMITED
                 and s["source"] == source), {"samples": 0, "estimated_bytes": 0})


def t_sites_forked_worker():
    """A worker forked without exec (gunicorn, multiprocessing) gets its own
    sites: once the child is in the frames with sites sampled, it runs the
    9:1 sites workload: both sites named in the child's object, big_alloc
    first and within 25%; the parent has none of them."""
    name, python = first_python("debian-3.11", "pyenv-3.12", "pyenv-3.9")
    pm = Pymemtop("-d", "0.3", "--pool-refills")
    wl = None
    try:
        pm.wait(lambda f: True, what="first frame")
        wl = Workload(python, "sites_fork", 40)
        pm.wait_proc(wl.pid, lambda p: p["sites"] is not None, what="the parent's sites")
        open(os.path.join(wl.ctl, "go"), "w").close()
        child = wl._wait_json("child.json")["pid"]
        pm.wait_proc(child, lambda p: p["sites"] is not None and p["ppid"] == wl.pid,
                     what=f"forked child {child} with sites sampled")
        open(os.path.join(wl.ctl, "go1"), "w").close()
        done = wl._wait_json("done.json")
        t_done = time.time()
        truth = done["sites"]
        p = pm.wait_proc(child, lambda p: all(
            site_sum(p, truth[n]) >= 0.75 * truth[n]["bytes"] for n in ("big", "small")),
            after=t_done, what="the child's sites with 3/4 of their bytes")
        check_site_rank(p, truth, "big", "small", 0.25)
        parent = pm.wait_proc(wl.pid, after=time.time())
        check(site_sum(parent, truth["big"]) == 0 and site_sum(parent, truth["small"]) == 0,
              f"{name}: the child's sites in the parent: {parent['sites']}")
    finally:
        if wl:
            wl.finish()
        pm.stop()


def t_sites_rate_limit():
    """300 private anonymous 256 KiB mmaps in a burst with walks limited to
    20/s (so a burst of 20): at most 20 + 20/s of them walked, each named
    mm_I (<mm>:3), the rest counted under the rate-limited site, together
    every one of them; the 50 shared anonymous mmaps after them are not
    malloc growth and are not counted at all."""
    name, python = first_python("pyenv-3.12", "debian-3.11", "pyenv-3.10")
    wl = Workload(python, "sites_mmaps", 300)
    pm = Pymemtop("-d", "0.3", "-p", str(wl.pid), "--sites-max-rate", "20", "--sites-top", "1000")
    try:
        pm.wait_proc(wl.pid, lambda p: p["sites"] is not None, what="sites sampled")
        done, t_done = wl.step()
        truth = done["sites"]
        p = pm.wait_proc(wl.pid, lambda p: mm_sites(p)[0] + limited_site(p)["samples"]
                         >= truth["private"], after=t_done,
                         what="every private mmap counted, walked or not")
        time.sleep(1.0)  # anything counted late would show now
        p = pm.wait_proc(wl.pid, after=time.time())
        walked, walked_bytes = mm_sites(p)
        lim = limited_site(p)
        most = 20 + 20 * (truth["seconds"] + 1.0)
        check(5 <= walked <= most,
              f"{name}: {walked} of {truth['private']} mmaps walked in {truth['seconds']:.2f}s "
              f"at 20/s, burst 20: want 5..{most:.0f}")
        check(walked_bytes == walked * (256 << 10), f"{name}: {walked_bytes} bytes for {walked}")
        check(truth["private"] <= walked + lim["samples"] <= truth["private"] + 20,
              f"{name}: {walked} walked + {lim['samples']} limited for {truth['private']} private "
              f"mmaps (the {truth['shared']} shared ones are not malloc growth)")
        check(lim["estimated_bytes"] >= (truth["private"] - walked) * (256 << 10),
              f"{name}: limited site {lim}")
        check(not [s for s in p["sites"] if s["function"] == "shared_maps"],
              f"{name}: shared anonymous mmaps sampled as malloc growth")
    finally:
        wl.finish()
        pm.stop()


def t_sites_map_full():
    """300 distinct stacks into a 64-entry stack map (--sites-max-stacks 64,
    no rate limit): the overflow is counted as sites_map_full and warned
    about with the option to raise; the stacks that fit are named right and
    pymemtop carries on."""
    name, python = first_python("pyenv-3.12", "debian-3.11", "pyenv-3.10")
    wl = Workload(python, "sites_mmaps", 300)
    pm = Pymemtop("-d", "0.3", "-p", str(wl.pid), "--sites-max-stacks", "64",
                  "--sites-max-rate", "0", "--sites-top", "1000")
    try:
        pm.wait_proc(wl.pid, lambda p: p["sites"] is not None, what="sites sampled")
        done, t_done = wl.step()
        frame = pm.wait(lambda f: f["time"] > t_done and f["drops"]["sites_map_full"]
                        >= done["sites"]["private"] - 64, what="sites_map_full >= 236")
        p = pm.proc_in(frame, wl.pid)
        walked, _ = mm_sites(p)
        check(0 < walked <= 64, f"{name}: {walked} mm_ stacks in a 64-entry map")
        check(frame["drops"]["sites_map_full"] + walked >= done["sites"]["private"],
              f"{name}: {frame['drops']['sites_map_full']} dropped + {walked} kept "
              f"< {done['sites']['private']}")
        later = pm.wait(lambda f: f["time"] > frame["time"] + 0.5, what="a later frame")
        check(pm.proc_in(later, wl.pid) is not None, "the process left the frames")
    finally:
        wl.finish()
        rc, err = pm.stop()
    check(rc == 0, f"pymemtop exit status {rc}")
    check("sites_map_full" in err and "raise --sites-max-stacks" in err,
          f"no warning naming the fix on stderr: {err.strip()!r}")


def folded_lines(path, pid):
    """{stack (frames root first): bytes} of one process in a --folded file."""
    out = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            check(stack and n.isdigit(), f"malformed folded line {line!r}")
            frames = stack.split(";")
            if frames[0].endswith(f"[{pid}]"):
                check(stack not in out, f"stack twice: {stack!r}")
                out[stack] = int(n)
    return out


def t_sites_folded_and_report():
    """The sites workload (9:1 in two files) under `--json --folded F` and,
    beside it, `--sites`: the folded file's stacks of the process sum to
    exactly the JSON's sites_total; its stacks end in big_alloc
    (sites_big.py:LINE) under sites (wl.py) and carry >= 3/4 of big's
    bytes, more than small_alloc's; the --sites report lists big_alloc
    above small_alloc with file:line and the caller under it."""
    name, python = first_python("debian-3.11", "pyenv-3.12", "pyenv-3.11")
    work = tempfile.mkdtemp(prefix="pmt-folded-")
    folded = os.path.join(work, "sites.folded")
    wl = Workload(python, "sites", 40)
    pm = Pymemtop("-d", "0.3", "-p", str(wl.pid), "--pool-refills", "--folded", folded)
    rep_out = os.path.join(work, "report.txt")
    with open(rep_out, "w") as f:
        rep = subprocess.Popen([PYMEMTOP, "--sites", "-d", "0.3", "-p", str(wl.pid),
                                "--pool-refills"], stdout=f, stderr=subprocess.PIPE, text=True)
    try:
        pm.wait_proc(wl.pid, lambda p: p["sites"] is not None, what="sites sampled")
        wait_for(lambda: "SITES %d " % wl.pid in open(rep_out).read(), "a --sites report")
        done, t_done = wl.step()
        truth = done["sites"]
        wait_sites(pm, wl, t_done, ("big", "small"), truth)
        time.sleep(1.0)  # both pymemtops have the last samples

        def settled():  # the folded file and a frame from the same interval
            p = pm.wait_proc(wl.pid, after=time.time())
            lines = folded_lines(folded, wl.pid)
            return (p, lines) if sum(lines.values()) == p["sites_total"]["estimated_bytes"] \
                else None
        p_lines = wait_for(settled, "a --folded file that sums to the frame's sites_total")
        p, lines = p_lines
        big, small = truth["big"], truth["small"]
        tail = {n: f"{n}_alloc ({truth[n]['file']}:{truth[n]['line']})" for n in truth}
        got = {n: sum(b for s, b in lines.items() if s.endswith(";" + tail[n])) for n in truth}
        check(got["big"] >= 0.75 * big["bytes"] and got["big"] > got["small"] > 0,
              f"{name}: folded big {got['big']} small {got['small']} of {big['bytes']}, "
              f"{small['bytes']}: {list(lines)[:4]}")
        check(any(f";sites ({WORKLOAD}:" in s and s.endswith(tail["big"]) for s in lines),
              f"{name}: no stack sites -> big_alloc: {list(lines)[:4]}")
    finally:
        wl.finish()
        pm.stop()
        rep.send_signal(signal.SIGTERM)
        rep.wait(timeout=10)
    text = open(rep_out).read()
    shutil.rmtree(work, ignore_errors=True)
    check(rep.returncode == 0, f"--sites exit status {rep.returncode}: {rep.stderr.read()!r}")
    block = text[text.rindex("SITES %d " % wl.pid):].split("\n\n")[0].splitlines()
    check("(pool_refill+malloc)" in block[0], f"report heading {block[0]!r}")
    rows = [i for i, l in enumerate(block) if "big_alloc (" in l or "small_alloc (" in l]
    names = ["big" if "big_alloc (" in block[i] else "small" for i in rows]
    check(names[:1] == ["big"] and "small" in names, f"{name}: report order {block}")
    i = rows[0]
    check(f"sites_big.py:{truth['big']['line']})" in block[i]
          and block[i + 1].lstrip().startswith("<- sites (") and "wl.py:" in block[i + 1],
          f"{name}: report rows {block[i:i + 2]}")


def t_prom_sites_top_n():
    """--prom-sites 2 with --prom-pids 1 on the sites workload: /metrics has
    exactly the JSON frame's two heaviest sites of the process as
    pymemtop_process_site_allocated_bytes_total, with function, file, line
    and source labels and the same values (scraped once the sites have
    settled: two frames alike); promtool accepts it."""
    name, python = first_python("pyenv-3.12", "debian-3.11", "pyenv-3.11")
    port = free_port()
    wl = Workload(python, "sites", 40)
    pm = Pymemtop("-d", "0.3", "-p", str(wl.pid), "--pool-refills", "--listen", str(port),
                  "--prom-pids", "1", "--prom-sites", "2")
    try:
        pm.wait_proc(wl.pid, lambda p: p["sites"] is not None, what="sites sampled")
        done, t_done = wl.step()
        truth = done["sites"]
        wait_sites(pm, wl, t_done, ("big", "small"), truth)

        def settled():
            a = pm.wait_proc(wl.pid, after=time.time())
            st, _, text = http_get(f"http://127.0.0.1:{port}/metrics")
            b = pm.wait_proc(wl.pid, after=time.time())
            return (a, text) if st == 200 and a["sites"] == b["sites"] else None
        p, text = wait_for(settled, "two frames with the same sites around a scrape")
        got = {dict(k[1])["function"]: (dict(k[1]), v) for k, v in prom_samples(text).items()
               if k[0] == "pymemtop_process_site_allocated_bytes_total"}
        want = p["sites"][:2]
        check(len(got) == 2, f"{name}: {len(got)} site series, want 2: {sorted(got)}")
        for s in want:
            labels, v = got[s["function"]]
            check(labels == {"pid": str(wl.pid), "start_time": labels["start_time"],
                             "function": s["function"], "file": s["file"] or "",
                             "line": "" if s["line"] is None else str(s["line"]),
                             "source": s["source"]} and v == s["estimated_bytes"],
                  f"{name}: series {labels} {v} for JSON site {s}")
        check("big_alloc" in got, f"{name}: big_alloc not among {sorted(got)}")
        if os.access(PROMTOOL, os.X_OK):
            r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                               text=True, timeout=30)
            check(r.returncode == 0, f"promtool: {r.stdout}{r.stderr}")
    finally:
        wl.finish()
        pm.stop()


def main():
    only = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv else ""
    results = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    tests = []
    if os.geteuid() != 0:
        print("SKIP integration: needs root (BPF); run make test as root")
        print("integration: 0 passed, 0 failed, 1 skipped")
        return 0
    if not os.access(PYMEMTOP, os.X_OK):
        print(f"FAIL integration: {PYMEMTOP} not built")
        return 1
    for name, path, why in interpreters():
        for fn in (t_running_before_gc_exact, t_started_after_mmap_rss_exit, t_forked_worker,
                   t_heap_accuracy, t_alloc_flow, t_alloc_flow_pool_refills,
                   t_precise_exact, t_sites_accuracy, t_registry_matches_dwarf):
            tests.append((f"{fn.__name__[2:]}[{name}]", fn, path, why))
    for fn in (t_cli_help_version, t_cli_bad_input, t_pid_not_running, t_pid_not_python,
               t_not_root, t_no_btf, t_clean_detach_on_sigterm, t_sigterm_with_full_stdout,
               t_exits_when_selected_pids_exit,
               t_deleted_interpreter, t_mount_namespace_gc, t_mmap_mremap_munmap_exact,
               t_map_full_drops_are_counted, t_allocator_recognised, t_growth_marks_a_steady_leak,
               t_heap_walk_deferred_while_growing,
               t_hostile_elf_via_proc, t_tui_end_to_end, t_tui_signals_and_color,
               t_tui_not_a_tty_is_batch, t_prom_textfile_node_exporter_prometheus,
               t_prom_listen_scraped_directly, t_prom_promtool_and_no_duplicates,
               t_prom_counters_survive_exits, t_prom_file_faults, t_prom_listen_port_in_use,
               t_sites_default_mode, t_sites_threads, t_sites_code_reuse,
               t_sites_forked_worker, t_sites_rate_limit,
               t_sites_map_full, t_sites_folded_and_report, t_prom_sites_top_n,
               t_display_and_prom_every_build, t_readme_table_matches_registry,
               t_inspect_bad_input):
        tests.append((fn.__name__[2:], fn, None, None))
    for name, fn, arg, why in tests:
        if only and only not in name:
            continue
        t0 = time.time()
        try:
            if why and why.startswith("FAIL "):
                raise Fail(why[5:])
            if why:
                raise Skip(why)
            fn(arg) if arg is not None else fn()
            status, msg = "PASS", ""
        except Skip as e:
            status, msg = "SKIP", str(e)
        except Fail as e:
            status, msg = "FAIL", str(e)
        except Exception as e:  # a broken test is a failure, with its cause
            status, msg = "FAIL", f"{type(e).__name__}: {e}"
        results[status] += 1
        line = f"{status} {name} ({time.time() - t0:.1f}s)"
        print(line + (f": {msg}" if msg else ""), flush=True)
    print(f"integration: {results['PASS']} passed, {results['FAIL']} failed, "
          f"{results['SKIP']} skipped")
    return 1 if results["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
