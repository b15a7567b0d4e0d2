"""`speech2face predict` on files: unique output names, inputs never overwritten, a record.

One face per voice goes to ``OUT/<name>.png`` (``--save-features``: ``OUT/<name>.npy``),
where ``<name>`` is the voice's file stem, with its parent folders added (``vox2_a__00002``)
only when stems collide within the call, and its extension when stems collide within one
folder (``x.wav`` and ``x.mp4`` give ``x.wav.png`` and ``x.mp4.png``): the same inputs
always give the same names, in any order.
``OUT/predictions.csv`` lists every voice of every call into ``OUT`` (one row per voice,
updated when a voice is predicted again): its face, length, windows, share of sound and a
note (a warning such as "no speech found in X: the face is the model's prior", or why it was
skipped). Each PNG also carries its source and note as text chunks.

A voice that cannot be read is skipped with one line naming it and the cause; the others
are processed. Files are written atomically (temporary name, then rename), so a disk-full
error never leaves a truncated face in place of a finished one.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import sys
from collections import defaultdict
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speech2face.csvfiles import open_csv
from speech2face.errors import UserError

log = logging.getLogger(__name__)

RECORD = "predictions.csv"
COLUMNS = ("voice", "face", "seconds", "windows", "speech_fraction", "note")
SEPARATOR = "__"  # between the parent folders and the stem of a colliding name
BAR_WINDOWS = 8  # voices of more windows than this get a progress bar
MOSTLY_SILENT = 0.25  # below this share of 50 ms frames with sound, a voice is mostly silence


@dataclass
class Prediction:
    """One voice's face, with what the input was like.

    Attributes:
        image: (S, S, 3) uint8 face.
        vector: (dim,) float32, what the model computed from the voice and drew the face
            from: Speech2Face's predicted face feature, Wav2Pix's mean speech embedding
            (``predict --save-features`` / ``wav2pix predict --save-embeddings`` write it).
        seconds: length of the input. windows: 6 s windows averaged.
        speech_fraction: share of 50 ms frames above the silence level
            (:func:`speech2face.audio.speech_fraction`).
        note: "" for an ordinary voice; otherwise a one-line warning such as
            "no speech found in X: the face is the model's prior".
    """

    image: np.ndarray
    vector: np.ndarray
    seconds: float
    windows: int
    speech_fraction: float
    note: str = ""


def silence_note(name: str, fraction: float) -> str:
    """The warning for a voice with little or no sound ("" when it has enough)."""
    if fraction == 0.0:
        return f"no speech found in {name}: the face is the model's prior"
    if fraction < MOSTLY_SILENT:
        return (
            f"{name} is mostly silence (sound in {fraction:.0%} of it): the face is mostly "
            "the model's prior"
        )
    return ""


def _name(path: Path, depth: int) -> str:
    parents = [p for p in path.parent.parts if p != path.anchor][-depth:] if depth else []
    return SEPARATOR.join([*parents, path.stem])


def output_names(voices) -> dict[Path, str]:
    """Unique, stable output names (without extension) of the voices of one call.

    The stem alone when it is unique (compared without case, for case-insensitive file
    systems); for stems colliding across folders one more parent folder at a time until the
    names differ; for stems colliding within one folder the extension; at last (names that
    differ only in case) a short hash of the full path. Order-independent: the names depend
    only on the set of inputs.

    Args:
        voices: paths of the input files.
    Returns:
        {resolved input path: name}; a file given twice appears once.
    """
    paths = sorted({Path(v).resolve() for v in voices})
    depth = dict.fromkeys(paths, 0)
    while True:
        groups = defaultdict(list)
        for p in paths:
            groups[_name(p, depth[p]).lower()].append(p)
        grew = False
        for group in groups.values():
            if len({str(p.parent).lower() for p in group}) < 2:
                continue  # one file, or one folder: parents cannot tell them apart
            for p in group:
                if depth[p] < len(p.parent.parts) - 1:
                    depth[p] += 1
                    grew = True
        if not grew:
            break
    names = {p: _name(p, depth[p]) for p in paths}
    for attempt in ("suffix", "hash"):
        groups = defaultdict(list)
        for p in paths:
            groups[names[p].lower()].append(p)
        for group in groups.values():
            if len(group) > 1:
                for p in group:
                    if attempt == "suffix":
                        names[p] += p.suffix
                    else:
                        names[p] += "-" + hashlib.sha256(str(p).encode()).hexdigest()[:8]
    return names


def check_output_folder(out: str | os.PathLike, voices) -> Path:
    """Refuse an output folder that is a file (an input file, typically: ``-o voice.wav``).

    Raises:
        UserError: ``out`` exists and is not a folder; the message says if it is an input.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        inputs = {Path(v).resolve() for v in voices}
        what = "one of the input files" if out.resolve() in inputs else "a file"
        raise UserError(f"{out}: is {what}, not a folder; give a folder for the faces with -o")
    return out


def write_atomic(path: Path, write) -> None:
    """``write(tmp)`` then rename to ``path``; an OSError names ``path`` (not the tmp file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
    except BaseException:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def save_png(path: Path, image: np.ndarray, source: str, note: str) -> None:
    """Write a (S, S, 3) uint8 face as PNG atomically, with its source and note as text."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("speech2face:voice", source)
    if note:
        info.add_text("speech2face:note", note)
    write_atomic(path, lambda tmp: Image.fromarray(image).save(tmp, format="PNG", pnginfo=info))


def update_record(out: Path, rows: list[dict]) -> None:
    """Merge ``rows`` into ``OUT/predictions.csv`` (one row per voice, the newest kept)."""
    path = out / RECORD
    merged: dict[str, dict] = {}
    if path.is_file():
        try:
            with open_csv(path) as f:
                merged = {r["voice"]: r for r in csv.DictReader(f) if r.get("voice")}
        except (OSError, UnicodeDecodeError, csv.Error, KeyError) as exc:
            log.warning("%s is unreadable (%s); writing a new one", path, exc)
    merged.update({r["voice"]: r for r in rows})

    def write(tmp):
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(merged[k] for k in sorted(merged))

    write_atomic(path, write)


def predict_files(model, voices, out: str | os.PathLike, save_vectors: bool = False) -> dict:
    """Predict one face per voice file into ``out`` (see the module doc for the names).

    Args:
        model: a loaded :class:`speech2face.Speech2Face` or :class:`speech2face.Wav2Pix`
            (anything with ``prediction(voice, progress=...)``).
        voices: audio or video files of any length (long ones go in batches of windows,
            with a progress bar on stderr).
        out: the output folder (created).
        save_vectors: also write each :attr:`Prediction.vector` as ``<name>.npy`` (float32
            (dim,): a face feature for Speech2Face, an embedding for Wav2Pix).
    Returns:
        {"written": [(voice, png)], "skipped": [(voice, reason)], "warnings": [note]}.
    Raises:
        UserError: ``out`` is a file (an input file, say) or ``OUT/predictions.csv`` is an
            input. A voice that cannot be read is skipped (logged, in the result), not raised.
    """
    out = check_output_folder(out, voices)
    names = output_names(voices)
    if (out / RECORD).resolve() in names:
        raise UserError(f"{out / RECORD}: is an input file; give another folder with -o")
    out.mkdir(parents=True, exist_ok=True)
    result = {"written": [], "skipped": [], "warnings": []}
    rows = []
    given = {}  # resolved path -> the path as given (messages name the file as typed)
    for v in voices:
        given.setdefault(Path(v).resolve(), str(v))
    for source, voice in given.items():
        name = names[source]
        targets = [out / f"{name}.png"] + ([out / f"{name}.npy"] if save_vectors else [])
        clash = [t for t in targets if t.resolve() in names]
        if clash:
            reason = f"{voice}: not predicted: its face would overwrite the input {clash[0]}"
            _skip(result, rows, source, voice, reason)
            continue
        bar = _ProgressBar(Path(voice).name)
        try:
            pred = model.prediction(voice, progress=bar)
        except UserError as exc:
            _skip(result, rows, source, voice, str(exc))
            continue
        finally:
            bar.close()
        save_png(targets[0], pred.image, voice, pred.note)
        if save_vectors:
            write_atomic(targets[1], lambda tmp, f=pred.vector: save_npy(tmp, f))
        if pred.note:
            print(f"warning: {pred.note}", file=sys.stderr)
            result["warnings"].append(pred.note)
        print(f"{voice} -> {targets[0]}")
        result["written"].append((voice, str(targets[0])))
        rows.append(
            {
                "voice": str(source),
                "face": targets[0].name,
                "seconds": f"{pred.seconds:.2f}",
                "windows": pred.windows,
                "speech_fraction": f"{pred.speech_fraction:.3f}",
                "note": pred.note,
            }
        )
    update_record(out, rows)
    return result


def _skip(result: dict, rows: list, source: Path, voice: str, reason: str) -> None:
    """Log a voice that is not predicted, in the result and in the record."""
    print(f"skipped: {reason}", file=sys.stderr)
    result["skipped"].append((voice, reason))
    rows.append({"voice": str(source), "note": f"skipped: {reason}"})


class _ProgressBar:
    """``progress(windows done, windows in all)`` of one voice: a tqdm bar on stderr, shown
    only for voices of more than BAR_WINDOWS windows."""

    def __init__(self, name: str):
        self.name, self.bar = name, None

    def __call__(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None and total > BAR_WINDOWS:
            self.bar = tqdm(total=total, unit="window", desc=self.name, leave=False)
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            if done == total:
                self.bar.refresh()  # the last count is shown even when tqdm throttles redraws

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def save_npy(path: Path, vector: np.ndarray) -> None:
    """Write an array as .npy at ``path`` exactly (np.save would add .npy to a tmp name)."""
    with open(path, "wb") as f:  # a file object: np.save would append .npy to the tmp name
        np.save(f, np.asarray(vector, np.float32), allow_pickle=False)
