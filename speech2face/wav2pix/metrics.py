"""Wav2Pix's evaluation (Duarte et al., ICASSP 2019, §4), each figure beside its real-image
row and chance.

- landmark-detection ratio: the share of faces in which dlib's HOG detector finds a face
  (and the 68-point predictor its landmarks), on faces generated from seen (training) and
  unseen (held-out) speech, and on real faces;
- identity accuracy: a classifier fitted on the dlib descriptors of the real training faces
  (the paper fine-tuned VGG-Face, whose weights are not available offline) applied to the
  generated faces; chance is 1 / number of identities;
- FID (Fréchet distance between Gaussian fits of two feature sets) between generated and
  real faces in the dlib-descriptor space (128-D, offline), and with Inception-v3 pool
  features (2048-D, the usual FID) only when the user supplies the Keras weights file.

Descriptors of generated and real faces are computed the same way: the image is upscaled
to 224 px and dlib's 68 landmarks are fitted in the box where the face detector put the
face when the crop was cut (centred, 1 / crop_scale of the side), so every face gets a
descriptor, detected or not.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from speech2face.errors import UserError
from speech2face.faces.rendered import faces_found, landmark_detection_ratio, rendered_to_crops
from speech2face.wav2pix.config import MAX_PAIRS

log = logging.getLogger(__name__)

SIDE = 224  # px: faces are upscaled to this before dlib (HOG needs faces of ~80 px)


def crop_descriptors(images: np.ndarray, crop_scale: float) -> np.ndarray:
    """dlib 128-D descriptors of unaligned square face crops.

    Args:
        images: (N, S, S, 3) uint8 RGB crops cut by :func:`speech2face.wav2pix.pairs.square_crop`.
        crop_scale: the crop side over the detection box side used to cut them.
    Returns:
        (N, 128) float32.
    """
    import dlib

    from speech2face.faces import dlib_files

    half = SIDE / (2 * crop_scale)
    box = dlib.rectangle(
        *(
            int(round(v))
            for v in (SIDE / 2 - half, SIDE / 2 - half, SIDE / 2 + half, SIDE / 2 + half)
        )
    )
    out = np.zeros((len(images), 128), np.float32)
    for i, image in enumerate(rendered_to_crops(images, SIDE)):
        shape = dlib_files.shape_predictor()(image, box)
        out[i] = np.asarray(dlib_files.resnet_descriptor().compute_face_descriptor(image, shape))
    return out


def identity_classifier(descriptors: np.ndarray, identities: np.ndarray):
    """A linear classifier (logistic regression on L2-normalised descriptors) of identity.

    Returns:
        A fitted scikit-learn pipeline with ``predict``.
    Raises:
        UserError: fewer than two identities.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    if len(set(identities)) < 2:
        raise UserError("the identity classifier needs faces of two or more identities")
    clf = make_pipeline(Normalizer(), LogisticRegression(C=10.0, max_iter=2000))
    return clf.fit(descriptors, identities)


def accuracy(predicted: np.ndarray, truth: np.ndarray) -> dict:
    """Identity accuracy of (N,) predicted names against the (N,) true ones.

    Returns:
        {"accuracy": share right, "balanced": mean over identities of their share right,
        "n", "interval": the 95 % bootstrap interval of the accuracy over identities
        (:func:`speech2face.evaluation.intervals.bootstrap_interval`; None for no pairs)}.
    """
    from speech2face.evaluation.intervals import bootstrap_interval

    predicted, truth = np.asarray(predicted), np.asarray(truth)
    if not len(truth):
        return {"accuracy": None, "balanced": None, "n": 0, "interval": None}
    per = [np.mean(predicted[truth == t] == t) for t in sorted(set(truth))]
    return {
        "accuracy": float(np.mean(predicted == truth)),
        "balanced": float(np.mean(per)),
        "n": int(len(truth)),
        "interval": bootstrap_interval(predicted == truth, truth.astype(str)),
    }


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussian fits of two feature sets (the FID formula).

    ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    Args:
        a, b: (N, D) and (M, D) features, N, M >= 2.
    Raises:
        UserError: fewer than two features in a set.
    """
    from scipy import linalg

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or len(b) < 2:
        raise UserError(f"FID needs two or more features per set, got {len(a)} and {len(b)}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s_a @ s_b, disp=False)
    if not np.isfinite(covmean).all():  # singular product: regularise (as pytorch-fid)
        eps = np.eye(len(s_a)) * 1e-6
        covmean = linalg.sqrtm((s_a + eps) @ (s_b + eps))
    covmean = np.real(covmean)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(covmean))


class InceptionFeatures:
    """Inception-v3 pool features (2048-D) for the usual FID, from a user-supplied weights file.

    Args:
        weights: a Keras weights file of InceptionV3 without its top, e.g.
            ``inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5`` (keras-applications
            release v0.5); it is not downloaded.
    Raises:
        UserError: the file is missing or does not fit the architecture.
    """

    def __init__(self, weights: str | os.PathLike):
        import keras

        if not os.path.isfile(weights):
            raise UserError(f"{weights}: Inception-v3 weights file not found")
        try:
            self.model = keras.applications.InceptionV3(
                include_top=False, weights=str(weights), pooling="avg", input_shape=(299, 299, 3)
            )
        except (ValueError, OSError) as exc:
            raise UserError(f"{weights}: not Inception-v3 (no top) weights ({exc})") from None

    def __call__(self, images: np.ndarray, batch: int = 16) -> np.ndarray:
        """(N, S, S, 3) uint8 -> (N, 2048) float32."""
        import keras

        out = []
        for i in range(0, len(images), batch):
            x = rendered_to_crops(images[i : i + batch], 299).astype(np.float32)
            x = keras.applications.inception_v3.preprocess_input(x)
            out.append(np.asarray(self.model(x, training=False)))
        return np.concatenate(out).astype(np.float32)


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
    import json
    from pathlib import Path

    from speech2face.evaluation.probes import probes_file, write_probes
    from speech2face.wav2pix import beside as speech2face_beside
    from speech2face.wav2pix import report as wav2pix_report
    from speech2face.wav2pix.inference import Wav2Pix
    from speech2face.wav2pix.pair_reader import PairDataset

    dataset = PairDataset(data)
    model = Wav2Pix.load(run, stochastic=stochastic)
    held = split or next((s for s in ("test_seen", "test") if s in dataset.splits()), None)
    if held is None or held not in dataset.splits():
        raise UserError(f"{data}: no held-out split ({held or 'test_seen/test'}) to evaluate")
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
        net = InceptionFeatures(inception_weights)
        f_real, f_gen = net(g["real"]["unseen"]), net(g["gen"]["unseen"])
        metrics["fid_inception"] = {
            "generated_unseen_vs_real_unseen": frechet_distance(f_gen, f_real),
            "real_seen_vs_real_unseen": frechet_distance(net(g["real"]["seen"]), f_real),
            "weights": str(inception_weights),
        }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    truth = g["truth"]["unseen"]
    values = {
        "identity_accuracy": (named["unseen"] == truth).astype(float),
        "face_found": found["unseen"].astype(float),
    }
    write_probes(probes_file(out, held), truth, values)
    wav2pix_report.write_report(out, metrics, sets, g["gen"], g["rows"])
    return metrics


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


def summary_lines(metrics: dict) -> list[str]:
    """A few lines: each figure beside chance and the real-face row, then Speech2Face's
    figures on the same protocol when the metrics hold them."""
    from speech2face.wav2pix import beside as speech2face_beside

    ia, ldr, fid = (
        metrics["identity_accuracy"],
        metrics["landmark_detection_ratio"],
        metrics["fid_dlib"],
    )

    def acc(entry):
        ci = entry.get("interval")
        band = f" [{ci['low']:.3f}, {ci['high']:.3f}]" if ci else ""
        return f"{entry['accuracy']:.3f}{band} (balanced {entry['balanced']:.3f}, n={entry['n']})"

    def band(speech):
        ci = (metrics.get("landmark_detection_interval") or {}).get(f"generated_{speech}_speech")
        return f" [{ci['low']:.3f}, {ci['high']:.3f}]" if ci else ""

    lines = [
        f"wav2pix on {metrics['split']} ({metrics['protocol'] or 'given split'}): "
        f"{metrics['identities']} identities, {metrics['image_size']} px",
        f"  identity accuracy, generated from seen speech:   {acc(ia['generated_seen_speech'])}",
        f"  identity accuracy, generated from unseen speech: {acc(ia['generated_unseen_speech'])}",
        f"  identity accuracy, real held-out faces:          {acc(ia['real_faces_unseen'])}",
        f"  chance: {ia['chance']:.3f}",
        f"  landmark-detection ratio: generated seen {ldr['generated_seen_speech']:.3f}"
        f"{band('seen')}, unseen {ldr['generated_unseen_speech']:.3f}{band('unseen')}; "
        f"real {ldr['real_faces_unseen']:.3f}",
        f"  FID (dlib descriptors): generated vs real held-out "
        f"{fid['generated_unseen_vs_real_unseen']:.3f}; real train vs real held-out "
        f"{fid['real_seen_vs_real_unseen']:.3f}",
    ]
    inc = metrics.get("fid_inception")
    lines.append(
        f"  FID (Inception-v3): {inc['generated_unseen_vs_real_unseen']:.1f}; real vs real "
        f"{inc['real_seen_vs_real_unseen']:.1f}"
        if inc
        else "  FID (Inception-v3): not computed (no --inception-weights)"
    )
    return lines + speech2face_beside.summary_lines(metrics)


# the figures summarised over runs (seeds): (name, path in the metrics)
RUN_FIGURES = (
    ("identity accuracy, seen speech", ("identity_accuracy", "generated_seen_speech", "accuracy")),
    (
        "identity accuracy, unseen speech",
        ("identity_accuracy", "generated_unseen_speech", "accuracy"),
    ),
    (
        "  balanced, unseen speech",
        ("identity_accuracy", "generated_unseen_speech", "balanced"),
    ),
    ("landmark-detection ratio, seen", ("landmark_detection_ratio", "generated_seen_speech")),
    ("landmark-detection ratio, unseen", ("landmark_detection_ratio", "generated_unseen_speech")),
    ("FID (dlib), generated vs real", ("fid_dlib", "generated_unseen_vs_real_unseen")),
)


def over_runs(runs: list[dict]) -> dict:
    """Each headline figure over several runs (e.g. seeds) of one recipe: a GAN's figures
    move with the seed, and one run's interval does not show it.

    Args:
        runs: the metrics of :func:`evaluate_wav2pix`, one per run (at least one).
    Returns:
        {"runs": count, "figures": {name: {"values": per run, "mean", "std" (sample std,
        ddof=1; 0.0 for one run), "min", "max"}}, "chance"}.
    """
    figures = {}
    for name, path in RUN_FIGURES:
        values = []
        for m in runs:
            v = m
            for key in path:
                v = v[key]
            values.append(float(v))
        a = np.array(values)
        figures[name] = {
            "values": values,
            "mean": float(a.mean()),
            "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
            "min": float(a.min()),
            "max": float(a.max()),
        }
    return {"runs": len(runs), "figures": figures, "chance": runs[0]["identity_accuracy"]["chance"]}


def over_runs_lines(summary: dict) -> list[str]:
    """Printed lines of :func:`over_runs`: mean +- std (min-max) per figure."""
    lines = [f"wav2pix over {summary['runs']} runs (mean +- std, min-max):"]
    for name, f in summary["figures"].items():
        lines.append(
            f"  {name:34s} {f['mean']:.3f} +- {f['std']:.3f}  ({f['min']:.3f}-{f['max']:.3f})"
        )
    lines.append(f"  chance (identity accuracy): {summary['chance']:.3f}")
    return lines
