"""The Speech2Face bundle: the folder `speech2face train` writes and `predict` loads.

One module owns the format, for writing and for reading:

    bundle.json                    face encoder, feature dimension, audio front end, voice
                                   route (paper CNN or speaker encoder, VAD), training
                                   options, steps, dataset and decoder-run paths, and the size
                                   and sha256 of every other file ("files"), checked at load
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

from speech2face import audio, integrity
from speech2face.errors import UserError

VOICE = "voice_encoder"  # model stems: <stem>.json + <stem>.weights.h5
DECODER = "face_decoder"
MEAN_FILE = "mean_landmarks.npy"  # also the name inside a train-decoder run folder
BUNDLE_FILE = "bundle.json"
FORMAT = 1  # bundle.json's "format": written now, and the newest this release reads
# the bundle that ships inside the package (MODEL_CARD.md in it): `predict` and `serve`
# use it when no --model is given; preprocess/build_default_model.py rebuilds it
DEFAULT_BUNDLE = Path(__file__).with_name("default_model")
MODEL_FILES = tuple(f"{stem}{ext}" for stem in (VOICE, DECODER) for ext in (".json", ".weights.h5"))


def remedy(bundle: str | os.PathLike) -> str:
    """What to do about a damaged bundle file (the end of the one-line error)."""
    if Path(bundle).resolve() == DEFAULT_BUNDLE.resolve():
        return "reinstall speech2face (pip install --force-reinstall speech2face)"
    return (
        f"re-run `speech2face train` with `-o {bundle}` to rewrite the bundle (from its "
        "checkpoint when it has one), or use another bundle"
    )


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
    voice_front_end: dict | None = None,
) -> Path:
    """Save a trained voice encoder and face decoder as a bundle folder.

    Args:
        out: the bundle folder (created).
        voice_encoder, face_decoder: Keras models.
        mean_landmarks: the decoder run's ``mean_landmarks.npy``, copied in.
        face_encoder, feature_dim: the face feature the models use (from the dataset).
        train: the training options (``asdict(TrainConfig)``). steps: optimizer steps run.
        dataset, decoder_run: folders recorded (resolved) for provenance.
        voice_front_end: {"voice_encoder": name, "vad": bool}: which voice route the voice
            encoder is ("paper", or a speaker encoder such as "ge2e") and whether a
            recording is trimmed of long silences before it is cut into windows
            (:mod:`speech2face.speech2face.inference`). Default: the paper's CNN, no VAD.
    Returns:
        ``out``. ``bundle.json`` is written last and atomically, so a folder with it is complete;
        it records the size and sha256 of the other files, which :func:`read_config` checks.
    """
    from speech2face.models import save_parts

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_parts(voice_encoder, out, VOICE)
    save_parts(face_decoder, out, DECODER)
    shutil.copy(mean_landmarks, out / MEAN_FILE)
    info = {
        "format": FORMAT,
        "face_encoder": face_encoder,
        "feature_dim": feature_dim,
        "audio": audio.constants(),
        "voice_front_end": voice_front_end or {"voice_encoder": "paper", "vad": False},
        "train": train,
        "steps": steps,
        "dataset": str(Path(dataset).resolve()),
        "decoder_run": str(Path(decoder_run).resolve()),
        "files": integrity.records(out, (*MODEL_FILES, MEAN_FILE)),
    }
    tmp = out / (BUNDLE_FILE + ".tmp")
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, out / BUNDLE_FILE)
    return out


def read_config(bundle: str | os.PathLike, verify: bool = True) -> dict:
    """The parsed ``bundle.json`` of a complete bundle folder, its files checked.

    Args:
        verify: compare every file with the size and sha256 that ``bundle.json`` records
            (bundles written before the records existed are checked for presence only).
    Raises:
        UserError: the folder lacks ``bundle.json`` or a model file (names them), or its
            ``format`` is newer than :data:`FORMAT`.
        DamagedFileError: ``bundle.json`` is not valid JSON, or a file differs from its
            record (truncated, altered, replaced); the message names it and what to do.
    """
    bundle = Path(bundle)
    missing = [n for n in (BUNDLE_FILE, *MODEL_FILES) if not (bundle / n).is_file()]
    if missing:
        raise UserError(
            f"{bundle}: not a Speech2Face bundle (missing {', '.join(missing)}); "
            "train one with `speech2face train` or `speech2face demo`"
        )
    with integrity.reading(bundle / BUNDLE_FILE, remedy(bundle), "bundle config"):
        config = json.loads((bundle / BUNDLE_FILE).read_text())
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    integrity.check_format(bundle / BUNDLE_FILE, config, FORMAT, "bundle")
    if verify:
        integrity.check_all(bundle, config.get("files", {}), remedy(bundle), what="bundle file")
    return config


def default_bundle() -> Path:
    """The shipped bundle's folder (:data:`DEFAULT_BUNDLE`).

    Raises:
        UserError: this installation has no shipped bundle.
    """
    if not (DEFAULT_BUNDLE / BUNDLE_FILE).is_file():
        raise UserError(
            f"{DEFAULT_BUNDLE}: this installation has no shipped model; pass --model BUNDLE "
            "(from `speech2face train`) or rebuild it with preprocess/build_default_model.py"
        )
    return DEFAULT_BUNDLE


def load_bundle(bundle: str | os.PathLike, verify: bool = True) -> tuple:
    """Load a bundle folder: (voice encoder, face decoder, config dict from ``bundle.json``).

    Args:
        verify: check every file's sha256 first (about 0.5 s per 250 MB on a CPU core here);
            the sizes are checked either way.
    Raises:
        UserError: the folder is not a complete bundle.
        DamagedFileError: a file is damaged or foreign (checked against ``bundle.json``
            first; a file that still fails to load is named with the loader's cause).
    """
    from speech2face.models import load_parts

    config = read_config(bundle, verify=False)
    integrity.check_all(
        bundle, config.get("files", {}), remedy(bundle), what="bundle file", full=verify
    )
    fix = remedy(bundle)
    return load_parts(bundle, VOICE, fix), load_parts(bundle, DECODER, fix), config
