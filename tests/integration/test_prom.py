# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Prometheus export: the textfile for node_exporter, /metrics, promtool,
Prometheus itself, faults."""
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


def test_prom_textfile_node_exporter_prometheus():
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


def test_prom_listen_scraped_directly():
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


def test_prom_promtool_and_no_duplicates():
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


def test_prom_counters_survive_exits():
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


def test_prom_file_faults():
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


def test_prom_listen_port_in_use():
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
