# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""pymemtop root integration tests: discovery, GC counts against
gc.get_stats(), memory system calls, forked workers, the command line and
bad input, signals and clean detach, containers (mount namespaces),
hostile files."""
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


def test_running_before_gc_exact(python):
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


def test_started_after_mmap_rss_exit(python):
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


def test_forked_worker(python):
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



def test_cli_help_version():
    rc, out, err = run_cli("--help")
    check(rc == 0 and "Usage: pymemtop" in out and "--json" in out, f"--help: {rc} {err}")
    # the man page documents every long option --help lists (roff escapes '-' as '\-')
    with open(os.path.join(ROOT, "docs", "pymemtop.8")) as f:
        man = f.read().replace("\\-", "-")
    missing = sorted(set(re.findall(r"--[a-z][a-z-]+", out)) - set(re.findall(r"--[a-z][a-z-]+", man)))
    check(not missing, f"options in --help but not in docs/pymemtop.8: {missing}")
    rc, out, err = run_cli("--version")
    check(rc == 0 and out.startswith("pymemtop "), f"--version: {rc} {out!r}")


def test_cli_bad_input():
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


def test_pid_not_running():
    rc, out, err = run_cli("-p", str(dead_pid()), "--once")
    one_line_error(rc, err, 1, "no such process")


def test_pid_not_python():
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        rc, out, err = run_cli("-p", str(sleeper.pid), "--once")
        one_line_error(rc, err, 1, "is not a CPython process")
    finally:
        sleeper.kill()
        sleeper.wait()


def test_not_root():
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


def test_no_btf():
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


def test_clean_detach_on_sigterm():
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


def test_sigterm_with_full_stdout():
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


def test_exits_when_selected_pids_exit():
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


def test_deleted_interpreter():
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


def test_mount_namespace_gc():
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


def test_mmap_mremap_munmap_exact():
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


def test_map_full_drops_are_counted():
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


def test_hostile_elf_via_proc():
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


SPAWNER = r"""
import os, sys, time
ctl = sys.argv[1]
open(os.path.join(ctl, "ready"), "w").close()
while not os.path.exists(os.path.join(ctl, "go")):
    time.sleep(0.01)
t0 = time.monotonic()
kids = [os.posix_spawn("/bin/true", ["true"], {}) for _ in range(int(sys.argv[2]))]
for k in kids:
    os.waitpid(k, 0)
with open(os.path.join(ctl, "done"), "w") as f:
    f.write(str(time.monotonic() - t0))
"""


def test_process_start_burst_loses_no_event():
    """1,000 process starts within a second, by a process pymemtop watches
    (each a fork and an exec event), while pymemtop itself is stopped
    (SIGSTOP: a frame that takes long, a loaded machine): the lifecycle
    ring holds them all. With 464-byte events it held about 550."""
    n = 1000
    ctl = tempfile.mkdtemp(prefix="pmt-burst-")
    pm = Pymemtop("-d", "0.25")
    sp = None
    try:
        pm.wait(lambda f: True, what="first frame")
        _, python = first_python("debian-3.11")
        sp = subprocess.Popen([str(python), "-c", SPAWNER, ctl, str(n)])
        wait_for(lambda: os.path.exists(os.path.join(ctl, "ready")), "spawner ready")
        pm.wait_proc(sp.pid, what=f"frame with the spawner {sp.pid}")
        pm.proc.send_signal(signal.SIGSTOP)
        try:
            open(os.path.join(ctl, "go"), "w").close()
            wait_for(lambda: os.path.exists(os.path.join(ctl, "done")), "burst done",
                     timeout=60)
        finally:
            pm.proc.send_signal(signal.SIGCONT)
        with open(os.path.join(ctl, "done")) as f:
            took = float(f.read())
        t_done = time.time()
        frame = pm.wait(lambda f: f["time"] > t_done + 0.5, what="frame after the burst")
        print(f"{n} process starts in {took:.2f} s ({n / took:.0f}/s): "
              f"events_lost {frame['drops']['events_lost']}")
        check(took < 2.0, f"the burst took {took:.2f} s: not a burst on this machine")
        check(frame["drops"]["events_lost"] == 0,
              f"{frame['drops']['events_lost']} lifecycle events lost in a burst of {n} starts")
    finally:
        if sp:
            sp.kill()
            sp.wait()
        pm.stop()
        shutil.rmtree(ctl, ignore_errors=True)
