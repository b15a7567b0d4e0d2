"""Bad input for Wav2Pix (issue 22): damaged pair shards and runs, unknown format versions
(of both systems) and manifests with a byte-order mark and CRLF."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from speech2face import integrity
from speech2face.cli import main
from speech2face.dataset.sources import folder
from tests.bad_input_helpers import (
    LIBRI,
    VOX_A,
    damage,
    one_line_error,
)

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
    damage(run, name, how)
    out = tmp_path / "faces"
    argv = ["wav2pix", "predict", str(data_dir / LIBRI), "--model", str(run), "-o", str(out)]
    assert main(argv) == 1
    one_line_error(capsys.readouterr().err, str(run / name), cause, "wav2pix train")
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
        one_line_error(capsys.readouterr().err, str(copy / record), "format 99", "format 1")


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
