"""`speech2face serve`: input checks, the predictor, the gallery, and the page in a real browser.

The browser test drives the system Chromium (Debian's package, /usr/bin/chromium) with
Playwright; nothing is downloaded at run time. Its fake microphone plays a real voice, so
recording is tested too. Without Chromium the test skips, except under CI (CI=1): it fails.
``SPEECH2FACE_UPDATE_DOCS=1`` also copies its screenshot to docs/serve.png;
``SPEECH2FACE_SERVE_BUNDLE`` serves that bundle instead of a tiny one.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile

from speech2face.errors import UserError
from tests.helpers import under_ci

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MALE_VOICE = "speech/vctk_p260/p260_00000.mp3"  # 5.0 s, one loop-padded window
FEMALE_VIDEO = "av/grid_spk_brbk7n/brbk7n.mpg"  # 3.0 s GRID video with its own audio
LONG_VOICE = "speech/libri_1998/1998-15444-0000.flac"  # 13.3 s: two 6 s windows


def test_cli_stays_light():
    code = (
        "import sys, speech2face, speech2face.cli; speech2face.cli.build_parser(); "
        "heavy = [m for m in ('gradio', 'keras', 'tensorflow') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_read_voice_refuses_bad_input(data_dir, tmp_path):
    from speech2face import audio
    from speech2face.web.analysis import read_voice

    notes = tmp_path / "notes.txt"
    notes.write_text("not a voice\n")
    with pytest.raises(UserError, match=r"^upload\.txt: not an audio or video file") as info:
        read_voice(notes, name="upload.txt")
    assert str(tmp_path) not in str(info.value)  # the page names the file, not a server path

    wave = audio.load_audio(data_dir / MALE_VOICE)
    short = tmp_path / "short.wav"
    soundfile.write(short, wave[: int(0.3 * audio.SAMPLE_RATE)], audio.SAMPLE_RATE)
    with pytest.raises(UserError, match=r"^short\.wav: too short \(0\.30 s"):
        read_voice(short)
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(2 * audio.SAMPLE_RATE, np.float32), audio.SAMPLE_RATE)
    with pytest.raises(UserError, match=r"^silent\.wav: silent \(RMS 0\.00000"):
        read_voice(silent)
    with pytest.raises(UserError, match=r"^p260_00000\.mp3: too long \(0\.1 min; at most 0\.05"):
        read_voice(data_dir / MALE_VOICE, max_seconds=3.0)
    ok = read_voice(data_dir / MALE_VOICE)
    assert ok.dtype == np.float32 and abs(ok.size / audio.SAMPLE_RATE - 5.0) < 0.05


def test_demo_serve_command_parses(tmp_path):
    import shlex

    from speech2face.cli import build_parser
    from speech2face.speech2face.demo import serve_command

    line = serve_command(tmp_path / "my runs")
    argv = shlex.split(line)
    assert argv[:2] == ["speech2face", "serve"]
    args = build_parser().parse_args(argv[1:])
    assert Path(args.model) == tmp_path / "my runs" / "bundle"
    assert Path(args.data) == tmp_path / "my runs" / "dataset"


@pytest.fixture(scope="module")
def bundle(prepared, tmp_path_factory):
    """A tiny bundle on the real dataset (2 decoder epochs, 2 voice steps), or the one named
    by $SPEECH2FACE_SERVE_BUNDLE."""
    if os.environ.get("SPEECH2FACE_SERVE_BUNDLE"):
        return Path(os.environ["SPEECH2FACE_SERVE_BUNDLE"])
    from speech2face.cli import main

    out = tmp_path_factory.mktemp("serve")
    data = str(prepared.root)
    decoder = ["train-decoder", "--data", data, "-o", str(out / "dec"), "--epochs", "2"]
    assert main([*decoder, "--batch-size", "4"]) == 0  # ~20 steps: a textured, not flat, face
    train = ["train", "--data", data, "--decoder", str(out / "dec"), "--steps", "2"]
    assert main([*train, "-o", str(out / "bundle")]) == 0
    return out / "bundle"


@pytest.fixture(scope="module")
def grid_gallery(data_dir, tmp_path_factory):
    """A dataset of the GRID speakers only (CC BY 4.0): their faces may be shown in docs."""
    from speech2face.dataset.sources import folder
    from speech2face.speech2face.data.build import PrepareConfig, prepare
    from speech2face.speech2face.data.reader import Dataset

    clips = folder.manifest_clips(data_dir / "manifest.csv")
    grid = [c for c in clips if c.identity.startswith("grid_")]
    out = tmp_path_factory.mktemp("grid")
    prepare(grid, out, PrepareConfig(workers=2))
    return Dataset(out)


@pytest.mark.slow
def test_gallery_nearest_finds_the_identity(grid_gallery):
    from speech2face.web.analysis import Gallery

    gallery = Gallery.from_dataset(grid_gallery)
    assert gallery.identities == grid_gallery.identities()
    assert gallery.faces.shape == (len(gallery.identities), 224, 224, 3)
    for i, name in enumerate(gallery.identities):
        found = gallery.nearest(gallery.features[i], k=3)
        assert found[0][0] == name and found[0][1] == pytest.approx(1.0, abs=1e-5)
        assert len(found) == 3 and found[0][1] >= found[1][1] >= found[2][1]
    with pytest.raises(ValueError, match="128-D features"):
        gallery.nearest(np.ones(64, np.float32))


@pytest.mark.slow
def test_analyse_windows_long_voices_with_progress(bundle, grid_gallery, data_dir):
    from speech2face import Speech2Face
    from speech2face.web.analysis import PitchThreshold, analyse, load_predictors

    model = Speech2Face.load(bundle)
    predictors = load_predictors(bundle)
    assert [p.name for p in predictors] == ["Speech2Face"] and predictors[0].feature_dim == 128
    threshold = PitchThreshold.fit(grid_gallery, per_gender=2)
    assert threshold is not None and threshold.segments == 4 and 80 < threshold.hz < 300
    steps = []
    voice = data_dir / LONG_VOICE
    result = analyse(voice, predictors, None, threshold, lambda f, text: steps.append((f, text)))
    assert result.message.startswith(f"**{voice.name}**: 13.3 s of audio -> 2 window(s)")
    assert [f for f, _ in steps] == [0.0, 0.5, 1.0]
    assert "window 2 of 2" in steps[1][1]
    image, feature = model.predict(voice)  # the same two windows, batched
    assert result.faces[0].shape == image.shape == (64, 64, 3)
    assert np.abs(result.faces[0].astype(int) - image).max() <= 1
    height, width, channels = result.spectrogram.shape
    assert channels == 3 and width > height > 200
    assert "median F0" in result.pitch and "by pitch alone" in result.pitch
    assert result.nearest == []  # no gallery given

    bad = analyse(ROOT / "pyproject.toml", predictors, None, threshold)
    assert bad.message.startswith("**Cannot use this input**: pyproject.toml: no audio track")
    assert bad.faces == [None] and bad.spectrogram is None and bad.pitch == ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(bundle, grid_gallery, tmp_path_factory):
    """`speech2face serve` in a subprocess on a free port; yields its URL."""
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "serve.log"
    cmd = [sys.executable, "-m", "speech2face", "serve", "--model", str(bundle)]
    cmd += ["--data", str(grid_gallery.root), "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "2"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 300
        while True:
            if proc.poll() is not None:
                pytest.fail(f"serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                pytest.fail(f"serve did not answer in 300 s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _chromium_or_skip() -> Path:
    if CHROMIUM.is_file():
        return CHROMIUM
    if under_ci():
        pytest.fail(f"{CHROMIUM} missing under CI: .ci/run installs Debian's chromium")
    pytest.skip(f"{CHROMIUM} missing: apt-get install chromium to run the browser test")


def _image(page, selector: str) -> np.ndarray:
    """The picture an <img> shows, fetched from the server as PNG bytes -> (H, W, C) uint8."""
    import io

    from PIL import Image

    src = page.get_attribute(selector, "src")
    assert src and src.endswith(".png"), src
    return np.asarray(Image.open(io.BytesIO(page.request.get(src).body())).convert("RGB"))


@pytest.mark.slow
def test_page_in_browser(server, bundle, grid_gallery, data_dir, tmp_path):
    """Four users at once: an mp3, a video, a text file, and a (fake) microphone recording."""
    chromium = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    from speech2face import Speech2Face, audio

    notes = tmp_path / "notes.txt"
    notes.write_text("These are meeting notes, not a voice.\n")
    uploads = [data_dir / MALE_VOICE, data_dir / FEMALE_VIDEO, notes]
    microphone = tmp_path / "microphone.wav"  # Chromium's fake microphone plays this voice
    wave = audio.load_audio(data_dir / LONG_VOICE, sr=48000)
    soundfile.write(microphone, wave, 48000, subtype="PCM_16")
    fake_microphone = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}",
    ]
    requested = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS + fake_microphone
        )
        try:
            pages = []
            for _ in range(len(uploads) + 1):  # each user in their own browser context
                context = browser.new_context(
                    viewport={"width": 1280, "height": 900}, permissions=["microphone"]
                )
                page = context.new_page()
                page.on("request", lambda r: requested.append(r.url))
                page.goto(server)
                page.wait_for_selector("#upload input[type=file]", state="attached")
                pages.append(page)
            *pages, speaker = pages
            speaker.click("#microphone button:has-text('Record')")
            for page, path in zip(pages, uploads, strict=True):  # at once, then wait
                page.set_input_files("#upload input[type=file]", str(path))
            speaker.wait_for_timeout(4000)
            speaker.click("#microphone button:has-text('Stop')")
            speaker.wait_for_function(
                "() => document.querySelector('#message').innerText.includes('s of audio')",
                timeout=180_000,
            )
            for page, path in zip(pages, uploads, strict=True):
                page.wait_for_function(
                    "name => document.querySelector('#message').innerText.includes(name)",
                    arg=path.name,
                    timeout=180_000,
                )
            male, female, text = pages
            for page in (male, female):
                page.wait_for_selector("#face-0 img", timeout=60_000)
                page.wait_for_function(
                    "() => document.querySelectorAll('#nearest img').length == 5", timeout=60_000
                )
            # each user sees the result of their own file
            assert "5.0 s of audio -> 1 window(s) of 6 s" in male.inner_text("#message")
            assert "3.0 s of audio" in female.inner_text("#message")
            assert " M by pitch alone" in male.inner_text("#pitch")
            assert " F by pitch alone" in female.inner_text("#pitch")
            speaker.wait_for_selector("#face-0 img", timeout=60_000)
            assert "window(s) of 6 s" in speaker.inner_text("#message")
            assert " F by pitch alone" in speaker.inner_text("#pitch")  # LibriSpeech 1998: F
            face = _image(male, "#face-0 img")
            assert face.shape == (64, 64, 3) and face.std() > 5.0, (face.shape, face.std())
            expected, _ = Speech2Face.load(bundle).predict(uploads[0])
            assert np.abs(face.astype(int) - expected).max() <= 1  # the model's own face
            spectrogram = _image(male, "#spectrogram img")
            assert spectrogram.shape[1] > spectrogram.shape[0] > 200 and spectrogram.std() > 10
            captions = male.inner_text("#nearest").split()
            shown = [c for c in captions if c in grid_gallery.identities()]
            assert len(shown) == 5 and len(set(shown)) == 5, captions
            assert _image(male, "#nearest img").shape == (224, 224, 3)
            # the text file: a one-line message in the page, no face, no traceback
            message = text.inner_text("#message")
            assert message.startswith("Cannot use this input: notes.txt: not an audio or"), message
            assert text.locator("#face-0 img").count() == 0
            assert "Traceback" not in text.content() and "Error" not in text.inner_text("body")
            shot = tmp_path / "serve.png"
            male.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    web = [u for u in requested if u.split(":")[0] in ("http", "https", "ws", "wss")]
    hosts = {u.split("/")[2] for u in web}
    assert hosts == {server.split("/")[2]}, hosts  # offline: nothing but our own server
    assert shot.stat().st_size > 20_000
    if os.environ.get("SPEECH2FACE_UPDATE_DOCS") == "1":  # 256 colours: a third of the bytes
        from PIL import Image

        with Image.open(shot) as image:
            image.convert("RGB").quantize(256).save(ROOT / "docs" / "serve.png", optimize=True)
