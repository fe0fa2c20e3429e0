"""Shared pytest set-up of the exporter's tests: where the golden fixtures are.

The folder is `$ODSORA_GOLDEN` when set, else `shared/golden` inside the repository when there is one, else
`../shared/golden` beside it (the same rule as the Deno tests' `goldenDir()` in tests/_bundles.ts).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def golden_dir() -> Path:
    """The golden fixture folder by the rule above (not checked to exist)."""
    env = os.environ.get("ODSORA_GOLDEN")
    if env:
        return Path(env)
    inside = ROOT / "shared" / "golden"
    return inside if inside.is_dir() else ROOT.parent / "shared" / "golden"


@pytest.fixture(scope="session")
def golden() -> Path:
    """The golden fixture folder; a test that needs it fails (not skips) when it is missing."""
    d = golden_dir()
    if not (d / "stdit3_forward" / "config.json").is_file():
        pytest.fail(f"Cannot find the golden fixtures: '{d}' holds no stdit3_forward/config.json "
                    "(set ODSORA_GOLDEN to the folder)", pytrace=False)
    return d
