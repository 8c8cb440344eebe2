#!/usr/bin/env python3
"""pymemtop benchmark (make bench). Needs root.

1. Target slowdown: each workload runs alternately without and with a
   system-wide `pymemtop -d 1` in the background, ROUNDS times each,
   interleaved so that machine noise hits both sides alike; the ratio of
   the medians is printed.
2. pymemtop's own cost: CPU time of `pymemtop -d 1` over a fixed period
   while N idle Python processes run, as a share of one core; and the
   kernel's run time of pymemtop's BPF programs over the same period
   (kernel.bpf_stats_enabled), which the observed processes pay.

Ratios are measured side by side in this one run; the numbers written to
docs/performance.md come from here.
"""
import glob
import json
import os
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYMEMTOP = os.path.join(ROOT, "pymemtop")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
IDLE_PROCS = int(os.environ.get("BENCH_IDLE", "50"))
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "30"))

WORKLOADS = {
    # Small-object churn: tens of millions of allocations (dicts, lists,
    # tuples, ints, strs); no syscalls, few collections.
    "object churn": """
for i in range(3_000_000):
    d = {"a": i, "b": [i, i + 1], "c": (i, str(i))}
""",
    # Memory-syscall churn: every iteration is an mmap + munmap pair, the
    # worst case for the syscall tracepoints.
    "mmap churn": """
import mmap
for i in range(200_000):
    m = mmap.mmap(-1, 256 * 1024)
    m.close()
""",
    # GC-heavy: reference cycles, so the collector runs constantly.
    "gc cycles": """
class Node:
    pass
for i in range(2_000_000):
    a = Node(); b = Node(); a.other = b; b.other = a
""",
}


def interpreters():
    found = []
    if os.access("/usr/bin/python3.11", os.X_OK):
        found.append(("debian-3.11 (usdt)", "/usr/bin/python3.11"))
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for v in ("3.12", "3.8"):
        paths = sorted(glob.glob(f"{root}/versions/{v}.*/bin/python{v}"))
        if paths:
            found.append((f"pyenv-{v} (uprobe)", paths[-1]))
    return found


def time_run(python, code):
    t0 = time.perf_counter()
    subprocess.run([python, "-c", code], check=True)
    return time.perf_counter() - t0


def start_pymemtop():
    p = subprocess.Popen([PYMEMTOP, "--json", "-d", "1"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    time.sleep(1.5)  # loaded and attached
    if p.poll() is not None:
        sys.exit("bench: pymemtop failed to start: " + p.stderr.read().decode())
    return p


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=10)


def slowdown():
    print(f"== target slowdown: median of {ROUNDS} interleaved runs each, "
          "pymemtop -d 1 system-wide in the background")
    print(f"{'interpreter':22} {'workload':14} {'without':>9} {'with':>9} {'ratio':>7}")
    rows = []
    for name, python in interpreters():
        for wname, code in WORKLOADS.items():
            base, under = [], []
            time_run(python, code)  # warm the page cache
            for _ in range(ROUNDS):
                base.append(time_run(python, code))
                pm = start_pymemtop()
                under.append(time_run(python, code))
                stop(pm)
            b, u = statistics.median(base), statistics.median(under)
            rows.append((name, wname, b, u, u / b))
            print(f"{name:22} {wname:14} {b:8.3f}s {u:8.3f}s {u / b:6.3f}x", flush=True)
    return rows


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bpf_run_time_ns():
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         check=True).stdout
    names = {"handle_exec", "handle_exit", "mmap_enter", "mmap_exit", "munmap_enter",
             "munmap_exit", "mremap_enter", "mremap_exit", "brk_exit", "gc_start_usdt",
             "gc_done_usdt", "gc_enter_uprobe", "gc_exit_uretprobe"}
    return sum(p.get("run_time_ns", 0) for p in json.loads(out) if p.get("name") in names)


def self_cost():
    py = next((p for _, p in interpreters()), sys.executable)
    print(f"\n== pymemtop's own cost: {IDLE_PROCS} idle Python processes, -d 1, "
          f"{IDLE_SECONDS:.0f} s")
    idle = [subprocess.Popen([py, "-c", "import time; time.sleep(1e6)"])
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
        cpu0, bpf0, t0 = proc_cpu_seconds(p.pid), bpf_run_time_ns(), time.monotonic()
        deadline = t0 + IDLE_SECONDS
        while time.monotonic() < deadline:
            p.stdout.readline()
        cpu1, bpf1, t1 = proc_cpu_seconds(p.pid), bpf_run_time_ns(), time.monotonic()
        stop(p)
        share = (cpu1 - cpu0) / (t1 - t0)
        print(f"python processes in frame: {nprocs}")
        print(f"pymemtop CPU: {cpu1 - cpu0:.3f} s over {t1 - t0:.1f} s = "
              f"{100 * share:.2f}% of one core")
        print(f"BPF programs' run time: {(bpf1 - bpf0) / 1e6:.3f} ms over {t1 - t0:.1f} s")
        return share
    finally:
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write(stats_was)
        for q in idle:
            q.kill()
            q.wait()


def main():
    if os.geteuid() != 0:
        sys.exit("bench: needs root")
    rows = slowdown()
    share = self_cost()
    worst = max(r[4] for r in rows)
    print(f"\nworst slowdown ratio: {worst:.3f}x (target <= 1.02x); "
          f"pymemtop CPU {100 * share:.2f}% of a core (target < 1%)")


if __name__ == "__main__":
    main()
