"""Wall time of `prepare` on the shared clips with 2 workers vs decoding them alone.

Decoding alone = every clip's audio (PyAV, 16 kHz) and every video frame to RGB, with
the same 2 processes. Aim: prepare within 3x of decoding. Run:
``python benchmarks/bench_prepare.py``.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

from speech2face import audio, video
from speech2face.dataset.sources import folder
from speech2face.samples import local_samples
from speech2face.speech2face.data.build import PrepareConfig, prepare

WORKERS = 2


def _decode(clip) -> int:
    audio.load_audio(clip.sidecar or clip.media)
    return video.decode_all(clip.media)


def main() -> int:
    clips = folder.manifest_clips(local_samples() / "manifest.csv")
    start = time.perf_counter()
    with ProcessPoolExecutor(WORKERS) as pool:
        frames = sum(pool.map(_decode, clips))
    t_decode = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        manifest = prepare(clips, out, PrepareConfig(workers=WORKERS))
        t_prepare = time.perf_counter() - start
    segments = sum(s["segments"] for s in manifest["shards"])
    print(f"{len(clips)} clips, {frames} video frames, {segments} segments, {WORKERS} workers")
    print(f"decode audio + all frames : {t_decode:6.2f} s")
    print(
        f"prepare                   : {t_prepare:6.2f} s  ({segments / t_prepare:.2f} segments/s)"
    )
    print(f"ratio prepare / decode    : {t_prepare / t_decode:6.2f}x  (aim: at most 3x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
