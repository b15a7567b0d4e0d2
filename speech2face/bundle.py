"""The Speech2Face bundle: the folder `speech2face train` writes and `predict` loads.

One module owns the format, for writing and for reading:

    bundle.json                    face encoder, feature dimension, audio front end, training
                                   options, steps, dataset and decoder-run paths
    voice_encoder.json + .weights.h5   architecture + weights (:func:`models.save_parts`)
    face_decoder.json  + .weights.h5
    mean_landmarks.npy             (68, 2) float32 normalised (x, y), from the decoder run

Keras is imported only when models are saved or loaded.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from speech2face import audio
from speech2face.errors import UserError

VOICE = "voice_encoder"  # model stems: <stem>.json + <stem>.weights.h5
DECODER = "face_decoder"
MEAN_FILE = "mean_landmarks.npy"  # also the name inside a train-decoder run folder
BUNDLE_FILE = "bundle.json"
PARTS = tuple(f"{stem}{ext}" for stem in (VOICE, DECODER) for ext in (".json", ".weights.h5"))


def write_bundle(
    out: str | os.PathLike,
    voice_encoder,
    face_decoder,
    mean_landmarks: str | os.PathLike,
    *,
    face_encoder: str,
    feature_dim: int,
    train: dict,
    steps: int,
    dataset: str | os.PathLike,
    decoder_run: str | os.PathLike,
) -> Path:
    """Save a trained voice encoder and face decoder as a bundle folder.

    Args:
        out: the bundle folder (created).
        voice_encoder, face_decoder: Keras models.
        mean_landmarks: the decoder run's ``mean_landmarks.npy``, copied in.
        face_encoder, feature_dim: the face feature the models use (from the dataset).
        train: the training options (``asdict(TrainConfig)``). steps: optimizer steps run.
        dataset, decoder_run: folders recorded (resolved) for provenance.
    Returns:
        ``out``. ``bundle.json`` is written last and atomically, so a folder with it is complete.
    """
    from speech2face.models import save_parts

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_parts(voice_encoder, out, VOICE)
    save_parts(face_decoder, out, DECODER)
    shutil.copy(mean_landmarks, out / MEAN_FILE)
    info = {
        "face_encoder": face_encoder,
        "feature_dim": feature_dim,
        "audio": audio.constants(),
        "train": train,
        "steps": steps,
        "dataset": str(Path(dataset).resolve()),
        "decoder_run": str(Path(decoder_run).resolve()),
    }
    tmp = out / (BUNDLE_FILE + ".tmp")
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, out / BUNDLE_FILE)
    return out


def read_config(bundle: str | os.PathLike) -> dict:
    """The parsed ``bundle.json`` of a complete bundle folder.

    Raises:
        UserError: the folder lacks ``bundle.json`` or a model file (names them).
    """
    bundle = Path(bundle)
    missing = [n for n in (BUNDLE_FILE, *PARTS) if not (bundle / n).is_file()]
    if missing:
        raise UserError(
            f"{bundle}: not a Speech2Face bundle (missing {', '.join(missing)}); "
            "train one with `speech2face train` or `speech2face demo`"
        )
    return json.loads((bundle / BUNDLE_FILE).read_text())


def load_bundle(bundle: str | os.PathLike) -> tuple:
    """Load a bundle folder: (voice encoder, face decoder, config dict from ``bundle.json``).

    Raises:
        UserError: the folder is not a complete bundle.
    """
    from speech2face.models import load_parts

    config = read_config(bundle)
    return load_parts(bundle, VOICE), load_parts(bundle, DECODER), config
