"""AVSpeech: CSV parsing with malformed rows, and yt-dlp downloads from a loopback server."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from speech2face.cli import main
from speech2face.dataset.sources import avspeech
from speech2face.speech2face.data.reader import Dataset
from tests.http_server import serve


def test_parse_rows(tmp_path):
    csv_path = tmp_path / "avspeech.csv"
    csv_path.write_text(
        "AvWWVOgaMlk,90.000000,93.566667,0.9,0.2\n"  # 0 ok
        "short_row,1.0,2.0\n"  # 1 missing fields
        "textnum12,abc,5.0,0.5,0.5\n"  # 2 text in a number
        "negative12,-1.0,5.0,0.5,0.5\n"  # 3 negative time
        "reversed12,9.0,5.0,0.5,0.5\n"  # 4 reversed times
        "../../etc,1.0,5.0,0.5,0.5\n"  # 5 id that would leave the folder
        "outside123,1.0,5.0,1.5,0.5\n"  # 6 face centre outside the frame
        "\n"
        "lastgood123,0,6,0.5,0.5\n"  # 8 ok
    )
    rows, bad = avspeech.read_csv(csv_path)
    assert [r.index for r in rows] == [0, 8]
    assert rows[0].youtube_id == "AvWWVOgaMlk" and rows[0].end == pytest.approx(93.566667)
    reasons = dict(bad)
    assert "expected 5 fields" in reasons[1]
    assert "non-numeric" in reasons[2]
    assert "negative" in reasons[3]
    assert "not after start" in reasons[4]
    assert "bad YouTube id" in reasons[5]
    assert "outside [0, 1]" in reasons[6]
    rows, bad = avspeech.read_csv(csv_path, from_id=1, to_id=5)
    assert rows == [] and [i for i, _ in bad] == [1, 2, 3, 4]


@pytest.mark.slow
def test_download_ranges_and_prepare(data_dir, tmp_path):
    served = tmp_path / "www"
    served.mkdir()
    shutil.copy(data_dir / "av/vox2_a00015/00015.mp4", served / "vidA_00015.mp4")
    shutil.copy(data_dir / "av/vox2_i00098/00098.mp4", served / "vidB_00098.mp4")
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text(
        "vidA_00015,1.0,4.0,0.5,0.45\n"
        "gone_video1,0.0,3.0,0.5,0.5\n"  # 404: unavailable, skipped
        "vidB_00098,2.0,8.5,0.5,0.5\n"
        "bad_row,x,1,0.5,0.5\n"
    )
    out = tmp_path / "ds"
    with serve(served) as base:
        template = base + "/{youtube_id}.mp4"
        rc = main(
            [
                "prepare",
                str(csv_path),
                "--source",
                "avspeech",
                "-o",
                str(out),
                "--url-template",
                template,
                "--frames-per-segment",
                "1",
            ]
        )
        assert rc == 0
        files = sorted(p.name for p in (out / "downloads").iterdir())
        assert files == ["vidA_00015_1.000_4.000.mp4", "vidB_00098_2.000_8.500.mp4"]
        # only the requested seconds were fetched
        from speech2face import audio

        assert abs(audio.load_audio(out / "downloads" / files[0]).size / 16000 - 3.0) < 0.15
        assert abs(audio.load_audio(out / "downloads" / files[1]).size / 16000 - 6.5) < 0.15
    # already-downloaded segments are not fetched again (the server is gone now)
    row = avspeech.parse_row(0, ["vidA_00015", "1.0", "4.0", "0.5", "0.45"])
    assert avspeech.download_segment(row, out / "downloads", template, retries=1).is_file()
    ds = Dataset(out)
    assert set(ds.manifest["identities"]) == {"vidA_00015", "vidB_00098"}
    failures = (out / "failures.csv").read_text()
    assert "gone_video1" in failures and "unavailable" in failures and "row 3" in failures


def test_data_download_wrapper_help():
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "preprocess" / "data_download.py"
    out = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, check=True
    )
    assert "--from_id" in out.stdout and "--to_id" in out.stdout
