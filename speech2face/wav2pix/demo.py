"""`speech2face demo --system wav2pix`: Wav2Pix on the real sample clips, on a CPU.

prepare pairs (seen identities, unseen speech: the last 30 % of every clip held out) ->
train (the ``small`` preset at 64 px) -> faces for the held-out speech of every identity ->
evaluate (identity accuracy, landmark-detection ratio, FID, each beside chance and real
faces) -> report. Everything goes under ``OUT/wav2pix`` and every stage resumes. When
``speech2face demo`` ran into the same ``OUT``, its ``OUT/report`` stands beside Wav2Pix's
figures in the report (same protocol, the identities both test on).

The CPU recipe differs from the paper's in four named options, each measured in the
docs/wav2pix.md: the generator's input gain 100 (the paper's generator learns its contrast only
through the embedding's norm, too slowly for a CPU budget), the generator's learning rate
4e-4 (paper 1e-4; encoder and classifier keep 1e-4, the discriminator 4e-4), 15 windows per
face (paper 5) and identities drawn uniformly (the sample's identities have 2 s to 48 s of
training speech).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from speech2face.speech2face.demo import OUTPUT
from speech2face.wav2pix.config import IMAGE_SIZE, MAX_PAIRS


@dataclass
class Wav2PixDemoConfig:
    """Sizes of the Wav2Pix demo (``quick``: a pipeline smoke run for tests)."""

    steps: int = 6000
    checkpoint_every: int = 500
    preset: str = "small"
    image_size: int = IMAGE_SIZE
    lr_g: float = 4e-4
    lr_encoder: float | None = 1e-4
    lr_d: float = 4e-4
    embedding_gain: float = 100.0
    speech_encoder: str = "segan"  # the authors'; ge2e: the pretrained speaker encoder
    balanced: bool = True
    factor: int = 15
    frames_per_second: float = 2.0
    holdout_fraction: float = 0.3
    workers: int = 2
    max_pairs: int | None = MAX_PAIRS
    seeds: int = 1  # runs of the recipe (seeds 0..seeds-1); more than one: mean +- std

    @classmethod
    def quick(cls) -> Wav2PixDemoConfig:
        """A smoke test: a face a second, 4 training steps, 24 pairs per split evaluated."""
        return cls(steps=4, checkpoint_every=2, max_pairs=24, frames_per_second=1.0, factor=2)


def held_out_faces(model, pairs_dir: Path, out: Path) -> tuple[list[Path], list[str]]:
    """One PNG per identity: the face generated from all its held-out speech windows.

    Returns:
        (the PNGs written, the identities of the pairs dataset with no held-out pair, whose
        face cannot be predicted from unseen speech; each is named in a printed line).
    """
    from PIL import Image

    from speech2face.dataset.shards import decode_audio
    from speech2face.wav2pix.pair_reader import PairDataset

    dataset = PairDataset(pairs_dir)
    split = "test_seen" if "test_seen" in dataset.splits() else "test"
    data = dataset.load(split)
    identities = data["identity"][data["pair_face"]]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in sorted(set(identities)):
        waves = decode_audio(data["audio"][identities == name])
        mean = model.embed(waves).mean(0, keepdims=True)
        path = out / f"{name}.png"
        Image.fromarray(model.generate(mean)[0]).save(path)
        written.append(path)
    missing = sorted(set(dataset.identities()) - set(identities))
    for name in missing:  # e.g. a face that one borderline detection lost in the held-out part
        print(f"      no held-out pair with a face for {name}: no face predicted for it")
    return written, missing


def speech2face_report(out: Path, split: str = "test_seen") -> Path | None:
    """``out/report`` when ``speech2face demo`` evaluated into ``out`` (its metrics.json is
    there and holds the ``split`` protocol), so that Speech2Face stands beside Wav2Pix; else
    None, said in one printed line (a report that does not fit does not stop the demo)."""
    from speech2face.errors import UserError
    from speech2face.wav2pix.beside import speech2face_block

    report = out / "report"
    if not (report / "metrics.json").is_file():
        print(
            f"      no Speech2Face report in {report}: run `speech2face demo -o {out}` first "
            "to see Speech2Face beside it"
        )
        return None
    try:
        speech2face_block(report, split, [])
    except UserError as exc:
        print(f"      Speech2Face report not used: {exc}")
        return None
    print(f"      Speech2Face beside it: {report / 'metrics.json'}")
    return report


def run_wav2pix_demo(
    out: str | os.PathLike = OUTPUT,
    data: str | os.PathLike | None = None,
    config: Wav2PixDemoConfig | None = None,
) -> dict:
    """Run the Wav2Pix demo into ``out/wav2pix``; returns {"metrics" (of seed 0), "seconds",
    "summary", "over_runs" (:func:`speech2face.wav2pix.summary.over_runs` when
    ``config.seeds`` > 1, else None), ...}. Seed 0 trains into ``run`` and reports into
    ``report``; seed k into ``run-seed<k>`` and ``report-seed<k>``.

    Raises:
        speech2face.errors.UserError: no sample data (and no download possible).
    """
    from speech2face import api
    from speech2face.samples import sample_data
    from speech2face.wav2pix.config import Wav2PixConfig
    from speech2face.wav2pix.summary import over_runs, over_runs_lines, summary_lines

    config = config or Wav2PixDemoConfig()
    start = time.time()
    out = Path(out) / "wav2pix"
    samples = sample_data(data)
    print(f"[1/4] wav2pix prepare: pairs of {samples} (seen identities) -> {out / 'pairs'}")
    api.wav2pix_prepare(
        samples / "manifest.csv",
        out / "pairs",
        split_mode="seen",
        holdout_fraction=config.holdout_fraction,
        image_size=config.image_size,
        factor=config.factor,
        frames_per_second=config.frames_per_second,
        workers=config.workers,
    )
    fields = set(Wav2PixConfig.__dataclass_fields__)
    options = {k: v for k, v in asdict(config).items() if k in fields}
    runs = [out / ("run" if seed == 0 else f"run-seed{seed}") for seed in range(config.seeds)]
    print(
        f"[2/4] wav2pix train: {config.steps} steps ({config.preset}), seeds 0-"
        f"{config.seeds - 1} -> {', '.join(str(r) for r in runs)}"
    )
    models = [
        api.wav2pix_train(out / "pairs", run, **{**options, "seed": seed})
        for seed, run in enumerate(runs)
    ]
    print(f"[3/4] faces from the held-out speech of every identity -> {out / 'predictions'}")
    _, missing = held_out_faces(models[0], out / "pairs", out / "predictions")
    reports = [r.parent / r.name.replace("run", "report", 1) for r in runs]
    print(f"[4/4] evaluate -> {', '.join(str(r) for r in reports)}")
    beside = speech2face_report(out.parent)
    results = [
        api.wav2pix_evaluate(
            out / "pairs", run, report, max_pairs=config.max_pairs, speech2face_report=beside
        )
        for run, report in zip(runs, reports, strict=True)
    ]
    metrics = results[0]
    seconds = time.time() - start
    lines = summary_lines(metrics)
    spread = None
    if len(results) > 1:
        spread = over_runs(results)
        lines = [f"seed 0 (report {reports[0]}):", *lines, *over_runs_lines(spread)]
    print("\n".join(lines))
    print(f"report: {out / 'report' / 'index.html'}   wall time {seconds / 60:.1f} min")
    result = {
        "seconds": seconds,
        "summary": lines,
        "over_runs": spread,
        "config": asdict(config),
        "identities_without_prediction": missing,
    }
    (out / "demo.json").write_text(json.dumps(result, indent=1))
    return {**result, "metrics": metrics}
