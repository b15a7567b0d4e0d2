"""`speech2face evaluate`: every protocol on one split of a dataset, metrics.json + pictures.

Protocols: retrieval (§4.1, two galleries, three distances, chance rows), feature
similarity, gender agreement beside the voice-pitch baseline, craniofacial correlations
(Table 2), and Wav2Pix's landmark-detection ratio on faces rendered from voices.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from speech2face import faces
from speech2face.dataset.reader import Dataset
from speech2face.dataset.shards import decode_audio
from speech2face.errors import UserError
from speech2face.evaluation import attributes, craniofacial, retrieval
from speech2face.evaluation.decoder_quality import rendered_to_crops

BATCH = 16


def _predict_features(model, audio_int16: np.ndarray) -> np.ndarray:
    waves = decode_audio(audio_int16)
    return np.concatenate(
        [model.features(waves[i : i + BATCH]) for i in range(0, len(waves), BATCH)]
    )


def _decode(model, features: np.ndarray) -> dict:
    out = model.face_decoder.predict(np.asarray(features, np.float32), verbose=0, batch_size=BATCH)
    return {"image": np.clip(out["image"], 0, 1), "landmarks": out["landmarks"]}


def landmark_detection_ratio(images: np.ndarray) -> float:
    """Share of rendered faces (N, S, S, 3 in [0, 1]) where dlib finds a face + 68 landmarks.

    Images are upscaled to 224 px first (dlib's HOG detector needs faces of ~80 px).
    """
    crops = rendered_to_crops(images)
    found = sum(faces.find_face(c) is not None for c in crops)
    return found / max(1, len(crops))


def gender_agreement(
    dataset: Dataset, split_data: dict, pred: np.ndarray, rendered: np.ndarray, encoder
) -> dict:
    """Gender of faces decoded from voices vs the truth, with the pitch baseline."""
    train = dataset.load("train", ("feature", "gender", "audio"))
    keep = np.isin(train["gender"], ["M", "F"])
    clf = attributes.gender_classifier(train["feature"][keep], train["gender"][keep])
    truth = split_data["gender"]
    known = np.isin(truth, ["M", "F"])
    crops = rendered_to_crops(rendered)
    rendered_feats = encoder.encode(crops)
    f0_train = np.array([attributes.median_f0(w) for w in decode_audio(train["audio"][keep])])
    threshold = attributes.best_threshold(f0_train, train["gender"][keep])
    f0_test = np.array([attributes.median_f0(w) for w in decode_audio(split_data["audio"])])

    def acc(labels):
        return float(np.mean(np.asarray(labels)[known] == truth[known])) if known.any() else None

    return {
        "n": int(known.sum()),
        "majority_baseline": float(max(np.mean(truth[known] == g) for g in "MF"))
        if known.any()
        else None,
        "decoded_face_from_voice": acc(clf.predict(rendered_feats)),
        "predicted_feature": acc(clf.predict(pred)),
        "true_face_feature": acc(clf.predict(split_data["feature"])),
        "voice_pitch_baseline": acc(attributes.pitch_gender(f0_test, threshold)),
        "pitch_threshold_hz": threshold,
    }


def evaluate(
    data: str | os.PathLike, bundle: str | os.PathLike, out: str | os.PathLike, split: str = "test"
) -> dict:
    """Run every protocol; write ``metrics.json``, pictures and ``index.html`` into ``out``.

    Returns:
        The metrics dict (also in ``out/metrics.json``).
    Raises:
        UserError: empty split, or a bundle whose features do not match the dataset.
    """
    from speech2face.evaluation import report
    from speech2face.inference import Speech2Face

    dataset = Dataset(data)
    model = Speech2Face.load(bundle)
    if int(model.config["feature_dim"]) != dataset.feature_dim:
        raise UserError(
            f"{bundle} predicts {model.config['feature_dim']}-D features, "
            f"{data} holds {dataset.feature_dim}-D {dataset.face_encoder} features"
        )
    seg = dataset.load(split)
    if not len(seg["identity"]):
        raise UserError(f"{data}: no segments in split {split!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    encoder = faces.get_encoder(dataset.face_encoder) if dataset.face_encoder == "dlib" else None
    pred = _predict_features(model, seg["audio"])
    from_voice = _decode(model, pred)
    from_face = _decode(model, seg["feature"])
    metrics = {
        "split": split,
        "segments": int(len(pred)),
        "identities": int(len(set(seg["identity"]))),
        "face_encoder": dataset.face_encoder,
        "retrieval": retrieval.retrieval(pred, seg["feature"], seg["identity"]),
        "similarity": retrieval.similarity(pred, seg["feature"]),
        "craniofacial": craniofacial.correlations(from_voice["landmarks"], from_face["landmarks"]),
        "landmark_detection_ratio": {
            "from_voice": landmark_detection_ratio(from_voice["image"]),
            "from_true_feature": landmark_detection_ratio(from_face["image"]),
        },
    }
    if encoder is not None:
        metrics["gender"] = gender_agreement(dataset, seg, pred, from_voice["image"], encoder)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    report.write_report(out, metrics, seg, from_voice["image"], from_face["image"])
    return metrics
