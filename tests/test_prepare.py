"""`prepare` on the real clips: dataset content, bad clips, kill-and-resume, sources."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from speech2face import audio
from speech2face.cli import main
from speech2face.dataset.sources import folder, voxceleb
from speech2face.speech2face.data.batches import SegmentBatches
from speech2face.speech2face.data.reader import Dataset


@pytest.fixture(scope="module")
def dataset(prepared):
    return prepared


@pytest.mark.slow
def test_every_identity_has_segments(dataset, data_dir):
    with open(data_dir / "manifest.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "talking_face"]
    expected = {r["identity"]: r["split"] for r in rows}
    assert len(expected) == 27
    ids = dataset.manifest["identities"]
    assert set(ids) == set(expected)
    for ident, split in expected.items():
        assert ids[ident]["split"] == split and ids[ident]["segments"] >= 1
    assert set(dataset.identities("train")).isdisjoint(dataset.identities("test"))
    assert dataset.manifest["feature_dim"] == 128 and dataset.face_encoder == "dlib"


@pytest.mark.slow
def test_segments_content(dataset):
    seg = dataset.load("test")
    n = len(seg["identity"])
    assert n >= 9
    assert seg["audio"].shape == (n, audio.N_SAMPLES) and seg["audio"].dtype == np.int16
    assert seg["face"].shape == (n, 224, 224, 3) and seg["face"].dtype == np.uint8
    assert seg["landmarks"].shape == (n, 68, 2) and seg["feature"].shape == (n, 128)
    assert np.all(seg["end"] > seg["start"])
    # features of one identity are closer to each other than to other identities (dlib 0.6)
    feats, ids = seg["feature"], seg["identity"]
    d = np.linalg.norm(feats[:, None] - feats[None], axis=-1)
    same = ids[:, None] == ids[None]
    np.fill_diagonal(same, False)
    assert d[same].mean() < 0.6 < d[~same & ~np.eye(n, dtype=bool)].mean()
    # audio is the clip's speech: not silent, not clipped
    assert np.all(np.sqrt(np.mean((seg["audio"] / 32767.0) ** 2, axis=1)) > 0.003)


@pytest.mark.slow
def test_long_clip_cut_into_windows(dataset):
    seg = dataset.load("train", fields=("clip", "start", "end"))
    obama2 = sorted(
        s for c, s in zip(seg["clip"], seg["start"], strict=True) if c.endswith("Obama_clip2.mp4")
    )
    assert obama2 == [0.0, 6.0, 12.0, 18.0, 24.0]  # 30 s -> five 6 s windows


@pytest.mark.slow
def test_batches_are_shuffled_and_repeatable(dataset):
    batches = SegmentBatches(dataset, "train", batch_size=8, seed=3)
    assert len(batches) == len(dataset.index("train")) // 8
    b0 = batches[0]
    assert b0["audio"].shape == (8, 96000) and b0["audio"].dtype == np.float32
    assert b0["feature"].shape == (8, 128)
    again = SegmentBatches(dataset, "train", batch_size=8, seed=3)[0]
    np.testing.assert_array_equal(b0["feature"], again["feature"])
    batches.on_epoch_end()
    assert not np.array_equal(batches[0]["feature"], b0["feature"])


def _bad_tree(data_dir, root):
    good = root / "grid_a"
    good.mkdir(parents=True)
    shutil.copy(data_dir / "av/grid_s2/pwij3p.mpg", good / "pwij3p.mpg")
    bad = root / "broken"
    bad.mkdir()
    (bad / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(3000))
    silent = root / "nosound"
    silent.mkdir()
    shutil.copy(data_dir / "av/obama/Obama_clip1.mp4", silent / "quiet.mp4")  # no sidecar
    return root


def test_bad_clips_land_in_failures(data_dir, tmp_path, capsys):
    root = _bad_tree(data_dir, tmp_path / "clips")
    out = tmp_path / "ds"
    assert main(["prepare", str(root), "-o", str(out), "--clips-per-shard", "1"]) == 0
    with open(out / "failures.csv") as f:
        rows = list(csv.DictReader(f))
    reasons = {Path(r["clip"].split("#")[0]).name: r["reason"] for r in rows}
    assert "corrupt.mp4" in reasons and "cannot decode" in reasons["corrupt.mp4"]
    assert "no audio stream" in reasons["quiet.mp4"]
    assert Dataset(out).manifest["identities"]["grid_a"]["segments"] == 1
    assert "rejections by stage: read: 2" in capsys.readouterr().out


def _segment_keys(out):
    seg = Dataset(out).load(fields=("clip", "start"))
    return sorted(zip(seg["clip"], seg["start"], strict=True))


@pytest.mark.slow
def test_kill_and_resume(data_dir, tmp_path):
    clips = sorted((data_dir / "av").glob("vox2_*/*.mp4"))[:6]
    root = tmp_path / "clips"
    for c in clips:
        (root / c.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(c, root / c.parent.name / c.name)
    args = ["prepare", str(root), "--clips-per-shard", "1", "--frames-per-segment", "2"]
    assert main([*args, "-o", str(tmp_path / "whole")]) == 0
    expected = _segment_keys(tmp_path / "whole")

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "speech2face", *args, "-o", str(out)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "shards").glob("*.h5"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p: p.stat().st_mtime_ns for p in (out / "shards").glob("*.h5")}
    assert 2 <= len(done) < 6 and not (out / "dataset.json").exists()
    assert main([*args, "-o", str(out)]) == 0
    for p, mtime in done.items():
        assert p.stat().st_mtime_ns == mtime  # finished shards were not redone
    assert len(expected) >= 6
    assert _segment_keys(out) == expected  # none lost, none duplicated


@pytest.mark.slow
def test_voxceleb_layouts(data_dir, tmp_path):
    side = tmp_path / "vox_side"
    d = side / "id00017" / "abcdefghijk"
    d.mkdir(parents=True)
    shutil.copy(data_dir / "av/obama/Obama_clip1.mp4", d / "00001.mp4")
    shutil.copy(data_dir / "av/obama/Obama_clip1.wav", d / "00001.wav")
    (d / "00002.wav").write_bytes(b"")  # audio without video: not a clip
    clips = voxceleb.voxceleb_clips(side)
    assert [(c.identity, Path(c.sidecar).name) for c in clips] == [("id00017", "00001.wav")]

    par = tmp_path / "vox_par"
    for tree, name, src in (
        ("aac", "00003.wav", "Obama_clip2.wav"),
        ("mp4", "00003.mp4", "Obama_clip2.mp4"),
    ):
        d = par / tree / "id00042" / "zyxwvutsrqp"
        d.mkdir(parents=True)
        shutil.copy(data_dir / "av/obama" / src, d / name)
    clips = voxceleb.voxceleb_clips(par)
    assert len(clips) == 1 and clips[0].media.endswith("mp4/id00042/zyxwvutsrqp/00003.mp4")
    out = tmp_path / "ds"
    assert (
        main(
            [
                "prepare",
                str(par),
                "--source",
                "voxceleb",
                "-o",
                str(out),
                "--frames-per-segment",
                "1",
            ]
        )
        == 0
    )
    assert Dataset(out).manifest["identities"]["id00042"]["segments"] == 5


def test_manifest_paths_stay_inside(tmp_path):
    csv_path = tmp_path / "manifest.csv"
    csv_path.write_text("path,kind,identity,split\n../../etc/passwd,talking_face,x,train\n")
    assert folder.manifest_clips(csv_path) == []  # the row is rejected, never read
    ((_, reason),) = folder.manifest_rows(csv_path)[1]
    assert "leaves the folder" in reason


@pytest.mark.slow
def test_manifest_json(dataset):
    m = json.loads((dataset.root / "dataset.json").read_text())
    assert m["audio"]["sample_rate"] == 16000 and m["audio"]["n_fft"] == 512
    assert sum(s["segments"] for s in m["shards"]) == len(dataset.index())
    assert all(len(s["sha256"]) == 64 for s in m["shards"])
    assert m["counts"]["train"]["identities"] == 18 and m["counts"]["test"]["identities"] == 9


def test_augmentation_is_a_seeded_shift_and_gain():
    from speech2face.speech2face.data.batches import MAX_GAIN_DB, augment_waveforms

    wave = np.random.default_rng(0).uniform(-0.1, 0.1, 96000).astype(np.float32)
    waves = np.stack([wave, wave * 0.5])
    a = augment_waveforms(waves, np.random.default_rng([3, 1, 7]))
    b = augment_waveforms(waves, np.random.default_rng([3, 1, 7]))
    np.testing.assert_array_equal(a, b)  # a pure function of the batch's seed
    assert a.shape == waves.shape and a.dtype == np.float32
    for row, src in zip(a, waves, strict=True):
        gain = np.abs(row).max() / np.abs(src).max()
        assert 10 ** (-MAX_GAIN_DB / 20) - 1e-3 <= gain <= 10 ** (MAX_GAIN_DB / 20) + 1e-3
        # the circular cross-correlation peaks at the shift; the row is that shift, scaled
        shift = int(np.argmax(np.fft.irfft(np.fft.rfft(row) * np.conj(np.fft.rfft(src)))))
        np.testing.assert_allclose(row, np.roll(src, shift) * gain, atol=1e-6)
    assert not np.allclose(a, augment_waveforms(waves, np.random.default_rng([3, 1, 8])))


@pytest.mark.slow
def test_convert_between_formats(dataset, tmp_path):
    from speech2face.speech2face.data.build import convert

    old = convert(dataset.root, tmp_path / "f1", shard_format=1)
    assert old["shards"][0]["format"] == 1 and old["counts"] == dataset.manifest["counts"]
    new = convert(tmp_path / "f1", tmp_path / "f2", face_codec="png")
    assert new["format"] == 2 and new["codecs"]["face"] == "png"
    a, b = dataset.load(), Dataset(tmp_path / "f2").load()
    for name in a:  # faces: the JPEG pixels of `dataset`, kept exactly through format 1 and PNG
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    size = {
        k: sum(p.stat().st_size for p in Dataset(r).shards)
        for k, r in (("f1", tmp_path / "f1"), ("jpeg", dataset.root))
    }
    assert size["jpeg"] < 0.5 * size["f1"]  # FLAC + JPEG: under half of format 1
