"""Harness of pymemtop's root integration tests: the interpreters of the
test matrix, workloads under them (on the host, or in a Debian root with
chroot in a mount namespace of their own, as a container runs them), a
running ./pymemtop --json, and the PASS/FAIL/SKIP helpers."""
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

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYMEMTOP = os.environ.get("PMT_BINARY") or os.path.join(ROOT, "pymemtop")
WORKLOAD = os.path.join(ROOT, "tests", "workloads", "wl.py")
FIXTURES = os.path.join(ROOT, ".output", "fixtures")
MIB = 1 << 20
# pymemtop's BPF programs, every one of which is loaded while it runs
# (bpftool names them in full from their BTF)
OUR_PROGS = {"handle_exec", "handle_exit", "handle_fork", "mmap_exit", "munmap_exit",
             "mremap_exit", "brk_exit", "gc_start_usdt", "gc_done_usdt", "gc_enter_uprobe",
             "gc_exit_uretprobe", "heap_refill", "heap_precise"}


class Fail(AssertionError):
    """A check that did not hold: the test fails with this message."""


class Skip(pytest.skip.Exception):
    """What the machine lacks: a SKIP with the reason."""

    def __init__(self, msg):
        super().__init__(msg=msg)


def check(cond, msg):
    if not cond:
        raise Fail(msg)


ROOTS = os.environ.get("PMT_ROOTS", "/var/cache/pymemtop/roots")


class Py(str):
    """An interpreter of the test matrix. The str is its path as its
    processes see it; root: the Debian root it runs in ("" on the host);
    name: "sid-3.14"; distro: a Debian build (stripped, LTO, USDT);
    embed: an embedder (gdb) running Python rather than python itself."""

    def __new__(cls, path, name, root="", distro=False, embed=False, minor=0):
        s = super().__new__(cls, path)
        s.root, s.name, s.distro, s.embed, s.minor = root, name, distro, embed, minor
        return s

    @property
    def host_path(self):
        return self.root + self


def root_pythons(root_name):
    """python3.X of a Debian root, by name (sid moves: 3.14.11 tomorrow)."""
    root = os.path.join(ROOTS, root_name)
    found = []
    for p in sorted(glob.glob(f"{root}/usr/bin/python3.*")):
        m = re.fullmatch(r"python3\.(\d+)", os.path.basename(p))
        if m:
            minor = int(m.group(1))
            found.append(Py(p[len(root):], f"{root_name}-3.{minor}", root, True, minor=minor))
    return found


def roots_missing():
    """Why the Debian roots cannot be used, or None. make test builds them
    first: a missing root fails the tests that need it, it is not skipped."""
    for r in ("trixie", "sid"):
        if not os.path.exists(os.path.join(ROOTS, r, ".pymemtop-root")):
            return f"Debian root {r} missing under {ROOTS}: make roots builds it"
    return None


def interpreters():
    """(name, path, why) of every interpreter to test: path a Py, or None
    with why (a SKIP for what the machine lacks; a FAIL for a missing root,
    which the project builds)."""
    found = []
    if os.access("/usr/bin/python3.11", os.X_OK):
        found.append(("debian-3.11", Py("/usr/bin/python3.11", "debian-3.11", distro=True,
                                        minor=11), None))
    else:
        found.append(("debian-3.11", None, "Debian's /usr/bin/python3.11 not installed"))
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for minor in range(8, 14):
        paths = sorted(glob.glob(f"{root}/versions/3.{minor}.*/bin/python3.{minor}"))
        paths = [p for p in paths if re.search(r"/versions/3\.\d+\.\d+/", p)]  # not 3.13t
        if paths:
            found.append((f"pyenv-3.{minor}", Py(paths[-1], f"pyenv-3.{minor}", minor=minor),
                          None))
        else:
            found.append((f"pyenv-3.{minor}", None, f"no pyenv 3.{minor} under {root}/versions"))
    missing = roots_missing()
    if missing:
        found.append(("debian-roots", None, "FAIL " + missing))
        return found
    for r in ("trixie", "sid"):
        for py in root_pythons(r):
            found.append((py.name, py, None))
    gdb = os.path.join(ROOTS, "sid", "usr/bin/gdb")
    if os.access(gdb, os.X_OK):
        found.append(("sid-gdb", Py("/usr/bin/gdb", "sid-gdb", os.path.join(ROOTS, "sid"), True,
                                    embed=True, minor=14), None))
    else:
        found.append(("sid-gdb", None, f"FAIL {gdb} missing: make roots installs it"))
    return found


def pythons_present(*names, why=None):
    """[(name, path)] of these interpreters that are present, in this
    order; Skip (why, or naming them) when none is."""
    found = {n: p for n, p, _ in interpreters() if p is not None}
    got = [(n, found[n]) for n in names if n in found]
    if not got:
        raise Skip(why or f"none of {', '.join(names)} present")
    return got


def first_python(*names, why=None):
    """(name, path) of the first of these interpreters present, or Skip."""
    return pythons_present(*names, why=why)[0]


class Workload:
    """tests/workloads/wl.py under one interpreter, stepped through files.
    An interpreter in a Debian root runs chrooted there in a mount
    namespace of its own (its /proc, tests/workloads bound at /pmt): the
    path a container takes. self.ctl is the control directory as the test
    sees it, self.inner_ctl and self.script as the workload sees them."""

    def __init__(self, python, action, arg=None, exe=None, launcher=None, script=WORKLOAD):
        """launcher: argv that runs the interpreter with the rest appended;
        script: a copy of wl.py under another name."""
        root = getattr(python, "root", "")
        self.python = str(python)
        self.ctl = tempfile.mkdtemp(prefix="pmt-wl-", dir=root + "/tmp" if root else None)
        self.inner_ctl = self.ctl[len(root):] if root else self.ctl
        self.script = "/pmt/" + os.path.basename(script) if root else script
        args = [self.script, self.inner_ctl, action] + ([str(arg)] if arg is not None else [])
        if getattr(python, "embed", False):
            # gdb's Python runs the workload as its __main__
            code = (f"import sys; sys.argv = {args!r}; sys.path.insert(0, '/pmt'); "
                    f"exec(compile(open({self.script!r}).read(), {self.script!r}, 'exec'), "
                    f"{{'__name__': '__main__'}})")
            argv = [str(python), "-batch", "-nx", "-ex", "python " + code]
        else:
            argv = (launcher or [exe or str(python)]) + args
        if root:
            argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                    'mount -t proc proc "$0/proc" && mount --bind "$1" "$0/pmt" && shift && '
                    'exec chroot "$0" "$@"', root, os.path.dirname(script)] + argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        self.ready = self._wait_json("ready.json")
        self.pid = self.ready["pid"]

    def _wait_json(self, name, timeout=30):
        path = os.path.join(self.ctl, name)
        end = time.time() + timeout
        while not os.path.exists(path):
            if self.proc.poll() is not None:
                raise Fail(f"workload exited early ({self.proc.returncode})")
            if time.time() > end:
                raise Fail(f"workload: no {name} after {timeout}s")
            time.sleep(0.01)
        with open(path) as f:
            return json.load(f)

    def step(self, timeout=30):
        """Let the workload act; return its done.json and the time it was written."""
        open(os.path.join(self.ctl, "go"), "w").close()
        done = self._wait_json("done.json", timeout)
        return done, os.path.getmtime(os.path.join(self.ctl, "done.json"))

    def finish(self):
        if not os.path.isdir(self.ctl):  # finished already
            return
        # a workload not stepped to the end waits for its next go first
        for name in ("go", "go0", "go1", "exit"):
            open(os.path.join(self.ctl, name), "w").close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.ctl, ignore_errors=True)


class Pymemtop:
    """A running ./pymemtop --json; frames are collected by a thread."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([PYMEMTOP, "--json", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, encoding="utf-8")
        self.frames = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            frame = json.loads(line)
            with self.cond:
                self.frames.append(frame)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait(self, pred, timeout=20, what="frame"):
        """First frame (newest first among new ones) for which pred is true."""
        end = time.time() + timeout
        seen = 0
        with self.cond:
            while True:
                for frame in self.frames[seen:]:
                    if pred(frame):
                        return frame
                seen = len(self.frames)
                left = end - time.time()
                if left <= 0 or self.proc.poll() is not None and seen == len(self.frames):
                    err = self.proc.stderr.read() if self.proc.poll() is not None else ""
                    raise Fail(f"no {what} within {timeout}s {err.strip()}")
                self.cond.wait(min(left, 0.2))

    def proc_in(self, frame, pid):
        for p in frame["processes"]:
            if p["pid"] == pid:
                return p
        return None

    def wait_proc(self, pid, pred=lambda p: True, after=0.0, timeout=20, what=None):
        frame = self.wait(lambda f: f["time"] > after and self.proc_in(f, pid) is not None
                          and pred(self.proc_in(f, pid)), timeout, what or f"frame with pid {pid}")
        return self.proc_in(frame, pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise Fail("pymemtop did not exit within 10 s of SIGTERM")
        err = self.proc.stderr.read()
        return rc, err


def run_cli(*args, timeout=30, prefix=()):
    p = subprocess.run([*prefix, PYMEMTOP, *args], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def one_line_error(rc, err, want_rc, needle):
    lines = [l for l in err.splitlines() if l.strip()]
    check(rc == want_rc, f"exit status {rc}, want {want_rc} (stderr: {err.strip()!r})")
    check(len(lines) == 1, f"want one line on stderr, got {lines!r}")
    check(needle in lines[0], f"stderr {lines[0]!r} lacks {needle!r}")


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


# --- Prometheus and HTTP ---------------------------------------------------------

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
