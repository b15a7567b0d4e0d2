"""The models run and train on the JAX backend (what the GPU machines have), in a subprocess
running the checks of ``tests/jax_checks.py``."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHECKS = Path(__file__).with_name("jax_checks.py")


def _run_on_jax(check: str) -> None:
    """Run one check in a fresh interpreter with KERAS_BACKEND=jax."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    env = dict(os.environ, KERAS_BACKEND="jax")
    out = subprocess.run(
        [sys.executable, str(CHECKS), check], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"jax {check} ok" in out.stdout


def test_warp_on_jax():
    _run_on_jax("warp")


def test_models_train_on_jax():
    _run_on_jax("models")
