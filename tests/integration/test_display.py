# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The live display in a real terminal (a private tmux server)."""
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


def tui_pythons():
    found = {n: p for n, p, why in interpreters() if p}
    leak = found.get("pyenv-3.12") or found.get("pyenv-3.13")
    others = [found[n] for n in ("debian-3.11", "pyenv-3.8", "pyenv-3.10") if n in found][:2]
    if not leak or not others:
        raise Skip("needs pyenv 3.12 or 3.13 and one of Debian 3.11 / pyenv 3.8 / 3.10")
    return leak, others


def resize(scr, width, height):
    """Resize the pane and wait until tmux says it has that size (a resize
    of a detached session can be late or lost: ask again)."""
    for _ in range(50):
        tmux("resize-window", "-t", scr.name, "-x", str(width), "-y", str(height))
        got = tmux("display-message", "-p", "-t", scr.name, "#{pane_width}x#{pane_height}")
        if got.strip() == f"{width}x{height}":
            return
        time.sleep(0.1)
    raise Fail(f"the pane is {got.strip()}, not {width}x{height}")


def detail_first_screen(scr, w):
    """The detail view of w as an 80x24 terminal first shows it: the heap
    (where the build has it) and the GC table with all three generations;
    an unavailable value is never a row of "-" repeating its reason."""
    scr.keys("/")
    scr.keys("-l", w.ctl)
    scr.keys("Enter")
    scr.wait(lambda t: order(t) == [w.pid], f"only pid {w.pid} after the filter")
    scr.keys("Home", "Enter")
    debian = w.python.startswith("/usr/bin/")

    def full(t):  # the detail view drawn at 24 rows: its bottom bar on the last
        lines = t.splitlines()
        return f"PID {w.pid}" in t and len(lines) == 24 and lines[23].startswith(" PID ")
    for _ in range(3):
        try:
            scr.wait(full, f"pid {w.pid}: the detail view at 80x24", timeout=5)
            break
        except Fail:
            # KNOWN: after 70x20 -> 80x24 the display sometimes keeps 20 rows
            # (ncurses saw the new width, not the new height): resize again
            resize(scr, 80, 25)
            resize(scr, 80, 24)
    text = scr.wait(lambda t: full(t) and "Garbage collector" in t
                    and re.search(r"(?m)^  2 +\d+ +\d+ ", t)
                    and (not debian or "Allocation flow" in t),
                    f"pid {w.pid}: the GC table (and on Debian's 3.11 the allocation flow) "
                    "on the detail view's first screen")
    lines = text.splitlines()
    check(len(lines) <= 24 and max(len(l) for l in lines) <= 80, "wider or longer than 80x24")
    gens = [l for l in lines if re.match(r"  [012] +\d+ +\d+ ", l)]
    check(len(gens) == 3, f"pid {w.pid}: GC rows {gens}:\n{text}")
    check("Python heap: pymalloc" in text, f"pid {w.pid}: no heap section:\n{text}")
    if debian:
        # Debian's: the flow in whole arenas, its missing counts on one line
        check("Allocation flow" in text and "unavailable" in text,
              f"Debian 3.11: no allocation flow on the first screen:\n{text}")
    check(not re.search(r"(?m) - +- +\S", text), f"pid {w.pid}: rows of '-':\n{text}")
    scr.keys("Escape")
    scr.keys("/")
    scr.keys("Escape")
    scr.wait(lambda t: len(order(t)) >= 2, "all rows back after the detail view")


def test_tui_end_to_end():
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
        scr.keys("End")
        scr.wait(lambda t: "Process" in t and "cmdline:" in t and "Python heap" not in t,
                 "the detail view's end after End")
        scr.keys("Home")
        scr.wait(lambda t: f"PID {leak.pid}" in t and "Python heap" in t,
                 "the detail view's start after Home")
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
        resize(scr, 80, 24)
        text = scr.wait(lambda t: "PY" in table_of(t)[1] and len(order(t)) == len(wls),
                        "rows with PY at 80x24")
        for w in wls:
            detail_first_screen(scr, w)
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


def test_display_and_prom_every_build():
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


def test_tui_signals_and_color():
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


def test_tui_not_a_tty_is_batch():
    """Without a terminal, pymemtop writes text frames instead (as BSD top)."""
    rc, out, err = run_cli("-n", "1", "-d", "0.2")
    check(rc == 0, f"exit {rc}: {err.strip()}")
    check(out.startswith("pymemtop - ") and "\x1b" not in out, f"not batch text: {out[:200]!r}")
    check(re.search(r"^\s+PID USER\s+PY", out, re.M), f"no column header: {out[:300]!r}")
