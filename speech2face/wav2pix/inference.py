"""Wav2Pix run: load once, generate faces from any speech recording.

>>> from speech2face.wav2pix.inference import Wav2Pix
>>> model = Wav2Pix.load("runs/demo_wav2pix/run")
>>> image, embedding = model.predict("voice.flac")           # (S, S, 3) uint8, (128,)
>>> images, embeddings = model.predict(wave, per_window=True)  # one face per second

Speech is cut into 1 s windows (16,000 samples at 16 kHz, no overlap; a recording shorter
than 1 s is repeated to fill one window, a tail shorter than a window is dropped), each
window scaled by its absolute maximum and pre-emphasised
(:func:`speech2face.wav2pix.pairs.scale_and_emphasize`), as in training.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from speech2face import audio, integrity
from speech2face.errors import UserError

RUN_FILE = "run.json"
FORMAT = 1  # run.json's "format": written now, and the newest this release reads
INFERENCE_PARTS = ("speech_encoder", "generator", "speaker_classifier")
BATCH = 64


def remedy(run: str | os.PathLike) -> str:
    """What to do about a damaged Wav2Pix run file (the end of the one-line error)."""
    return (
        f"re-run `speech2face wav2pix train` with `-o {run}` to export the run again (from "
        "its checkpoint when it has one), or use another run"
    )


class Wav2Pix:
    """A trained Wav2Pix: speech encoder, generator and speaker classifier.

    Attributes:
        encoder, generator, classifier: Keras models. config: the run's ``run.json``.
        identities: the training identities (the classifier's classes, in order).
        image_size: 64 or 128.
    """

    def __init__(self, encoder, generator, classifier, config: dict):
        self.encoder, self.generator, self.classifier = encoder, generator, classifier
        self.config = config
        self.identities = list(config["identities"])
        self.image_size = int(config["image_size"])
        self.window = int(config.get("window", 16000))

    @classmethod
    def load(cls, run: str | os.PathLike, stochastic: bool = False) -> Wav2Pix:
        """Load a run folder written by `speech2face wav2pix train`.

        Args:
            stochastic: keep the generator's dropout on at inference, as the authors'
                code did (a different face at every call); off by default.
        Raises:
            UserError: the folder is not a finished Wav2Pix run, or one of a newer format.
            DamagedFileError: ``run.json`` or a model file is damaged or foreign (checked
                against the size and sha256 that ``run.json`` records, then loaded under
                a guard that names the file and what to do).
        """
        from speech2face.models import load_parts
        from speech2face.wav2pix import layers

        run = Path(run)
        needed = [RUN_FILE] + [
            f"{p}{ext}" for p in INFERENCE_PARTS for ext in (".json", ".weights.h5")
        ]
        missing = [n for n in needed if not (run / n).is_file()]
        if missing:
            raise UserError(
                f"{run}: not a finished Wav2Pix run (missing {', '.join(missing)}); "
                "train one with `speech2face wav2pix train`"
            )
        fix = remedy(run)
        with integrity.reading(run / RUN_FILE, fix, "Wav2Pix run record"):
            config = json.loads((run / RUN_FILE).read_text())
            if not isinstance(config, dict):
                raise ValueError("not a JSON object")
        integrity.check_format(run / RUN_FILE, config, FORMAT, "Wav2Pix run")
        integrity.check_all(run, config.get("files", {}), fix, what="Wav2Pix run file")
        encoder, generator, classifier = (load_parts(run, p, fix) for p in INFERENCE_PARTS)
        for layer in generator.layers:
            if isinstance(layer, layers.NoiseDropout):
                layer.at_inference = stochastic
        return cls(encoder, generator, classifier, config)

    def windows(self, wave: np.ndarray) -> np.ndarray:
        """(n,) float waveform at 16 kHz -> (k, 16000) float32 raw 1 s windows (k >= 1)."""
        seconds = self.window / audio.SAMPLE_RATE
        return audio.windows(np.asarray(wave, np.float32), seconds=seconds).astype(np.float32)

    def embed(self, windows: np.ndarray) -> np.ndarray:
        """(k, 16000) raw windows -> (k, 128) float32 speech embeddings."""
        from speech2face.wav2pix.pairs import scale_and_emphasize

        x = scale_and_emphasize(windows)
        out = [self.encoder(x[i : i + BATCH], training=False) for i in range(0, len(x), BATCH)]
        return np.concatenate([np.asarray(o) for o in out]).astype(np.float32)

    def generate(self, embeddings: np.ndarray) -> np.ndarray:
        """(k, 128) embeddings -> (k, S, S, 3) uint8 RGB faces."""
        from speech2face.wav2pix.pair_reader import to_uint8

        e = np.asarray(embeddings, np.float32)
        out = [self.generator(e[i : i + BATCH], training=False) for i in range(0, len(e), BATCH)]
        return to_uint8(np.concatenate([np.asarray(o) for o in out]))

    def speaker_probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """(k, 128) -> (k, n_identities) softmax of the speaker classifier."""
        logits = np.asarray(self.classifier(np.asarray(embeddings, np.float32), training=False))
        z = np.exp(logits - logits.max(-1, keepdims=True))
        return z / z.sum(-1, keepdims=True)

    def prediction(self, speech, progress=None, name: str | None = None):
        """One face from a path or a 16 kHz waveform, with what the input was like: the
        :class:`speech2face.predict_files.Prediction` that `predict` writes to files
        (:func:`speech2face.predict_files.predict_files`); its ``vector`` is the mean
        128-D speech embedding.

        Args:
            progress: ``progress(windows done, windows in all)``, called once at the end.
            name: how a warning names the input (default: the path, or "the waveform").
        Raises:
            AudioError: the file cannot give a waveform.
        """
        from speech2face.predict_files import Prediction, silence_note

        is_path = isinstance(speech, str | os.PathLike)
        wave = audio.load_audio(speech) if is_path else np.asarray(speech, np.float32)
        name = name or (str(speech) if is_path else "the waveform")
        windows = self.windows(wave)
        mean = self.embed(windows).mean(0, keepdims=True)
        if progress is not None:
            progress(len(windows), len(windows))
        fraction = audio.speech_fraction(wave, audio.SILENCE_RMS)
        return Prediction(
            self.generate(mean)[0],
            mean[0],
            wave.size / audio.SAMPLE_RATE,
            len(windows),
            fraction,
            silence_note(name, fraction),
        )

    def predict(self, speech, per_window: bool = False):
        """Faces from a path (any audio or video file) or a 16 kHz float waveform.

        Args:
            per_window: one face per 1 s window instead of one face from the average
                embedding of all windows.
        Returns:
            (image (S, S, 3) uint8, embedding (128,) float32), or with ``per_window``
            (images (k, S, S, 3) uint8, embeddings (k, 128) float32).
        Raises:
            AudioError: the file cannot give a waveform. ValueError: an empty waveform.
        """
        wave = audio.load_audio(speech) if isinstance(speech, str | os.PathLike) else speech
        emb = self.embed(self.windows(wave))
        if per_window:
            return self.generate(emb), emb
        mean = emb.mean(0, keepdims=True)
        return self.generate(mean)[0], mean[0]
