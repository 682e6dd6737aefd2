"""The quoter runs from a plain install: its modules import with Dagster, Great Expectations and matplotlib
blocked (a ``sys.meta_path`` finder that refuses them, in a fresh interpreter so nothing is already loaded).

``lint-imports`` checks the same boundary statically (pyproject.toml's contracts); this test checks it at run
time, where a lazy import inside a function or a plugin entry point would also show.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BLOCKED = ("dagster", "great_expectations", "matplotlib")
QUOTER_PACKAGES = ("quoting.core", "quoting.runtime", "quoting.capture")
"""Every module of these is imported: the pure core, the quoter process and the recorder."""
QUOTER_MODULES = ("quoting.cli.quote", "quoting.cli.main")
"""``smallfish quote`` and the command line that starts it."""

BLOCKER = textwrap.dedent(
    f"""
    import importlib.abc
    import sys

    BLOCKED = {BLOCKED!r}

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is blocked: the quoter must import without it")
            return None

    sys.meta_path.insert(0, Blocker())
    """
)


def run_blocked(body: str) -> subprocess.CompletedProcess[str]:
    """Run ``body`` in a fresh interpreter from the repository root with the blocked packages refused."""
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(body)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_quoter_imports_with_dagster_gx_and_matplotlib_blocked() -> None:
    result = run_blocked(
        f"""
        import importlib
        import pkgutil
        for package in {QUOTER_PACKAGES!r}:
            path = importlib.import_module(package).__path__
            for module in pkgutil.iter_modules(path, package + "."):
                importlib.import_module(module.name)
        for name in {QUOTER_MODULES!r}:
            importlib.import_module(name)
        from quoting.cli.main import main
        try:
            main(["quote", "--help"])
        except SystemExit as exc:
            assert exc.code == 0, exc.code
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not loaded, loaded
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("ok")


@pytest.mark.parametrize("module", ["validation.reporting.fit_figures", "assets.fits"])
def test_the_blocker_refuses_what_needs_a_blocked_package(module: str) -> None:
    """Control: the same finder does stop a module that needs matplotlib or Dagster, so the test above can fail."""
    result = run_blocked(f"import {module}")
    assert result.returncode != 0
    assert "is blocked: the quoter must import without it" in result.stderr
