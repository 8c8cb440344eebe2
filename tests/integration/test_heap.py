# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The Python heap against CPython's own figures (sys._debugmallocstats(),
sys.getallocatedblocks()), the allocation flow in its three modes, the
heap-walk deferral, the growth verdict, the allocators recognised."""
import fcntl
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from harness import *  # noqa: F401,F403


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


def test_heap_accuracy(python):
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


TYPES_N = 100000


def test_heap_types(python):
    """heap_types against the workload's own census: Rec objects (a class
    with a __dict__: 3.11+ put a managed-dict pre-header before it), Pt
    (__slots__) and floats (no GC header), counted by gc.get_objects() and
    its own lists, each within 10% (and its stated error + 2%); every type
    named, byte counts those of whole blocks, the pools read counted."""
    wl = Workload(python, "types", TYPES_N)
    pm = Pymemtop("-d", "0.3", "-p", str(wl.pid))
    try:
        open(os.path.join(wl.ctl, "go"), "w").close()
        truth = wl._wait_json("done.json")["sites"]
        t_done = os.path.getmtime(os.path.join(wl.ctl, "done.json"))
        frame = pm.wait(lambda f: pm.proc_in(f, wl.pid) is not None
                        and pm.proc_in(f, wl.pid)["heap_types"] is not None
                        and f["time"] - pm.proc_in(f, wl.pid)["heap_types_age_seconds"]
                        > t_done + 0.05, timeout=45,
                        what=f"heap_types of pid {wl.pid} after the objects")
        p = pm.proc_in(frame, wl.pid)
        types = {t["type"]: t for t in p["heap_types"]}
        for name in ("Rec", "Pt", "float"):
            check(name in types, f"{name} not in heap_types: {p['heap_types'][:6]}")
            t, want = types[name], truth[name]
            err = abs(t["objects"] - want)
            check(err <= 0.1 * want, f"{name}: {t['objects']} estimated, {want} in the census")
            check(err <= t["objects_error"] + 0.02 * want,
                  f"{name}: off by {err}, stated error {t['objects_error']}")
            check(t["bytes"] % t["objects"] == 0 or t["accuracy"] == "estimated",
                  f"{name}: bytes {t['bytes']}")
            check(t["bytes"] >= 16 * t["objects"], f"{name}: {t['bytes']} bytes")
        check(p["heap_types_sampled_pools"] > 0 and p["heap_types_sampled_blocks"] > 0,
              f"pools {p['heap_types_sampled_pools']}, blocks {p['heap_types_sampled_blocks']}")
        check(p["probes"]["heap_types"] == "process_vm_readv:sampled_pools", f"{p['probes']}")
        # the floats are many and firm enough for the array hint; the classes get none
        flt = types["float"]
        check(flt["hint"] and "array('d')" in flt["hint"] and
              flt["hint_saving_bytes"] == flt["bytes"], f"float hint {flt}")
        check(types["Rec"]["hint"] is None and types["Pt"]["hint"] is None,
              f"class hints {types['Rec']}, {types['Pt']}")
        print(f"  {python.name}: " + ", ".join(
            f"{n} {types[n]['objects']}±{types[n]['objects_error']} (census {truth[n]})"
            for n in ("Rec", "Pt", "float")))
    finally:
        wl.finish()
        pm.stop()


def test_heap_types_growth():
    """objects_growth, objgraph.show_growth() from outside: between two
    heap_types reads (30 s apart) a class's instances grow by 50 000 and
    floats stay; Rec's growth is the workload's own within 10%, float's
    about none, over heap_types_growth_seconds of at least 30 s."""
    name, python = first_python("sid-3.14", "pyenv-3.12", why="an interpreter of the matrix")
    wl = Workload(python, "types_grow", TYPES_N)
    pm = None
    try:
        before = wl._wait_json("done0.json")
        pm = Pymemtop("-d", "0.5", "-p", str(wl.pid))
        pm.wait(lambda f: pm.proc_in(f, wl.pid) is not None
                and pm.proc_in(f, wl.pid)["heap_types"] is not None,
                what=f"the first heap_types of pid {wl.pid}")
        open(os.path.join(wl.ctl, "go1"), "w").close()
        after = wl._wait_json("done1.json")
        t_done = os.path.getmtime(os.path.join(wl.ctl, "done1.json"))
        frame = pm.wait(lambda f: pm.proc_in(f, wl.pid)["heap_types"] is not None
                        and f["time"] - pm.proc_in(f, wl.pid)["heap_types_age_seconds"]
                        > t_done + 0.05, timeout=50,
                        what=f"heap_types of pid {wl.pid} after the growth")
        p = pm.proc_in(frame, wl.pid)
        types = {t["type"]: t for t in p["heap_types"]}
        check(p["heap_types_growth_seconds"] is not None and p["heap_types_growth_seconds"] >= 30,
              f"heap_types_growth_seconds {p['heap_types_growth_seconds']}")
        want = after["Rec"] - before["Rec"]
        rec, flt = types["Rec"], types["float"]
        check(rec["objects_growth"] is not None
              and abs(rec["objects_growth"] - want) <= 0.1 * want,
              f"Rec grew by {rec['objects_growth']}, the workload made {want}")
        check(flt["objects_growth"] is not None
              and abs(flt["objects_growth"]) <= 0.02 * TYPES_N + flt["objects_error"],
              f"float grew by {flt['objects_growth']} (±{flt['objects_error']}), made none")
        print(f"  {name}: Rec +{rec['objects_growth']} (made {want}), "
              f"float {flt['objects_growth']:+d} over {p['heap_types_growth_seconds']:.0f} s")
    finally:
        wl.finish()
        if pm:
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


def test_alloc_flow(python):
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


def test_alloc_flow_pool_refills(python):
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


def test_precise_exact(python):
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


def test_heap_walk_deferred_while_growing():
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


def test_growth_marks_a_steady_leak():
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


def test_allocator_recognised():
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
