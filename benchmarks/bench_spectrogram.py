"""Clips per second of the Speech2Face spectrogram on real 6 s clips.

Compares the numpy reference, the Keras ``Spectrogram`` layer on batches of 32, and a
per-file ``librosa.stft`` loop (the front end of earlier reimplementations), with and
without per-file ``librosa.load``. Run: ``python benchmarks/bench_spectrogram.py``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from speech2face import audio
from speech2face.samples import local_samples

DATA = local_samples()


def _timed(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    files = sorted(DATA.glob("speech/*/*.flac"))[:32] + sorted(DATA.glob("av/*/*.mp4"))[:32]
    files = files[:64]
    if not files:
        print(f"no sample clips under {DATA}", file=sys.stderr)
        return 1
    waves = np.stack([audio.loop_pad(audio.load_audio(f)) for f in files])
    n = len(waves)
    print(f"{n} real clips of 6 s from {DATA}")

    t_np = _timed(lambda: [audio.spectrogram(w) for w in waves])
    print(f"numpy reference          : {n / t_np:8.1f} clips/s")

    import keras  # backend chosen by KERAS_BACKEND

    from speech2face.speech2face.models.spectrogram import Spectrogram

    layer = Spectrogram()
    batches = [waves[i : i + 32] for i in range(0, n, 32)]
    layer(batches[0])  # build
    t_e = _timed(lambda: [np.asarray(layer(b)) for b in batches])
    print(f"Keras layer eager, b 32  : {n / t_e:8.1f} clips/s  ({keras.backend.backend()} backend)")
    inputs = keras.Input((audio.N_SAMPLES,))
    model = keras.Model(inputs, layer(inputs))
    model.predict_on_batch(batches[0])  # compile
    t_k = _timed(lambda: [model.predict_on_batch(b) for b in batches])
    print(f"Keras layer compiled, b32: {n / t_k:8.1f} clips/s  (model.predict_on_batch)")

    import librosa

    def librosa_loop():
        for w in waves:
            s = librosa.stft(w, n_fft=512, hop_length=160, win_length=400, center=False)
            np.sign(s.real) * np.abs(s.real) ** 0.3, np.sign(s.imag) * np.abs(s.imag) ** 0.3

    t_l = _timed(librosa_loop)
    print(f"librosa.stft loop        : {n / t_l:8.1f} clips/s")

    def librosa_load_loop():
        for f in flacs:
            w, _ = librosa.load(f, sr=16000, duration=6.0)
            s = librosa.stft(w, n_fft=512, hop_length=160, win_length=400, center=False)
            np.sign(s.real) * np.abs(s.real) ** 0.3, np.sign(s.imag) * np.abs(s.imag) ** 0.3

    # librosa.load reads only what libsndfile reads (no mp4/mpg without an ffmpeg binary)
    flacs = [f for f in files if f.suffix == ".flac"]
    t_ll = _timed(librosa_load_loop, repeat=1) / len(flacs)
    print(f"librosa.load+stft loop   : {1 / t_ll:8.1f} clips/s  (flac only: it cannot open mp4)")
    print(f"compiled layer vs librosa.stft loop      : {t_l / t_k:6.2f}x per clip")
    print(f"compiled layer vs librosa.load+stft loop : {t_ll * n / t_k:6.2f}x per clip")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
