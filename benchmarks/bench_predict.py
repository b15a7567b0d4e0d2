"""Bundle load time and warm `predict` latency per 6 s clip, paper and small presets; and
training step time at batch 8 on this machine. Weights are random (speed only).

Run: ``python benchmarks/bench_predict.py [--skip-paper-train]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from speech2face import Speech2Face, audio
from speech2face.models import save_parts
from speech2face.samples import local_samples
from speech2face.speech2face.bundle import BUNDLE_FILE, DECODER, VOICE
from speech2face.speech2face.models.face_decoder import build_face_decoder
from speech2face.speech2face.models.voice_encoder import build_voice_encoder
from speech2face.speech2face.training.losses import Speech2FaceLoss

DIM = {"paper": 4096, "small": 128}


def _bundle(folder: Path, preset: str):
    voice = build_voice_encoder(DIM[preset], preset)
    decoder = build_face_decoder(DIM[preset], np.full((68, 2), 0.5, np.float32), preset)
    save_parts(voice, folder, VOICE)
    save_parts(decoder, folder, DECODER)
    (folder / BUNDLE_FILE).write_text(json.dumps({"feature_dim": DIM[preset]}))
    return voice, decoder


def _train_step(voice, decoder, steps: int) -> float:
    loss = Speech2FaceLoss(decoder.get_layer("f_dec").get_weights())
    voice.compile(keras.optimizers.Adam(1e-3, beta_1=0.5, epsilon=1e-4), loss=loss)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, audio.N_SAMPLES)).astype(np.float32) * 0.1
    y = rng.normal(size=(8, voice.output.shape[-1])).astype(np.float32)
    voice.train_on_batch(x, y)  # compile
    start = time.perf_counter()
    for _ in range(steps):
        voice.train_on_batch(x, y)
    return (time.perf_counter() - start) / steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-paper-train", action="store_true")
    args = parser.parse_args()
    clip = audio.loop_pad(audio.load_audio(local_samples() / "av/vox2_a00015/00015.mp4"))
    for preset in ("small", "paper"):
        with tempfile.TemporaryDirectory() as tmp:
            voice, decoder = _bundle(Path(tmp), preset)
            start = time.perf_counter()
            model = Speech2Face.load(tmp)
            t_load = time.perf_counter() - start
            model.predict(clip)  # warm-up
            start = time.perf_counter()
            for _ in range(5):
                model.predict(clip)
            t_pred = (time.perf_counter() - start) / 5
            print(
                f"{preset:5s}: {voice.count_params():>11,} voice + {decoder.count_params():>10,}"
                f" decoder parameters; load {t_load:5.2f} s; warm predict {t_pred:5.3f} s/clip"
            )
            if preset == "paper" and args.skip_paper_train:
                continue
            steps = 5 if preset == "small" else 2
            step = _train_step(voice, decoder, steps)
            print(f"{preset:5s}: training step at batch 8: {step:6.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
