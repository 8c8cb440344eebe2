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

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYMEMTOP = os.path.join(ROOT, "pymemtop")
WORKLOAD = os.path.join(ROOT, "tests", "workloads", "wl.py")
FIXTURES = os.path.join(ROOT, ".output", "fixtures")
MIB = 1 << 20
# pymemtop's BPF programs, every one of which is loaded while it runs
# (bpftool names them in full from their BTF)
OUR_PROGS = {"handle_exec", "handle_exit", "handle_fork", "mmap_exit", "munmap_exit",
             "mremap_exit", "brk_exit", "gc_start_usdt", "gc_done_usdt", "gc_enter_uprobe",
             "gc_exit_uretprobe", "heap_refill", "heap_precise"}


class Fail(Exception):
    pass


class Skip(Exception):
    pass


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

    def step(self):
        """Let the workload act; return its done.json and the time it was written."""
        open(os.path.join(self.ctl, "go"), "w").close()
        done = self._wait_json("done.json")
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


