"""Test workload for pymemtop's integration tests (Python 3.8-3.15).

Usage: python wl.py CTLDIR ACTION [ARG]

Protocol, through files in CTLDIR, so the test can take pymemtop
samples between steps:
  writes  ready.json  {"pid", "version"}  then waits for  go
  performs ACTION, writes  done.json  (CPython's own numbers)
  waits for  exit , then exits 0.
ACTION:
  idle          nothing
  gc K          gc.disable(), then exactly K gc.collect() calls; done.json has
                gc.get_stats() before and after (3.15: with candidates and
                duration), get_threshold() and isenabled()
  touch MIB     a bytearray of MIB MiB with every page written
  remap         mmap 10 MiB, mremap it to 30 MiB then to 5 MiB, munmap it
  fork K        gc.disable(); os.fork() without exec (as gunicorn and
                multiprocessing do); the child makes exactly K gc.collect()
                calls and writes done.json (with "child_pid"); parent and
                child both wait for exit
  allocs N      two steps: at go0 makes N bytes objects of 370 bytes (pymalloc
                size class 25) and N/2 of 450 bytes (class 30), writes
                done0.json with those counts; at go1 frees them all and
                writes done1.json
  sites_live MB after go: sites_big.big_alloc makes 9*MB MiB and frees it
                all, then sites_small.small_alloc makes MB MiB and keeps it;
                done.json as for sites
  http_leak N   after go: N requests to a threaded http.server JSON service
                (http_leak.py) that keeps one record a request behind heavier
                per-request churn; done.json has the leak line and
                tracemalloc's top line (on from the start)
  types N       after go: keeps N Rec objects (a class with a __dict__),
                N/2 Pt objects (__slots__) and N floats in lists; done.json
                has the counts of each type, from gc.get_objects() for the
                tracked ones and the lists for the floats
  leak S        after go: keeps 1456 more bytes(100) objects (~200 KiB of
                144-byte blocks) every 0.1 s for S seconds, then writes
                done.json and idles
  sites MB      after go: keeps MB MiB of bytes(100) objects (144-byte
                blocks), 9/10 made by sites_big.big_alloc and 1/10 by
                sites_small.small_alloc, interleaved; done.json has each
                one's bytes and SITE line and file
  sites_threads MB  after go: two threads keep MB/2 MiB each, one in
                sites_small.thread_one, one in thread_two; done.json as above
  sites_reuse   at go0 makes 40 functions ghost_I at run time (file
                "<ghost>"), each keeping ~200 KB; at go1 deletes them (their
                code objects freed) and makes 40 named real_I (file
                "<real>") keeping ~1 MB each; done0/done1.json
  sites_mmaps N after go: N functions made at run time, mm_0..mm_N-1 (file
                "<mm>", line 3), each keeping one private anonymous 256 KiB
                mmap (malloc-growth events, N distinct stacks), then
                shared_maps keeps 50 shared anonymous ones (never sampled);
                done.json "sites": {private, private_bytes, shared, seconds}
  sites_fork MB after go: os.fork() without exec; the child writes
                child.json {"pid"}, waits for go1, then does what "sites MB"
                does and writes done.json (with "child_pid"); both wait for
                exit
  grow_twice MB at go0 keeps MB MiB of bytes(100) objects at once, writes
                done0.json; at go1 keeps 2*MB MiB more, 4 MiB every ~35 ms
                (a steady growth of ~100 MiB/s), writes done1.json; both
                {"bytes"}: the bytes in 144-byte blocks kept so far
  plateaus K    K steps: waits for goI, grows its heap (objects, strings,
                tuples, dicts of several size classes), writes doneI.json
                with CPython's own truth: sys.getallocatedblocks() and
                sys._debugmallocstats()'s current and total arenas, the
                arena size and "bytes in allocated blocks"; stays still
                until the next goI
"""
import gc
import json
import mmap
import os
import platform
import sys
import time


def put(ctl, name, obj):
    tmp = os.path.join(ctl, name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.rename(tmp, os.path.join(ctl, name))


def wait_for(ctl, name, timeout=120.0):
    path = os.path.join(ctl, name)
    end = time.time() + timeout
    while not os.path.exists(path):
        if time.time() > end:
            sys.exit("workload: timed out waiting for " + name)
        time.sleep(0.01)


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return None


def mallocstats():
    """(arenas allocated current, bytes in allocated blocks) as CPython
    prints them to fd 2 in sys._debugmallocstats()."""
    import re
    import tempfile
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode()
    arenas = re.search(r"# arenas allocated current\s*=\s*([\d,]+)", text)
    total = re.search(r"# arenas allocated total\s*=\s*([\d,]+)", text)
    live = re.search(r"# bytes in allocated blocks\s*=\s*([\d,]+)", text)
    size = re.search(r"\d+ arenas \* (\d+) bytes/arena", text)
    return (int(arenas.group(1).replace(",", "")), int(live.group(1).replace(",", "")),
            int(total.group(1).replace(",", "")), int(size.group(1)))


def plateaus(ctl, steps, keep):
    for i in range(steps):
        wait_for(ctl, "go%d" % i)
        n = 60000 * (i + 1)
        keep.append([object() for _ in range(n)])
        keep.append(["s%08d" % j for j in range(n // 2)])
        keep.append([(j, j + 1, j + 2) for j in range(n // 3)])
        keep.append([{"k": j} for j in range(n // 6)])
        # Writing the truth allocates too, and can take one more arena (3.9+
        # keeps one empty arena for reuse): measure again after writing until
        # the arena counts the file holds are the ones the heap has.
        for _ in range(20):
            arenas, live, total, size = mallocstats()
            blocks = sys.getallocatedblocks()
            put(ctl, "done%d.tmpjson" % i, {"arenas": arenas, "live_bytes": live,
                                            "allocated_blocks": blocks,
                                            "arenas_total": total, "arena_size": size})
            if mallocstats()[:3:2] == (arenas, total):
                break
        os.rename(os.path.join(ctl, "done%d.tmpjson" % i),
                  os.path.join(ctl, "done%d.json" % i))


# Request sizes: sys.getsizeof(bytes(n)) is n + 33 on 3.8-3.13.
ALLOC_CLASSES = {25: 370, 30: 450}


def put_quiet(path, data):
    """Write prepared bytes with as few allocations as possible: the
    allocs step must not allocate anything else in its size classes."""
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    os.close(fd)
    os.rename(path + ".tmp", path)


def wait_quiet(path):
    while not os.path.exists(path):
        time.sleep(0.01)


def allocs(ctl, n):
    counts = {25: n, 30: n // 2}
    go0, go1 = os.path.join(ctl, "go0"), os.path.join(ctl, "go1")
    done0, done1 = os.path.join(ctl, "done0.json"), os.path.join(ctl, "done1.json")
    msg0 = json.dumps({"classes": {str(c): k for c, k in counts.items()},
                       "sizes": [sys.getsizeof(bytes(ALLOC_CLASSES[c])) for c in counts]}).encode()
    msg1 = b'{"freed": true}'
    a = b = None
    wait_quiet(go0)
    a = [bytes(370) for _ in range(counts[25])]
    b = [bytes(450) for _ in range(counts[30])]
    put_quiet(done0, msg0)
    wait_quiet(go1)
    a = b = None
    put_quiet(done1, msg1)


BLOCK = 144  # bytes(100): 133 bytes requested, a 144-byte pymalloc block


def site_line(module, tag):
    with open(module.__file__) as f:
        for no, text in enumerate(f, 1):
            if text.rstrip().endswith("# SITE " + tag):
                return no
    raise SystemExit("workload: no SITE " + tag)


def site_truth(module, tag, count):
    return {"file": module.__file__, "line": site_line(module, tag), "bytes": count * BLOCK,
            "objects": count}


def sites(ctl, mib, keep):
    import sites_big
    import sites_small
    rounds = (mib << 20) // (BLOCK * 1000)
    for _ in range(rounds):
        sites_big.big_alloc(keep, 900)
        sites_small.small_alloc(keep, 100)
    return {"big": site_truth(sites_big, "big", rounds * 900),
            "small": site_truth(sites_small, "small", rounds * 100)}


def sites_live(ctl, mib, keep):
    """sites_big.big_alloc makes 9 * MIB MiB and drops it all (its arenas
    go back to the system), then sites_small.small_alloc makes MIB MiB and
    keeps it: by flow big is first, by what stays alive small."""
    import sites_big
    import sites_small
    rounds = (mib << 20) // (BLOCK * 1000)
    tmp = []
    for _ in range(9 * rounds):
        sites_big.big_alloc(tmp, 1000)
    del tmp[:]
    for _ in range(rounds):
        sites_small.small_alloc(keep, 1000)
    return {"big": site_truth(sites_big, "big", 9 * rounds * 1000),
            "small": site_truth(sites_small, "small", rounds * 1000)}


def http_leak(ctl, n, keep):
    """n requests to a threaded http.server JSON service that leaks one
    record each (http_leak.py); tracemalloc, on from the start, says which
    line holds the most memory when they are done."""
    import tracemalloc
    import http_leak as hl
    tracemalloc.start()
    hl.serve_and_load(n)
    top = tracemalloc.take_snapshot().statistics("lineno")[0]
    frame = top.traceback[0]
    return {"leak": {"file": hl.__file__, "line": site_line(hl, "leak")},
            "tracemalloc": {"file": frame.filename, "line": frame.lineno, "bytes": top.size}}


def sites_threads(ctl, mib, keep):
    import threading
    import sites_small
    n = (mib << 20) // BLOCK // 2
    a, b = [], []
    keep += [a, b]
    ts = [threading.Thread(target=sites_small.thread_one, args=(a, n)),
          threading.Thread(target=sites_small.thread_two, args=(b, n))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return {"thread_one": site_truth(sites_small, "thread_one", n),
            "thread_two": site_truth(sites_small, "thread_two", n)}


def sites_reuse(ctl, keep):
    """Functions made at run time stay alive until the test has seen them
    named (pymemtop names frames after the fact, from the live code
    objects); then they are freed and others take their memory."""
    import sites_big
    wait_for(ctl, "go0")
    alive = []
    for i in range(40):
        ns = {}
        exec(compile(sites_big.ghost_source(i), "<ghost>", "exec"), ns)
        ns["ghost_%d" % i](keep)
        alive.append(ns)
    put(ctl, "done0.json", {"ghost_bytes": 40 * 1400 * BLOCK})
    wait_for(ctl, "go1")
    del alive[:]
    gc.collect()
    for i in range(40):
        ns = {}
        src = sites_big.ghost_source(i).replace("ghost_", "real_").replace("1400", "7000")
        exec(compile(src, "<real>", "exec"), ns)
        ns["real_%d" % i](keep)
        alive.append(ns)
    put(ctl, "done1.json", {"real_bytes": 40 * 7000 * BLOCK})

MM_SIZE = 256 << 10


def shared_maps(keep, n):
    for _ in range(n):
        keep.append(mmap.mmap(-1, MM_SIZE))  # MAP_SHARED: not malloc growth


def sites_mmaps(ctl, n, keep):
    """The functions are kept alive (pymemtop names frames after the fact,
    from the live code objects)."""
    t0 = time.time()
    for i in range(n):
        ns = {"mmap": mmap}
        exec(compile("\ndef mm_%d(keep):\n"
                     "    keep.append(mmap.mmap(-1, %d, flags=mmap.MAP_PRIVATE))\n"
                     % (i, MM_SIZE), "<mm>", "exec"), ns)
        ns["mm_%d" % i](keep)
        keep.append(ns)
    shared_maps(keep, 50)
    return {"private": n, "private_bytes": n * MM_SIZE, "shared": 50,
            "seconds": time.time() - t0}


class Rec:
    def __init__(self, i):
        self.i = i
        self.tag = "rec"


class Pt:
    __slots__ = ("x", "y")

    def __init__(self, x):
        self.x = x
        self.y = x


def types(n):
    return ([Rec(i) for i in range(n)], [Pt(i) for i in range(n // 2)],
            [float(i) + 0.5 for i in range(n)])


def type_census(keep):
    objs = gc.get_objects()
    return {"Rec": sum(type(o) is Rec for o in objs), "Pt": sum(type(o) is Pt for o in objs),
            "float": sum(type(x) is float for x in keep[2])}


def main():
    ctl, action = sys.argv[1], sys.argv[2]
    arg = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    if action in ("gc", "fork"):
        gc.disable()
    keep = None
    if action == "http_leak":
        # a service's modules are loaded long before its requests: what
        # pymemtop and tracemalloc compare is what the requests leave
        import http_leak as _service  # noqa: F401
    put(ctl, "ready.json", {"pid": os.getpid(), "version": platform.python_version()})
    if action == "allocs":
        allocs(ctl, arg)
        wait_for(ctl, "exit")
        return
    if action == "plateaus":
        keep = []
        plateaus(ctl, arg, keep)
        wait_for(ctl, "exit")
        return
    if action == "grow_twice":
        keep = []
        n = (arg << 20) // BLOCK
        chunk = (4 << 20) // BLOCK
        wait_for(ctl, "go0")
        keep.append([bytes(100) for _ in range(n)])
        put(ctl, "done0.json", {"bytes": n * BLOCK})
        wait_for(ctl, "go1")
        for _ in range(2 * n // chunk):
            keep.append([bytes(100) for _ in range(chunk)])
            time.sleep(0.03)
        put(ctl, "done1.json", {"bytes": (n + 2 * n // chunk * chunk) * BLOCK})
        wait_for(ctl, "exit")
        return
    if action == "sites_fork":
        wait_for(ctl, "go")
        child = os.fork()
        if child:
            wait_for(ctl, "exit")
            os.waitpid(child, 0)
            return
        put(ctl, "child.json", {"pid": os.getpid()})
        wait_for(ctl, "go1")
        keep = []
        put(ctl, "done.json", {"child_pid": os.getpid(), "sites": sites(ctl, arg, keep)})
        wait_for(ctl, "exit")
        os._exit(0)
    if action == "sites_reuse":
        keep = []
        sites_reuse(ctl, keep)
        wait_for(ctl, "exit")
        return
    if action == "types_grow":
        keep = [types(arg)]
        put(ctl, "done0.json", type_census(keep[0]))
        wait_for(ctl, "go1")
        keep.append([Rec(i) for i in range(arg // 2)])
        put(ctl, "done1.json", type_census(keep[0]))
        wait_for(ctl, "exit")
        return
    truth = None
    wait_for(ctl, "go")
    before = [s["collections"] for s in gc.get_stats()]
    stats_before = gc.get_stats()
    if action == "gc":
        for _ in range(arg):
            gc.collect()
    elif action == "touch":
        keep = bytearray(arg << 20)
        for i in range(0, len(keep), 4096):
            keep[i] = 1
    elif action == "types":
        keep = types(arg)
        truth = type_census(keep)
    elif action == "leak":
        keep = []
        end = time.time() + arg
        while time.time() < end:
            keep.append([bytes(100) for _ in range(1456)])
            time.sleep(0.1)
    elif action in ("sites", "sites_threads", "sites_live", "http_leak"):
        keep = []
        truth = {"sites": sites, "sites_threads": sites_threads,
                 "sites_live": sites_live, "http_leak": http_leak}[action](ctl, arg, keep)
    elif action == "sites_mmaps":
        keep = []
        truth = sites_mmaps(ctl, arg, keep)
    elif action == "remap":
        m = mmap.mmap(-1, 10 << 20)
        m.resize(30 << 20)
        m.resize(5 << 20)
        m.close()
    elif action == "fork":
        child = os.fork()
        if child:
            wait_for(ctl, "exit")
            os.waitpid(child, 0)
            return
        before = [s["collections"] for s in gc.get_stats()]
        stats_before = gc.get_stats()
        for _ in range(arg):
            gc.collect()
    after = [s["collections"] for s in gc.get_stats()]
    put(ctl, "done.json", {"gc_before": before, "gc_after": after, "rss_bytes": rss_bytes(),
                           "stats_before": stats_before, "stats_after": gc.get_stats(),
                           "threshold": gc.get_threshold(), "enabled": gc.isenabled(),
                           "child_pid": os.getpid() if action == "fork" else None,
                           "sites": truth})
    wait_for(ctl, "exit")
    del keep
    if action == "fork":
        os._exit(0)


if __name__ == "__main__":
    main()
