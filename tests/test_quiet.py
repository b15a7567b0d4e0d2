"""Commands print no TensorFlow C++ log lines (absl, oneDNN) unless -v (issue 22)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # two fresh interpreters importing TensorFlow

MARKERS = ("absl::InitializeLog", "oneDNN custom operations", "cpu_feature_guard")


def _stderr(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP")}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stderr


def test_tensorflow_import_is_quiet_after_install():
    quiet = _stderr(
        "from speech2face import quiet; quiet.install(); import keras; keras.ops.ones(1)"
    )
    assert not [m for m in MARKERS if m in quiet], quiet[-2000:]
    loud = _stderr("import keras; keras.ops.ones(1)")
    if not any(m in loud for m in MARKERS):
        pytest.skip("this TensorFlow build prints none of the lines at import")
    assert any(m in loud for m in MARKERS)  # what install() keeps away


def test_cli_is_quiet_unless_verbose(tmp_path):
    code = (
        "from speech2face.cli import main; import sys; "
        "sys.exit(main(['evaluate', '--data', '/nonexistent', '--model', '/x', '-o', '{out}']))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP")}
    out = subprocess.run(
        [sys.executable, "-c", code.format(out=tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("speech2face evaluate: error:")
    assert not [m for m in MARKERS if m in out.stderr], out.stderr[-2000:]


def test_library_loggers_keep_their_chatter_to_themselves():
    """TensorFlow's Python warnings (e.g. retracing) and matplotlib's INFO notes are not
    printed after install(); the project's own INFO lines are."""
    code = (
        "import logging; logging.basicConfig(level=logging.INFO); "
        "from speech2face import quiet; quiet.install(); import tensorflow as tf; "
        "tf.get_logger().warning('RETRACE-MARK'); "
        "logging.getLogger('matplotlib.category').info('MPL-MARK'); "
        "logging.getLogger('speech2face.x').info('OWN-MARK')"
    )
    out = _stderr(code)
    assert "OWN-MARK" in out and "RETRACE-MARK" not in out and "MPL-MARK" not in out, out
