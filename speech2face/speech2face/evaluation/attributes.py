"""Gender agreement: a face-feature classifier, and the voice-pitch baseline beside it.

The classifier (scikit-learn logistic regression on standardised features) is trained on
train-split face features with the identities' gender labels. The pitch baseline
thresholds the median F0 of a voice (librosa.pyin); its threshold is the one that best
separates the train-split voices. On this data pitch alone is a strong cue, so a voice ->
face -> gender agreement is only meaningful beside it.
"""

from __future__ import annotations

import numpy as np

from speech2face.audio import SAMPLE_RATE

F0_MIN, F0_MAX = 60.0, 400.0  # Hz, the search range of pyin
FRAME = 1024  # samples (64 ms at 16 kHz)
HOP = 320  # samples (20 ms)


def gender_classifier(features: np.ndarray, genders: np.ndarray):
    """Fit a logistic-regression classifier of "M"/"F" on (N, D) face features.

    Raises:
        ValueError: fewer than two genders among the labels.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    genders = np.asarray(genders)
    if len(set(genders)) < 2:
        raise ValueError("need faces of both genders to train the gender classifier")
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0)).fit(
        features, genders
    )


def median_f0(wave: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    """Median fundamental frequency (Hz) of the voiced frames (librosa.pyin); nan if none."""
    import librosa

    f0, voiced, _ = librosa.pyin(
        np.asarray(wave, np.float32),
        fmin=F0_MIN,
        fmax=F0_MAX,
        sr=sr,
        frame_length=FRAME,
        hop_length=HOP,
    )
    f0 = f0[voiced & np.isfinite(f0)]
    return float(np.median(f0)) if f0.size else float("nan")


def best_threshold(f0: np.ndarray, genders: np.ndarray) -> float:
    """F0 threshold (Hz) above which a voice is called "F", maximising train accuracy."""
    f0, genders = np.asarray(f0), np.asarray(genders)
    ok = np.isfinite(f0)
    f0, genders = f0[ok], genders[ok]
    candidates = np.unique(f0)
    cuts = (candidates[:-1] + candidates[1:]) / 2 if len(candidates) > 1 else [165.0]
    scores = [np.mean(np.where(f0 > c, "F", "M") == genders) for c in cuts]
    return float(cuts[int(np.argmax(scores))])


def pitch_gender(f0: np.ndarray, threshold: float) -> np.ndarray:
    """(N,) median F0 -> (N,) "F" above the threshold, else "M"."""
    return np.where(np.asarray(f0) > threshold, "F", "M")
