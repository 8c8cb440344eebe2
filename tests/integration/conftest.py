# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""pytest's view of the integration tests: every test_*.py of this folder,
run by pytest (tests/integration/run.py, make test). A test taking a
`python` argument runs once per interpreter of the matrix
(harness.interpreters()), named by it ("test_heap_accuracy[sid-3.14]"); an
interpreter the machine lacks is a SKIP with the reason, a Debian root
that is missing a FAIL (make roots builds it). Without root every test is
a SKIP. The last line is "integration: N passed, N failed, N skipped",
which tests/run-all.sh adds to the unit tests'."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import PYMEMTOP, interpreters  # noqa: E402


class Missing:
    """An interpreter of the matrix this machine does not have."""

    def __init__(self, why):
        self.why = why


def pytest_generate_tests(metafunc):
    if "python" in metafunc.fixturenames:
        found = interpreters()
        metafunc.parametrize("python", [p if p is not None else Missing(why)
                                        for _, p, why in found],
                             ids=[n for n, _, _ in found])


@pytest.fixture(autouse=True)
def _matrix_and_root(request):
    if os.geteuid() != 0:
        pytest.skip("needs root (BPF); run make test as root")
    if not os.access(PYMEMTOP, os.X_OK):
        pytest.fail(f"{PYMEMTOP} not built")
    py = request.node.callspec.params.get("python") if hasattr(request.node, "callspec") \
        else None
    if isinstance(py, Missing):
        if py.why.startswith("FAIL "):
            pytest.fail(py.why[5:])
        pytest.skip(py.why)


def pytest_terminal_summary(terminalreporter):
    st = terminalreporter.stats
    n = {k: len(st.get(k, [])) for k in ("passed", "failed", "skipped", "error")}
    terminalreporter.write_line(f"integration: {n['passed']} passed, "
                                f"{n['failed'] + n['error']} failed, {n['skipped']} skipped")
