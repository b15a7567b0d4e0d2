"""`speech2face crossval`: choose a recipe by k-fold cross-validation over identities.

A figure measured on the split a recipe was tuned on no longer measures generalisation, and
15 test segments move by 0.1 with one segment. Here every talking-face identity of a
dataset (all its splits pooled) is dealt into ``folds`` folds, stratified by gender; each
fold in turn is the unseen side, the others train. With ``repeats`` > 1 the deal is redone
with other seeds. Every figure is the mean +- std over the folds, beside its chance row:

    gender (balanced accuracy = mean of the per-gender recalls; chance 0.5)
        decoded_face   the face the decoder renders from the predicted feature, described by
                       dlib and judged by a gender classifier of real face features fitted
                       on the training folds (what a user sees)
        feature        the predicted face feature, by the same classifier
        pitch          the voice-pitch baseline (median F0, threshold fitted on the
                       training folds), and the majority rate (plain accuracy of the
                       training folds' majority gender)
    identity recall@1, identity gallery (the held-out identities' mean true features;
        chance 1 / identities) and segment gallery (chance 1 / segments)
    fit: identity recall@1 of the training folds' own segments (a model that does not fit
        its training data is broken)

Recipes are speaker-route options (:class:`~speech2face.speech2face.training.config.TrainConfig`
fields: head, head_alpha, balance, calibrate_radius, ...): the speaker embeddings,
features, pitch and folds are computed once, so a recipe costs one ridge fit and one
decoder pass per fold. The decoder is the given `train-decoder` run: it was trained on the
faces (never the voices) of the dataset's train split, which the note in the output says.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from speech2face.errors import UserError
from speech2face.evaluation.intervals import balanced_accuracy

# The recipes compared by default: the chosen one first, then one change at a time.
DEFAULT_RECIPES = {
    "default: gender_ridge, alpha 100, gender-balanced, radius x0.5": {},
    "radius x1": {"radius_scale": 1.0},
    "radius x0.25": {"radius_scale": 0.25},
    "no radius calibration": {"calibrate_radius": False},
    "no balance": {"balance": "none"},
    "identity + gender balanced": {"balance": "both"},
    "alpha 10": {"head_alpha": 10.0},
    "alpha 1000": {"head_alpha": 1000.0},
    "plain ridge (no gender means)": {"head": "ridge"},
    "plain ridge, radius x1, alpha 10": {"head": "ridge", "radius_scale": 1.0, "head_alpha": 10.0},
    "mlp head": {"head": "mlp"},
}


def folds_by_identity(identities, genders, k: int, seed: int) -> list[np.ndarray]:
    """Deal identities into ``k`` folds, stratified by gender (each gender shuffled with
    ``seed``, then dealt in turn, continuing where the last gender stopped).

    Returns:
        k arrays of identity names. Raises: ValueError: fewer identities than folds.
    """
    names, first = np.unique(np.asarray(identities).astype(str), return_index=True)
    if len(names) < k:
        raise ValueError(f"{len(names)} identities cannot make {k} folds")
    gender_of = np.asarray(genders).astype(str)[first]
    rng = np.random.default_rng(seed)
    folds, turn = [[] for _ in range(k)], 0
    for g in sorted(set(gender_of)):
        for name in rng.permutation(names[gender_of == g]):
            folds[turn % k].append(name)
            turn += 1
    return [np.array(sorted(f)) for f in folds]


class Pool:
    """Every segment of a dataset with what the folds need, computed once.

    Attributes: embedding (N, E), feature (N, dim), identity, gender (N,), f0 (N,) Hz.
    """

    def __init__(self, dataset, encoder):
        from speech2face.dataset.shards import decode_audio
        from speech2face.speech2face.evaluation.attributes import median_f0
        from speech2face.speech2face.training.speaker_head import embed_split

        data = embed_split(dataset, None, encoder, ("identity", "gender", "feature", "audio"))
        self.embedding, self.feature = data["embedding"], data["feature"].astype(np.float32)
        self.identity = data["identity"].astype(str)
        self.gender = data["gender"].astype(str)
        self.f0 = np.array([median_f0(w) for w in decode_audio(data["audio"])])


def _fold_figures(pool: Pool, train, test, config, decoder, face_encoder) -> dict:
    from speech2face.speech2face.training.speaker_head import fit_head

    head = fit_head(
        pool.embedding[train],
        pool.feature[train],
        pool.identity[train],
        pool.gender[train],
        config,
    )
    pred = head.predict(pool.embedding[test])
    fit = head.predict(pool.embedding[train])
    return _figures(pool, train, test, pred, fit, decoder, face_encoder)


def _figures(pool: Pool, train, test, pred, fit_pred, decoder, face_encoder) -> dict:
    """A fold's figures from the predicted features of its held-out and training segments."""
    from speech2face.faces.predicted import predicted_to_crops
    from speech2face.speech2face.evaluation import attributes, retrieval

    known = np.isin(pool.gender[train], ["M", "F"])
    judge = attributes.gender_classifier(pool.feature[train][known], pool.gender[train][known])
    threshold = attributes.best_threshold(pool.f0[train][known], pool.gender[train][known])
    images = np.clip(decoder.predict(pred, verbose=0, batch_size=16)["image"], 0, 1)
    rendered = face_encoder.encode(predicted_to_crops(images))
    truth = pool.gender[test]
    majority = max("MF", key=lambda g: np.sum(pool.gender[train] == g))
    r = retrieval.retrieval(pred, pool.feature[test], pool.identity[test], ks=(1,))
    fit = retrieval.retrieval(fit_pred, pool.feature[train], pool.identity[train], ks=(1,))
    return {
        "identities": int(len(set(pool.identity[test]))),
        "segments": int(test.sum()),
        "gender_decoded_face": balanced_accuracy(truth, judge.predict(rendered)),
        "gender_feature": balanced_accuracy(truth, judge.predict(pred)),
        "gender_true_feature": balanced_accuracy(truth, judge.predict(pool.feature[test])),
        "gender_pitch": balanced_accuracy(truth, attributes.pitch_gender(pool.f0[test], threshold)),
        "gender_majority_rate": float(np.mean(truth[np.isin(truth, ["M", "F"])] == majority)),
        "identity_recall1": r["identity"]["recall"]["cosine"]["1"],
        "identity_chance": r["identity"]["chance"]["1"],
        "segment_recall1": r["segment"]["recall"]["cosine"]["1"],
        "segment_chance": r["segment"]["chance"]["1"],
        "fit_identity_recall1": fit["identity"]["recall"]["cosine"]["1"],
    }


def _summary(rows: list[dict]) -> dict:
    keys = [k for k, v in rows[0].items() if isinstance(v, float)]
    out = {}
    for key in keys:
        values = np.array([r[key] for r in rows if r[key] is not None], np.float64)
        out[key] = {"mean": float(values.mean()), "std": float(values.std())}
    return out


def crossval(
    data: str | os.PathLike,
    decoder_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    folds: int = 3,
    repeats: int = 1,
    recipes: dict | None = None,
    voice_encoder: str = "ge2e",
    seed: int = 0,
) -> dict:
    """Cross-validate speaker-route recipes over identities; write ``crossval.json`` and
    ``crossval.md`` (the table) into ``out``.

    Args:
        data: a dlib dataset folder. decoder_dir: a `train-decoder` run on it.
        folds: k. repeats: deals with seeds seed, seed + 1, ...
        recipes: {name: TrainConfig field overrides}; default :data:`DEFAULT_RECIPES`.
        voice_encoder: the speaker encoder (``ge2e`` or a plugged-in name).
    Returns:
        {"recipes": {name: {"folds": [per-fold figures], "summary": {figure: mean, std}}},
        "folds", "repeats", "identities", "segments", "note"}.
    Raises:
        UserError: not a dlib dataset, fewer identities than folds, a missing decoder.
    """
    from speech2face import faces, voices
    from speech2face.speech2face.data.reader import Dataset
    from speech2face.speech2face.training.config import TrainConfig
    from speech2face.speech2face.training.voice import _load_decoder

    dataset = Dataset(data)
    if dataset.face_encoder != "dlib":
        raise UserError(
            f"{data}: crossval judges gender with dlib features; this has {dataset.face_encoder}"
        )
    decoder = _load_decoder(Path(decoder_dir), dataset)
    pool = Pool(dataset, voices.get(voice_encoder))
    face_encoder = faces.get_encoder("dlib")
    base = TrainConfig(voice_encoder=voice_encoder)
    deals = []
    try:
        for r in range(repeats):
            deals += folds_by_identity(pool.identity, pool.gender, folds, seed + r)
    except ValueError as exc:
        raise UserError(f"{data}: {exc}") from None
    result = {
        "folds": folds,
        "repeats": repeats,
        "identities": int(len(set(pool.identity))),
        "segments": int(len(pool.identity)),
        "voice_encoder": voice_encoder,
        "note": "the decoder saw the faces (not the voices) of the dataset's train split",
        "recipes": {},
    }
    from tqdm import tqdm

    for name, overrides in (recipes or DEFAULT_RECIPES).items():
        config = replace(base, **overrides)
        rows = []
        for held_out in tqdm(deals, desc=name, unit="fold", leave=False):
            test = np.isin(pool.identity, held_out)
            rows.append(_fold_figures(pool, ~test, test, config, decoder, face_encoder))
        result["recipes"][name] = {"options": overrides, "folds": rows, "summary": _summary(rows)}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "crossval.json").write_text(json.dumps(result, indent=1))
    (out / "crossval.md").write_text("\n".join(table_lines(result)) + "\n")
    return result


def fold_dataset(dataset, pool: Pool, held_out):
    """A view of ``dataset`` whose ``train`` split is every identity but ``held_out`` (whose
    segments form split ``held_out``); rows in the order of :class:`Pool`."""
    import copy

    fold = copy.copy(dataset)  # fresh file handles (Dataset.__getstate__)
    rows = dataset.index(None)
    fold._index = [
        (s, r, "held_out" if pool.identity[k] in set(held_out) else "train")
        for k, (s, r) in enumerate(rows)
    ]
    return fold


def crossval_paper(
    data: str | os.PathLike,
    decoder_dir: str | os.PathLike,
    out: str | os.PathLike,
    inits: dict,
    *,
    folds: int = 3,
    repeats: int = 1,
    steps: int = 300,
    seed: int = 0,
) -> dict:
    """Cross-validate the paper route (the Table 1 CNN, dlib recipe) over identities.

    Per fold, the CNN trains ``steps`` steps on the training folds (from each ``inits`` run
    of `speech2face pretrain`, or from scratch for None) into ``out/<recipe>/fold<k>``;
    the figures are those of :func:`crossval`. Pretraining runs must not have seen the
    talking-face identities (pretrain on voice-only speakers: their voices are not in any
    fold). Writes ``out/crossval_paper.json`` and ``.md``.

    Args:
        inits: {recipe name: pretrain run folder or None}.
    """
    from speech2face import faces, voices
    from speech2face.dataset.shards import decode_audio
    from speech2face.speech2face.data.reader import Dataset
    from speech2face.speech2face.training.config import TrainConfig
    from speech2face.speech2face.training.voice import _load_decoder, train_voice_encoder

    dataset = Dataset(data)
    decoder = _load_decoder(Path(decoder_dir), dataset)
    pool = Pool(dataset, voices.get("ge2e"))
    face_encoder = faces.get_encoder("dlib")
    waves = dataset.load(None, ("audio",))["audio"]
    deals = [
        f
        for r in range(repeats)
        for f in folds_by_identity(pool.identity, pool.gender, folds, seed + r)
    ]
    result = {
        "folds": folds,
        "repeats": repeats,
        "identities": int(len(set(pool.identity))),
        "segments": int(len(pool.identity)),
        "voice_encoder": "paper",
        "note": "the decoder saw the faces (not the voices) of the dataset's train split",
        "recipes": {},
    }
    out = Path(out)
    for name, init in inits.items():
        rows = []
        for k, held_out in enumerate(deals):
            test = np.isin(pool.identity, held_out)
            config = TrainConfig(steps=steps, checkpoint_every=steps, init=init, seed=seed)
            model = train_voice_encoder(
                fold_dataset(dataset, pool, held_out),
                decoder_dir,
                out / _slug(name) / f"fold{k}",
                config,
            )
            pred = np.concatenate(
                [
                    np.asarray(model.predict_on_batch(decode_audio(waves[i : i + 16])))
                    for i in range(0, len(waves), 16)
                ]
            )
            rows.append(_figures(pool, ~test, test, pred[test], pred[~test], decoder, face_encoder))
        result["recipes"][name] = {
            "options": {"init": init},
            "folds": rows,
            "summary": _summary(rows),
        }
    out.mkdir(parents=True, exist_ok=True)
    (out / "crossval_paper.json").write_text(json.dumps(result, indent=1))
    (out / "crossval_paper.md").write_text("\n".join(table_lines(result)) + "\n")
    return result


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)[:40] or "recipe"


COLUMNS = (
    ("gender, decoded face", "gender_decoded_face"),
    ("gender, feature", "gender_feature"),
    ("identity recall@1", "identity_recall1"),
    ("segment recall@1", "segment_recall1"),
    ("fit identity recall@1", "fit_identity_recall1"),
)


def table_lines(result: dict) -> list[str]:
    """The cross-validation table in Markdown: one row per recipe, then the baselines."""

    def cell(s, key):
        return f"{s[key]['mean']:.3f} ± {s[key]['std']:.3f}"

    lines = [
        f"{result['folds']}-fold cross-validation over {result['identities']} identities "
        f"({result['segments']} segments, {result['repeats']} deal(s)); mean ± std over "
        f"{result['folds'] * result['repeats']} folds; gender as balanced accuracy",
        "",
        "| recipe | " + " | ".join(c for c, _ in COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
    ]
    for name, r in result["recipes"].items():
        lines.append(f"| {name} | " + " | ".join(cell(r["summary"], k) for _, k in COLUMNS) + " |")
    s = next(iter(result["recipes"].values()))["summary"]
    lines += [
        f"| voice pitch (median F0) | {cell(s, 'gender_pitch')} | | | | |",
        f"| true face feature | | {cell(s, 'gender_true_feature')} | | | |",
        f"| majority rate / chance | {cell(s, 'gender_majority_rate')} / 0.500 | | "
        f"{cell(s, 'identity_chance')} | {cell(s, 'segment_chance')} | |",
    ]
    return lines
