#!/usr/bin/env python3
"""pymemtop benchmark (make bench). Needs root.

1. Target slowdown: each workload runs in BLOCKS blocks; a block is, back
   to back, a run of every mode in MODES: two runs without anything
   ("without", the baseline), two runs with a system-wide `pymemtop -d 1`
   in the background ("default": allocation sites on, sampled at new
   arenas and malloc heap growth), two with `pymemtop -d 1 --no-sites`
   (the same without the frame walks, so the sites' share shows beside
   it), two with `pymemtop -d 1 --pool-refills` (a uprobe on pymalloc's
   pool refill in every process; sites then sampled at each refill), one
   run under `pymemtop --precise -p PID` (per-call allocator probes; the
   target waits on stdin until the probes are in, so its start-up, ~2% of
   a run, is not timed: immaterial next to that mode's cost; "refused"
   where the build cannot be hooked per call, as Debian's LTO
   executables), and one run under `python -X tracemalloc` (the
   standard in-process alternative, for comparison; one run only, as its
   runs take several times as long). Every other block runs the modes in
   reverse order. This machine's speed drifts by tens of percent over
   seconds to minutes (a VM without hardware counters), so (a) only runs
   close in time are compared, and (b) every run's time is normalised by a
   "speedometer" running at the same time on the other core: a
   pure-Python counting loop on a private copy of the interpreter, which
   makes no syscalls and never collects garbage, so pymemtop's probes
   never fire in it. A block gives one ratio per mode (mean normalised
   time of the mode's runs / that of the runs without); printed per mode
   are the ratio of the mode's fastest run to the fastest run without
   over all blocks, and the median block ratio with the spread of the
   block ratios. Noise here only ever adds time (the CPU time of a run
   tracks its wall time exactly; slow runs are the host taking the vCPU
   away), so the fastest runs are the least disturbed estimate of the
   true cost, as with timeit's min.
2. pymemtop's own cost: CPU time of `pymemtop -d 1` over a fixed period
   while N idle Python processes run, as a share of one core; and the
   kernel's run time of pymemtop's BPF programs over the same period
   (kernel.bpf_stats_enabled), which the observed processes pay. The
   programs are those `bpftool -j prog show` lists with pymemtop's PID in
   their "pids" (the processes holding them); a bpftool built without
   skeletons reports no "pids", and then the programs are those whose
   file descriptors pymemtop holds (prog_id in /proc/PID/fdinfo/*).
3. Which line holds the memory, pymemtop beside tracemalloc, on the leak
   behind heavier churn of tests/workloads/http_leak.py (a threaded
   http.server JSON service; LEAK_REQUESTS requests): one run without
   any tool, one under tracemalloc (started in the process, snapshot
   statistics by line: the ground truth), one under `pymemtop -p PID`
   (default mode) and one under `pymemtop -p PID --precise`. Printed per
   interpreter and tool: the requests' time (one run each: read it as a
   rough cost, the slowdown table is the measurement), the top line by
   live bytes and whether it is tracemalloc's.
4. A summary: per interpreter and workload the fastest-run ratio of each
   mode, the worst default-mode ratio against its target, and pymemtop's
   own cost.

Interpreters: Debian 12's python3.11 (USDT), sid's python3.14 (USDT; run
with chroot in the Debian root `make roots` builds), pyenv 3.12 and 3.8
(uprobes).

Environment: BENCH_BLOCKS (default 8), BENCH_IDLE (idle processes, 50),
BENCH_IDLE_SECONDS (30), BENCH_WORKLOADS (comma-separated workload names,
e.g. "steady leak"; default all), BENCH_PYTHONS (comma-separated substrings; only
the interpreters whose label or path contains one of them, e.g. "3.12" or
"debian,3.8"; the first one left also runs the idle processes of part 2),
BENCH_MODES (comma-separated mode names to run beside the baseline, e.g.
"default,no-sites"; default all; the slow ones are precise and tracemalloc).

Ratios are measured side by side in this one run; the numbers written to
docs/performance.md come from here.
"""
import collections
import contextlib
import glob
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYMEMTOP = os.path.join(ROOT, "pymemtop")
BLOCKS = int(os.environ.get("BENCH_BLOCKS", "8"))
IDLE_PROCS = int(os.environ.get("BENCH_IDLE", "50"))
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "30"))
ONLY_WORKLOADS = [w.strip() for w in os.environ.get("BENCH_WORKLOADS", "").split(",") if w.strip()]
PYTHONS = [s for s in os.environ.get("BENCH_PYTHONS", "").split(",") if s]
ONLY_MODES = [m.strip() for m in os.environ.get("BENCH_MODES", "").split(",") if m.strip()]

WORKLOADS = {
    # Small-object churn: tens of millions of allocations (dicts, lists,
    # tuples, ints, strs); no syscalls, few collections.
    "object churn": """
for i in range(1_000_000):
    d = {"a": i, "b": [i, i + 1], "c": (i, str(i))}
""",
    # Memory-syscall churn: every iteration is an mmap + munmap pair, the
    # worst case for the syscall tracepoints.
    "mmap churn": """
import mmap
for i in range(60_000):
    m = mmap.mmap(-1, 256 * 1024)
    m.close()
""",
    # GC-heavy: reference cycles, so the collector runs constantly.
    "gc cycles": """
class Node:
    pass
for i in range(700_000):
    a = Node(); b = Node(); a.other = b; b.other = a
""",
    # Allocations above pymalloc's 512 bytes, so libc malloc + free
    # (4.5 M of 1.6-4 KiB, from glibc's heap: almost no syscalls).
    "large allocs": """
for i in range(1_500_000):
    b = bytes(2000); a = bytearray(4096); l = [i] * 200
""",
    # A steady leak: 4.5 M small objects kept, so the heap grows (arena
    # mmaps, ~0.5 GB) and every full collection traverses more.
    "steady leak": """
kept = []
for i in range(1_500_000):
    kept.append({"k": i}); kept.append((i, i)); kept.append(str(i))
""",
}


ROOTS = os.environ.get("PMT_ROOTS", "/var/cache/pymemtop/roots")


def interpreters():
    """(label, argv prefix that runs the interpreter): Debian 12's
    python3.11, sid's python3.14 (chrooted in its Debian root, as a
    container runs it; make bench builds the root), pyenv 3.12 and 3.8."""
    found = []
    if os.access("/usr/bin/python3.11", os.X_OK):
        found.append(("debian-3.11 (usdt)", ["/usr/bin/python3.11"]))
    sid = os.path.join(ROOTS, "sid")
    if os.access(sid + "/usr/bin/python3.14", os.X_OK):
        found.append(("sid-3.14 (usdt)", ["chroot", sid, "/usr/bin/python3.14"]))
    else:
        sys.exit(f"bench: {sid}/usr/bin/python3.14 missing: make roots builds it")
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for v in ("3.12", "3.8"):
        paths = sorted(glob.glob(f"{root}/versions/{v}.*/bin/python{v}"))
        if paths:
            found.append((f"pyenv-{v} (uprobe)", [paths[-1]]))
    if PYTHONS:
        found = [(n, p) for n, p in found if any(s in n or s in " ".join(p) for s in PYTHONS)]
    return found


# The loop ends by itself when the bench is gone (checked every 2^22
# counts, a few times a second), so a killed bench never leaves a core busy.
SPEEDOMETER = r"""
import os, signal, sys
n = 0
parent = os.getppid()
def report(sig, frame):
    sys.stdout.write("%d\n" % n)
    sys.stdout.flush()
signal.signal(signal.SIGUSR1, report)
while True:
    n += 1
    if not n & 0x3fffff and os.getppid() != parent:
        sys.exit(0)
"""


class Speedometer:
    """Counts loop iterations on the other core; asked by SIGUSR1."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pmt-bench-")
        exe = shutil.copy(sys.executable, os.path.join(self.dir, "speedometer-python"))
        self.proc = subprocess.Popen([exe, "-c", SPEEDOMETER], stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)

    def count(self):
        self.proc.send_signal(signal.SIGUSR1)
        return int(self.proc.stdout.readline())

    def close(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


SPEEDO = None


def time_run(argv):
    """(wall seconds, speedometer count during the run: time x machine speed)."""
    c0, t0 = SPEEDO.count(), time.perf_counter()
    subprocess.run(argv, check=True)
    t1 = time.perf_counter()
    c1 = SPEEDO.count()
    return t1 - t0, c1 - c0


def drain(stream):
    """Read a pymemtop's frames until it exits: a pipe nobody reads fills
    in a few frames, and a pymemtop blocked writing samples nothing, which
    would make its column look cheaper than it is."""
    for _ in stream:
        pass


def start_pymemtop(*extra, keep_stdout=False):
    """A pymemtop --json -d 1 EXTRA..., returned once its first frame is
    out (loaded, attached, scanned); the rest of its frames are drained
    unless keep_stdout."""
    p = subprocess.Popen([PYMEMTOP, "--json", "-d", "1", *extra], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    if not p.stdout.readline():
        sys.exit("bench: pymemtop failed to start: " + p.stderr.read())
    if not keep_stdout:
        threading.Thread(target=drain, args=(p.stdout,), daemon=True).start()
    return p


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        # say where it hangs before giving up
        where = subprocess.run(["gdb", "-p", str(p.pid), "-batch", "-ex", "thread apply all bt"],
                               capture_output=True, text=True, timeout=120).stdout
        p.kill()
        sys.exit(f"bench: pymemtop {p.pid} did not exit within 10 s of SIGTERM:\n{where}")


# Modes: the columns of the slowdown table, run in this order (reversed every
# other block). A mode's env(python, code) is a context manager, entered once
# per block around the mode's `runs` runs, that sets up the environment and
# yields a function doing one timed run (returning time_run's pair); what
# must be set up per run (e.g. for a target's PID) goes in that function.
# `target`: the fastest-run ratio the summary checks the mode's worst against
# (None: not checked). The first mode is the baseline the others divide by.
Mode = collections.namedtuple("Mode", "name runs env target")


@contextlib.contextmanager
def env_without(python, code):
    yield lambda: time_run([*python, "-c", code])


def env_pymemtop(*extra):
    """A mode's env: a system-wide `pymemtop --json -d 1 EXTRA...` in the
    background for the block's runs of the mode."""
    @contextlib.contextmanager
    def env(python, code):
        pm = start_pymemtop(*extra)
        try:
            yield lambda: time_run([*python, "-c", code])
        finally:
            stop(pm)
    return env


PRECISE_COSTS = []  # pymemtop's own measurement of one probed call, per start


def time_precise(python, code):
    """One run under `pymemtop --precise -p PID`, timed from the moment its
    probes are attached; None when pymemtop refuses --precise for this
    build (it then stays in default mode)."""
    target = subprocess.Popen([*python, "-c", "import sys; sys.stdin.readline()\n" + code],
                              stdin=subprocess.PIPE)
    pm = subprocess.Popen([PYMEMTOP, "--json", "-d", "1", "-p", str(target.pid), "--precise"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = pm.stdout.readline()  # first frame: probes attached
        if not line:
            sys.exit("bench: pymemtop --precise failed: " + pm.stderr.read())
        frame = json.loads(line)
        if frame.get("precise_cost"):
            PRECISE_COSTS.append(frame["precise_cost"])
        proc = [p for p in frame["processes"] if p["pid"] == target.pid]
        if not proc or proc[0]["probes"].get("precise_reason"):
            return None
        threading.Thread(target=drain, args=(pm.stdout,), daemon=True).start()
        c0, t0 = SPEEDO.count(), time.perf_counter()
        target.stdin.write(b"\n")
        target.stdin.close()
        target.wait()
        t1 = time.perf_counter()
        c1 = SPEEDO.count()
        return t1 - t0, c1 - c0
    finally:
        if target.poll() is None:
            target.kill()
            target.wait()
        stop(pm)


@contextlib.contextmanager
def env_precise(python, code):
    yield lambda: time_precise(python, code)


@contextlib.contextmanager
def env_tracemalloc(python, code):
    yield lambda: time_run([*python, "-X", "tracemalloc", "-c", code])


MODES = [
    Mode("without", 2, env_without, None),
    Mode("default", 2, env_pymemtop(), 1.02),                # system-wide -d 1, sites on
    Mode("no-sites", 2, env_pymemtop("--no-sites"), None),   # the same without sites
    Mode("refills", 2, env_pymemtop("--pool-refills"), None),
    Mode("precise", 1, env_precise, None),                   # --precise -p PID
    Mode("tracemalloc", 1, env_tracemalloc, None),
]
if ONLY_MODES:
    unknown = set(ONLY_MODES) - {m.name for m in MODES}
    if unknown:
        sys.exit(f"bench: unknown mode in BENCH_MODES: {', '.join(sorted(unknown))} "
                 f"(known: {', '.join(m.name for m in MODES[1:])})")
    MODES = MODES[:1] + [m for m in MODES[1:] if m.name in ONLY_MODES]


def block(python, code, reverse, refused):
    """One block: every mode's runs back to back. Returns {mode name:
    [(wall seconds, speedometer count) or None when refused, ...]}. Modes
    in `refused` (refused by an earlier block) are not run again."""
    runs = {}
    for mode in (MODES[::-1] if reverse else MODES):
        if mode.name in refused:
            runs[mode.name] = [None]
            continue
        with mode.env(python, code) as run:
            runs[mode.name] = [run() for _ in range(mode.runs)]
        if None in runs[mode.name]:
            refused.add(mode.name)
    return runs


def gcs_per_run(python, code):
    """Collections one run makes: what the GC probes cost is proportional to."""
    out = subprocess.run([*python, "-c", code + "\nimport gc\n"
                          "print(sum(s['collections'] for s in gc.get_stats()))"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[-1])


def sites_per_run(python, code):
    """Allocation-site samples (frame walks) pymemtop's default mode takes
    in one run, and where it samples: what the sites' share of the default
    column is proportional to. The run waits at its end until pymemtop's
    frame shows it."""
    pm = start_pymemtop(keep_stdout=True)
    target = subprocess.Popen([*python, "-c", code + "\nimport sys\nprint(flush=True)\n"
                               "sys.stdin.readline()\n"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    try:
        target.stdout.readline()  # the workload is done
        seen = None
        for _ in range(4):  # a frame polled after the end
            frame = json.loads(pm.stdout.readline())
            proc = [p for p in frame["processes"] if p["pid"] == target.pid]
            if proc:
                seen = proc[0]
        if not seen or not seen.get("sites_total"):
            return "-", (seen or {}).get("sites_reason", "not seen")
        return str(seen["sites_total"]["samples"]), seen["sites_source"]
    finally:
        target.kill()
        target.wait()
        stop(pm)


def slowdown():
    base, others = MODES[0], MODES[1:]
    print(f"== target slowdown: {BLOCKS} block{'s' * (BLOCKS != 1)} per workload; a block is, "
          "back to back, "
          + ", ".join(f"{m.runs} run{'s' * (m.runs > 1)} {m.name}" for m in MODES)
          + " (reversed every other block); default = system-wide -d 1 (sites on); times normalised "
          "by a speedometer for the block ratios")
    group = f"{'fastest':>8} {'ratio':>7} {'median':>7} {'spread':>13}"
    head = (f"{'interpreter':20} {'workload':12} {'GCs/run':>7} {'sites/run':>9} "
            f"{base.name + ' fastest':>16}")
    print(f"{'':{len(head)}}" + "".join(f" | {m.name:{len(group)}}" for m in others).rstrip())
    print(head + f" | {group}" * len(others))
    rows = []  # (interpreter, workload, {mode name: fastest-run ratio})
    where_seen = {}  # interpreter: where its sites are sampled
    for name, python in interpreters():
        for wname, code in WORKLOADS.items():
            if ONLY_WORKLOADS and wname not in ONLY_WORKLOADS:
                continue
            ngc = gcs_per_run(python, code)  # also warms the page cache
            nsites, where = sites_per_run(python, code)
            where_seen.setdefault(name, where)
            refused = set()
            blocks = [block(python, code, i % 2 == 1, refused) for i in range(BLOCKS)]
            fb = min(t for b in blocks for t, _ in b[base.name])
            line = f"{name:20} {wname:12} {ngc:7d} {nsites:>9} {fb:15.3f}s"
            fastest = {}
            for m in others:
                if any(r is None for b in blocks for r in b[m.name]):
                    fastest[m.name] = None  # refused for this build
                    line += f" | {'refused (LTO build)':{len(group)}}"
                    continue
                fm = min(t for b in blocks for t, _ in b[m.name])
                ratios = sorted(statistics.mean(n for _, n in b[m.name])
                                / statistics.mean(n for _, n in b[base.name]) for b in blocks)
                fastest[m.name] = fm / fb
                line += (f" | {fm:7.3f}s {fm / fb:6.3f}x {statistics.median(ratios):6.3f}x "
                         f"{ratios[0]:6.3f}..{ratios[-1]:<5.3f}")
            rows.append((name, wname, fastest))
            print(line, flush=True)
    for name, where in where_seen.items():
        print(f"sites/run: allocation-site samples in one run under the default mode, "
              f"{name}: sampled at {where}")
    return rows


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fd_prog_ids(pid):
    """IDs of the BPF programs whose file descriptors (programs or links) pid holds."""
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:  # closed meanwhile
            pass
    return ids


def bpf_run_times(pid):
    """({program id: run_time_ns} of the BPF programs pid holds, how they were found)."""
    progs = json.loads(subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True,
                                      text=True, check=True).stdout)
    if any("pids" in p for p in progs):
        mine = [p for p in progs if any(o.get("pid") == pid for o in p.get("pids", []))]
        how = "bpftool's pids"
    else:  # bpftool built without skeletons: no pids at all
        ids = fd_prog_ids(pid)
        mine = [p for p in progs if p["id"] in ids]
        how = "prog_id in /proc/PID/fdinfo/*; this bpftool reports no pids"
    return {p["id"]: p.get("run_time_ns", 0) for p in mine}, how


def live_display_cost(nprocs):
    """The live display's own CPU over the same time, in a detached tmux pane
    (it needs a terminal), beside the header's figure of it."""
    if not shutil.which("tmux"):
        return "live display: not measured (tmux not installed)"
    tmux = ["tmux", "-L", f"pmt-bench-{os.getpid()}", "-f", "/dev/null"]
    subprocess.run(tmux + ["new-session", "-d", "-x", "120", "-y", "40", PYMEMTOP, "-d", "1"],
                   check=True)
    try:
        pid = int(subprocess.run(tmux + ["display-message", "-p", "#{pane_pid}"],
                                 capture_output=True, text=True, check=True).stdout)
        end = time.monotonic() + 30
        screen = ""
        while f"Python: {nprocs} processes" not in screen:  # start-up done
            if time.monotonic() > end:
                return f"live display: no screen with {nprocs} processes: {screen[:300]!r}"
            time.sleep(0.2)
            screen = subprocess.run(tmux + ["capture-pane", "-p"], capture_output=True,
                                    text=True).stdout
        cpu0, t0 = proc_cpu_seconds(pid), time.monotonic()
        time.sleep(IDLE_SECONDS)
        cpu1, t1 = proc_cpu_seconds(pid), time.monotonic()
        screen = subprocess.run(tmux + ["capture-pane", "-p"], capture_output=True,
                                text=True).stdout
        own = next((l.strip() for l in screen.splitlines() if l.startswith("pymemtop itself")),
                   "?")
        return (f"live display CPU {100 * (cpu1 - cpu0) / (t1 - t0):.2f}% of one core over "
                f"{t1 - t0:.1f} s (same processes; target < 2%); its header said: {own}")
    finally:
        subprocess.run(tmux + ["kill-server"])


def service_cost(nprocs):
    """The Prometheus service mode's own CPU over the same time: --prom-file
    written every second and --listen scraped every second (as Prometheus
    would), with no --json; beside it the size of what is exported."""
    import socket
    import threading
    import urllib.request
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    work = tempfile.mkdtemp(prefix="pmt-bench-")
    path = os.path.join(work, "pymemtop.prom")
    p = subprocess.Popen([PYMEMTOP, "--prom-file", path, "--listen", f"127.0.0.1:{port}",
                          "-d", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop_scrape = threading.Event()
    scrapes, size = [0, 0], [0]

    def scrape():
        while not stop_scrape.wait(1.0):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    size[0] = len(r.read())
                    scrapes[0] += 1
            except OSError:
                scrapes[1] += 1
    try:
        end = time.monotonic() + 30
        while True:  # start-up done: the file holds every process
            try:
                with open(path) as f:
                    text = f.read()
                got = sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
                          if l.startswith("pymemtop_python_processes{"))
            except (OSError, ValueError, IndexError):
                got = 0
            if got >= nprocs:
                break
            if time.monotonic() > end or p.poll() is not None:
                return f"service mode: never exported {nprocs} processes"
            time.sleep(0.2)
        t = threading.Thread(target=scrape, daemon=True)
        t.start()
        cpu0, t0 = proc_cpu_seconds(p.pid), time.monotonic()
        time.sleep(IDLE_SECONDS)
        cpu1, t1 = proc_cpu_seconds(p.pid), time.monotonic()
        stop_scrape.set()
        t.join()
        return (f"service mode (--prom-file + --listen scraped every 1 s, no --json) CPU "
                f"{100 * (cpu1 - cpu0) / (t1 - t0):.2f}% of one core over {t1 - t0:.1f} s "
                f"(same processes; target < 2%); {scrapes[0]} scrapes of {size[0]} bytes, "
                f"{scrapes[1]} failed; textfile {os.path.getsize(path)} bytes")
    finally:
        stop(p)
        shutil.rmtree(work, ignore_errors=True)


def self_cost():
    py = next((p for _, p in interpreters()), [sys.executable])
    print(f"\n== pymemtop's own cost: {IDLE_PROCS} idle Python processes ({' '.join(py)}), "
          f"-d 1, {IDLE_SECONDS:.0f} s")
    idle = [subprocess.Popen([*py, "-c", "import time; time.sleep(1e6)"])
            for _ in range(IDLE_PROCS)]
    with open("/proc/sys/kernel/bpf_stats_enabled") as f:
        stats_was = f.read().strip()
    try:
        time.sleep(1)
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write("1")
        p = subprocess.Popen([PYMEMTOP, "--json", "-d", "1"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
        first = p.stdout.readline()  # first frame: start-up (scan, attach) is done
        nprocs = len(json.loads(first)["processes"])
        cpu0, (bpf0, how), t0 = proc_cpu_seconds(p.pid), bpf_run_times(p.pid), time.monotonic()
        deadline = t0 + IDLE_SECONDS
        last = first
        while time.monotonic() < deadline:
            last = p.stdout.readline() or last
        cpu1, (bpf1, _), t1 = proc_cpu_seconds(p.pid), bpf_run_times(p.pid), time.monotonic()
        stop(p)
        share = (cpu1 - cpu0) / (t1 - t0)
        bpf_ms = sum(ns - bpf0.get(i, 0) for i, ns in bpf1.items()) / 1e6
        snaps = json.loads(last)["heap_snapshots"]
        mean = snaps["mean_seconds"]
        snap = (f"heap snapshots: {snaps['total']} ({snaps['dropped']} dropped), "
                + (f"{mean * 1e6:.0f} us per process per snapshot" if mean else "none"))
        line = (f"pymemtop CPU {100 * share:.2f}% of one core (target < 2%); "
                f"BPF programs' run time {bpf_ms:.3f} ms over {t1 - t0:.1f} s; {snap}")
        print(f"python processes in frame: {nprocs}")
        print(f"pymemtop CPU: {cpu1 - cpu0:.3f} s over {t1 - t0:.1f} s = "
              f"{100 * share:.2f}% of one core")
        print(f"BPF programs held by pymemtop: {len(bpf1)} (found by {how})")
        print(f"BPF programs' run time: {bpf_ms:.3f} ms over {t1 - t0:.1f} s")
        print(snap)
        live = live_display_cost(nprocs)
        print(live)
        service = service_cost(nprocs)
        print(service)
        return line + "\n" + live + "\n" + service
    finally:
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write(stats_was)
        for q in idle:
            q.kill()
            q.wait()


LEAK_REQUESTS = int(os.environ.get("BENCH_LEAK_REQUESTS", "600"))

# Serves and loads LEAK_REQUESTS requests once the tool is ready (a line
# on stdin); prints {"seconds", "top": [file, line] under tracemalloc};
# holds until a second line, so that pymemtop reads it once more.
LEAK_DRIVER = r'''
import json, sys, time
sys.path.insert(0, sys.argv[1])
import http_leak
trace = sys.argv[2] == "1"
if trace:
    import tracemalloc
    tracemalloc.start()
sys.stdin.readline()
srv = http_leak.serve_and_load(int(sys.argv[3]))
out = {"seconds": srv.requests_seconds}
if trace:
    top = tracemalloc.take_snapshot().statistics("lineno")[0]
    out["top"] = [top.traceback[0].filename, top.traceback[0].lineno]
    out["bytes"] = top.size
print(json.dumps(out), flush=True)
sys.stdin.readline()
'''


def leak_dir(python):
    """Where the interpreter finds http_leak.py: tests/workloads, or a
    copy inside the chroot of one that runs in a Debian root."""
    src = os.path.join(ROOT, "tests", "workloads")
    if python[0] != "chroot":
        return src
    inner = "/tmp/pymemtop-bench"
    os.makedirs(python[1] + inner, exist_ok=True)
    shutil.copy(os.path.join(src, "http_leak.py"), python[1] + inner)
    return inner


def leak_run(python, trace, pm_args=None):
    """One run of the driver, under pymemtop -p PID PM_ARGS unless None:
    (its output, pymemtop's top site by live bytes or None, why none)."""
    target = subprocess.Popen([*python, "-c", LEAK_DRIVER, leak_dir(python),
                               "1" if trace else "0", str(LEAK_REQUESTS)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    pm, last, why = None, {}, None
    try:
        if pm_args is not None:
            pm = subprocess.Popen([PYMEMTOP, "--json", "-d", "0.5", "-p", str(target.pid),
                                   *pm_args], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)

            def follow():
                for line in pm.stdout:
                    for p in json.loads(line)["processes"]:
                        if p["pid"] == target.pid:
                            last["p"] = p
            threading.Thread(target=follow, daemon=True).start()
            end = time.time() + 20
            while "p" not in last and time.time() < end:
                time.sleep(0.1)
        target.stdin.write("\n")
        target.stdin.flush()
        out = json.loads(target.stdout.readline())
        if pm:
            time.sleep(2.5)  # the churn's last frees, the next heap snapshot
        p = last.get("p")
        target.stdin.write("\n")
        target.stdin.close()
        target.wait()
        if pm_args is not None and (not p or not p["sites"]):
            why = (p or {}).get("sites_reason") or "no sites"
        if p and "--precise" in pm_args and p["sites_source"] not in ("object", "instance"):
            why = "--precise refused: " + p["probes"]["precise_reason"][:40]
        top = dict(p["sites"][0], _source=p["sites_source"]) if p and p["sites"] and not why \
            else None
        return out, top, why
    finally:
        if target.poll() is None:
            target.kill()
            target.wait()
        if pm:
            stop(pm)


def leak_lines():
    print(f"\n== which line holds the memory: http_leak.py, {LEAK_REQUESTS} requests, a leak "
          "behind heavier churn")
    print(f"{'interpreter':20} {'tool':20} {'seconds':>8} {'ratio':>7}  top line (live bytes)"
          "                  tracemalloc's?")
    for name, python in interpreters():
        base, _, _ = leak_run(python, False)
        tm, _, _ = leak_run(python, True)
        truth = (os.path.basename(tm["top"][0]), tm["top"][1])
        rows = [("without", base, None, None), ("tracemalloc", tm, None, None)]
        for tool, args in (("pymemtop", ()), ("pymemtop --precise", ("--precise",))):
            out, top, why = leak_run(python, False, args)
            rows.append((tool, out, top, why))
        for tool, out, top, why in rows:
            if tool == "tracemalloc":
                line, agree = f"{truth[0]}:{truth[1]} ({tm['bytes']})", "-"
            elif tool == "without":
                line, agree = "", ""
            elif top is None:
                line, agree = why or "no sites", "no"
            else:
                got = (os.path.basename(top["file"] or "?"), top["line"])
                line = f"{got[0]}:{got[1]} ({top['live_bytes']})"
                if top.get("_source") == "instance":
                    line += " instances"
                agree = "yes" if got == truth else "no"
            print(f"{name:20} {tool:20} {out['seconds']:8.2f} "
                  f"{out['seconds'] / base['seconds']:6.2f}x  {line:38} {agree}")


def summary(rows, cost):
    others = MODES[1:]
    print(f"\n== summary: ratio of the fastest run to the fastest run {MODES[0].name}")
    print(f"{'interpreter':20} {'workload':12}" + "".join(f" {m.name:>11}" for m in others))
    for name, wname, fastest in rows:
        print(f"{name:20} {wname:12}" + "".join(
            f" {fastest[m.name]:10.3f}x" if fastest[m.name] is not None else f" {'refused':>11}"
            for m in others))
    for m in others:
        if m.target is not None:
            worst = max((r for r in rows if r[2][m.name] is not None), key=lambda r: r[2][m.name])
            print(f"worst {m.name} ratio: {worst[2][m.name]:.3f}x ({worst[0]}, {worst[1]}; "
                  f"target <= {m.target:.2f}x)")
    if PRECISE_COSTS:
        a = statistics.median(c["alloc_call_seconds"] for c in PRECISE_COSTS)
        f = statistics.median(c["free_call_seconds"] for c in PRECISE_COSTS)
        print(f"--precise: cost of one probed call as pymemtop measured it at start (median of "
              f"{len(PRECISE_COSTS)}): {a * 1e6:.2f} us per alloc, {f * 1e6:.2f} us per free")
    print(cost)


def main():
    if os.geteuid() != 0:
        sys.exit("bench: needs root")
    if not interpreters():
        sys.exit("bench: no interpreter found (or none matches BENCH_PYTHONS)")
    others = subprocess.run(["pgrep", "-x", "pymemtop"], capture_output=True, text=True).stdout
    if others.split():
        # its probes and its CPU would be in every column, the baseline too
        sys.exit(f"bench: another pymemtop is running (PID {', '.join(others.split())}); "
                 "stop it first")
    # SIGTERM/SIGHUP unwind like Ctrl-C: the finally blocks stop the
    # speedometer and every pymemtop started
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda s, f: sys.exit(f"bench: signal {s}"))
    global SPEEDO
    SPEEDO = Speedometer()
    try:
        rows = slowdown()
    finally:
        SPEEDO.close()
    leak_lines()
    cost = self_cost()
    summary(rows, cost)


if __name__ == "__main__":
    main()
