"""`speech2face evaluate`: every protocol on the held-out splits, metrics.json + pictures.

Each held-out split is a protocol (:data:`speech2face.dataset.splits.PROTOCOLS`): ``test``
holds unseen identities (Speech2Face), ``test_seen`` unseen speech of training identities
(Wav2Pix). On each: retrieval (§4.1, two galleries, three distances, chance rows), feature
similarity and spread, gender agreement beside the voice-pitch baseline and the majority
rate, craniofacial correlations (Table 2), and Wav2Pix's landmark-detection ratio on faces
rendered from voices. Beside them, the fit on the training split itself: a model that does
not retrieve its own training segments is broken, whatever the test numbers say.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from speech2face import faces
from speech2face.dataset.shards import decode_audio
from speech2face.errors import UserError
from speech2face.evaluation.probes import probes_file, write_probes
from speech2face.faces.predicted import faces_found, landmark_detection_ratio, predicted_to_crops
from speech2face.speech2face.data.reader import Dataset
from speech2face.speech2face.evaluation import attributes, craniofacial, retrieval
from speech2face.speech2face.evaluation.literature import GALLERY_SIZE, literature_figures

BATCH = 16


def _predict_features(model, audio_int16: np.ndarray) -> np.ndarray:
    waves = decode_audio(audio_int16)
    return np.concatenate(
        [model.features(waves[i : i + BATCH]) for i in range(0, len(waves), BATCH)]
    )


def _decode(model, features: np.ndarray) -> dict:
    out = model.face_decoder.predict(np.asarray(features, np.float32), verbose=0, batch_size=BATCH)
    return {"image": np.clip(out["image"], 0, 1), "landmarks": out["landmarks"]}


COLLAPSE_DEG = 2.0  # predictions closer than this to their centroid: one face for all voices
FIT_SEGMENTS = 256  # training segments evaluated for the fit figure (a seeded subset)


class GenderJudge:
    """Gender from face features and from voice pitch, both fitted on the train split.

    The classifier is a logistic regression on the train split's true face features; the
    pitch threshold is the median-F0 cut that best separates the train split's voices.

    Args:
        dataset: the dataset (its train split must hold both genders).
        encoder: the dlib face encoder, to describe rendered faces.
    """

    def __init__(self, dataset: Dataset, encoder):
        train = dataset.load("train", ("feature", "gender", "audio"))
        keep = np.isin(train["gender"], ["M", "F"])
        self.classifier = attributes.gender_classifier(
            train["feature"][keep], train["gender"][keep]
        )
        f0 = np.array([attributes.median_f0(w) for w in decode_audio(train["audio"][keep])])
        self.threshold = attributes.best_threshold(f0, train["gender"][keep])
        self.encoder = encoder

    def answers(self, split_data: dict, pred, from_voice, from_face) -> dict:
        """Each route's (N,) "M"/"F" answers: the faces decoded from the voice and from the
        true feature (described by dlib), the predicted and the true feature, and pitch."""

        def of_faces(images):
            return self.classifier.predict(self.encoder.encode(predicted_to_crops(images)))

        f0 = np.array([attributes.median_f0(w) for w in decode_audio(split_data["audio"])])
        return {
            "decoded_face_from_voice": of_faces(from_voice),
            "predicted_feature": self.classifier.predict(pred),
            "decoded_face_from_true_feature": of_faces(from_face),
            "true_face_feature": self.classifier.predict(split_data["feature"]),
            "voice_pitch_baseline": attributes.pitch_gender(f0, self.threshold),
        }

    def agreement(self, split_data: dict, pred, from_voice, from_face, routes=None) -> dict:
        """Gender agreement with the truth of every route, beside the two baselines.

        Args:
            split_data: the split's segments ("gender", "audio", "feature").
            pred: (N, dim) predicted features. from_voice, from_face: (N, S, S, 3) faces
                rendered from the predicted and from the true features.
            routes: :meth:`answers`, when computed already.
        """
        from speech2face.evaluation.intervals import balanced_accuracy

        truth = split_data["gender"]
        known = np.isin(truth, ["M", "F"])

        def acc(labels):
            if not known.any():
                return None
            return float(np.mean(np.asarray(labels)[known] == truth[known]))

        routes = routes or self.answers(split_data, pred, from_voice, from_face)
        return {
            "n": int(known.sum()),
            "segments_by_gender": {g: int(np.sum(truth == g)) for g in ("M", "F")},
            "majority_baseline": float(max(np.mean(truth[known] == g) for g in "MF"))
            if known.any()
            else None,
            **{route: acc(labels) for route, labels in routes.items()},
            # mean of the per-gender recalls: the figure to read where genders are unequal
            # (chance and an always-one-gender answer both score 0.5)
            "balanced": {
                route: balanced_accuracy(truth, labels) for route, labels in routes.items()
            },
            "pitch_threshold_hz": self.threshold,
        }


def face_attributes(encoder, decoded: dict, true_features: np.ndarray) -> dict:
    """Age, gender and ethnicity of the faces decoded from voices against the true faces,
    by the shipped offline judges (:mod:`speech2face.speech2face.evaluation.face_judges`; the
    paper's
    Face++ evaluation, §4.1). The decoded faces are described by dlib at the decoder's own
    landmarks; the true faces by their features.

    Args:
        encoder: the dlib face encoder. decoded: the decoder's output for the predicted
            features ("image" (N, S, S, 3) in [0, 1], "landmarks" (N, 68, 2) normalised).
        true_features: (N, 128) dlib features of the true faces.
    """
    from speech2face.speech2face.evaluation.face_judges import attribute_agreement, load_judges

    crops = predicted_to_crops(decoded["image"])
    described = encoder.encode(crops, np.asarray(decoded["landmarks"]) * crops.shape[1])
    return attribute_agreement(load_judges(), described, true_features)


def _check(model, dataset: Dataset, bundle, data) -> None:
    if int(model.config["feature_dim"]) != dataset.feature_dim:
        raise UserError(
            f"{bundle} predicts {model.config['feature_dim']}-D features, "
            f"{data} holds {dataset.feature_dim}-D {dataset.face_encoder} features"
        )


def fit_figures(model, dataset: Dataset, limit: int = FIT_SEGMENTS, seed: int = 0) -> dict:
    """How well the model retrieves its own training segments (inference mode).

    Returns:
        {"segments", "identities", "recall1_segment", "recall1_identity" (cosine), "chance_*",
        "spread_deg" of the predictions and "true_spread_deg" of the true features,
        "angle_deg" predicted vs true, "collapsed": spread below :data:`COLLAPSE_DEG`}.
    """
    rows = dataset.index("train")
    pick = sorted(np.random.default_rng(seed).permutation(len(rows))[:limit])
    seg = dataset.read([rows[i] for i in pick], ("audio", "feature", "identity"))
    pred = _predict_features(model, seg["audio"])
    r = retrieval.retrieval(pred, seg["feature"], seg["identity"], ks=(1,))
    spread = retrieval.spread(pred)["mean"]
    return {
        "segments": int(len(pred)),
        "identities": int(len(set(seg["identity"]))),
        "recall1_segment": r["segment"]["recall"]["cosine"]["1"],
        "chance_segment": r["segment"]["chance"]["1"],
        "recall1_identity": r["identity"]["recall"]["cosine"]["1"],
        "chance_identity": r["identity"]["chance"]["1"],
        "spread_deg": spread,
        "true_spread_deg": retrieval.spread(seg["feature"])["mean"],
        "angle_deg": retrieval.similarity(pred, seg["feature"])["angle_deg"]["mean"],
        "collapsed": bool(spread < COLLAPSE_DEG),
    }


# gender routes whose balanced accuracy gets a bootstrap interval
INTERVAL_ROUTES = ("decoded_face_from_voice", "predicted_feature", "voice_pitch_baseline")


def _scored(scorer, seg: dict, from_voice) -> tuple:
    """(probes, gallery) for the literature figures: the dataset's own features (predicted
    vs true) when ``scorer`` is None, else the scorer's embeddings of the faces rendered
    from the voices and of the real aligned faces."""
    if scorer is None:
        return None
    return scorer.encode(predicted_to_crops(from_voice)), scorer.encode(seg["face"])


def evaluate_split(
    model,
    dataset: Dataset,
    split: str,
    judge: GenderJudge | None,
    gallery_size: int = GALLERY_SIZE,
    scorer=None,
):
    """Every protocol on one split.

    Returns (metrics, segments, faces from voice, faces from the true features, probes):
    ``probes`` holds the per-segment values behind the rates, for ``probes_<split>.csv``
    ({"identity", "values": {figure: (M,) float}, "labels": {"gender", "gender_<route>"}};
    :func:`speech2face.evaluation.probes.write_probes`).

    Beside today's figures, "literature": SF2F retrieval in galleries of ``gallery_size``
    identities, 1:2 voice-face matching and 95 % bootstrap intervals over identities
    (:func:`speech2face.speech2face.evaluation.literature.literature_figures`), scored in the
    dataset's
    feature space (predicted vs true features) or, with ``scorer`` (a face encoder, e.g. a
    user's FaceNet), between its embeddings of the faces rendered from the voices and of
    the real faces; ``literature["scorer"]`` names it.

    Raises:
        UserError: the split has no segments.
    """
    from speech2face.dataset.splits import PROTOCOLS

    seg = dataset.load(split)
    if not len(seg["identity"]):
        raise UserError(f"{dataset.root}: no segments in split {split!r}")
    pred = _predict_features(model, seg["audio"])
    from_voice = _decode(model, pred)
    from_face = _decode(model, seg["feature"])
    found = faces_found(from_voice["image"])
    metrics = {
        "split": split,
        "protocol": PROTOCOLS.get(split, split),
        "segments": int(len(pred)),
        "identities": int(len(set(seg["identity"]))),
        "identity_names": sorted({str(name) for name in seg["identity"]}),  # the manifest's
        "face_encoder": dataset.face_encoder,
        "retrieval": retrieval.retrieval(pred, seg["feature"], seg["identity"]),
        "similarity": retrieval.similarity(pred, seg["feature"]),
        "spread": {
            "predicted_deg": retrieval.spread(pred),
            "true_deg": retrieval.spread(seg["feature"]),
        },
        "craniofacial": craniofacial.correlations(from_voice["landmarks"], from_face["landmarks"]),
        "landmark_detection_ratio": {
            "from_voice": float(found.mean()),
            "from_true_feature": landmark_detection_ratio(from_face["image"]),
        },
    }
    routes = None
    if judge is not None:
        routes = judge.answers(seg, pred, from_voice["image"], from_face["image"])
        metrics["gender"] = judge.agreement(seg, pred, None, None, routes)
        metrics["attributes"] = face_attributes(judge.encoder, from_voice, seg["feature"])
    probes, gallery = _scored(scorer, seg, from_voice["image"]) or (pred, seg["feature"])
    metrics["literature"] = literature_figures(
        probes,
        gallery,
        seg["identity"],
        seg["gender"],
        {k: routes[k] for k in INTERVAL_ROUTES} if routes else None,
        gallery_size=gallery_size,
    )
    metrics["literature"]["scorer"] = (
        f"{scorer.name} (faces rendered from voices vs real faces)"
        if scorer
        else f"{dataset.face_encoder} (predicted vs true face features)"
    )
    values = {**metrics["literature"].pop("per_probe"), "face_found": found.astype(float)}
    labels = {"gender": seg["gender"]}
    labels.update({f"gender_{r}": a for r, a in (routes or {}).items()})
    probes = {"identity": seg["identity"], "values": values, "labels": labels}
    return metrics, seg, from_voice["image"], from_face["image"], probes


def held_out_splits(dataset: Dataset) -> list[str]:
    """The dataset's held-out splits that name a protocol, in the order of PROTOCOLS."""
    from speech2face.dataset.splits import PROTOCOLS

    return [s for s in PROTOCOLS if s in dataset.splits()]


def evaluate(
    data: str | os.PathLike,
    bundle: str | os.PathLike,
    out: str | os.PathLike,
    split: str | None = None,
    gallery_size: int = GALLERY_SIZE,
    face_scorer: str | None = None,
) -> dict:
    """Evaluate a bundle; write ``metrics.json``, pictures and ``index.html`` into ``out``.

    Args:
        data: dataset folder. bundle: bundle folder. out: report folder.
        split: one split (``test``, ``test_seen``, ``train``), or None for every held-out
            split of the dataset (one protocol each).
        gallery_size: identities per SF2F retrieval gallery (SF2F: 100).
        face_scorer: None (the dataset's features) or a ``.keras`` face-embedding model
            that scores the retrieval and matching of the faces rendered from voices.
    Returns:
        {"face_encoder", "protocols": {split: metrics}, "fit": :func:`fit_figures`}, also
        in ``out/metrics.json``; each split's per-segment values go to
        ``out/probes_<split>.csv`` (for ``speech2face compare``).
    Raises:
        UserError: an empty or unknown split, no held-out split, or a bundle whose features
            do not match the dataset.
    """
    from speech2face.speech2face.evaluation import report
    from speech2face.speech2face.inference import Speech2Face

    dataset = Dataset(data)
    model = Speech2Face.load(bundle)
    _check(model, dataset, bundle, data)
    splits = [split] if split else held_out_splits(dataset)
    if not splits:
        raise UserError(f"{data}: no held-out split (test or test_seen) to evaluate")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scorer = faces.get_encoder(face_scorer) if face_scorer else None  # FaceError: a UserError
    judge = None
    if dataset.face_encoder == "dlib" and len(dataset.identities("train")):
        judge = GenderJudge(dataset, faces.get_encoder("dlib"))
    metrics = {
        "face_encoder": dataset.face_encoder,
        "bundle": str(Path(bundle).resolve()),
        "recipe": model.config.get("train", {}).get("recipe", "paper"),
        "fit": fit_figures(model, dataset) if dataset.index("train") else None,
        "protocols": {},
    }
    for name in splits:
        result, seg, from_voice, from_face, probes = evaluate_split(
            model, dataset, name, judge, gallery_size, scorer
        )
        metrics["protocols"][name] = result
        write_probes(probes_file(out, name), probes["identity"], probes["values"], probes["labels"])
        report.write_pictures(out, result, seg, from_voice, from_face)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    (out / "index.html").write_text(report.html_report(metrics))
    return metrics
