"""The models run and train on the JAX backend (what the GPU machines have), in a subprocess
running the checks of ``tests/jax_checks.py``."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHECKS = Path(__file__).with_name("jax_checks.py")


def _run_on_jax(check: str, *args: str) -> None:
    """Run one check in a fresh interpreter with KERAS_BACKEND=jax."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    env = dict(os.environ, KERAS_BACKEND="jax")
    out = subprocess.run(
        [sys.executable, str(CHECKS), check, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"jax {check} ok" in out.stdout


def test_warp_on_jax():
    _run_on_jax("warp")


def test_models_train_on_jax():
    _run_on_jax("models")


def test_ge2e_on_jax(data_dir):
    _run_on_jax("ge2e", str(data_dir))


def test_two_hosts_train_on_jax(prepared, decoder_run, tmp_path):
    """Two JAX processes on this CPU (coordinator on 127.0.0.1) run `train --hosts`: each
    reads its own half of every global batch, both end with the same weights, host 0 writes
    the bundle."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "bundle"
    procs = []
    for host in (0, 1):
        env = dict(
            os.environ,
            KERAS_BACKEND="jax",
            KERAS_DISTRIBUTION_JOB_ADDRESSES=f"127.0.0.1:{port}",
            KERAS_DISTRIBUTION_NUM_PROCESSES="2",
            KERAS_DISTRIBUTION_PROCESS_ID=str(host),
        )
        cmd = [sys.executable, str(CHECKS), "hosts", str(prepared.root), str(decoder_run), str(out)]
        procs.append(
            subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    results = [p.communicate(timeout=600) for p in procs]
    for p, (_, stderr) in zip(procs, results, strict=True):
        assert p.returncode == 0, stderr[-3000:]
    lines = [
        dict(x.split(" ", 1) for x in o.splitlines() if x.startswith(("rows", "weights")))
        for o, _ in results
    ]
    assert "host 0 of 2, 2 a step" in results[0][0] and "host 1 of 2, 2 a step" in results[1][0]
    rows = [{tuple(r) for r in json.loads(x["rows"])} for x in lines]
    assert len(rows[0]) == len(rows[1]) == 2 and not rows[0] & rows[1]
    assert lines[0]["weights"] == lines[1]["weights"]  # gradients combined across hosts
    assert (out / "bundle.json").is_file()  # written by host 0 alone
