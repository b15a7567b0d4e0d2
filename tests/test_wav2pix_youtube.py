"""The YouTube-channel source (Channel-URL, Name, Gender) fetched with yt-dlp from a loopback
server, and `wav2pix prepare --source youtube` on what it downloaded."""

from __future__ import annotations

import shutil

import pytest

from speech2face.cli import main
from speech2face.dataset.sources import youtube_channels as yc
from speech2face.errors import UserError
from speech2face.wav2pix.pair_reader import PairDataset
from tests.http_server import serve


def test_read_channels(tmp_path):
    path = tmp_path / "channels.csv"
    path.write_text(
        "Channel-URL, Name, Gender\n"
        "https://www.youtube.com/@someone/videos, Jaime Altozano, male\n"  # 2 ok
        "ftp://example.com/x, Ftp, F\n"  # 3 not http
        "https://www.youtube.com/@x, ../../etc, f\n"  # 4 ok: the name is made safe
        "https://www.youtube.com/@y, ???, M\n"  # 5 nothing usable in the name
    )
    channels, bad = yc.read_channels(path)
    assert [(c.line, c.identity, c.gender) for c in channels] == [
        (2, "Jaime_Altozano", "M"),
        (4, "etc", "F"),
    ]
    assert [line for line, _ in bad] == [3, 5]
    assert "not an http(s) URL" in bad[0][1] and "unusable channel name" in bad[1][1]
    (tmp_path / "nohead.csv").write_text("url,name\nhttp://a,b\n")
    with pytest.raises(UserError, match="missing columns"):
        yc.read_channels(tmp_path / "nohead.csv")
    with pytest.raises(UserError, match="not found"):
        yc.read_channels(tmp_path / "missing.csv")


@pytest.mark.slow
def test_download_channels_and_prepare(data_dir, tmp_path):
    served = tmp_path / "www"
    served.mkdir()
    shutil.copy(data_dir / "av/vox2_a00015/00015.mp4", served / "chanA.mp4")
    shutil.copy(data_dir / "av/vox2_i00098/00098.mp4", served / "chanB.mp4")
    csv_path = tmp_path / "channels.csv"
    out = tmp_path / "pairs"
    with serve(served) as base:
        csv_path.write_text(
            "Channel-URL,Name,Gender\n"
            f"{base}/chanA.mp4,Channel A,male\n"
            f"{base}/gone.mp4,Gone,F\n"  # 404: logged, skipped
            f"{base}/chanB.mp4,Channel B,M\n"
            "not a url,Broken,M\n"
        )
        args = [
            "wav2pix",
            "prepare",
            str(csv_path),
            "--source",
            "youtube",
            "-o",
            str(out),
            "--image-size",
            "64",
            "--frames-per-second",
            "1",
            "--max-seconds",
            "5",
        ]
        assert main(args) == 0
        files = sorted(
            p.relative_to(out / "downloads").as_posix() for p in (out / "downloads").rglob("*.mp4")
        )
        assert files == ["Channel_A/chanA.mp4", "Channel_B/chanB.mp4"]
        from speech2face import audio

        assert abs(audio.load_audio(out / "downloads" / files[0]).size / 16000 - 5.0) < 0.2
    ds = PairDataset(out)
    assert ds.identities("train") == ["Channel_A", "Channel_B"]
    assert ds.identities("test_seen") == ["Channel_A", "Channel_B"]
    assert ds.manifest["identities"]["Channel_A"]["gender"] == "M"
    failures = (out / "failures.csv").read_text()
    assert "gone.mp4" in failures and "no video downloaded" in failures and "line 5" in failures
    # a rerun does not fetch again (the server is gone) and ends with the same dataset
    assert main(args) == 0
    assert PairDataset(out).manifest["counts"] == ds.manifest["counts"]
