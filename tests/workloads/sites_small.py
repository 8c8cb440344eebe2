"""Allocation-site workload (wl.py sites): the light allocator, and the
two thread bodies of wl.py sites_threads."""


def small_alloc(keep, n):
    for _ in range(n):
        keep.append(bytes(100))  # SITE small


def thread_one(keep, n):
    for _ in range(n):
        keep.append(bytes(100))  # SITE thread_one


def thread_two(keep, n):
    for _ in range(n):
        keep.append(bytes(100))  # SITE thread_two
