"""Faces per second for detect + landmarks + align + encode (dlib) on real clip frames.

Frames of about 256 px (talking-head clips) and 700 px (vr_face clips), HOG and CNN
detectors. Run: ``python benchmarks/bench_faces.py``.
"""

from __future__ import annotations

import time

import numpy as np

from speech2face import faces, video
from speech2face.samples import local_samples

SETS = {
    "~256 px": ["av/obama/Obama_clip1.mp4", "av/styletalk_andrew/andrew_clip_1.mp4"],
    "~720 px": ["av/vr_face1/1.mp4", "av/vr_face4/4.mp4"],
}
FRAMES_PER_CLIP = 10


def main() -> int:
    data = local_samples()
    encoder = faces.get_encoder("dlib")
    for label, clips in SETS.items():
        frames = []
        for clip in clips:
            info = video.video_info(data / clip)
            times = list(np.linspace(0.2, info.duration - 0.2, FRAMES_PER_CLIP))
            frames += [f for _, f in video.read_frames(data / clip, times)]
        size = f"{frames[0].shape[1]}x{frames[0].shape[0]}"
        for detector in ("hog", "cnn"):
            faces.find_face(frames[0], detector)  # load models
            start = time.perf_counter()
            n = 0
            for frame in frames:
                face = faces.find_face(frame, detector)
                if face is not None:
                    encoder.encode(face.image[None], face.landmarks[None])
                    n += 1
            dt = time.perf_counter() - start
            print(
                f"{label} ({size}) {detector}: {len(frames) / dt:6.2f} frames/s, "
                f"{n}/{len(frames)} faces found"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
