"""Split modes: unseen identities, and seen identities with held-out speech (no overlap)."""

from __future__ import annotations

import shutil
from collections import defaultdict

import pytest

from speech2face import api
from speech2face.dataset.sources import Clip
from speech2face.dataset.sources.folder import manifest_clips
from speech2face.dataset.splits import (
    TEST_SEEN,
    apply_split_mode,
    cut_point,
    holdout_speech,
)
from speech2face.speech2face.data.reader import Dataset


def test_cut_point_keeps_whole_windows():
    assert cut_point(3.0, 0.3) == pytest.approx(2.1)  # short: the exact fraction
    assert cut_point(11.0, 0.3) == pytest.approx(7.7)
    assert cut_point(12.0, 0.3) == 6.0  # one whole window each side
    assert cut_point(20.0, 0.3) == 12.0  # 14 s -> 12 s: 2 windows train, 1 test
    assert cut_point(30.0, 0.3) == 24.0  # 21 s -> the window boundary nearest, 6 s left
    for duration in (12.0, 20.0, 30.0, 61.0):
        cut = cut_point(duration, 0.3)
        assert cut % 6 == 0 and 6 <= cut <= duration - 6


def test_holdout_splits_every_clip_by_time(data_dir):
    clips = manifest_clips(data_dir / "manifest.csv")
    both = apply_split_mode(clips, "both", 0.3)
    by_identity = defaultdict(set)
    spans = defaultdict(list)
    for clip in both:
        by_identity[clip.identity].add(clip.split)
        spans[clip.media].append((clip.start, clip.end, clip.split))
    train_ids = {c.identity for c in clips if c.split == "train"}
    test_ids = {c.identity for c in clips if c.split == "test"}
    assert all(by_identity[i] == {"train", TEST_SEEN} for i in train_ids)
    assert all(by_identity[i] == {"test"} for i in test_ids)  # unseen identities stay whole
    for parts in spans.values():
        if len(parts) == 2:
            (a0, a1, sa), (b0, b1, sb) = sorted(parts)
            assert (sa, sb) == ("train", TEST_SEEN) and a0 == 0 and a1 == b0 < b1  # no overlap
    seen = apply_split_mode(clips, "seen", 0.3)
    assert {c.split for c in seen} == {"train", TEST_SEEN} and len(seen) == 2 * len(clips)
    assert apply_split_mode(clips, "identity") == clips
    with pytest.raises(ValueError, match="unknown split mode"):
        apply_split_mode(clips, "random")
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        holdout_speech(clips, 1.0)


def test_unreadable_clip_stays_whole(tmp_path):
    bad = tmp_path / "x.mp4"
    bad.write_bytes(b"not a video")
    out = holdout_speech([Clip(str(bad), "a", split="train")], 0.3)
    assert len(out) == 1 and out[0].start is None  # left for prepare to report


@pytest.mark.slow
def test_prepare_both_protocols(data_dir, tmp_path):
    # one long clip (obama, 20 s) and one short (a 3 s GRID clip), train identities
    manifest = tmp_path / "m.csv"
    rows = [
        line
        for i, line in enumerate((data_dir / "manifest.csv").read_text().splitlines())
        if i == 0 or "Obama_clip1.mp4," in line or "bbaf2n.mpg," in line
    ]
    assert len(rows) == 3
    manifest.write_text("\n".join(rows) + "\n")
    for name in ("obama/Obama_clip1.mp4", "obama/Obama_clip1.wav", "grid_spk_bbaf2n/bbaf2n.mpg"):
        (tmp_path / "av" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(data_dir / "av" / name, tmp_path / "av" / name)
    info = api.prepare(manifest, tmp_path / "ds", split_mode="both", hop_seconds=3.0)
    assert set(info["counts"]) == {"train", TEST_SEEN}
    ds = Dataset(tmp_path / "ds")
    assert ds.identities("train") == ds.identities(TEST_SEEN) == ["grid_spk_bbaf2n", "obama"]
    seg = ds.load(None, ("identity", "split", "start", "end", "clip"))
    for clip in set(seg["clip"]):
        mine = seg["clip"] == clip
        train_end = seg["end"][mine & (seg["split"] == "train")].max()
        test_start = seg["start"][mine & (seg["split"] == TEST_SEEN)].min()
        assert train_end <= test_start + 1e-6  # no audio in both splits
    obama = (seg["identity"] == "obama") & (seg["split"] == "train")
    assert obama.sum() == 3  # 0-12 s with a 3 s hop: windows at 0, 3, 6
