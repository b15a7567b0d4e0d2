"""`prepare --engine ray` on a two-node Ray cluster kept on this machine (ray.cluster_utils):
the same shards as the local engine, a killed driver resumes exactly, a dying worker node
loses nothing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from speech2face.cli import main
from speech2face.speech2face.data.reader import Dataset
from tests.helpers import under_ci, utkface_subset

NODE = {"object_store_memory": 80 * 2**20}  # the minimum: shards travel through files
CLIPS = 6


def _ray_cluster_utils():
    try:
        from ray import cluster_utils
    except ImportError:
        if under_ci():
            pytest.fail("ray is not installed (CI installs the [cluster] extra)")
        pytest.skip("ray is not installed: pip install 'speech2face[cluster]'")
    return cluster_utils


@pytest.fixture(scope="module")
def clips_dir(data_dir, tmp_path_factory):
    """Six real one-identity clips in the folder layout."""
    root = tmp_path_factory.mktemp("ray_clips")
    for clip in sorted((data_dir / "av").glob("vox2_*/*.mp4"))[:CLIPS]:
        (root / clip.parent.name).mkdir(exist_ok=True)
        shutil.copy(clip, root / clip.parent.name / clip.name)
    return root


ARGS = ["--clips-per-shard", "1", "--frames-per-segment", "2"]


@pytest.fixture(scope="module")
def reference(clips_dir, tmp_path_factory):
    """The dataset the local engine builds from the same clips, uninterrupted."""
    out = tmp_path_factory.mktemp("local")
    assert main(["prepare", str(clips_dir), "-o", str(out), *ARGS]) == 0
    return out


def _contents(root):
    """Every segment's identity, clip, start, int16 audio and feature, in a fixed order."""
    seg = Dataset(root).load(fields=("clip", "start", "identity", "audio", "feature"))
    order = np.lexsort((seg["start"], seg["clip"]))
    return {k: v[order] for k, v in seg.items()}


def _assert_same(root, reference):
    got, want = _contents(root), _contents(reference)
    assert len(want["clip"]) >= CLIPS
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


@pytest.fixture()
def cluster():
    """A head node without CPUs (it schedules nothing) and one worker node with one CPU."""
    cluster_utils = _ray_cluster_utils()
    c = cluster_utils.Cluster(
        initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False, **NODE}
    )
    c.add_node(num_cpus=1, **NODE)
    yield c
    c.shutdown()


def _driver(clips_dir, out, address):
    """`speech2face prepare --engine ray` as its own process (the driver of the Ray job)."""
    cmd = [sys.executable, "-m", "speech2face", "prepare", str(clips_dir), "-o", str(out)]
    cmd += [*ARGS, "--engine", "ray", "--address", address]
    return subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )


def _wait_for_shards(out, count, proc, timeout=240):
    deadline = time.time() + timeout
    while len(list((out / "shards").glob("*.h5"))) < count:
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.time() < deadline, "no shard written in time"
        time.sleep(0.05)


@pytest.mark.slow
def test_killed_driver_resumes_exactly(clips_dir, reference, cluster, tmp_path):
    out = tmp_path / "ray"
    proc = _driver(clips_dir, out, cluster.address)
    _wait_for_shards(out, 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p: p.stat().st_mtime_ns for p in (out / "shards").glob("*.h5")}
    assert 2 <= len(done) < CLIPS and not (out / "dataset.json").exists()
    proc = _driver(clips_dir, out, cluster.address)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()[-3000:]
    for p, mtime in done.items():
        assert p.stat().st_mtime_ns == mtime  # finished shards were not redone
    _assert_same(out, reference)  # none lost, none duplicated, same as the local engine
    assert not list((out / "shards").glob("*.tmp"))


@pytest.mark.slow
def test_dying_worker_node_loses_nothing(clips_dir, reference, cluster, tmp_path):
    out = tmp_path / "ray"
    proc = _driver(clips_dir, out, cluster.address)
    _wait_for_shards(out, 1, proc)
    assert len(list((out / "shards").glob("*.h5"))) < CLIPS  # work left for the doomed node
    (doomed,) = cluster.worker_nodes
    cluster.remove_node(doomed)  # its raylet and workers die, mid-task
    cluster.add_node(num_cpus=1, **NODE)  # Ray runs the lost tasks again there
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()[-3000:]
    _assert_same(out, reference)
    manifest = Dataset(out).manifest
    assert manifest["format"] == 2 and manifest["codecs"] == {"audio": "blosc", "face": "jpeg"}


def test_missing_ray_is_a_user_error(monkeypatch, clips_dir, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    code = main(["prepare", str(clips_dir), "-o", str(tmp_path / "x"), "--engine", "ray"])
    assert code != 0
    assert "speech2face[cluster]" in capsys.readouterr().err


@pytest.mark.slow
def test_prepare_faces_on_ray_equals_local(data_dir, cluster, tmp_path):
    """`prepare-faces --engine ray`: the faces of the local engine, shard for shard."""
    import csv

    from speech2face.speech2face.data import face_reader

    with open(data_dir / "utkface.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["age"]) >= 18][::2000][:6]
    source = utkface_subset(tmp_path, data_dir, rows)
    common = ["prepare-faces", str(source), "--shard-size", "2"]
    assert main([*common, "-o", str(tmp_path / "local")]) == 0
    ray_args = ["--engine", "ray", "--address", cluster.address]
    assert main([*common, "-o", str(tmp_path / "ray"), *ray_args]) == 0
    fields = ("feature", "landmarks", "file", "age")
    local = face_reader.read_faces(tmp_path / "local", None, fields=fields)
    remote = face_reader.read_faces(tmp_path / "ray", None, fields=fields)
    assert len(local["file"]) >= 5
    for name in fields:
        np.testing.assert_array_equal(local[name], remote[name], err_msg=name)
