"""Allocation-site workload (wl.py sites): the heavy allocator.

big_alloc keeps 9 objects for each one sites_small.small_alloc keeps; the
lines marked SITE are where pymemtop must place them.
"""


def big_alloc(keep, n):
    for _ in range(n):
        keep.append(bytes(100))  # SITE big


def ghost_source(i):
    """A function made at run time (wl.py sites_reuse), named per phase."""
    return ("def ghost_%d(keep):\n"
            "    for _ in range(1400):\n"
            "        keep.append(bytes(100))\n" % i)
