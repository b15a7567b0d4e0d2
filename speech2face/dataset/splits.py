"""Splits of a clip list for the two evaluation protocols.

- ``identity`` (Speech2Face §4, "unseen identities"): each identity is train or test; the
  source's split column is kept, or :func:`speech2face.dataset.sources.split_of` assigns one.
- ``seen`` (Wav2Pix, Duarte et al. 2019, "seen identities, unseen speech"): every clip is cut
  by time; its first ``1 - fraction`` of speech is ``train`` and the rest is held out as
  ``test_seen``. Every identity is on both sides and no audio is on both sides.
- ``both``: test identities stay unseen (``test``); the clips of the train identities are
  cut as in ``seen``. One model trained on ``train`` is then evaluated on both protocols.

A clip long enough for a 6 s window on each side is cut on a whole window, so no window is
lost at the cut; a shorter one is cut at exactly ``1 - fraction`` of its length and each part
is loop-padded to 6 s later (the paper's rule for short audio). Wav2Pix cuts with 1 s
windows (``window=1``): a 2.98 s clip keeps 1 s for training and 1.98 s held out.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from speech2face import audio

if TYPE_CHECKING:
    from speech2face.dataset.sources import Clip

log = logging.getLogger(__name__)

TRAIN, TEST, TEST_SEEN = "train", "test", "test_seen"
SPLIT_MODES = ("identity", "seen", "both")
HOLDOUT_FRACTION = 0.3  # share of each clip's speech held out for the seen-identity protocol
PROTOCOLS = {  # held-out split -> the protocol it measures
    TEST: "unseen identities (Speech2Face)",
    TEST_SEEN: "seen identities, unseen speech (Wav2Pix)",
}


def cut_point(duration: float, fraction: float, window: float = audio.CLIP_SECONDS) -> float:
    """Seconds after a clip's start where its held-out part begins.

    Args:
        duration: the clip's speech, seconds. fraction: share to hold out, in (0, 1).
        window: segment length, seconds.
    Returns:
        A multiple of ``window`` when both sides can keep a whole window (the one nearest
        ``(1 - fraction) * duration``), else exactly ``(1 - fraction) * duration``.
    """
    cut = (1.0 - fraction) * duration
    if duration < 2 * window:
        return cut
    last = (duration - window) // window * window  # the last cut that leaves a window after it
    return float(min(max(round(cut / window) * window, window), last))


def holdout_speech(
    clips: list[Clip],
    fraction: float = HOLDOUT_FRACTION,
    splits=(TRAIN,),
    window: float = audio.CLIP_SECONDS,
) -> list[Clip]:
    """Cut every clip of the given splits into a train part and a held-out part by time.

    Args:
        clips: from a source. fraction: share of each clip's speech held out, in (0, 1).
        splits: which clips to cut (``("train",)`` keeps test identities unseen; pass
            ``("train", "test")`` to put every identity on both sides).
        window: the window a cut keeps whole on both sides when it can (seconds; 6 s
            Speech2Face segments, 1 s Wav2Pix windows).
    Returns:
        The clips, each cut clip replaced by two (split ``train`` and ``test_seen``) with
        ``start``/``end`` set; uncut clips unchanged. A clip whose duration cannot be read
        stays whole (logged) and is left for ``prepare`` to report.
    Raises:
        ValueError: ``fraction`` outside (0, 1).
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the held-out fraction must be in (0, 1), got {fraction}")
    out = []
    for clip in clips:
        if clip.split not in splits:
            out.append(clip)
            continue
        start = clip.start or 0.0
        try:
            end = clip.end if clip.end is not None else audio.duration(clip.sidecar or clip.media)
        except audio.AudioError as exc:
            log.warning("cannot cut %s: %s", clip.key, exc)
            out.append(clip)
            continue
        cut = start + cut_point(end - start, fraction, window)
        out.append(dataclasses.replace(clip, start=start, end=cut, split=TRAIN))
        out.append(dataclasses.replace(clip, start=cut, end=end, split=TEST_SEEN))
    return out


def apply_split_mode(
    clips: list[Clip],
    mode: str,
    fraction: float = HOLDOUT_FRACTION,
    window: float = audio.CLIP_SECONDS,
):
    """The clips under a split mode (:data:`SPLIT_MODES`, module doc); ``window`` as in
    :func:`holdout_speech`.

    Raises:
        ValueError: unknown mode.
    """
    if mode == "identity":
        return clips
    if mode == "seen":
        return holdout_speech(clips, fraction, (TRAIN, TEST), window)
    if mode == "both":
        return holdout_speech(clips, fraction, (TRAIN,), window)
    raise ValueError(f"unknown split mode {mode!r}: use one of {', '.join(SPLIT_MODES)}")
