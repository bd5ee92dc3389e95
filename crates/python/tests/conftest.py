"""Shared fixtures: the `ghosts` CLI binary (the reference the package must
match bit for bit) and the repository root.

Environment:
  GHOSTS_CLI            path of the `ghosts` binary (default: the workspace's
                        target/release/ghosts, or $CARGO_TARGET_DIR/release/ghosts).
  GHOSTS_REQUIRE_CLI=1  fail, instead of skip, the tests that need it (.ci/run).
  GHOSTS_REQUIRE_TORCH=1  fail, instead of skip, the PyTorch tests (.ci/run).
"""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _cli_path():
    explicit = os.environ.get("GHOSTS_CLI")
    if explicit:
        return Path(explicit)
    for target in (os.environ.get("CARGO_TARGET_DIR"), ROOT / "target"):
        if target:
            candidate = Path(target) / "release" / "ghosts"
            if candidate.is_file():
                return candidate
    return None


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def cli():
    path = _cli_path()
    if path is None or not path.is_file():
        message = (
            "the ghosts CLI is not built (cargo build --release -p ghosts, or set GHOSTS_CLI): "
            "no bit-for-bit comparison with it"
        )
        if os.environ.get("GHOSTS_REQUIRE_CLI") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def require_torch():
    """`torch`, or a skip (a failure under GHOSTS_REQUIRE_TORCH=1)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        message = "PyTorch is not installed (pip install torch): ghosts.torch untested"
        if os.environ.get("GHOSTS_REQUIRE_TORCH") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message, allow_module_level=True)
    return torch


def readme_python_blocks():
    """The ```python blocks of the README's "Python package" section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Python package\n", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0] for block in section.split("```python\n")[1:]]
