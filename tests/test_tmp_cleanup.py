"""The suite's own upkeep: pytest's clean-up of the folders of old sessions survives a stale tree deeper
than Python's recursion limit (tests/conftest.py), as a run killed during the deep-tree tests of
tests/test_sitectl_upload.py leaves behind."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LEVELS = 1_200  # as tests/test_sitectl_upload.py: deeper than the default limit, 1,000


def test_a_stale_tree_deeper_than_the_recursion_limit_is_cleaned_up(tmp_path: Path) -> None:
    temproot = tmp_path / "temproot"
    sessions = temproot / f"pytest-of-{getpass.getuser()}"
    # Four earlier sessions: the next one is the fifth and keeps three (pytest's default), so it
    # removes the first, which a killed run left with its deep tree in it.
    for number in range(1, 5):
        (sessions / f"pytest-{number}").mkdir(parents=True)
    folder = sessions / "pytest-1"
    for _ in range(LEVELS):
        folder = folder / "a"
        folder.mkdir()
    # A session of one test, in a folder of its own: not above the deep tree, which it would collect.
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "test_probe.py").write_text("def test_probe(tmp_path):\n    assert tmp_path.is_dir()\n")
    (probe / "pytest.ini").write_text("[pytest]\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    try:
        session = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider"],
            cwd=probe,
            env={**environ, "PYTHONPATH": str(ROOT), "PYTEST_DEBUG_TEMPROOT": str(temproot)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert session.returncode == 0, session.stdout + session.stderr
        assert "RecursionError" not in session.stdout + session.stderr
        assert sorted(path.name for path in sessions.glob("pytest-[0-9]*")) == [
            "pytest-3",
            "pytest-4",
            "pytest-5",
        ]
    finally:
        # Whatever happened, nothing deep is left for the clean-up of this session's own folders.
        subprocess.run(["rm", "-rf", str(temproot)], check=True)
