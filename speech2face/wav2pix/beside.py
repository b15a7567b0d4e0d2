"""Speech2Face's numbers beside Wav2Pix's: one report, the same protocol and test identities.

``speech2face wav2pix evaluate --speech2face-report DIR`` reads the ``metrics.json`` that
``speech2face evaluate`` wrote into ``DIR`` and takes, from the protocol that matches the
Wav2Pix split (:data:`PROTOCOL_OF_SPLIT`), the figures a reader compares with Wav2Pix's
identity accuracy: identity and segment recall@1 (cosine) with their chance, and the gender
of the faces decoded from the voice with the majority and voice-pitch baselines. Both
datasets name identities after the sample manifest's ``identity`` column, so the identities
the two evaluations share are a set intersection of names.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from speech2face.errors import UserError

# Wav2Pix held-out split -> the Speech2Face protocol on the same kind of test identities:
# test_seen: seen identities, unseen speech; test: identities unseen in training.
PROTOCOL_OF_SPLIT = {"test_seen": "test_seen", "test": "test"}
# how to get a Speech2Face dataset with that protocol (`speech2face prepare --split-mode`)
SPLIT_MODES = {
    "test_seen": "`--split-mode seen` or `both`",
    "test": "`--split-mode identity` or `both`",
}
LISTED = 5  # identity names shown in a note when the sets differ
# the report's 95 % intervals over identities carried beside the figures
INTERVALS = ("identity_recall1", "segment_recall1", "gender_decoded_face_from_voice")


def _fix(path: Path, what: str, split: str) -> UserError:
    """A one-line UserError: the file, what is wrong, and how to get a fitting report."""
    modes = SPLIT_MODES.get(split, SPLIT_MODES["test_seen"])
    return UserError(
        f"{path}: {what}; run `speech2face evaluate` on a dataset prepared with {modes} "
        "and pass its report folder to --speech2face-report"
    )


def read_metrics(report: str | os.PathLike, split: str) -> tuple[Path, dict]:
    """The ``metrics.json`` of a ``speech2face evaluate`` report folder (or the file itself).

    Returns:
        (its path, its content).
    Raises:
        UserError: the file is missing, not JSON, or holds no ``protocols``.
    """
    report = Path(report)
    path = report if report.suffix == ".json" else report / "metrics.json"
    try:
        metrics = json.loads(path.read_text())
    except FileNotFoundError:
        raise _fix(path, "no Speech2Face metrics.json here", split) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fix(path, f"unreadable ({type(exc).__name__})", split) from None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("protocols"), dict):
        raise _fix(path, "not the metrics.json of `speech2face evaluate` (no protocols)", split)
    return path, metrics


def shared_identities(speech2face: list[str] | None, wav2pix: list[str]) -> dict:
    """The identities both evaluations test on.

    Args:
        speech2face: the names of the Speech2Face protocol's identities (None: not listed,
            a metrics.json written before ``identity_names`` was recorded).
        wav2pix: the names of the Wav2Pix held-out split's identities.
    Returns:
        {"count": shared names (None when unknown), "same": bool or None, "note": one line}.
    """
    if speech2face is None:
        return {
            "count": None,
            "same": None,
            "note": "the Speech2Face metrics.json lists no identity names (rerun `speech2face "
            "evaluate` to record them): the shared identities are unknown",
        }
    theirs, ours = set(speech2face), set(wav2pix)
    shared = theirs & ours
    if theirs == ours:
        note = f"the same {len(shared)} identities"
    else:
        note = (
            f"the identity sets differ: Speech2Face tests on {len(theirs)} identities, Wav2Pix "
            f"on {len(ours)}, {len(shared)} shared"
        )
        for who, only in (("Speech2Face", theirs - ours), ("Wav2Pix", ours - theirs)):
            if only:
                names = ", ".join(sorted(only)[:LISTED]) + (", ..." if len(only) > LISTED else "")
                note += f"; only in {who}: {names}"
    return {"count": len(shared), "same": theirs == ours, "note": note}


def speech2face_block(report: str | os.PathLike, split: str, identities: list[str]) -> dict:
    """The Speech2Face figures on the protocol that matches a Wav2Pix split.

    Args:
        report: a ``speech2face evaluate`` report folder (or its ``metrics.json``).
        split: the Wav2Pix held-out split ("test_seen" or "test").
        identities: names of the Wav2Pix held-out split's identities.
    Returns:
        {"source": path, "split", "protocol", "identities", "segments",
        "identity_recall1": {"cosine", "chance"}, "segment_recall1": {"cosine", "chance"},
        "gender": {"decoded_face_from_voice", "majority_baseline", "voice_pitch_baseline",
        "n"} or None (no gender figures: not dlib features), "intervals": {figure: the
        report's 95 % interval over identities} for the figures of :data:`INTERVALS` the
        report holds, "shared_identities": :func:`shared_identities`}. Recalls and
        accuracies are shares in [0, 1].
    Raises:
        UserError: the file is missing or unreadable, or holds no matching protocol.
    """
    protocol = PROTOCOL_OF_SPLIT.get(split, split)
    path, metrics = read_metrics(report, split)
    p = metrics["protocols"].get(protocol)
    if p is None:
        held = ", ".join(metrics["protocols"]) or "none"
        raise _fix(path, f"no {protocol!r} protocol (it holds: {held})", split)
    try:
        retrieval = {g: p["retrieval"][g] for g in ("identity", "segment")}
        recall1 = {
            f"{g}_recall1": {
                "cosine": float(r["recall"]["cosine"]["1"]),
                "chance": float(r["chance"]["1"]),
            }
            for g, r in retrieval.items()
        }
        counts = {"identities": int(p["identities"]), "segments": int(p["segments"])}
    except (KeyError, TypeError, ValueError) as exc:
        raise _fix(path, f"protocol {protocol!r} lacks {exc}", split) from None
    g = p.get("gender") or {}
    gender = None
    if g.get("decoded_face_from_voice") is not None:
        keys = ("decoded_face_from_voice", "majority_baseline", "voice_pitch_baseline", "n")
        gender = {k: g.get(k) for k in keys}
        balanced = g.get("balanced") or {}
        if balanced.get("decoded_face_from_voice") is not None:  # reports since issue 19
            gender["balanced"] = {
                k: balanced.get(k) for k in ("decoded_face_from_voice", "voice_pitch_baseline")
            }
    lit = (p.get("literature") or {}).get("intervals") or {}  # reports since issue 21
    return {
        "source": str(path.resolve()),
        "split": protocol,
        "protocol": p.get("protocol", protocol),
        **counts,
        **recall1,
        "gender": gender,
        "intervals": {k: lit[k] for k in INTERVALS if k in lit},
        "shared_identities": shared_identities(p.get("identity_names"), identities),
    }


def _num(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def _band(interval: dict | None) -> str:
    """ " [low, high]" of a 95 % interval, or nothing."""
    return f" [{interval['low']:.3f}, {interval['high']:.3f}]" if interval else ""


def comparison_rows(metrics: dict) -> list[tuple[str, str, str]]:
    """(system and figure, value, chance or baselines) rows of the side-by-side table.

    Args:
        metrics: Wav2Pix metrics holding a "speech2face" block (:func:`speech2face_block`).
    """
    s, ia = metrics["speech2face"], metrics["identity_accuracy"]
    unseen = ia["generated_unseen_speech"]
    rows = [
        (
            f"Wav2Pix: identity accuracy, faces from unseen speech ({metrics['identities']} "
            "identities)",
            f"{_num(unseen['accuracy'])}{_band(unseen.get('interval'))} (balanced "
            f"{_num(unseen['balanced'])}, n={unseen['n']})",
            f"chance {_num(ia['chance'])}",
        )
    ]
    bands = s.get("intervals") or {}
    for gallery, count in (("identity", "identities"), ("segment", "segments")):
        r = s[f"{gallery}_recall1"]
        rows.append(
            (
                f"Speech2Face: {gallery} recall@1, cosine ({s[count]} {count})",
                _num(r["cosine"]) + _band(bands.get(f"{gallery}_recall1")),
                f"chance {_num(r['chance'])}",
            )
        )
    g = s["gender"]
    if g and g.get("balanced"):
        b = g["balanced"]
        rows.append(
            (
                f"Speech2Face: gender of the face decoded from the voice, balanced (n={g['n']})",
                _num(b["decoded_face_from_voice"])
                + _band(bands.get("gender_decoded_face_from_voice")),
                f"chance 0.500, voice pitch {_num(b['voice_pitch_baseline'])}, majority rate "
                f"{_num(g['majority_baseline'])}",
            )
        )
    elif g:
        rows.append(
            (
                f"Speech2Face: gender of the face decoded from the voice (n={g['n']})",
                _num(g["decoded_face_from_voice"]),
                f"majority {_num(g['majority_baseline'])}, voice pitch "
                f"{_num(g['voice_pitch_baseline'])}",
            )
        )
    return rows


def summary_lines(metrics: dict) -> list[str]:
    """The side-by-side table as printed lines (empty without a "speech2face" block)."""
    s = metrics.get("speech2face")
    if not s:
        return []
    lines = [f"  Speech2Face on the same protocol ({s['split']}: {s['protocol']}):"]
    width = max(len(name) for name, _, _ in comparison_rows(metrics))
    for name, value, chance in comparison_rows(metrics):
        lines.append(f"    {name:{width}s}  {value}  ({chance})")
    lines.append(f"    shared identities: {s['shared_identities']['note']}")
    lines.append(f"    from {s['source']}")
    return lines
