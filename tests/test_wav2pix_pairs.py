"""Wav2Pix pairs from real clips: the split by time, windows near their frame, crops,
determinism and resume after a kill."""

from __future__ import annotations

import numpy as np
import pytest

from speech2face import audio, integrity
from speech2face.dataset.shards import encode_audio
from speech2face.dataset.sources import Clip
from speech2face.dataset.splits import apply_split_mode
from speech2face.errors import UserError
from speech2face.wav2pix import pair_shards, pairs
from speech2face.wav2pix.config import PairConfig
from speech2face.wav2pix.pair_reader import PairBatches, PairDataset

pytestmark = pytest.mark.slow


def test_seen_split_and_windows(wav2pix_pairs):
    ds = wav2pix_pairs
    assert set(ds.splits()) == {"train", "test_seen"}
    assert ds.identities("train") == ds.identities("test_seen")  # every identity on both sides
    assert len(ds.identities("train")) == 5
    train, test = ds.load("train"), ds.load("test_seen")
    for data in (train, test):
        assert data["face"].shape[1:] == (64, 64, 3) and data["face"].dtype == np.uint8
        assert data["audio"].shape[1] == 16000 and data["audio"].dtype == np.int16
        t_face = data["time"][data["pair_face"]]
        assert np.all(np.abs(data["audio_start"] + 0.5 - t_face) <= 4.5)  # within ±4 s
    # no audio shared between train and test: held-out windows start after every train one
    for clip in set(test["clip"]):
        tr = train["audio_start"][train["clip"][train["pair_face"]] == clip]
        te = test["audio_start"][test["clip"][test["pair_face"]] == clip]
        assert tr.max() + 1.0 <= te.min() + 1e-3, clip
    # a pair's audio is the clip's audio at its start (the sidecar wav for a silent video)
    row = int(np.flatnonzero(train["clip"][train["pair_face"]] == train["clip"][-1])[0])
    clip = train["clip"][train["pair_face"][row]]
    source = audio.find_sidecar(clip) or clip
    wave = audio.load_audio(source)
    a = int(round(train["audio_start"][row] * 16000))
    expected = encode_audio(wave[a : a + 16000]).astype(float)
    assert np.abs(train["audio"][row].astype(float) - expected).max() <= 1.0
    # the factor: five windows per face unless a window was silent
    counts = np.bincount(train["pair_face"], minlength=len(train["face"]))
    assert counts.max() == 5 and np.mean(counts == 5) > 0.8


def test_crops_are_rgb_faces(wav2pix_pairs):
    import cv2
    import h5py

    from speech2face import faces, video

    with h5py.File(wav2pix_pairs.shards[0], "r") as f:
        face, box, when = f["face"][0], f["face_box"][0], f["face_time"][0]
        clip = f["face_clip"][0].decode()
    ((_, frame),) = video.read_frames(clip, [when])  # RGB from PyAV
    np.testing.assert_array_equal(face, pairs.square_crop(frame, tuple(box), 1.4, 64))
    assert not np.array_equal(face, face[..., ::-1])
    big = cv2.resize(face, (224, 224), interpolation=cv2.INTER_CUBIC)
    assert faces.detect_faces(big), "the crop holds a detectable face"


def test_preprocessed_batches_are_pure_in_step(wav2pix_pairs):
    data = wav2pix_pairs.load("train")
    ids = wav2pix_pairs.identities("train")
    batches = PairBatches(data, ids, 4, 64, seed=3)
    a, b = batches(7), PairBatches(data, ids, 4, 64, seed=3)(7)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert a["audio"].dtype == np.float32 and np.abs(a["audio"]).max() <= 1.96
    assert a["real"].min() >= -1 and a["real"].max() <= 1
    faces_of = {
        tuple(f.ravel()[:64]): lab for f, lab in zip(batches.faces, batches.face_label, strict=True)
    }
    for wrong, label in zip(a["wrong"], a["label"], strict=True):
        assert faces_of[tuple(wrong.ravel()[:64])] != label  # a face of another identity
    assert not np.array_equal(batches(8)["audio"], a["audio"])


def test_rebuild_identical_and_resume(data_dir, tmp_path, monkeypatch):
    clip = Clip(str(data_dir / "av/grid_spk_lbbc2a/lbbc2a.mpg"), "lbbc2a", split="train")
    again = Clip(clip.media, "again", split="test")
    clips = apply_split_mode([clip, again], "seen", 0.3, window=1.0)
    config = PairConfig(image_size=64, frames_per_second=1.0)
    first = pair_shards.build_pairs(clips, tmp_path / "a", config, clips_per_shard=1)
    assert first["counts"]["train"]["pairs"] > 0 and first["counts"]["test_seen"]["pairs"] > 0
    # a run killed after its first shard: the next run builds only the missing ones
    real = pair_shards._build_shard
    calls = []

    def dies_after_one(path, group, cfg):
        if calls:
            raise KeyboardInterrupt
        calls.append(path)
        return real(path, group, cfg)

    monkeypatch.setattr(pair_shards, "_build_shard", dies_after_one)
    with pytest.raises(KeyboardInterrupt):
        pair_shards.build_pairs(clips, tmp_path / "b", config, clips_per_shard=1)
    monkeypatch.setattr(pair_shards, "_build_shard", real)
    built = []
    monkeypatch.setattr(
        pair_shards, "_build_shard", lambda p, g, c: built.append(p) or real(p, g, c)
    )
    second = pair_shards.build_pairs(clips, tmp_path / "b", config, clips_per_shard=1)
    assert len(built) == len(clips) - 1
    assert len(first["shards"]) == len(clips) and second["counts"] == first["counts"]
    for shard in second["shards"]:  # every shard recorded with the sha256 of its bytes
        assert shard["sha256"] == integrity.sha256(tmp_path / "b" / shard["file"])
    a, b = PairDataset(tmp_path / "a").load(), PairDataset(tmp_path / "b").load()
    for k in ("face", "audio", "audio_start", "pair_face"):
        np.testing.assert_array_equal(a[k], b[k])
    with pytest.raises(UserError, match="other pair options"):
        pair_shards.build_pairs(
            clips, tmp_path / "b", PairConfig(image_size=128), clips_per_shard=1
        )


def test_bad_clip_is_logged_and_skipped(data_dir, tmp_path):
    good = Clip(str(data_dir / "av/grid_spk_lbbc2a/lbbc2a.mpg"), "lbbc2a", split="train")
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    m = pair_shards.build_pairs(
        [good, Clip(str(bad), "nobody", split="train")],
        tmp_path / "ds",
        PairConfig(image_size=64),
    )
    assert m["counts"]["train"]["identities"] == 1
    assert "broken.mp4" in (tmp_path / "ds" / "failures.csv").read_text()


def test_one_second_windows_survive_the_time_split(data_dir):
    """A 2.98 s GRID clip is cut on a whole second, leaving a 1 s window on each side."""
    clip = Clip(str(data_dir / "av/grid_spk_lbbc2a/lbbc2a.mpg"), "lbbc2a", split="train")
    train, held = apply_split_mode([clip], "seen", 0.3, window=1.0)
    assert (train.split, held.split) == ("train", "test_seen")
    assert train.end == held.start == pytest.approx(1.0) and held.end - held.start >= 1.0
