"""Face caches of labelled photos (UTKFace): listing rules, shards, resume, integrity
(dataset/face_cache.py writes them, dataset/face_reader.py reads them)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from speech2face.errors import UserError
from speech2face.integrity import DamagedFileError
from speech2face.speech2face.data import face_cache as fc
from speech2face.speech2face.data import face_reader as fr
from tests.helpers import UTKFACE_COLUMNS, utkface_subset


@pytest.fixture(scope="module")
def utk_rows(data_dir):
    with open(data_dir / "utkface.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    plain = [r for r in rows if not r["duplicate_group"]]
    adults = [r for r in plain if int(r["age"]) >= 25][::997][:10]
    children = [r for r in plain if int(r["age"]) < 12][::991][:3]
    return adults + children


def test_listing_rules(tmp_path, data_dir, utk_rows):
    """The age filter, one copy of byte-identical photos, conflicting groups dropped,
    paths kept inside the source folder."""
    adults, children = utk_rows[:10], utk_rows[10:]
    dup = {**adults[0], "duplicate_group": "g1"}
    copy = {**adults[1], "duplicate_group": "g1"}  # a second copy of the same group
    bad = {**adults[2], "duplicate_group": "g2", "label_conflict": "yes"}
    rows = [dup, copy, bad, *adults[3:], *children]
    source = utkface_subset(tmp_path, data_dir, rows)
    items = fc.list_items(source)
    names = {it.file.rsplit("/", 1)[1] for it in items}
    assert adults[0]["file"] in names and adults[1]["file"] not in names
    assert adults[2]["file"] not in names
    assert not names & {r["file"] for r in children}
    assert len(items) == len(adults) - 2
    assert all(it.age >= 18 and it.gender in "MF" and it.identity.endswith(".jpg") for it in items)
    assert len(fc.list_items(source, min_age=0)) == len(items) + len(children)

    outside = utkface_subset(tmp_path / "x", data_dir, [])
    with open(outside, "a", newline="") as f:
        csv.writer(f).writerow(["../../etc/passwd", 30, "M", "white", "train", "", ""])
    with pytest.raises(UserError, match="passwd"):
        fc.list_items(outside)


def test_prepare_faces_resume_and_integrity(tmp_path, data_dir, utk_rows):
    from speech2face import faces

    source = utkface_subset(tmp_path, data_dir, utk_rows)
    out = tmp_path / "cache"
    config = fc.FaceSourceConfig(shard_size=4)
    info = fc.prepare_faces(source, out, config)
    assert info["items"] == 10 and len(info["shards"]) == 3
    assert info["faces"] + info["failed"] == 10 and info["faces"] >= 8
    got = fr.read_faces(out, None, fields=("face", "landmarks", "feature", "age", "file", "score"))
    assert got["face"].shape == (info["faces"], 224, 224, 3) and got["face"].dtype == np.uint8
    assert np.all(got["age"] >= 25)

    # the oracle: dlib on the photo itself gives the stored feature
    first = faces.find_face(faces.read_image(got["file"][0]))
    want = faces.get_encoder("dlib").encode(first.image[None], first.landmarks[None])[0]
    assert np.linalg.norm(got["feature"][0] - want) < 0.05  # JPEG of the stored crop aside

    # the canonical filter applies when read
    cut = float(np.median(got["score"]))
    kept = fr.read_faces(out, None, max_face_score=cut, fields=("score",))
    assert len(kept["score"]) == int(np.sum(got["score"] <= cut)) < info["faces"]

    # resume: a finished run redoes nothing; a lost shard alone is rebuilt
    shards = sorted((out / fc.SHARD_DIR).glob("*.h5"))
    stamps = {p.name: p.stat().st_mtime_ns for p in shards}
    shards[1].unlink()
    assert fc.prepare_faces(source, out, config)["faces"] == info["faces"]
    after = {p.name: p.stat().st_mtime_ns for p in sorted((out / fc.SHARD_DIR).glob("*.h5"))}
    assert after[shards[0].name] == stamps[shards[0].name]
    assert after[shards[2].name] == stamps[shards[2].name]
    assert after[shards[1].name] != stamps[shards[1].name]

    # a damaged shard is named, with what to do
    with open(shards[0], "r+b") as f:
        f.seek(2000)
        f.write(b"\0" * 64)
    with pytest.raises(DamagedFileError, match="faces-00000.h5.*prepare-faces"):
        fr.read_faces(out)

    # an unknown format is refused with the version this release reads
    record = json.loads((out / fc.INFO_FILE).read_text())
    (out / fc.INFO_FILE).write_text(json.dumps({**record, "format": 99}))
    with pytest.raises(UserError, match="99"):
        fr.read_faces(out)


def test_a_bad_photo_is_a_logged_skip(tmp_path, data_dir, utk_rows):
    """A truncated photo and a missing one land in failures.csv; the others are kept."""
    good = utk_rows[:2]
    source = utkface_subset(tmp_path, data_dir, good)
    (tmp_path / "utkface" / "30_0_0_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    rows = [
        {"file": "30_0_0_broken.jpg", "age": 30, "gender": "M", "race": "white", "split": "train"},
        {"file": "31_1_0_missing.jpg", "age": 31, "gender": "F", "race": "white", "split": "train"},
    ]
    with open(source, "a", newline="") as f:
        csv.DictWriter(f, UTKFACE_COLUMNS, extrasaction="ignore").writerows(rows)
    info = fc.prepare_faces(source, tmp_path / "cache")
    assert info["items"] == 4 and info["faces"] == 2 and info["failed"] == 2
    with open(tmp_path / "cache" / fc.FAILURES, newline="") as f:
        failures = {Path(r["file"]).name: r["reason"] for r in csv.DictReader(f)}
    assert set(failures) == {"30_0_0_broken.jpg", "31_1_0_missing.jpg"}
    assert all(reason.startswith("unreadable") for reason in failures.values())


def test_cli_prepare_faces(tmp_path, data_dir, utk_rows, capsys):
    from speech2face.cli import main

    source = utkface_subset(tmp_path, data_dir, utk_rows[:3])
    assert main(["prepare-faces", str(source), "-o", str(tmp_path / "c"), "--workers", "2"]) == 0
    assert "face cache" in capsys.readouterr().out
    assert fr.is_face_cache(tmp_path / "c")
    assert main(["prepare-faces", str(tmp_path / "nothing.txt"), "-o", str(tmp_path / "d")]) == 1
    assert "nothing.txt: not a face source" in capsys.readouterr().err
