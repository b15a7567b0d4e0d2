"""Shard formats (FLAC audio, JPEG/PNG faces; format 1 still read) and the streaming batches
(parallel readers, shuffle windows across shards, hosts): synthetic shards, no media."""

from __future__ import annotations

import json
import pickle

import h5py
import numpy as np
import pytest

from speech2face.dataset import shards
from speech2face.errors import UserError
from speech2face.speech2face.data.batches import SegmentBatches
from speech2face.speech2face.data.reader import Dataset

SAMPLES, SIZE, DIM = 1600, 32, 8


def _segments(n, rng, identity="a", split="train"):
    t = np.arange(SAMPLES) / 16000
    out = []
    for i in range(n):
        wave = 0.3 * np.sin(2 * np.pi * (120 + 40 * i) * t) + 0.01 * rng.standard_normal(SAMPLES)
        yy, xx = np.mgrid[:SIZE, :SIZE]
        face = np.stack([xx * 8, yy * 8, (xx + yy + 3 * i) * 4], -1).clip(0, 255)
        out.append(
            {
                "audio": shards.encode_audio(wave),
                "face": face.astype(np.uint8),
                "landmarks": rng.uniform(0, SIZE, (68, 2)).astype(np.float32),
                "feature": rng.standard_normal(DIM).astype(np.float32),
                "box": np.array([1, 2, 3, 4], np.float32),
                "start": 6.0 * i,
                "end": 6.0 * i + 6,
                "identity": identity,
                "split": split,
                "gender": "F",
                "clip": f"{identity}/{i}.mp4",
            }
        )
    return out


def _dataset(root, groups, face_codec="png", format1=(), audio_codec="blosc"):
    """A dataset folder whose shard k holds ``groups[k]`` (format 1 for k in format1)."""
    (root / shards.SHARD_DIR).mkdir(parents=True)
    infos = []
    for k, segs in enumerate(groups):
        path = shards.shard_path(root, k)
        clips = sorted({s["clip"] for s in segs})
        fmt = 1 if k in format1 else shards.FORMAT
        shards.write_shard(
            path, segs, clips, [], "dlib", DIM, SAMPLES, SIZE, face_codec, fmt, audio_codec
        )
        infos.append({"file": str(path.relative_to(root)), "segments": len(segs)})
    ids = {s["identity"]: {"split": s["split"], "segments": 1} for g in groups for s in g}
    manifest = {"format": 2, "face_encoder": "dlib", "feature_dim": DIM, "shards": infos}
    manifest |= {"identities": ids, "counts": {"train": {}}}
    (root / shards.MANIFEST).write_text(json.dumps(manifest))
    return Dataset(root)


@pytest.mark.parametrize("codec", shards.AUDIO_CODECS)
def test_audio_codecs_are_lossless_and_smaller(codec):
    rng = np.random.default_rng(0)
    wave = shards.encode_audio(np.sin(np.arange(96000) / 9.0) * 0.2 + rng.normal(0, 0.01, 96000))
    data = shards.audio_bytes(wave, codec)
    assert data.dtype == np.uint8 and data.nbytes < wave.nbytes * 0.8
    back = shards.audio_samples(data, codec)
    assert back.dtype == np.int16
    np.testing.assert_array_equal(back, wave)
    with pytest.raises(ValueError, match="codec"):
        shards.audio_bytes(wave, "mp3")


def test_face_codecs():
    face = _segments(1, np.random.default_rng(0))[0]["face"]
    np.testing.assert_array_equal(shards.image_pixels(shards.image_bytes(face, "png")), face)
    jpeg = shards.image_pixels(shards.image_bytes(face, "jpeg"))
    assert jpeg.shape == face.shape and np.abs(jpeg.astype(int) - face).mean() < 2.0
    with pytest.raises(ValueError, match="codec"):
        shards.image_bytes(face, "gif")
    with pytest.raises(ValueError, match="decodable"):
        shards.image_pixels(b"not an image")


def test_both_formats_read_the_same(tmp_path):
    rng = np.random.default_rng(1)
    segs = _segments(3, rng)
    old = _dataset(tmp_path / "old", [segs], format1=(0,))
    new = _dataset(tmp_path / "new", [segs], face_codec="png")
    flac = _dataset(tmp_path / "flac", [segs], face_codec="png", audio_codec="flac")
    a, b, c = old.load(), new.load(), flac.load()
    assert set(a) == set(b) == set(c)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
        np.testing.assert_array_equal(a[name], c[name], err_msg=name)
    assert a["audio"].dtype == np.int16 and a["audio"].shape == (3, SAMPLES)
    assert b["face"].shape == (3, SIZE, SIZE, 3) and b["face"].dtype == np.uint8
    assert shards.shard_info(new.shards[0])["format"] == 2
    assert shards.shard_info(old.shards[0])["format"] == 1
    with h5py.File(old.shards[0]) as f:  # the layout of format 1: plain arrays
        assert f["audio"].dtype == np.int16 and f["face"].shape == (3, SIZE, SIZE, 3)
    # rows in any order, repeated, across a format-1 and a format-2 shard of one dataset
    mixed = _dataset(tmp_path / "mixed", [segs, segs], format1=(0,))
    got = mixed.read([(1, 2), (0, 0), (1, 2), (0, 2)], ("audio", "clip"))
    assert list(got["clip"]) == ["a/2.mp4", "a/0.mp4", "a/2.mp4", "a/2.mp4"]
    np.testing.assert_array_equal(got["audio"][0], got["audio"][3])


def test_dataset_pickles_without_open_files(tmp_path):
    ds = _dataset(tmp_path / "d", [_segments(2, np.random.default_rng(2))])
    first = ds.read([(0, 1)], ("feature",))["feature"]
    assert ds._files  # a file stays open between reads
    copy = pickle.loads(pickle.dumps(ds))
    assert not copy._files
    np.testing.assert_array_equal(copy.read([(0, 1)], ("feature",))["feature"], first)


def _many_shards(tmp_path, shards_count=6, per_shard=5):
    rng = np.random.default_rng(3)
    groups = [_segments(per_shard, rng, identity=f"id{k}") for k in range(shards_count)]
    return _dataset(tmp_path / "many", groups, face_codec="jpeg")


def test_stream_equals_steps(tmp_path):
    ds = _many_shards(tmp_path)
    batches = SegmentBatches(ds, "train", batch_size=4, seed=5, augment=True)
    direct = [batches.step(g) for g in range(3, 11)]  # crosses an epoch (7 batches each)
    for workers in (0, 2):
        streamed = list(batches.stream(3, 11, workers=workers, prefetch=3))
        assert len(streamed) == len(direct)
        for x, y in zip(streamed, direct, strict=True):
            np.testing.assert_array_equal(x["audio"], y["audio"])
            np.testing.assert_array_equal(x["feature"], y["feature"])


def test_small_datasets_keep_the_permutation_of_seed_plus_epoch(tmp_path):
    ds = _many_shards(tmp_path)
    batches = SegmentBatches(ds, "train", batch_size=4, seed=5)
    perm = np.random.default_rng(5 + 2).permutation(30)
    assert batches.order(2) == [batches.rows[i] for i in perm]


def test_shuffle_windows_across_shards(tmp_path):
    ds = _many_shards(tmp_path)  # 6 shards of 5 segments
    batches = SegmentBatches(ds, "train", batch_size=5, seed=1, shuffle_shards=2)
    for epoch in (0, 1):
        order = batches.order(epoch)
        assert sorted(order) == sorted(batches.rows)  # every segment once per epoch
        windows = [order[w : w + 10] for w in range(0, 30, 10)]
        assert all(len({s for s, _ in w}) == 2 for w in windows)  # 2 shards per window
        assert any(w != sorted(w) for w in windows)  # segments mixed inside the window
    assert batches.order(0) != batches.order(1)
    again = SegmentBatches(ds, "train", batch_size=5, seed=1, shuffle_shards=2)
    assert again.order(1) == batches.order(1)


def test_hosts_split_each_global_batch(tmp_path):
    ds = _many_shards(tmp_path)
    one = SegmentBatches(ds, "train", batch_size=6, seed=2)
    hosts = [
        SegmentBatches(ds, "train", batch_size=3, seed=2, process_index=p, process_count=2)
        for p in (0, 1)
    ]
    assert len(hosts[0]) == len(one) == 5
    for epoch in (0, 1):
        for i in range(len(one)):
            parts = [h.batch_rows(epoch, i) for h in hosts]
            assert not set(parts[0]) & set(parts[1])
            assert parts[0] + parts[1] == one.batch_rows(epoch, i)
    with pytest.raises(UserError, match="process index"):
        SegmentBatches(ds, "train", batch_size=3, process_index=2, process_count=2)
    with pytest.raises(UserError, match="global batch"):
        SegmentBatches(ds, "train", batch_size=20, process_count=2)
