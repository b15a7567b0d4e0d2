"""Audio front end on real files (../shared/data) and on bad input made here."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from speech2face import audio
from speech2face.audio import AudioError

REAL = {
    "librispeech_flac": "speech/libri_1088/1088-129236-0000.flac",
    "vctk_mp3": None,  # found by glob below
    "grid_mpg_mp2": "av/grid_s2/pwij3p.mpg",
    "voxceleb2_mp4": "av/vox2_a00015/00015.mp4",
    "sidecar_mp4": "av/obama/Obama_clip1.mp4",
}


def _real(data_dir, key):
    if key == "vctk_mp3":
        return sorted(data_dir.glob("speech/vctk_*/*.mp3"))[0]
    return data_dir / REAL[key]


@pytest.mark.parametrize("key", list(REAL))
def test_load_real_files(data_dir, key):
    path = _real(data_dir, key)
    wave = audio.load_audio(path)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert wave.size > audio.SAMPLE_RATE  # every sample file holds more than a second
    assert -1.0 <= wave.min() and wave.max() <= 1.0
    assert audio.rms(wave) > 1e-3  # real speech, not silence


def test_durations_match_manifest(data_dir):
    # GRID clips are 3.00 s, the obama sidecar 20.01 s (manifest.csv)
    assert abs(audio.load_audio(data_dir / REAL["grid_mpg_mp2"]).size / 16000 - 3.0) < 0.05
    assert abs(audio.load_audio(data_dir / REAL["sidecar_mp4"]).size / 16000 - 20.01) < 0.05


def test_sidecar_used_when_video_is_silent(data_dir):
    video = data_dir / REAL["sidecar_mp4"]
    assert audio.find_sidecar(video) == video.with_suffix(".wav")
    np.testing.assert_array_equal(
        audio.load_audio(video), audio.load_audio(video.with_suffix(".wav"))
    )


def test_start_end_window(data_dir):
    wave = audio.load_audio(data_dir / REAL["sidecar_mp4"], start=1.0, end=3.5)
    assert wave.size == 40000


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="not found") as err:
        audio.load_audio(tmp_path / "nope.wav")
    assert "nope.wav" in str(err.value)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        audio.load_audio(path)


def test_text_file_named_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 20)
    with pytest.raises(AudioError, match="notes.wav: cannot decode"):
        audio.load_audio(path)


def _silent_video(path, n_frames=5):
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(n_frames):
            img = np.full((64, 64, 3), i * 40, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def test_video_without_audio_or_sidecar(tmp_path):
    path = tmp_path / "silent.mp4"
    _silent_video(path)
    with pytest.raises(AudioError, match="no audio stream, and no sidecar silent.wav"):
        audio.load_audio(path)


def test_very_short_clip_loop_pads(tmp_path):
    path = tmp_path / "short.wav"
    tone = (0.5 * np.sin(np.arange(800) * 0.1)).astype(np.float32)  # 0.05 s
    sf.write(path, tone, 16000)
    wave = audio.load_audio(path)
    assert abs(wave.size - 800) <= 1
    padded = audio.loop_pad(wave)
    assert padded.shape == (audio.N_SAMPLES,)
    np.testing.assert_allclose(padded[wave.size : 2 * wave.size], wave, atol=1e-6)
    assert audio.spectrogram(padded).shape == (598, 257, 2)


def test_multichannel_96k_downmixed_and_resampled(tmp_path):
    path = tmp_path / "eight.wav"
    t = np.arange(96000) / 96000.0  # 1 s at 96 kHz
    chans = np.stack([0.1 * np.sin(2 * np.pi * 440 * t)] * 8, axis=1).astype(np.float32)
    sf.write(path, chans, 96000)
    wave = audio.load_audio(path)
    assert abs(wave.size - 16000) <= 32
    spectrum = np.abs(np.fft.rfft(wave[2000:14000]))
    peak_hz = np.argmax(spectrum) * 16000 / 12000
    assert abs(peak_hz - 440) < 5
    assert audio.rms(wave) > 0.01


def test_loop_pad_cuts_and_windows():
    wave = np.arange(10 * 16000, dtype=np.float32)
    assert audio.loop_pad(wave).shape == (96000,)
    np.testing.assert_array_equal(audio.loop_pad(wave), wave[:96000])
    w = audio.windows(wave)  # 10 s -> one 6 s window (tail dropped)
    assert w.shape == (1, 96000)
    w = audio.windows(wave, hop_seconds=1.0)
    assert w.shape == (5, 96000) and w[1, 0] == 16000
    with pytest.raises(ValueError):
        audio.loop_pad(np.zeros(0))


def test_spectrogram_shape_and_compression(data_dir):
    wave = audio.loop_pad(audio.load_audio(data_dir / REAL["voxceleb2_mp4"]))
    spec = audio.spectrogram(wave)
    assert spec.shape == (598, 257, 2) and spec.dtype == np.float32
    # compression is applied to re and im independently: undo it and compare to the STFT
    linear = np.sign(spec) * np.abs(spec.astype(np.float64)) ** (1 / 0.3)
    ref = audio.stft(wave)
    np.testing.assert_allclose(linear[..., 0], ref.real, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(linear[..., 1], ref.imag, atol=1e-4, rtol=1e-4)


def test_spectrogram_equals_tf_signal_stft(data_dir):
    tf = pytest.importorskip("tensorflow")
    wave = audio.loop_pad(audio.load_audio(data_dir / REAL["grid_mpg_mp2"]))
    s = tf.signal.stft(wave[None], frame_length=400, frame_step=160, fft_length=512)[0].numpy()
    ours = audio.stft(wave)
    assert ours.shape == s.shape == (598, 257)
    # the linear transform agrees to float32 rounding
    np.testing.assert_allclose(ours.real, s.real, atol=1e-4)
    np.testing.assert_allclose(ours.imag, s.imag, atol=1e-4)
    # after |x|^0.3 compression: 1e-4 wherever the slope of the compression is bounded
    tf_c = audio.compress(np.stack([s.real, s.imag], -1))
    spec = audio.spectrogram(wave)
    away = np.abs(np.stack([s.real, s.imag], -1)) > 1e-2
    np.testing.assert_allclose(spec[away], tf_c[away], atol=1e-4)
    # near zero, float32 rounding (~1e-6) is lifted by the power 0.3 to at most ~1e-2
    assert np.abs(spec - tf_c).max() < 2e-2
