#!/usr/bin/env python3
"""pymemtop root integration tests, run by pytest.

Loads the real BPF programs (by running ./pymemtop) and checks its numbers
against real Python workloads' own ground truth (gc.get_stats(), /proc,
sys._debugmallocstats()) on every interpreter of the test matrix
(harness.interpreters(): Debian's python3.11, pyenv 3.8-3.13, the
3.13-3.15 builds of the Debian roots, gdb embedding libpython3.14). The
tests are the test_* functions of this folder's test_*.py modules
(conftest.py runs the per-interpreter ones once per interpreter); pytest
is Debian's python3-pytest, under Debian's python3.

Usage: tests/integration/run.py [-k EXPRESSION] [other pytest options]
  e.g. -k pyenv-3.12, -k "heap and sid"
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"  # where Debian's pytest is

if __name__ == "__main__":
    os.execv(PY, [PY, "-m", "pytest", HERE, "-v", "-rfs", "-p", "no:cacheprovider",
                  "--tb=short", "-o", "console_output_style=classic", *sys.argv[1:]])
