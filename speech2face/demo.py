"""`speech2face demo`: the whole pipeline on the real sample clips, on a CPU.

prepare (split mode ``both``: unseen test identities, and held-out speech of the training
identities) -> train-decoder -> pretrain the voice encoder as a speaker classifier on the
voice-only speakers -> train (small presets, from the pretrained encoder) -> predict the
test voices -> evaluate both protocols -> report. Every stage resumes, so rerunning
continues where a stopped run left off. Eighteen training identities cannot teach what
VoxCeleb teaches: the demo shows that training fits, what a voice carries to the face on
seen and unseen speakers, and every number beside its chance row.
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

    decoder_epochs: int = 150
    decoder_preset: str = "small128"  # 128 px faces; 150 epochs take ~3 min on 2 cores
    pretrain_steps: int = 400
    voice_steps: int = 300
    checkpoint_every: int = 50
    hop_seconds: float | None = None  # prepare: hop between 6 s windows of long clips
    augment: bool = False  # train: random time shift and gain
    workers: int = 2

    @classmethod
    def quick(cls) -> DemoConfig:
        """A smoke-test configuration: 2 decoder epochs, 4 pretraining and 4 voice steps."""
        return cls(decoder_epochs=2, pretrain_steps=4, voice_steps=4, checkpoint_every=2)


# The goals of issue 10, measured on the sample data: (name, metric getter, goal getter).
GOALS = (
    (
        "fits: train-split identity recall@1 >= 0.5",
        lambda m: m["fit"]["recall1_identity"],
        lambda m: 0.5,
    ),
    (
        "different voices, different faces: test spread >= 12 deg",
        lambda m: m["protocols"]["test"]["spread"]["predicted_deg"]["mean"],
        lambda m: 12.0,
    ),
    (
        "gender of faces decoded from unseen voices >= majority + 0.2",
        lambda m: m["protocols"]["test"]["gender"]["decoded_face_from_voice"],
        lambda m: m["protocols"]["test"]["gender"]["majority_baseline"] + 0.2,
    ),
    (
        "seen identities, unseen speech: identity recall@1 >= 3x chance",
        lambda m: m["protocols"]["test_seen"]["retrieval"]["identity"]["recall"]["cosine"]["1"],
        lambda m: 3 * m["protocols"]["test_seen"]["retrieval"]["identity"]["chance"]["1"],
    ),
)


def goal_lines(metrics: dict) -> list[str]:
    """One line per goal of :data:`GOALS`: the figure, the goal, met or missed."""
    metrics = json.loads(json.dumps(metrics))  # the keys as metrics.json has them
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
    from PIL import Image

    from speech2face import api
    from speech2face.evaluation.summary import summary_lines
    from speech2face.samples import sample_data

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
    print(f"[2/7] train-decoder: {config.decoder_epochs} epochs -> {out / 'decoder'}")
    api.train_decoder(
        out / "dataset",
        out / "decoder",
        faces=[manifest],
        epochs=config.decoder_epochs,
        preset=config.decoder_preset,
    )
    print(
        f"[3/7] pretrain the voice encoder on the voice-only speakers: "
        f"{config.pretrain_steps} steps -> {out / 'pretrain'}"
    )
    api.pretrain(
        [manifest, out / "dataset"],
        out / "pretrain",
        steps=config.pretrain_steps,
        checkpoint_every=config.checkpoint_every,
    )
    print(f"[4/7] train voice encoder: {config.voice_steps} steps -> {out / 'bundle'}")
    model = api.train(
        out / "dataset",
        out / "decoder",
        out / "bundle",
        steps=config.voice_steps,
        checkpoint_every=config.checkpoint_every,
        init=str(out / "pretrain"),
        augment=config.augment,
    )
    print(f"[5/7] predict faces for the test voices -> {out / 'predictions'}")
    (out / "predictions").mkdir(parents=True, exist_ok=True)
    for identity, voice in _test_voices(samples):
        image, _ = model.predict(voice)
        Image.fromarray(image).save(out / "predictions" / f"{identity}__{voice.stem}.png")
    print(f"[6/7] evaluate both protocols -> {out / 'report'}")
    metrics = api.evaluate(out / "dataset", out / "bundle", out / "report")
    seconds = time.time() - start
    lines = summary_lines(metrics) + ["goals (issue 10):"] + goal_lines(metrics)
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
