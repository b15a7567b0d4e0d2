"""Bad models and runs (issue 11): damaged bundles, checkpoints, decoder and pretrain runs,
and predict and training with bad input beside good, on a tiny untrained bundle
(``tiny_bundle`` in conftest.py) and real clips. Marked slow where a stage runs."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from speech2face import audio, integrity
from speech2face.cli import main
from speech2face.dataset import shards
from speech2face.speech2face.data.reader import Dataset
from tests.bad_input_helpers import (
    LIBRI,
    VOX_A,
    VOX_B,
    damage,
    one_line_error,
    read_only,
    synthetic_dataset,
    tmpfs,
    write_wav,
)

# --- slow: a tiny bundle, real clips --------------------------------------------------------


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
    damage(bundle, name, how)
    out = tmp_path / "faces"
    assert main(["predict", str(data_dir / VOX_A), "--model", str(bundle), "-o", str(out)]) == 1
    one_line_error(capsys.readouterr().err, str(bundle / name), cause, "speech2face train")
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
            damage(bundle, name, "truncate")
        out = tmp_path / "faces"
        assert main(["predict", str(data_dir / VOX_A), "--model", str(bundle), "-o", str(out)]) == 1
        cause = "ValueError" if replace else "OSError"
        one_line_error(capsys.readouterr().err, str(bundle / name), cause, "speech2face train")


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
    silent = write_wav(voices / "silence.wav", np.zeros(6 * 16000))
    mostly = write_wav(voices / "mostly.wav", np.concatenate([speech[:16000], np.zeros(9 * 16000)]))
    wave = speech[: 3 * 16000].copy()
    wave[500] = np.nan
    nan_file = write_wav(voices / "nan.wav", wave)
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
    with read_only(tmp_path / "ro") as ro:
        rc = main(["predict", str(data_dir / LIBRI), "--model", str(tiny_bundle), "-o", str(ro)])
        assert rc == 1
        line = one_line_error(capsys.readouterr().err, str(ro / (Path(LIBRI).stem + ".png")))
        assert "Read-only file system" in line or "Permission denied" in line


@pytest.mark.slow
def test_twenty_minutes_of_voice_with_a_progress_bar(tiny_bundle, tmp_path, data_dir, capsys):
    speech = audio.load_audio(data_dir / LIBRI)
    long = np.tile(speech, int(np.ceil(20 * 60 * 16000 / speech.size)))[: 20 * 60 * 16000]
    path = write_wav(tmp_path / "lecture.wav", long, subtype="PCM_16")
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
    with tmpfs(tmp_path / "disk", "size=1m") as disk:
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
    damage(run, "decoder.keras", "truncate")
    with pytest.raises(integrity.DamagedFileError, match="decoder.keras.*train-decoder"):
        _load_decoder(run, dataset)
    files = integrity.records(run, ["mean_landmarks.npy"])
    (run / "decoder.json").write_text(json.dumps({"files": files}))
    damage(run, "mean_landmarks.npy", "flip")
    with pytest.raises(integrity.DamagedFileError, match="mean_landmarks.npy: damaged"):
        _load_decoder(run, dataset)

    pre = tmp_path / "pretrain"
    encoder = load_parts(tiny_bundle, "voice_encoder")
    save_parts(encoder, pre, "voice_encoder")
    files = integrity.records(pre, ["voice_encoder.json", "voice_encoder.weights.h5"])
    (pre / INFO).write_text(json.dumps({"files": files}))
    assert init_from_pretrained(load_parts(tiny_bundle, "voice_encoder"), pre) > 0
    damage(pre, "voice_encoder.weights.h5", "truncate")
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
    with tmpfs(tmp_path / "disk", "size=200k") as disk:  # a shard is ~120 KB
        out = disk / "ds"
        args = ["prepare", str(clips), "-o", str(out), "--clips-per-shard", "1"]
        args += ["--frames-per-segment", "1"]
        assert main(args) == 1
        one_line_error(capsys.readouterr().err, "No space left on device", "rerun")
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

    ds = synthetic_dataset(tmp_path / "ds", n_shards=3, per_shard=2)
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
    one_line_error(capsys.readouterr().err, str(shard), "damaged shard", "speech2face prepare")
    state = json.loads((out / "checkpoint" / "checkpoint.json").read_text())
    assert state["step"] == 2  # the checkpoint before the failure is kept
    assert not (out / "bundle.json").exists()
