"""`speech2face demo`: the whole pipeline on the real sample clips, on a CPU.

prepare (train and test splits) -> train-decoder -> train (small presets) -> predict the
test voices -> evaluate -> report. Every stage resumes, so rerunning continues where a
stopped run left off. About 18 training identities cannot teach a real voice-to-face
mapping: the demo proves the pipeline and the protocols, with every number beside chance.
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
    voice_steps: int = 300
    checkpoint_every: int = 50
    workers: int = 2

    @classmethod
    def quick(cls) -> DemoConfig:
        """A smoke-test configuration: 2 decoder epochs, 4 voice steps."""
        return cls(decoder_epochs=2, voice_steps=4, checkpoint_every=2)


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
    print(f"[1/6] prepare: clips of {samples} -> {out / 'dataset'}")
    api.prepare(manifest, out / "dataset", workers=config.workers)
    print(f"[2/6] train-decoder: {config.decoder_epochs} epochs -> {out / 'decoder'}")
    api.train_decoder(
        out / "dataset", out / "decoder", faces=[manifest], epochs=config.decoder_epochs
    )
    print(f"[3/6] train voice encoder: {config.voice_steps} steps -> {out / 'bundle'}")
    model = api.train(
        out / "dataset",
        out / "decoder",
        out / "bundle",
        steps=config.voice_steps,
        checkpoint_every=config.checkpoint_every,
    )
    print(f"[4/6] predict faces for the test voices -> {out / 'predictions'}")
    (out / "predictions").mkdir(parents=True, exist_ok=True)
    for identity, voice in _test_voices(samples):
        image, _ = model.predict(voice)
        Image.fromarray(image).save(out / "predictions" / f"{identity}__{voice.stem}.png")
    print(f"[5/6] evaluate on the test split -> {out / 'report'}")
    metrics = api.evaluate(out / "dataset", out / "bundle", out / "report")
    seconds = time.time() - start
    lines = summary_lines(metrics)
    print("[6/6] summary")
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
