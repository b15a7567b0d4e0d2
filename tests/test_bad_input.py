"""Bad input, faults and data safety (issue 11): every broken input is built here (or taken
from the real sample data); each test checks that the message names the file and the cause,
and that the other inputs of the same run were processed and nothing finished was lost.

Fast tests need no Keras. The damaged bundles, runs and checkpoints and the stages run on
real clips with a tiny bundle are in test_bad_models.py, Wav2Pix's cases in
test_bad_input_wav2pix.py.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import pytest

from speech2face import audio, integrity, locks
from speech2face.cli import main
from speech2face.dataset import shards
from speech2face.dataset.sources import folder
from speech2face.errors import UserError
from speech2face.predict_files import check_output_folder, output_names, silence_note
from speech2face.speech2face.data import build
from speech2face.speech2face.data.batches import SegmentBatches
from speech2face.speech2face.data.reader import Dataset
from speech2face.speech2face.inference import Speech2Face
from tests.bad_input_helpers import (
    ROOT,
    VOX_A,
    one_line_error,
    read_only,
    synthetic_dataset,
    write_wav,
)

# --- integrity records ------------------------------------------------------------------


def test_records_catch_truncated_and_altered_files(tmp_path):
    path = tmp_path / "weights.h5"
    path.write_bytes(os.urandom(5000))
    rec = integrity.record(path)
    integrity.check(path, rec, "re-train it")  # intact
    data = path.read_bytes()
    path.write_bytes(data[:1000])
    with pytest.raises(
        integrity.DamagedFileError, match=r"weights\.h5: damaged file \(1,000 bytes"
    ):
        integrity.check(path, rec, "re-train it")
    path.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])  # same size, one bit
    with pytest.raises(integrity.DamagedFileError, match="sha256 differs.*re-train it"):
        integrity.check(path, rec, "re-train it")
    with pytest.raises(integrity.DamagedFileError, match="outside"):
        integrity.check_all(tmp_path, {"../elsewhere.h5": rec}, "re-train it")


def test_damaged_shard_is_named_at_open_at_read_and_rebuilt_by_prepare(tmp_path):
    ds = synthetic_dataset(tmp_path / "ds")
    manifest = json.loads((ds.root / shards.MANIFEST).read_text())
    assert all(s["bytes"] > 0 and len(s["sha256"]) == 64 for s in manifest["shards"])
    shard = ds.shards[1]
    data = shard.read_bytes()
    # one flipped byte in the audio: same size, so the dataset opens; the first read of the
    # shard (a training step) checks its sha256 and names it
    shard.write_bytes(data[:-100] + bytes([data[-100] ^ 0xFF]) + data[-99:])
    batches = SegmentBatches(Dataset(ds.root), "train", 2, shuffle=False)
    assert batches[0]["audio"].shape == (2, audio.N_SAMPLES)  # shard 0 is fine
    with pytest.raises(integrity.DamagedFileError) as err:
        batches[1]
    message = str(err.value)
    assert str(shard) in message and "sha256" in message and "speech2face prepare" in message
    # a truncated shard is caught when the dataset opens (size)
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(integrity.DamagedFileError, match=r"shard-00001\.h5: damaged shard"):
        Dataset(ds.root)
    # rerunning prepare rebuilds exactly the damaged shard (its record differs)
    recorded = build._recorded_shards(ds.root)
    group = [type("C", (), {"key": "clip1"})()]
    assert not build._finished(shard, group, "dlib", recorded["shards/shard-00001.h5"])
    group0 = [type("C", (), {"key": "clip0"})()]
    assert build._finished(ds.shards[0], group0, "dlib", recorded["shards/shard-00000.h5"])


def test_dataset_manifest_cannot_point_outside(tmp_path):
    ds = synthetic_dataset(tmp_path / "ds", n_shards=1)
    manifest = json.loads((ds.root / shards.MANIFEST).read_text())
    manifest["shards"][0]["file"] = "../../outside.h5"
    (ds.root / shards.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(integrity.DamagedFileError, match="dataset.json.*outside its folder"):
        Dataset(ds.root)
    (ds.root / shards.MANIFEST).write_text('{"shards": [')  # cut short
    with pytest.raises(integrity.DamagedFileError, match="dataset.json.*JSONDecodeError"):
        Dataset(ds.root)


# --- predict: names, outputs, silence, NaN, long input -------------------------------------


def test_output_names_unique_stable_and_order_free(tmp_path):
    files = [
        tmp_path / "vox2_a" / "00002.mp4",
        tmp_path / "vox2_b" / "00002.mp4",
        tmp_path / "x" / "a" / "1.wav",  # same parent name: one more folder
        tmp_path / "y" / "a" / "1.wav",
        tmp_path / "same" / "v.wav",  # same stem and folder: the extension
        tmp_path / "same" / "v.mp4",
        tmp_path / "Case" / "Voice.wav",  # differs only in case from the next one
        tmp_path / "case" / "voice.wav",
        tmp_path / "solo.flac",
    ]
    names = output_names(files)
    assert len(set(names.values())) == len(files)
    assert len({n.lower() for n in names.values()}) == len(files)
    assert names[files[0].resolve()] == "vox2_a__00002"
    assert names[files[1].resolve()] == "vox2_b__00002"
    assert names[files[2].resolve()] == "x__a__1"
    assert {names[files[4].resolve()], names[files[5].resolve()]} == {"v.wav", "v.mp4"}
    assert names[files[8].resolve()] == "solo"  # a unique stem stays as it is
    assert output_names(list(reversed(files))) == names  # stable: any order, same names
    assert output_names([files[0], files[0]]) == {files[0].resolve(): "00002"}


def test_output_folder_that_is_a_file_is_refused(tmp_path):
    voice = write_wav(tmp_path / "voice.wav", np.zeros(16000))
    with pytest.raises(UserError, match="voice.wav: is one of the input files, not a folder"):
        check_output_folder(voice, [voice])
    before = voice.read_bytes()
    assert main(["predict", str(voice), "--model", str(tmp_path), "-o", str(voice)]) == 1
    assert voice.read_bytes() == before  # refused before the model is even loaded


def test_nan_and_inf_samples_are_refused(tmp_path):
    wave = np.random.default_rng(0).uniform(-0.3, 0.3, 3 * 16000)
    wave[1000] = np.nan
    nan_file = write_wav(tmp_path / "nan.wav", wave)
    wave[1000], wave[2000] = 0.0, np.inf
    inf_file = write_wav(tmp_path / "inf.wav", wave, sr=44100)  # resampled: inf spreads
    for path in (nan_file, inf_file):
        with pytest.raises(audio.AudioError) as err:
            audio.load_audio(path)
        assert str(path) in str(err.value) and "NaN or infinite" in str(err.value)
    fine = write_wav(tmp_path / "fine.wav", np.nan_to_num(wave, posinf=0.0))
    assert np.isfinite(audio.load_audio(fine)).all()


def test_silence_is_measured_and_noted():
    rng = np.random.default_rng(0)
    assert audio.speech_fraction(np.zeros(96000), 0.003) == 0.0
    voiced = rng.uniform(-0.2, 0.2, 96000)
    assert audio.speech_fraction(voiced, 0.003) == 1.0
    mostly = np.concatenate([voiced[:16000], np.zeros(9 * 16000)])
    assert audio.speech_fraction(mostly, 0.003) == pytest.approx(0.1)
    assert silence_note("x.wav", 0.0) == "no speech found in x.wav: the face is the model's prior"
    assert "mostly silence" in silence_note("x.wav", 0.1)
    assert silence_note("x.wav", 0.7) == ""


class _Encoder:
    """Stands in for the voice encoder: records the batch sizes it is given."""

    def __init__(self):
        self.batches = []

    def predict_on_batch(self, waves):
        self.batches.append(waves.shape)
        return np.repeat(waves.mean(1, keepdims=True), 4, axis=1)


class _Decoder:
    def predict_on_batch(self, features):
        return {"image": np.full((len(features), 8, 8, 3), 0.5, np.float32)}


def test_long_input_goes_in_batches_with_bounded_memory():
    import tracemalloc

    model = Speech2Face(_Encoder(), _Decoder(), {})
    wave = np.random.default_rng(0).uniform(-0.2, 0.2, 21 * 60 * 16000).astype(np.float32)
    seen = []
    tracemalloc.start()
    result = model.prediction(wave, progress=lambda done, total: seen.append((done, total)))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert result.windows == 210 and len(model.voice_encoder.batches) == 27
    assert max(b[0] for b in model.voice_encoder.batches) == 8  # 8 windows per pass
    assert seen[-1] == (210, 210) and len(seen) == 27  # a progress report per batch
    assert peak < 40e6, peak  # the 80 MB waveform is never copied whole, nor windowed at once
    expected = wave[: 210 * audio.N_SAMPLES].reshape(210, -1).mean(1).mean()
    assert result.vector[0] == pytest.approx(expected, abs=1e-6)  # the mean over all windows
    with pytest.raises(ValueError, match="NaN"):
        model.features(np.full((1, audio.N_SAMPLES), np.nan))


# --- sources: malformed rows are reported with line and reason ---------------------------


def test_manifest_rows_rejected_with_line_and_reason(tmp_path, data_dir):
    root = tmp_path / "data"
    (root / "av").mkdir(parents=True)
    shutil.copy(data_dir / VOX_A, root / "av" / "good.mp4")
    outside = tmp_path / "secret.mp4"
    shutil.copy(data_dir / VOX_A, outside)
    (root / "av" / "link.mp4").symlink_to(outside)
    rows = [
        "path,kind,identity,split",
        "av/good.mp4,talking_face,a,train",  # line 2: kept
        "av/missing.mp4,talking_face,b,train",  # 3: file not found
        "../secret.mp4,talking_face,c,train",  # 4: leaves the folder
        f"{outside},talking_face,d,train",  # 5: absolute
        "av/link.mp4,talking_face,e,train",  # 6: a link out of the folder
        "av/good.mp4,talking_face,,train",  # 7: empty identity
        "av/good.mp4,talking_face",  # 8: short row
        "photo.jpg,face_photo,f,train",  # 9: another kind: ignored, not rejected
    ]
    csv_path = root / "manifest.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    clips, rejected = folder.manifest_rows(csv_path)
    assert [c.identity for c in clips] == ["a"]
    reasons = dict(rejected)
    assert sorted(reasons) == [f"{csv_path}:{n}" for n in (3, 4, 5, 6, 7, 8)]
    assert "not found" in reasons[f"{csv_path}:3"]
    assert all("leaves the folder" in reasons[f"{csv_path}:{n}"] for n in (4, 5, 6))
    assert "empty identity" in reasons[f"{csv_path}:7"]
    assert "number of fields" in reasons[f"{csv_path}:8"]
    bad = root / "latin1.csv"
    bad.write_bytes("path,kind,identity\nav/good.mp4,talking_face,Jos\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"latin1\.csv:\d+: not a readable CSV"):
        folder.manifest_rows(bad)


def test_prepare_with_only_bad_rows_lists_them(tmp_path, capsys):
    csv_path = tmp_path / "avspeech.csv"
    csv_path.write_text(
        "../../etc,1.0,5.0,0.5,0.5\n"  # line 1: id that would leave the folder
        "short_row,1.0,2.0\n"  # 2: missing fields
        "\n"
        "reversed12,9.0,5.0,0.5,0.5\n"  # 4: reversed times
    )
    out = tmp_path / "ds"
    assert main(["prepare", str(csv_path), "--source", "avspeech", "-o", str(out)]) == 1
    line = one_line_error(capsys.readouterr().err, "3 source rows rejected", "failures.csv")
    assert "no clips to prepare" in line
    with open(out / "failures.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["clip"] for r in rows] == [f"{csv_path}:{n}" for n in (1, 2, 4)]
    assert "bad YouTube id" in rows[0]["reason"] and "row 0" in rows[0]["reason"]
    assert "expected 5 fields" in rows[1]["reason"] and "not after start" in rows[2]["reason"]
    assert not (out / "downloads").exists()  # nothing fetched, nothing written outside


# --- concurrent writers --------------------------------------------------------------------

HOLDER = """
import sys, time
from speech2face import locks
with locks.hold(sys.argv[1], sys.argv[2]):
    print("held", flush=True)
    time.sleep(120)
"""


@contextmanager
def _held(folder: Path, stage: str):
    """Another process holding the lock of ``folder`` (as a running stage would)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), stage],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_second_writer_is_refused_and_a_dead_holder_frees_the_folder(tmp_path, capsys):
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("bad_row,x,1,0.5,0.5\n")
    out = tmp_path / "ds"
    with _held(out, "prepare") as proc:
        assert main(["prepare", str(csv_path), "--source", "avspeech", "-o", str(out)]) == 1
        one_line_error(
            capsys.readouterr().err, str(out), "in use by `speech2face prepare`", f"pid {proc.pid}"
        )
        assert not (out / "failures.csv").exists()  # the refused run wrote nothing
        os.kill(proc.pid, signal.SIGKILL)  # dies holding the lock: the kernel frees it
        proc.wait()
        assert (out / locks.HOLDER_FILE).exists()  # its note is left behind, stale
        assert main(["prepare", str(csv_path), "--source", "avspeech", "-o", str(out)]) == 1
        one_line_error(capsys.readouterr().err, "1 source rows rejected")  # it ran this time
    bundle = tmp_path / "bundle"
    with _held(bundle, "train"):
        args = ["train", "--data", str(tmp_path / "nodata"), "--decoder", str(tmp_path)]
        assert main([*args, "-o", str(bundle)]) == 1
        one_line_error(capsys.readouterr().err, str(bundle), "in use by `speech2face train`")


# --- read-only and full disks --------------------------------------------------------------


def test_read_only_output_is_one_clear_line(tmp_path, capsys):
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("bad_row,x,1,0.5,0.5\n")
    with read_only(tmp_path / "ro") as ro:
        out = ro / "ds"
        assert main(["prepare", str(csv_path), "--source", "avspeech", "-o", str(out)]) == 1
        line = one_line_error(capsys.readouterr().err, str(out))
        assert "Read-only file system" in line or "Permission denied" in line


# --- safety of formats and loaders ---------------------------------------------------------


def test_no_pickle_no_shell_no_unsafe_loading():
    """The package never unpickles, never builds a shell command and loads Keras models in
    safe mode only (every model file is JSON architecture + HDF5 arrays)."""
    banned = {
        "pickle": r"\bimport pickle\b|\bpickle\.|cloudpickle|\bjoblib\b",
        "allow_pickle=True": r"allow_pickle\s*=\s*True",
        "shell=True": r"shell\s*=\s*True",
        "os.system / os.popen": r"os\.(system|popen)\(",
        "safe_mode=False": r"safe_mode\s*=\s*False",
        "eval / exec": r"(?<![\w.])(eval|exec)\(",
        "enable_unsafe_deserialization": r"enable_unsafe_deserialization",
    }
    for path in sorted((ROOT / "speech2face").rglob("*.py")):
        text = path.read_text()
        for what, pattern in banned.items():
            assert not re.search(pattern, text), f"{path.relative_to(ROOT)}: {what}"


def test_shards_hold_no_python_objects(tmp_path):
    ds = synthetic_dataset(tmp_path / "ds", n_shards=1)
    with h5py.File(ds.shards[0], "r") as f:
        for name, item in f.items():
            kind = item.dtype.kind
            blobs = h5py.check_vlen_dtype(item.dtype) == np.uint8  # compressed audio, JPEG
            ok = kind in "iuf" or h5py.check_string_dtype(item.dtype) or blobs
            assert ok, (name, item.dtype)
