# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Allocation sites: accuracy, default mode, threads, code reuse, forked
workers, the rate limit, a full map, --folded, --sites, --prom-sites."""
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


def test_sites_accuracy(python):
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


def site_of(p, truth, key="live_bytes"):
    """key of the arena samples of the workload's SITE line (None: none)."""
    vals = [s[key] for s in p["sites"] or [] if s["file"] == truth["file"]
            and s["line"] == truth["line"] and s["source"] == "arena"]
    return None if not vals or all(v is None for v in vals) else sum(v or 0 for v in vals)


def test_sites_live(python):
    """What stays alive, not the flow: big_alloc makes nine times what
    small_alloc makes but frees it all before small_alloc runs, small_alloc
    keeps everything. Default mode (arena samples, no rate limit): by flow
    big_alloc is first; by live bytes (the default order) small_alloc is,
    its live bytes within 0.5-2x of what it keeps, big_alloc's under a quarter of that; with
    --sites-by flow the order turns."""
    for order in ("live", "flow"):
        wl = Workload(python, "sites_live", 12)
        pm = Pymemtop("-d", "0.3", "-p", str(wl.pid), "--sites-max-rate", "0",
                      "--sites-by", order)
        try:
            pm.wait_proc(wl.pid, lambda p: p["sites"] is not None, what="sites sampled")
            done, t_done = wl.step()
            truth = done["sites"]
            p = pm.wait_proc(wl.pid, lambda p: p["sites"] and site_of(p, truth["small"]) and
                             p["heap_snapshot_age_seconds"] is not None, after=t_done + 0.5,
                             timeout=20, what="small_alloc's samples followed")
            big_flow = site_of(p, truth["big"], "estimated_bytes") or 0
            small_flow = site_of(p, truth["small"], "estimated_bytes") or 0
            big_live = site_of(p, truth["big"]) or 0
            small_live = site_of(p, truth["small"]) or 0
            print(f"  {python.name} --sites-by {order}: flow big {big_flow} small {small_flow},"
                  f" live big {big_live} small {small_live} (kept {truth['small']['bytes']})")
            check(big_flow > small_flow, f"flow: big {big_flow} <= small {small_flow}")
            check(small_live > big_live, f"live: small {small_live} <= big {big_live}")
            check(0.5 * truth["small"]["bytes"] <= small_live <= 2 * truth["small"]["bytes"],
                  f"small_alloc live {small_live}, keeps {truth['small']['bytes']}")
            # near 0: the arenas big_alloc freed were mapped again for
            # small_alloc, and only BPF's munmap record tells their samples
            # dead (without it 9 MiB read live here)
            check(big_live <= 0.25 * truth["small"]["bytes"],
                  f"big_alloc live {big_live} (flow {big_flow}), small keeps "
                  f"{truth['small']['bytes']}: its arenas' munmaps not seen?")
            names = [s["function"] for s in p["sites"] if s["source"] == "arena"]
            first, second = ("small_alloc", "big_alloc") if order == "live" else \
                ("big_alloc", "small_alloc")
            check(first in names and second in names and
                  names.index(first) < names.index(second),
                  f"--sites-by {order}: ranking {names}")
            check(p["sites_total"]["live_bytes"] is not None and
                  p["sites_total"]["live_bytes"] >= small_live, f"{p['sites_total']}")
        finally:
            wl.finish()
            pm.stop()


HTTP_LEAK_N = 600  # requests: ~3 MB kept behind ~200 MB of churn, ~20 s under --precise


def test_sites_leak_behind_churn(python):
    """A leak behind heavier churn (tests/workloads/http_leak.py: a
    threaded http.server JSON service keeping ~5 KB a request at one line,
    churning ~60 times more): with --precise, object samples followed to
    their free rank the leaking line first by live bytes, the line
    tracemalloc (on in the workload) names first, within 0.67-1.5x of its
    bytes (~185 samples: about +-7.5%; measured 0.87-1.11x);
    every other site under half of it; the churn outweighs the leak in the
    flow. LTO builds (Debian's python3.X executables) refuse per-call
    probes: there class instances are sampled at tp_alloc and followed to
    tp_free (sites_source "instance"), which sees the leak's Rec objects
    but only the churn's instances, so the flow need only be twice the
    leak's; on 3.13+ LTO builds tp_alloc is inlined too (measured: 209
    calls for 200 000 instances): refused, the pool-refill probe instead,
    and no answer."""
    wl = Workload(python, "http_leak", HTTP_LEAK_N)
    pm = Pymemtop("-d", "0.5", "-p", str(wl.pid), "--precise")
    try:
        p0 = pm.wait_proc(wl.pid, lambda p: p["sites_source"] is not None, what="sites set up")
        reason = p0["probes"].get("precise_reason")
        want = "object"
        if reason:
            check(python.distro and not python.embed and "LTO" in reason,
                  f"--precise refused: {reason}")
            want = "instance" if python.minor < 13 else "pool_refill+malloc"
        check(p0["sites_source"] == want, f"sites_source {p0['sites_source']}, want {want}")
        if want == "pool_refill+malloc":
            print(f"  {python.name}: --precise refused ({reason}) and 3.13+ LTO builds call "
                  "an inlined copy of PyType_GenericAlloc: no object samples, no answer")
            return
        done, t_done = wl.step(timeout=150)
        truth = done["sites"]
        tm, leak = truth["tracemalloc"], truth["leak"]
        check((tm["file"], tm["line"]) == (leak["file"], leak["line"]),
              f"tracemalloc's top line {tm}, the leak is at {leak}")
        # the churn's last frees are counted at the next heap snapshot
        p = pm.wait_proc(wl.pid, lambda p: p["sites"] and p["sites_total"]["live_bytes"],
                         after=t_done + 1.5, timeout=30, what="sites after the requests")
        top = p["sites"][0]
        flow = p["sites_total"]["estimated_bytes"]
        print(f"  {python.name} ({want}): top by live {top['function']} {top['file']}:"
              f"{top['line']} live {top['live_bytes']} ({top['live_samples']} samples), flow "
              f"{top['estimated_bytes']} of {flow}; tracemalloc {tm['bytes']}")
        check(os.path.basename(top["file"] or "") == os.path.basename(leak["file"]) and
              top["line"] == leak["line"],
              f"top site by live bytes {top['function']} {top['file']}:{top['line']}, "
              f"the leak is line {leak['line']}")
        check(0.67 * tm["bytes"] <= top["live_bytes"] <= 1.5 * tm["bytes"],
              f"leak live {top['live_bytes']}, tracemalloc {tm['bytes']}")
        heavier = 10 if want == "object" else 2
        check(flow >= heavier * top["estimated_bytes"],
              f"churn not heavier: flow {flow}, the leak's {top['estimated_bytes']}")
        others = [s["live_bytes"] or 0 for s in p["sites"][1:]]
        check(all(o < 0.5 * top["live_bytes"] for o in others),
              f"another site near the leak: {others}")
    finally:
        wl.finish()
        pm.stop()


def test_sites_default_mode():
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


def test_sites_threads():
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


def test_sites_code_reuse():
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


def test_sites_forked_worker():
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


def test_sites_rate_limit():
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


def test_sites_map_full():
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


def test_sites_folded_and_report():
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
    # flow: the folded stacks must sum to sites_total's estimated bytes
    pm = Pymemtop("-d", "0.3", "-p", str(wl.pid), "--pool-refills", "--folded", folded,
                  "--sites-by", "flow")
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


def test_prom_sites_top_n():
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
