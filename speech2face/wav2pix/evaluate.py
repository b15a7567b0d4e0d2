"""`speech2face wav2pix evaluate`: a run's faces generated from seen and unseen speech, and
every figure of :mod:`speech2face.wav2pix.metrics` on them, written with the per-probe table
and the report page."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from speech2face.errors import UserError
from speech2face.faces.predicted import faces_found, landmark_detection_ratio
from speech2face.wav2pix.config import MAX_PAIRS
from speech2face.wav2pix.metrics import (
    InceptionFeatures,
    accuracy,
    crop_descriptors,
    frechet_distance,
    identity_classifier,
)


def _subset(identities: np.ndarray, limit: int | None, seed: int = 0) -> np.ndarray:
    """Sorted pair rows: a random subset of ``limit`` (all when None) plus the first pair of
    every identity, so that each identity is in the pictures.

    Args:
        identities: (P,) identity of each pair.
    """
    n = len(identities)
    if limit is None or n <= limit:
        return np.arange(n)
    picked = np.random.default_rng(seed).choice(n, limit, replace=False)
    firsts = [np.flatnonzero(identities == name)[0] for name in sorted(set(identities))]
    return np.union1d(picked, firsts)


def evaluate_wav2pix(
    data,
    run,
    out,
    max_pairs: int | None = MAX_PAIRS,
    inception_weights: str | None = None,
    split: str | None = None,
    stochastic: bool = False,
    speech2face_report: str | os.PathLike | None = None,
) -> dict:
    """Every Wav2Pix metric of a run on its dataset; writes metrics.json, pictures, index.html.

    Seen speech is the training split; unseen speech is ``split`` (default: "test_seen" for
    the seen-identities protocol, else "test"). The identity classifier is fitted on the
    real training faces; with an identity-disjoint test split (whose identities the
    training faces do not cover) it is fitted on the real held-out faces instead, and the
    report says so.

    Args:
        max_pairs: pairs per split to generate from (a random subset plus one pair of each
            identity; None: all).
        inception_weights: Inception-v3 (no top) Keras weights for the usual FID.
        stochastic: generate with the generator's dropout on, as the authors did.
        speech2face_report: a ``speech2face evaluate`` report folder; its figures on the
            matching protocol go into the block "speech2face"
            (:func:`speech2face.wav2pix.beside.speech2face_block`).
    Returns:
        The metrics dict (also in ``out/metrics.json``); the held-out pairs' identity hits
        and detected faces go to ``out/probes_<split>.csv`` (for ``speech2face compare``).
    Raises:
        UserError: no held-out split, a run trained on other identities, or a Speech2Face
            report without a readable metrics.json holding the matching protocol.
    """
    from speech2face.evaluation.probes import probes_file, write_probes
    from speech2face.wav2pix import beside as speech2face_beside
    from speech2face.wav2pix import report as wav2pix_report
    from speech2face.wav2pix.inference import Wav2Pix
    from speech2face.wav2pix.pair_reader import PairDataset

    dataset = PairDataset(data)
    model = Wav2Pix.load(run, stochastic=stochastic)
    held = _held_out_split(dataset, split)
    beside = None  # read first: a wrong report fails before any face is generated
    if speech2face_report is not None:
        held_names = dataset.identities(held)
        beside = speech2face_beside.speech2face_block(speech2face_report, held, held_names)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sets = {"seen": dataset.load("train"), "unseen": dataset.load(held)}
    unknown = sorted(set(sets["seen"]["identity"]) - set(model.identities))
    if unknown:
        raise UserError(f"{run} was not trained on {data}: identities {unknown[:3]} unknown")
    g = _generate(model, sets, max_pairs)
    scale = float(dataset.manifest["config"]["crop_scale"])
    metrics, named, found = _figures(model, sets, g, scale)
    metrics = {
        "run": str(Path(run).resolve()),
        "split": held,
        "protocol": dataset.manifest.get("protocol", ""),
        "generator_dropout_at_inference": bool(stochastic),
        **metrics,
    }
    if beside is not None:
        metrics["speech2face"] = beside
    if inception_weights:
        metrics["fid_inception"] = _inception_fid(inception_weights, g)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    truth = g["truth"]["unseen"]
    values = {
        "identity_accuracy": (named["unseen"] == truth).astype(float),
        "face_found": found["unseen"].astype(float),
    }
    write_probes(probes_file(out, held), truth, values)
    wav2pix_report.write_report(out, metrics, sets, g["gen"], g["rows"])
    return metrics


def _held_out_split(dataset, split: str | None) -> str:
    """``split``, or "test_seen" (seen identities) else "test" when the dataset has it.

    Raises:
        UserError: the dataset has no such split.
    """
    held = split or next((s for s in ("test_seen", "test") if s in dataset.splits()), None)
    if held is None or held not in dataset.splits():
        raise UserError(
            f"{dataset.root}: no held-out split ({held or 'test_seen/test'}) to evaluate"
        )
    return held


def _inception_fid(weights: str, g: dict) -> dict:
    """The usual FID on Inception-v3 pool features (the user's weights file): generated vs
    real held-out faces, beside real training vs real held-out faces."""
    net = InceptionFeatures(weights)
    f_real, f_gen = net(g["real"]["unseen"]), net(g["gen"]["unseen"])
    return {
        "generated_unseen_vs_real_unseen": frechet_distance(f_gen, f_real),
        "real_seen_vs_real_unseen": frechet_distance(net(g["real"]["seen"]), f_real),
        "weights": str(weights),
    }


def _generate(model, sets: dict, max_pairs: int | None) -> dict:
    """Faces generated from the speech of up to ``max_pairs`` pairs of each set ("seen",
    "unseen"), beside the sets' real faces at the model's size.

    Returns:
        {"real", "gen": (N, S, S, 3) uint8, "rows": pair rows, "emb": their embeddings,
        "truth": their identities}, each {set name: array}.
    """
    from speech2face.dataset.shards import decode_audio
    from speech2face.wav2pix.pair_reader import resize_faces

    out = {k: {} for k in ("real", "gen", "rows", "emb", "truth")}
    for name, d in sets.items():
        out["real"][name] = resize_faces(d["face"], model.image_size)
        rows = _subset(d["identity"][d["pair_face"]], max_pairs)
        out["rows"][name] = rows
        out["emb"][name] = model.embed(decode_audio(d["audio"][rows]))
        out["gen"][name] = model.generate(out["emb"][name])
        out["truth"][name] = d["identity"][d["pair_face"][rows]]
    return out


def _figures(model, sets: dict, g: dict, scale: float) -> tuple[dict, dict, dict]:
    """Identity accuracy (a classifier of the real faces' dlib descriptors), the share of
    faces dlib finds, FID (dlib) and the speaker classifier's accuracy, each beside chance
    and the real faces; with 95 % bootstrap intervals over identities.

    Returns:
        (metrics, {set: the identity named for each generated face}, {set: (N,) found}).
    """
    from speech2face.evaluation.intervals import bootstrap_interval

    real, gen, truth = g["real"], g["gen"], g["truth"]
    desc_real = {n: crop_descriptors(real[n], scale) for n in sets}
    desc_gen = {n: crop_descriptors(gen[n], scale) for n in sets}
    disjoint = not set(sets["unseen"]["identity"]) <= set(sets["seen"]["identity"])
    fit_on = "unseen" if disjoint else "seen"  # identity-disjoint test: its own real faces
    clf = identity_classifier(desc_real[fit_on], sets[fit_on]["identity"])
    n_ids = len(set(sets[fit_on]["identity"]))
    found = {n: faces_found(gen[n]) for n in sets}
    named = {n: clf.predict(desc_gen[n]) for n in sets}
    real_named = clf.predict(desc_real["unseen"])
    metrics = {
        "image_size": model.image_size,
        "identities": n_ids,
        "pairs": {n: int(len(g["rows"][n])) for n in sets},
        "real_faces": {n: int(len(real[n])) for n in sets},
        "identity_classifier": f"logistic regression on dlib descriptors of real {fit_on} faces",
        "landmark_detection_ratio": {
            "generated_seen_speech": float(found["seen"].mean()),
            "generated_unseen_speech": float(found["unseen"].mean()),
            "real_faces_seen": landmark_detection_ratio(real["seen"]),
            "real_faces_unseen": landmark_detection_ratio(real["unseen"]),
        },
        "identity_accuracy": {
            "chance": 1.0 / n_ids,
            "generated_seen_speech": accuracy(named["seen"], truth["seen"]),
            "generated_unseen_speech": accuracy(named["unseen"], truth["unseen"]),
            "real_faces_unseen": accuracy(real_named, sets["unseen"]["identity"]),
        },
        # 95 % bootstrap intervals over identities (the generated faces' speakers)
        "landmark_detection_interval": {
            f"generated_{n}_speech": bootstrap_interval(found[n], truth[n].astype(str))
            for n in sets
        },
        "speaker_classifier_accuracy": {},
        "fid_dlib": {
            "generated_unseen_vs_real_unseen": frechet_distance(
                desc_gen["unseen"], desc_real["unseen"]
            ),
            "generated_seen_vs_real_seen": frechet_distance(desc_gen["seen"], desc_real["seen"]),
            "real_seen_vs_real_unseen": frechet_distance(desc_real["seen"], desc_real["unseen"]),
        },
        "fid_inception": None,
    }
    if fit_on == "unseen":
        metrics["identity_accuracy"]["real_faces_unseen"]["note"] = "the classifier's own faces"
    names = np.array(model.identities, object)
    for n in sets:
        picked = names[model.speaker_probabilities(g["emb"][n]).argmax(1)]
        metrics["speaker_classifier_accuracy"][n + "_speech"] = accuracy(picked, truth[n])
    return metrics, named, found
