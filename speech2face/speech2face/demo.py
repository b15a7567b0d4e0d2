"""`speech2face demo`: the whole pipeline on the real sample clips, on a CPU.

prepare (split mode ``both``: unseen test identities, and held-out speech of the training
identities) -> the face decoder (the shipped one, trained on ~20,000 faces; or
train-decoder on the sample faces with ``retrain_decoder``) -> train the voice side (by
default the cross-validated recipe: a head on the pretrained GE2E speaker encoder;
``voice_encoder="paper"`` pretrains and trains the Table 1 CNN instead) -> predict the
test voices -> evaluate both protocols -> cross-validate the recipe over identities ->
summary and goals. Every stage resumes, so rerunning continues where a stopped run left
off. Eighteen training identities cannot teach what VoxCeleb teaches: the demo shows that
training fits, what a voice carries to the face on seen and unseen speakers, and every
number beside its chance row.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

OUTPUT = "runs/demo"  # the demo's run folder unless told


@dataclass
class DemoConfig:
    """Sizes of the demo (``quick`` for tests: a pipeline smoke run of a minute or two)."""

    retrain_decoder: bool = False  # False: the shipped decoder (~20,000 faces); True: train
    decoder_epochs: int = 150  # retrain_decoder: on the sample faces only
    decoder_preset: str = "small128"  # 128 px faces; 150 epochs take ~3 min on 2 cores
    voice_encoder: str = "ge2e"  # the cross-validated route; "paper": pretrain + the CNN
    pretrain_steps: int = 400  # paper route
    voice_steps: int = 300  # paper route
    checkpoint_every: int = 50
    hop_seconds: float | None = None  # prepare: hop between 6 s windows of long clips
    augment: bool = False  # paper route: random time shift and gain
    crossval_repeats: int = 2  # deals of the 3-fold cross-validation (0: none)
    workers: int = 2

    @classmethod
    def quick(cls) -> DemoConfig:
        """A smoke-test configuration: 2 decoder epochs, 4 pretraining and 4 voice steps
        (paper route), one cross-validation deal."""
        return cls(
            decoder_epochs=2,
            pretrain_steps=4,
            voice_steps=4,
            checkpoint_every=2,
            crossval_repeats=1,
        )


def _balanced(split: str, route: str):
    return lambda m: m["protocols"][split]["gender"]["balanced"][route]


def _cv(figure: str):
    return lambda m: m["crossval"][figure]["mean"]


# The goals of issue 19, measured on the sample data: (name, metric getter, goal getter).
GOALS = (
    (
        "fits: train-split identity recall@1 >= 0.9",
        lambda m: m["fit"]["recall1_identity"],
        lambda m: 0.9,
    ),
    (
        "gender of faces decoded from unseen voices (test split, balanced) >= max(0.9, pitch)",
        _balanced("test", "decoded_face_from_voice"),
        lambda m: max(0.9, _balanced("test", "voice_pitch_baseline")(m)),
    ),
    (
        "the same, cross-validated over identities (mean) >= max(0.9, pitch)",
        _cv("gender_decoded_face"),
        lambda m: max(0.9, _cv("gender_pitch")(m)),
    ),
    (
        "unseen identities, cross-validated: identity recall@1 >= 2x chance",
        _cv("identity_recall1"),
        lambda m: 2 * _cv("identity_chance")(m),
    ),
    (
        "seen identities, unseen speech: identity recall@1 >= 3x chance",
        lambda m: m["protocols"]["test_seen"]["retrieval"]["identity"]["recall"]["cosine"]["1"],
        lambda m: 3 * m["protocols"]["test_seen"]["retrieval"]["identity"]["chance"]["1"],
    ),
)


def goal_lines(metrics: dict) -> list[str]:
    """One line per goal of :data:`GOALS`: the figure, the goal, met or missed.

    Args:
        metrics: the evaluation's metrics, with the cross-validation summary of the demo's
            recipe under "crossval" (:func:`speech2face.speech2face.evaluation.crossval.crossval`).
    """
    lines = []
    for name, figure, goal in GOALS:
        try:
            value, target = figure(metrics), goal(metrics)
        except (KeyError, TypeError):
            lines.append(f"  [ n/a ] {name}: not measured")
            continue
        mark = "met" if value >= target else "MISSED"
        lines.append(f"  [{mark:^6s}] {name}: {value:.3f} (goal {target:.3f})")
    return lines


def crossval_line(result: dict) -> str:
    """The demo recipe's cross-validated figures in one line (mean ± std over folds)."""
    s = next(iter(result["recipes"].values()))["summary"]

    def f(key):
        return f"{s[key]['mean']:.3f} ± {s[key]['std']:.3f}"

    return (
        f"cross-validated over {result['identities']} identities ({result['folds']} folds x "
        f"{result['repeats']}): gender of the decoded face {f('gender_decoded_face')} "
        f"(balanced), predicted feature {f('gender_feature')}; voice pitch "
        f"{f('gender_pitch')}, chance 0.500, majority rate {f('gender_majority_rate')}; "
        f"identity recall@1 {f('identity_recall1')} (chance {f('identity_chance')})"
    )


def serve_command(out: str | os.PathLike) -> str:
    """The `speech2face serve` command line for the bundle and dataset of a demo run in ``out``."""
    out = Path(out)
    return shlex.join(
        ["speech2face", "serve", "--model", str(out / "bundle"), "--data", str(out / "dataset")]
    )


def _test_voices(data: Path) -> list[tuple[str, Path]]:
    """(identity, voice file) of every test-split talking-face clip."""
    from speech2face.dataset.sources.folder import manifest_clips

    clips = manifest_clips(data / "manifest.csv")
    return [(c.identity, Path(c.sidecar or c.media)) for c in clips if c.split == "test"]


def _train_voice(out: Path, manifest: Path, config: DemoConfig):
    """The demo's voice stage: a head on a speaker encoder, or pretrain + the paper's CNN."""
    from speech2face import api

    if config.voice_encoder != "paper":
        return api.train(
            out / "dataset", out / "decoder", out / "bundle", voice_encoder=config.voice_encoder
        )
    print(f"      pretrain: {config.pretrain_steps} steps -> {out / 'pretrain'}")
    api.pretrain(
        [manifest, out / "dataset"],
        out / "pretrain",
        steps=config.pretrain_steps,
        checkpoint_every=config.checkpoint_every,
    )
    print(f"      train: {config.voice_steps} steps")
    return api.train(
        out / "dataset",
        out / "decoder",
        out / "bundle",
        steps=config.voice_steps,
        checkpoint_every=config.checkpoint_every,
        init=str(out / "pretrain"),
        augment=config.augment,
    )


def _face_decoder(out: Path, manifest: Path, config: DemoConfig) -> None:
    """Step 2: train the face decoder on the sample faces (``config.retrain_decoder``), or
    copy the shipped one into ``out/decoder`` as a decoder run."""
    from speech2face import api

    if config.retrain_decoder:
        print(f"[2/7] train-decoder: {config.decoder_epochs} epochs -> {out / 'decoder'}")
        api.train_decoder(
            out / "dataset",
            out / "decoder",
            faces=[manifest],
            epochs=config.decoder_epochs,
            preset=config.decoder_preset,
        )
        return
    from speech2face.speech2face.bundle import default_bundle
    from speech2face.speech2face.training.decoder import decoder_run_from_bundle

    print(f"[2/7] face decoder: the shipped one -> {out / 'decoder'} (--retrain-decoder: train)")
    decoder_run_from_bundle(default_bundle(), out / "decoder")


def _predict_test_voices(model, samples: Path, folder: Path) -> None:
    """Step 4: a face PNG per test voice of the sample data, ``<identity>__<stem>.png``."""
    from PIL import Image

    print(f"[4/7] predict faces for the test voices -> {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    for identity, voice in _test_voices(samples):
        image, _ = model.predict(voice)
        Image.fromarray(image).save(folder / f"{identity}__{voice.stem}.png")


def _crossval(out: Path, config: DemoConfig) -> dict | None:
    """Step 6: the recipe cross-validated over identities (None when skipped: no repeats,
    or the paper route, whose folds would each train the CNN)."""
    if not config.crossval_repeats or config.voice_encoder == "paper":
        print("[6/7] cross-validation: skipped")
        return None
    from speech2face.speech2face.evaluation.crossval import crossval

    print(f"[6/7] cross-validate the recipe over identities -> {out / 'crossval'}")
    return crossval(
        out / "dataset",
        out / "decoder",
        out / "crossval",
        repeats=config.crossval_repeats,
        recipes={"demo": {"voice_encoder": config.voice_encoder}},
        voice_encoder=config.voice_encoder,
    )


def run_demo(
    out: str | os.PathLike = OUTPUT,
    data: str | os.PathLike | None = None,
    config: DemoConfig | None = None,
) -> dict:
    """Run the demo; returns {"metrics", "seconds", "report", "summary", "serve"}.

    Its last line printed is the `speech2face serve` command for the bundle it trained.

    Raises:
        UserError: no sample data (and no download possible), or no talking-face clips in
            its manifest.
    """
    from speech2face import api
    from speech2face.samples import sample_data
    from speech2face.speech2face.evaluation.summary import summary_lines

    config = config or DemoConfig()
    start = time.time()
    out = Path(out)
    samples = sample_data(data)
    manifest = samples / "manifest.csv"
    print(f"[1/7] prepare: clips of {samples} -> {out / 'dataset'}")
    api.prepare(
        manifest,
        out / "dataset",
        workers=config.workers,
        split_mode="both",
        hop_seconds=config.hop_seconds,
    )
    _face_decoder(out, manifest, config)
    print(f"[3/7] train the voice side ({config.voice_encoder}) -> {out / 'bundle'}")
    model = _train_voice(out, manifest, config)
    _predict_test_voices(model, samples, out / "predictions")
    print(f"[5/7] evaluate both protocols -> {out / 'report'}")
    metrics = api.evaluate(out / "dataset", out / "bundle", out / "report")
    lines = summary_lines(metrics)
    cv = _crossval(out, config)
    if cv is not None:
        metrics = {**metrics, "crossval": cv["recipes"]["demo"]["summary"]}
        lines.append(crossval_line(cv))
    seconds = time.time() - start
    lines += ["goals (issue 19):"] + goal_lines(metrics)
    print("[7/7] summary")
    print("\n".join(lines))
    print(f"report: {out / 'report' / 'index.html'}   wall time {seconds / 60:.1f} min")
    result = {
        "metrics": metrics,
        "seconds": seconds,
        "report": str(out / "report"),
        "summary": lines,
        "serve": serve_command(out),
    }
    (out / "demo.json").write_text(
        json.dumps({k: v for k, v in result.items() if k != "metrics"}, indent=1)
    )
    print(f"web demo: {result['serve']}")
    return result
