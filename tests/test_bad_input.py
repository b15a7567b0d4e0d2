"""Bad input, faults and data safety (issue 11): every broken input is built here (or taken
from the real sample data); each test checks that the message names the file and the cause,
and that the other inputs of the same run were processed and nothing finished was lost.

Fast tests need no Keras; the ones that load a (tiny, untrained) bundle or run a stage on
real clips are marked slow.
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
import time
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf

from speech2face import audio, integrity, locks
from speech2face.cli import main
from speech2face.dataset import shards
from speech2face.dataset.sources import folder
from speech2face.errors import UserError
from speech2face.predict_files import check_output_folder, output_names, silence_note
from speech2face.speech2face.data import build
from speech2face.speech2face.data.batches import SegmentBatches
from speech2face.speech2face.data.reader import Dataset
from speech2face.speech2face.data.segments import SegmentConfig
from speech2face.speech2face.inference import Speech2Face

ROOT = Path(__file__).resolve().parents[1]
VOX_A = "av/vox2_a00015/00015.mp4"  # real VoxCeleb2 clips of two speakers
VOX_B = "av/vox2_i00098/00098.mp4"
LIBRI = "speech/libri_103/103-1240-0000.flac"


def _one_line_error(err: str, *needles: str) -> str:
    """The `speech2face ...: error:` line of stderr; asserts it has every needle and no
    traceback."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _wav(path: Path, wave, sr: int = 16000, subtype: str = "FLOAT") -> Path:
    sf.write(path, np.asarray(wave, np.float32), sr, subtype=subtype)
    return path


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


def _synthetic_dataset(root: Path, n_shards: int = 3, per_shard: int = 2) -> Dataset:
    """A dataset written by the real shard and manifest writers, from made-up segments
    (no clips, no face detection): enough to damage shards and read them back."""
    rng = np.random.default_rng(0)
    config = build.PrepareConfig(segment=SegmentConfig(face_size=16))
    paths = []
    (root / shards.SHARD_DIR).mkdir(parents=True)
    for s in range(n_shards):
        segments = [
            {
                "audio": shards.encode_audio(rng.uniform(-0.3, 0.3, audio.N_SAMPLES)),
                "face": rng.integers(0, 255, (16, 16, 3), dtype=np.uint8),
                "landmarks": rng.uniform(0, 1, (68, 2)).astype(np.float32),
                "feature": rng.standard_normal(8).astype(np.float32),
                "box": np.zeros(4, np.float32),
                "start": 0.0,
                "end": 6.0,
                "identity": f"id{s}",
                "split": "train",
                "gender": "F",
                "clip": f"clip{s}_{i}",
            }
            for i in range(per_shard)
        ]
        path = shards.shard_path(root, s)
        shards.write_shard(path, segments, [f"clip{s}"], [], "dlib", 8, face_size=16)
        paths.append(path)
    build.write_manifest(root, paths, config, command="test")
    return Dataset(root)


def test_damaged_shard_is_named_at_open_at_read_and_rebuilt_by_prepare(tmp_path):
    ds = _synthetic_dataset(tmp_path / "ds")
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
    ds = _synthetic_dataset(tmp_path / "ds", n_shards=1)
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
    voice = _wav(tmp_path / "voice.wav", np.zeros(16000))
    with pytest.raises(UserError, match="voice.wav: is one of the input files, not a folder"):
        check_output_folder(voice, [voice])
    before = voice.read_bytes()
    assert main(["predict", str(voice), "--model", str(tmp_path), "-o", str(voice)]) == 1
    assert voice.read_bytes() == before  # refused before the model is even loaded


def test_nan_and_inf_samples_are_refused(tmp_path):
    wave = np.random.default_rng(0).uniform(-0.3, 0.3, 3 * 16000)
    wave[1000] = np.nan
    nan_file = _wav(tmp_path / "nan.wav", wave)
    wave[1000], wave[2000] = 0.0, np.inf
    inf_file = _wav(tmp_path / "inf.wav", wave, sr=44100)  # resampled: inf spreads
    for path in (nan_file, inf_file):
        with pytest.raises(audio.AudioError) as err:
            audio.load_audio(path)
        assert str(path) in str(err.value) and "NaN or infinite" in str(err.value)
    fine = _wav(tmp_path / "fine.wav", np.nan_to_num(wave, posinf=0.0))
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
    line = _one_line_error(capsys.readouterr().err, "3 source rows rejected", "failures.csv")
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
        _one_line_error(
            capsys.readouterr().err, str(out), "in use by `speech2face prepare`", f"pid {proc.pid}"
        )
        assert not (out / "failures.csv").exists()  # the refused run wrote nothing
        os.kill(proc.pid, signal.SIGKILL)  # dies holding the lock: the kernel frees it
        proc.wait()
        assert (out / locks.HOLDER_FILE).exists()  # its note is left behind, stale
        assert main(["prepare", str(csv_path), "--source", "avspeech", "-o", str(out)]) == 1
        _one_line_error(capsys.readouterr().err, "1 source rows rejected")  # it ran this time
    bundle = tmp_path / "bundle"
    with _held(bundle, "train"):
        args = ["train", "--data", str(tmp_path / "nodata"), "--decoder", str(tmp_path)]
        assert main([*args, "-o", str(bundle)]) == 1
        _one_line_error(capsys.readouterr().err, str(bundle), "in use by `speech2face train`")


# --- read-only and full disks --------------------------------------------------------------


@contextmanager
def _tmpfs(path: Path, options: str):
    """A tmpfs mounted at ``path`` (root only; skips elsewhere)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextmanager
def _read_only(path: Path):
    """A read-only folder: a read-only tmpfs as root (who ignores permissions), else 0o555."""
    if os.geteuid() == 0:
        with _tmpfs(path, "ro,size=64k") as p:
            yield p
        return
    path.mkdir(parents=True)
    path.chmod(0o555)
    try:
        yield path
    finally:
        path.chmod(0o755)


def test_read_only_output_is_one_clear_line(tmp_path, capsys):
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("bad_row,x,1,0.5,0.5\n")
    with _read_only(tmp_path / "ro") as ro:
        out = ro / "ds"
        assert main(["prepare", str(csv_path), "--source", "avspeech", "-o", str(out)]) == 1
        line = _one_line_error(capsys.readouterr().err, str(out))
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
    ds = _synthetic_dataset(tmp_path / "ds", n_shards=1)
    with h5py.File(ds.shards[0], "r") as f:
        for name, item in f.items():
            kind = item.dtype.kind
            blobs = h5py.check_vlen_dtype(item.dtype) == np.uint8  # compressed audio, JPEG
            ok = kind in "iuf" or h5py.check_string_dtype(item.dtype) or blobs
            assert ok, (name, item.dtype)


# --- slow: a tiny bundle, real clips --------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    """An untrained bundle with tiny models, written by the real bundle writer."""
    from speech2face.speech2face.bundle import write_bundle
    from speech2face.speech2face.models.face_decoder import build_face_decoder
    from speech2face.speech2face.models.voice_encoder import build_voice_encoder

    root = tmp_path_factory.mktemp("tiny")
    mean = np.random.default_rng(0).uniform(0.3, 0.7, (68, 2)).astype(np.float32)
    np.save(root / "mean.npy", mean)
    encoder = build_voice_encoder(8, "small", width=1 / 16, fc_units=16)
    decoder = build_face_decoder(8, mean, "small", f_dec_units=16, landmark_units=16)
    write_bundle(
        root / "bundle",
        encoder,
        decoder,
        root / "mean.npy",
        face_encoder="dlib",
        feature_dim=8,
        train={},
        steps=0,
        dataset=root,
        decoder_run=root,
    )
    return root / "bundle"


def _damage(bundle: Path, name: str, how: str) -> None:
    path = bundle / name
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "flip":
        path.write_bytes(data[:-64] + bytes([data[-64] ^ 0xFF]) + data[-63:])
    elif how == "garbage":
        path.write_text("{not json")


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, how, cause",
    [
        ("voice_encoder.weights.h5", "truncate", "truncated or replaced"),
        ("face_decoder.weights.h5", "flip", "sha256 differs"),
        ("voice_encoder.json", "garbage", "truncated or replaced"),
        ("bundle.json", "garbage", "JSONDecodeError"),
    ],
)
def test_damaged_bundle_is_one_line(tiny_bundle, tmp_path, data_dir, capsys, name, how, cause):
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    _damage(bundle, name, how)
    out = tmp_path / "faces"
    assert main(["predict", str(data_dir / VOX_A), "--model", str(bundle), "-o", str(out)]) == 1
    _one_line_error(capsys.readouterr().err, str(bundle / name), cause, "speech2face train")
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")  # Keras on the foreign weights
def test_unrecorded_damage_and_foreign_files_are_named(tiny_bundle, tmp_path, data_dir, capsys):
    """Bundles written before the records (or records removed): the loader's own failure
    becomes the one line, for a truncated file and for another model's weights."""
    for name, replace in (("voice_encoder.weights.h5", None), ("voice_encoder.weights.h5", 1)):
        bundle = tmp_path / f"bundle{replace}"
        shutil.copytree(tiny_bundle, bundle)
        config = json.loads((bundle / "bundle.json").read_text())
        del config["files"]
        (bundle / "bundle.json").write_text(json.dumps(config))
        if replace:  # a foreign file under the right name: the decoder's weights
            shutil.copy(bundle / "face_decoder.weights.h5", bundle / name)
        else:
            _damage(bundle, name, "truncate")
        out = tmp_path / "faces"
        assert main(["predict", str(data_dir / VOX_A), "--model", str(bundle), "-o", str(out)]) == 1
        cause = "ValueError" if replace else "OSError"
        _one_line_error(capsys.readouterr().err, str(bundle / name), cause, "speech2face train")


def _h5_arrays(path: Path) -> list:
    found = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: found.append(item) if isinstance(item, h5py.Dataset) else 0)
        return [(item.name, item.dtype) for item in found]


@pytest.mark.slow
def test_bundle_is_data_only_and_code_is_refused(tiny_bundle, tmp_path):
    """A bundle is JSON, HDF5 arrays and a plain .npy; a model file carrying code (a Keras
    Lambda layer) is refused by the safe-mode loader."""
    import keras

    from speech2face.speech2face.bundle import load_bundle

    for path in sorted(tiny_bundle.iterdir()):
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".npy":
            assert np.load(path, allow_pickle=False).dtype == np.float32
        elif path.suffix == ".h5":
            for name, dtype in _h5_arrays(path):
                assert dtype.kind in "iufb" or h5py.check_string_dtype(dtype), (path, name)
        else:
            assert path.name.startswith(".speech2face.lock"), path

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    x = keras.Input((8,))
    model = keras.Model(x, keras.layers.Lambda(lambda t: t * 2.0)(x))
    (bundle / "voice_encoder.json").write_text(model.to_json())
    config = json.loads((bundle / "bundle.json").read_text())
    config["files"]["voice_encoder.json"] = integrity.record(bundle / "voice_encoder.json")
    (bundle / "bundle.json").write_text(json.dumps(config))
    with pytest.raises(integrity.DamagedFileError, match="voice_encoder.json.*(Lambda|unsafe)"):
        load_bundle(bundle)


@pytest.mark.slow
def test_predict_batch_of_bad_and_good_voices(tiny_bundle, tmp_path, data_dir, capsys):
    from PIL import Image

    voices = tmp_path / "voices"
    for sub, src in (("vox2_a", VOX_A), ("vox2_b", VOX_B)):  # VoxCeleb names: 00002 twice
        (voices / sub).mkdir(parents=True)
        shutil.copy(data_dir / src, voices / sub / "00002.mp4")
    speech = audio.load_audio(data_dir / LIBRI)
    silent = _wav(voices / "silence.wav", np.zeros(6 * 16000))
    mostly = _wav(voices / "mostly.wav", np.concatenate([speech[:16000], np.zeros(9 * 16000)]))
    wave = speech[: 3 * 16000].copy()
    wave[500] = np.nan
    nan_file = _wav(voices / "nan.wav", wave)
    text = voices / "notes.mp3"
    text.write_text("not audio at all\n")
    out = tmp_path / "faces"
    out.mkdir()
    clash = out / "clash.png"  # an input inside the output folder, where its face would go
    clash.write_bytes(b"\x89PNG not really")
    args = [str(voices / "vox2_a/00002.mp4"), str(voices / "vox2_b/00002.mp4"), str(silent)]
    args += [str(mostly), str(nan_file), str(text), str(clash), str(data_dir / LIBRI)]
    rc = main(["predict", *args, "--model", str(tiny_bundle), "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 1 and "Traceback" not in captured.err
    err = captured.err
    assert f"skipped: {nan_file}: 1 of" in err and "NaN or infinite" in err
    assert f"skipped: {text}: cannot decode" in err
    assert f"{clash}: not predicted: its face would overwrite the input" in err
    assert f"warning: no speech found in {silent}: the face is the model's prior" in err
    assert f"warning: {mostly} is mostly silence" in err
    assert "5 of 8 voices -> faces" in captured.out
    made = sorted(p.name for p in out.glob("*.png"))
    assert made == sorted(
        ["clash.png", "vox2_a__00002.png", "vox2_b__00002.png", "silence.png", "mostly.png"]
        + [Path(LIBRI).stem + ".png"]
    )
    assert clash.read_bytes() == b"\x89PNG not really"  # the input is untouched
    assert Image.open(out / "silence.png").text["speech2face:note"].startswith("no speech found")
    with open(out / "predictions.csv") as f:
        rows = {Path(r["voice"]).name: r for r in csv.DictReader(f)}
    assert rows["silence.wav"]["speech_fraction"] == "0.000"
    assert rows["silence.wav"]["note"].startswith("no speech found")
    assert rows["nan.wav"]["note"].startswith("skipped:") and rows["nan.wav"]["face"] == ""
    assert rows[Path(LIBRI).name]["note"] == "" and float(rows[Path(LIBRI).name]["windows"]) == 2
    # a second call into the same folder keeps the record of the first
    args = [str(silent), "--model", str(tiny_bundle), "-o", str(out), "--save-features"]
    assert main(["predict", *args]) == 0
    with open(out / "predictions.csv") as f:
        assert len(list(csv.DictReader(f))) == 8
    feature = np.load(out / "silence.npy", allow_pickle=False)
    assert feature.shape == (8,) and feature.dtype == np.float32
    assert not list(out.glob(".*.tmp"))  # no temporary file left


@pytest.mark.slow
def test_predict_into_read_only_folder(tiny_bundle, tmp_path, data_dir, capsys):
    with _read_only(tmp_path / "ro") as ro:
        rc = main(["predict", str(data_dir / LIBRI), "--model", str(tiny_bundle), "-o", str(ro)])
        assert rc == 1
        line = _one_line_error(capsys.readouterr().err, str(ro / (Path(LIBRI).stem + ".png")))
        assert "Read-only file system" in line or "Permission denied" in line


@pytest.mark.slow
def test_twenty_minutes_of_voice_with_a_progress_bar(tiny_bundle, tmp_path, data_dir, capsys):
    speech = audio.load_audio(data_dir / LIBRI)
    long = np.tile(speech, int(np.ceil(20 * 60 * 16000 / speech.size)))[: 20 * 60 * 16000]
    path = _wav(tmp_path / "lecture.wav", long, subtype="PCM_16")
    out = tmp_path / "faces"
    start = time.time()
    assert main(["predict", str(path), "--model", str(tiny_bundle), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "200/200" in err and "window" in err, err[-500:]  # tqdm's bar over the windows
    with open(out / "predictions.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert row["windows"] == "200" and float(row["seconds"]) == pytest.approx(1200)
    assert time.time() - start < 300


def _tiny_trainable():
    import keras

    x = keras.Input((64,))
    model = keras.Model(x, keras.layers.Dense(64)(keras.layers.Dense(64)(x)))
    model.compile(keras.optimizers.Adam(1e-3), loss="mse")
    return model


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # h5py, disk full
def test_checkpoint_damage_and_disk_full_keep_the_last_good_one(tmp_path):
    import errno

    from speech2face.training.checkpoint import Checkpoint, restore

    data = np.random.default_rng(0).standard_normal((32, 64)).astype(np.float32)
    with _tmpfs(tmp_path / "disk", "size=1m") as disk:
        folder = disk / "checkpoint"
        model = _tiny_trainable()
        model.fit(data, data, epochs=1, verbose=0, callbacks=[Checkpoint(folder)])
        state = json.loads((folder / "checkpoint.json").read_text())
        weights = folder / state["weights"]
        assert state["files"][state["weights"]]["bytes"] == weights.stat().st_size
        vfs = os.statvfs(disk)
        free = vfs.f_bavail * vfs.f_frsize
        (disk / "ballast").write_bytes(b"\0" * (free - weights.stat().st_size // 2))
        with pytest.raises(OSError) as err:  # the next checkpoint does not fit
            model.fit(
                data, data, epochs=2, initial_epoch=1, verbose=0, callbacks=[Checkpoint(folder)]
            )
        assert err.value.errno == errno.ENOSPC
        assert sorted(p.name for p in folder.iterdir()) == ["checkpoint-00001.weights.h5"] + [
            "checkpoint.json"
        ]  # no partial file; the finished checkpoint is intact
        assert restore(_tiny_trainable(), folder) == 1
        (disk / "ballast").unlink()
        weights.write_bytes(weights.read_bytes()[:1000])
        with pytest.raises(integrity.DamagedFileError) as err:
            restore(_tiny_trainable(), folder)
        assert str(weights) in str(err.value) and f"delete the folder {folder}" in str(err.value)


@pytest.mark.slow
def test_damaged_decoder_and_pretrain_runs(tiny_bundle, tmp_path):
    from speech2face.models import load_parts, save_parts
    from speech2face.speech2face.training.pretrain import INFO, init_from_pretrained
    from speech2face.speech2face.training.voice import _load_decoder

    run = tmp_path / "decoder"
    run.mkdir()
    decoder = load_parts(tiny_bundle, "face_decoder")
    decoder.save(run / "decoder.keras")
    shutil.copy(tiny_bundle / "mean_landmarks.npy", run / "mean_landmarks.npy")
    dataset = type("D", (), {"feature_dim": 8, "face_encoder": "dlib"})()
    assert _load_decoder(run, dataset).input.shape[-1] == 8  # no record yet: loads
    _damage(run, "decoder.keras", "truncate")
    with pytest.raises(integrity.DamagedFileError, match="decoder.keras.*train-decoder"):
        _load_decoder(run, dataset)
    files = integrity.records(run, ["mean_landmarks.npy"])
    (run / "decoder.json").write_text(json.dumps({"files": files}))
    _damage(run, "mean_landmarks.npy", "flip")
    with pytest.raises(integrity.DamagedFileError, match="mean_landmarks.npy: damaged"):
        _load_decoder(run, dataset)

    pre = tmp_path / "pretrain"
    encoder = load_parts(tiny_bundle, "voice_encoder")
    save_parts(encoder, pre, "voice_encoder")
    files = integrity.records(pre, ["voice_encoder.json", "voice_encoder.weights.h5"])
    (pre / INFO).write_text(json.dumps({"files": files}))
    assert init_from_pretrained(load_parts(tiny_bundle, "voice_encoder"), pre) > 0
    _damage(pre, "voice_encoder.weights.h5", "truncate")
    with pytest.raises(integrity.DamagedFileError, match="weights.h5: damaged.*pretrain"):
        init_from_pretrained(encoder, pre)


@pytest.mark.slow
def test_prepare_bad_rows_beside_a_good_clip(tmp_path, data_dir, capsys):
    root = tmp_path / "data"
    (root / "av").mkdir(parents=True)
    shutil.copy(data_dir / "av/grid_spk_bbaf2n/bbaf2n.mpg", root / "av" / "good.mpg")
    (root / "manifest.csv").write_text(
        "path,kind,identity,split\n"
        "av/good.mpg,talking_face,grid,train\n"
        "../../etc/passwd,talking_face,evil,train\n"
        "av/gone.mpg,talking_face,gone,train\n"
    )
    out = tmp_path / "ds"
    args = ["prepare", str(root / "manifest.csv"), "-o", str(out), "--frames-per-segment", "1"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "2 source rows rejected" in printed
    with open(out / "failures.csv") as f:
        rows = {r["clip"]: r["reason"] for r in csv.DictReader(f)}
    assert "leaves the folder" in rows[f"{root / 'manifest.csv'}:3"]
    assert "not found" in rows[f"{root / 'manifest.csv'}:4"]
    assert Dataset(out).manifest["identities"]["grid"]["segments"] == 1  # the good clip


@pytest.mark.slow
def test_disk_full_during_prepare_keeps_finished_shards(tmp_path, data_dir, capsys):
    clips = tmp_path / "clips"
    for spk in ("grid_spk_bbaf2n", "grid_spk_brbk7n", "grid_spk_lbax4n"):
        (clips / spk).mkdir(parents=True)
        for f in (data_dir / "av" / spk).glob("*.mpg"):
            shutil.copy(f, clips / spk / f.name)
    with _tmpfs(tmp_path / "disk", "size=200k") as disk:  # a shard is ~120 KB
        out = disk / "ds"
        args = ["prepare", str(clips), "-o", str(out), "--clips-per-shard", "1"]
        args += ["--frames-per-segment", "1"]
        assert main(args) == 1
        _one_line_error(capsys.readouterr().err, "No space left on device", "rerun")
        finished = sorted((out / "shards").glob("*.h5"))
        assert finished and not list((out / "shards").glob("*.tmp"))
        mtimes = {p: p.stat().st_mtime_ns for p in finished}
        for p in finished:
            assert shards.shard_info(p)["segments"] == 1  # complete, readable
        subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)
        assert main(args) == 0  # resumes
        assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items())
        assert len(Dataset(out).index()) == 3


@pytest.mark.slow
def test_shard_damaged_mid_training_names_itself(tiny_bundle, tmp_path, monkeypatch, capsys):
    from speech2face.models import load_parts
    from speech2face.speech2face.training import voice

    ds = _synthetic_dataset(tmp_path / "ds", n_shards=3, per_shard=2)
    run = tmp_path / "decoder"
    run.mkdir()
    load_parts(tiny_bundle, "face_decoder").save(run / "decoder.keras")
    shutil.copy(tiny_bundle / "mean_landmarks.npy", run / "mean_landmarks.npy")
    shard = ds.shards[2]
    original = voice.FitMonitor.on_epoch_end

    def damage_after_first_interval(self, epoch, logs=None):  # the disk fails mid-run
        original(self, epoch, logs)
        if epoch == 0:
            shard.write_bytes(shard.read_bytes()[:-500])

    monkeypatch.setattr(voice.FitMonitor, "on_epoch_end", damage_after_first_interval)
    out = tmp_path / "bundle"
    args = ["train", "--data", str(ds.root), "--decoder", str(run), "-o", str(out)]
    args += ["--steps", "6", "--batch-size", "2", "--checkpoint-every", "2", "--fit-segments", "2"]
    args += ["--readers", "0"]  # batches read when needed: none read ahead of the damage
    assert main(args) == 1
    _one_line_error(capsys.readouterr().err, str(shard), "damaged shard", "speech2face prepare")
    state = json.loads((out / "checkpoint" / "checkpoint.json").read_text())
    assert state["step"] == 2  # the checkpoint before the failure is kept
    assert not (out / "bundle.json").exists()


# --- the same guarantees for Wav2Pix, and format versions (issue 22) ------------------------


@pytest.fixture(scope="module")
def wav2pix_run(wav2pix_pairs, tmp_path_factory):
    """A Wav2Pix run of 2 steps on the real pairs of five sample identities."""
    out = tmp_path_factory.mktemp("w2p_run")
    argv = ["wav2pix", "train", "--data", str(wav2pix_pairs.root), "-o", str(out)]
    assert main([*argv, "--steps", "2", "--batch-size", "4", "--checkpoint-every", "2"]) == 0
    return out


@pytest.mark.slow
def test_damaged_pairs_shard_and_manifest_are_named(wav2pix_pairs, tmp_path):
    from speech2face.wav2pix.pair_reader import PairDataset

    root = tmp_path / "pairs"
    shutil.copytree(wav2pix_pairs.root, root)
    manifest = json.loads((root / "pairs.json").read_text())
    shard = root / manifest["shards"][0]["file"]
    data = shard.read_bytes()
    shard.write_bytes(data[:-64] + bytes([data[-64] ^ 0xFF]) + data[-63:])  # same size
    pairs = PairDataset(root)  # sizes only when the folder opens
    with pytest.raises(integrity.DamagedFileError, match=f"{shard}.*sha256 differs.*prepare"):
        pairs.load("train")
    manifest["shards"][0]["file"] = "../../outside.h5"
    (root / "pairs.json").write_text(json.dumps(manifest))
    with pytest.raises(integrity.DamagedFileError, match="pairs.json.*outside its folder"):
        PairDataset(root)
    (root / "pairs.json").write_text('{"shards": [')
    with pytest.raises(integrity.DamagedFileError, match="pairs.json.*JSONDecodeError"):
        PairDataset(root)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, how, cause",
    [
        ("generator.weights.h5", "truncate", "truncated or replaced"),
        ("speech_encoder.weights.h5", "flip", "sha256 differs"),
        ("run.json", "garbage", "JSONDecodeError"),
    ],
)
def test_damaged_wav2pix_run_is_one_line(wav2pix_run, tmp_path, data_dir, capsys, name, how, cause):
    run = tmp_path / "run"
    shutil.copytree(wav2pix_run, run)
    _damage(run, name, how)
    out = tmp_path / "faces"
    argv = ["wav2pix", "predict", str(data_dir / LIBRI), "--model", str(run), "-o", str(out)]
    assert main(argv) == 1
    _one_line_error(capsys.readouterr().err, str(run / name), cause, "wav2pix train")
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
def test_unknown_format_versions_are_refused(tiny_bundle, wav2pix_run, tmp_path, data_dir, capsys):
    for written, record, command in (
        (tiny_bundle, "bundle.json", ["predict"]),
        (wav2pix_run, "run.json", ["wav2pix", "predict"]),
    ):
        copy = tmp_path / written.name
        shutil.copytree(written, copy)
        info = json.loads((copy / record).read_text())
        assert info["format"] == 1  # written with its format
        info["format"] = 99
        (copy / record).write_text(json.dumps(info))
        argv = [*command, str(data_dir / LIBRI), "--model", str(copy), "-o", str(tmp_path / "o")]
        assert main(argv) == 1
        _one_line_error(capsys.readouterr().err, str(copy / record), "format 99", "format 1")


def test_manifest_with_a_byte_order_mark_and_crlf_is_read(tmp_path, data_dir):
    shutil.copy(data_dir / VOX_A, tmp_path / "clip.mp4")  # paths stay inside the folder
    rows = [["path", "identity", "split"], ["clip.mp4", "vox_a", "train"]]
    text = "\r\n".join(",".join(r) for r in rows) + "\r\n"
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())  # Excel's "CSV UTF-8"
    clips = folder.manifest_clips(path)
    assert [(c.identity, c.split, Path(c.media).name) for c in clips] == [
        ("vox_a", "train", "clip.mp4")
    ]
