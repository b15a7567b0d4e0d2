"""The GE2E speaker encoder: Resemblyzer's embeddings reproduced, partial slicing, VAD,
the shipped weights checked, and speaker verification on the sample's read speech."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from speech2face import audio
from speech2face.integrity import DamagedFileError
from speech2face.voices import ge2e

REFERENCE = Path(__file__).with_name("data")


def test_partial_starts_follow_resemblyzer():
    # 6 s: 601 frames; partials every 77 frames; the 7th (462..622) covers 86 % -> kept
    starts, padded = ge2e.partial_starts(96_000)
    assert starts == [0, 77, 154, 231, 308, 385, 462]
    assert padded == (462 + 160) * 160
    # 2 s: 201 frames -> starts 0, 77; the second covers (32000 - 12320) / 25600 = 77 %
    assert ge2e.partial_starts(32_000)[0] == [0, 77]
    # 1.9 s: the second covers (30400 - 12320) / 25600 = 71 % < 75 % -> dropped, and the
    # waveform, longer than the one partial left, is not padded
    assert ge2e.partial_starts(30_400) == ([0], 30_400)
    assert ge2e.partial_starts(100)[0] == [0]  # always at least one


def test_volume_normalisation_only_raises():
    quiet = np.full(1600, 0.001, np.float32)
    loud = np.full(1600, 0.5, np.float32)
    rms = float(np.sqrt(np.mean(ge2e.normalize_volume(quiet) ** 2)))
    assert abs(20 * np.log10(rms) - ge2e.TARGET_DBFS) < 1e-3
    np.testing.assert_array_equal(ge2e.normalize_volume(loud), loud)
    layer = ge2e.VolumeNormalization()
    out = np.asarray(layer(np.stack([quiet, loud, np.zeros(1600, np.float32)])))
    np.testing.assert_allclose(out[0], ge2e.normalize_volume(quiet), rtol=1e-5)
    np.testing.assert_array_equal(out[1], loud)
    assert np.all(out[2] == 0)  # silence stays silence, no NaN


@pytest.fixture(scope="module")
def references(data_dir):
    info = json.loads((REFERENCE / "ge2e_reference.json").read_text())
    waves = [audio.load_audio(data_dir / c["clip"]) for c in info["clips"]]
    return (
        waves,
        np.load(REFERENCE / "ge2e_reference.npy"),
        np.load(REFERENCE / "ge2e_reference_raw.npy"),
    )


def test_reproduces_resemblyzer_embeddings(references):
    """Embeddings computed by the conversion script with Resemblyzer itself (PyTorch)."""
    waves, full, raw = references
    for wave, want_full, want_raw in zip(waves, full, raw, strict=True):
        got_full = ge2e.embed_utterance(wave)  # volume + VAD + mel + LSTM, all ours
        got_raw = ge2e.embed_utterance(wave, preprocessed=True)
        assert np.abs(got_full - want_full).max() <= 1e-4
        assert np.abs(got_raw - want_raw).max() <= 1e-4
        assert abs(np.linalg.norm(got_full) - 1) < 1e-5 and got_full.min() >= 0


def test_window_model_equals_the_utterance_embedding(references):
    waves, _, _ = references
    window = ge2e.build_window_encoder(audio.N_SAMPLES)
    assert not window.trainable_weights  # frozen by default
    batch = np.stack([w[: audio.N_SAMPLES] for w in waves])
    got = np.asarray(window.predict_on_batch(batch))
    for row, wave in zip(got, batch, strict=True):
        want = ge2e.embed_utterance(ge2e.normalize_volume(wave), preprocessed=True)
        assert np.abs(row - want).max() <= 1e-5
    assert ge2e.build_window_encoder(audio.N_SAMPLES, trainable=True).trainable_weights


def test_vad_cuts_long_silences_only(references):
    speech = references[0][0][: 2 * audio.SAMPLE_RATE]
    gap = np.zeros(3 * audio.SAMPLE_RATE, np.float32)
    with_gap = ge2e.trim_long_silences(np.concatenate([speech, gap, speech])).size
    without = ge2e.trim_long_silences(np.concatenate([speech, speech])).size
    assert without > 1.5 * audio.SAMPLE_RATE  # speech is kept
    # the 3 s gap is cut down to what the dilation keeps around speech (6 x 30 ms a side)
    assert 0 <= with_gap - without <= 2 * 7 * ge2e.VAD_WINDOW
    assert ge2e.trim_long_silences(gap).size == gap.size  # no speech at all: kept whole


def test_shipped_weights_are_checked(monkeypatch, tmp_path):
    monkeypatch.setattr(ge2e, "WEIGHTS_SHA256", "0" * 64)
    with pytest.raises(DamagedFileError, match="not the shipped one"):
        ge2e.build_window_encoder(audio.N_SAMPLES)
    foreign = tmp_path / "foreign.h5"
    foreign.write_bytes(b"not hdf5")
    with pytest.raises(DamagedFileError, match="not a GE2E weights file"):
        ge2e.load_weights(ge2e.build_partial_encoder(), foreign)


def equal_error_rate(same: np.ndarray, different: np.ndarray) -> float:
    """The rate where false accepts equal false rejects, over every threshold."""
    thresholds = np.unique(np.concatenate([same, different]))
    best = 1.0
    for t in thresholds:
        false_reject = np.mean(same < t)
        false_accept = np.mean(different >= t)
        best = min(best, max(false_reject, false_accept))
    return float(best)


@pytest.mark.slow
def test_speaker_verification_on_read_speech(data_dir):
    """Same-speaker recordings are closer than different speakers' (LibriSpeech, VCTK)."""
    speakers = {}
    for folder in sorted((data_dir / "speech").iterdir()):
        files = sorted(folder.glob("*.flac")) + sorted(folder.glob("*.mp3"))
        if folder.name.startswith(("libri_", "vctk_")) and files:
            speakers[folder.name] = files[:4]
    multi = [s for s, f in speakers.items() if len(f) >= 2]
    assert len(multi) >= 5
    names, embeddings = [], []
    for speaker in multi + [s for s in speakers if s not in multi][:20]:
        for path in speakers[speaker]:
            names.append(speaker)
            embeddings.append(ge2e.embed_utterance(audio.load_audio(path)))
    names, embeddings = np.array(names), np.stack(embeddings)
    cos = embeddings @ embeddings.T
    pair = np.triu(np.ones_like(cos, bool), 1)
    same, different = cos[pair & (names[:, None] == names)], cos[pair & (names[:, None] != names)]
    eer = equal_error_rate(same, different)
    print(
        f"speaker verification: {len(same)} same-speaker pairs (cos {same.mean():.3f}), "
        f"{len(different)} different (cos {different.mean():.3f}), EER {eer:.3f}"
    )
    assert same.mean() > different.mean() + 0.1
    assert eer <= 0.1
