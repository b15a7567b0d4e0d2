"""HDF5 shards of segments (h5py), written atomically: temporary name, then rename.

This module owns the dataset's on-disk names (``dataset.json``, ``failures.csv``,
``shards/shard-NNNNN.h5``), the int16 scale of audio (:func:`encode_audio`,
:func:`decode_audio`) and the codecs of the stored audio and faces.

One shard holds the segments of a fixed group of clips. Per segment: ``audio`` (96000
int16 samples at 16 kHz), ``face`` (a 224 x 224 RGB crop), ``landmarks`` float32 (68, 2),
``feature`` float32 (dim,), ``box`` float32 (4,) (left, top, right, bottom in source pixels),
``start``/``end`` float64 seconds in the clip, and strings ``identity``, ``split``,
``gender``, ``clip``. Attributes: ``clips`` (JSON list of the clip keys it covers),
``failures`` (JSON list of [clip, stage, reason]), ``face_encoder``, ``feature_dim``,
``format``.

Formats (the ``format`` attribute; a shard without it is format 1):

- 1: ``audio`` int16 (N, 96000) and ``face`` uint8 (N, 224, 224, 3) (gzip), about 300 KB
  a segment.
- 2 (written now): ``audio`` variable-length uint8, the losslessly compressed samples of
  each segment (they decode to the same int16 samples), ``face`` variable-length uint8, the
  JPEG (quality :data:`JPEG_QUALITY`) or PNG bytes of each crop (OpenCV); attributes
  ``audio_codec``, ``face_codec`` ("jpeg" or "png"), ``audio_samples``, ``face_size``.
  Audio codecs (:data:`AUDIO_CODECS`): "blosc" (the default), sample differences compressed
  by Blosc (numcodecs; zstd level 9, bit shuffle); "flac", a FLAC file (libsndfile through
  soundfile). On the sample speech both keep 55 % of the int16 bytes (106 and 107 KB a 6 s
  segment); blosc decodes in about 0.2 ms of CPU, FLAC in 0.9 ms
  (benchmarks/bench_loader.py), which is why blosc is the default. About 125 KB a segment
  with JPEG faces (format 1: 300 KB).

Readers decode both formats to the same arrays (:func:`read_rows`).
"""

from __future__ import annotations

import functools
import io
import json
import os
import uuid
from pathlib import Path

import numpy as np

from speech2face.audio import N_SAMPLES
from speech2face.faces.alignment import CROP_SIZE

MANIFEST = "dataset.json"  # the dataset manifest beside the shards folder
FAILURES = "failures.csv"  # every rejected clip and segment: clip, stage, reason
SHARD_DIR = "shards"
INT16_SCALE = 32767.0  # full scale 1.0 <-> 32767
FORMAT = 2  # the shard format written now (module doc)
FACE_CODECS = ("jpeg", "png")
AUDIO_CODECS = ("blosc", "flac")
# JPEG quality of stored face crops: at 95 a 224 x 224 crop takes about 12 KB (PNG: 55 KB,
# the gzip array of format 1: about 100 KB) and differs from the original by under one grey
# level on average (0.8 of 255 on the sample faces), far below what the 64-224 px decoder
# targets resolve; PNG keeps the pixels exactly.
JPEG_QUALITY = 95

ARRAYS = {  # name -> (shape after N, dtype)
    "audio": ((), np.int16),
    "face": ((), np.uint8),
    "landmarks": ((68, 2), np.float32),
    "feature": ((), np.float32),
    "box": ((4,), np.float32),
    "start": ((), np.float64),
    "end": ((), np.float64),
}
STRINGS = ("identity", "split", "gender", "clip")


def shard_path(root: str | os.PathLike, index: int) -> Path:
    """Path of shard number ``index`` of the dataset in ``root``: ``shards/shard-NNNNN.h5``."""
    return Path(root) / SHARD_DIR / f"shard-{index:05d}.h5"


def shard_files(root: str | os.PathLike) -> list[Path]:
    """Every shard file in the dataset folder ``root`` (finished ones; not ``.tmp`` files)."""
    return sorted((Path(root) / SHARD_DIR).glob("shard-*.h5"))


def encode_audio(wave: np.ndarray) -> np.ndarray:
    """Float waveform in [-1, 1] -> int16 samples as stored in shards, same shape."""
    return np.round(np.asarray(wave) * INT16_SCALE).astype(np.int16)


def decode_audio(samples: np.ndarray) -> np.ndarray:
    """Stored int16 samples -> float32 waveform in [-1, 1], same shape."""
    return np.divide(samples, np.float32(INT16_SCALE), dtype=np.float32)


def flac_bytes(samples: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """int16 samples (N,) -> FLAC file bytes as a uint8 array (soundfile / libsndfile).

    Lossless: :func:`flac_samples` gives back exactly ``samples``.
    """
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.asarray(samples, np.int16), sample_rate, "PCM_16", format="FLAC")
    return np.frombuffer(buffer.getvalue(), np.uint8)


def flac_samples(data: np.ndarray | bytes) -> np.ndarray:
    """FLAC bytes (uint8 array or bytes) -> int16 samples (N,) (soundfile / libsndfile).

    Raises:
        soundfile.LibsndfileError: the bytes are not a FLAC stream.
    """
    import soundfile

    samples, _ = soundfile.read(io.BytesIO(memoryview(data)), dtype="int16")
    return samples


@functools.cache
def _blosc():
    """The Blosc compressor of the "blosc" audio codec (numcodecs): zstd level 9, bit shuffle."""
    import numcodecs

    return numcodecs.Blosc(cname="zstd", clevel=9, shuffle=numcodecs.Blosc.BITSHUFFLE)


def audio_bytes(samples: np.ndarray, codec: str = "blosc") -> np.ndarray:
    """int16 samples (N,) -> losslessly compressed bytes (uint8 array) in ``codec``:
    "blosc" (the first sample and the differences between samples, int16 wrapping around,
    compressed by numcodecs' Blosc with zstd and bit shuffle) or "flac" (:func:`flac_bytes`).

    Raises:
        ValueError: an unknown codec.
    """
    samples = np.ascontiguousarray(samples, np.int16)
    if codec == "flac":
        return flac_bytes(samples)
    if codec != "blosc":
        raise ValueError(f"audio codec {codec!r}: use one of {', '.join(AUDIO_CODECS)}")
    delta = np.diff(samples, prepend=np.int16(0)).astype(np.int16)  # wraps around at 2**15
    return np.frombuffer(_blosc().encode(delta), np.uint8)


def audio_samples(data: np.ndarray | bytes, codec: str = "blosc") -> np.ndarray:
    """Bytes of :func:`audio_bytes` -> the int16 samples (N,), exactly.

    Raises:
        ValueError: an unknown codec, or bytes that are not of this codec.
    """
    if codec == "flac":
        return flac_samples(data)
    if codec != "blosc":
        raise ValueError(f"audio codec {codec!r}: use one of {', '.join(AUDIO_CODECS)}")
    try:
        delta = np.frombuffer(_blosc().decode(memoryview(data)), np.int16)
    except RuntimeError as exc:
        raise ValueError(f"stored audio is not blosc data: {exc}") from None
    # the running sum modulo 2**16 (int32 sums wrap too, and add up faster than int16 ones)
    return np.cumsum(delta, dtype=np.int32).astype(np.int16)


def image_bytes(image: np.ndarray, codec: str = "jpeg") -> np.ndarray:
    """RGB uint8 image (H, W, 3) -> JPEG (quality :data:`JPEG_QUALITY`) or PNG bytes (uint8
    array), encoded by OpenCV.

    Raises:
        ValueError: an unknown codec.
    """
    import cv2

    if codec not in FACE_CODECS:
        raise ValueError(f"face codec {codec!r}: use one of {', '.join(FACE_CODECS)}")
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if codec == "jpeg" else []
    ok, data = cv2.imencode(f".{codec}", np.ascontiguousarray(image[..., ::-1]), params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} image as {codec}")
    return data.reshape(-1)


def image_pixels(data: np.ndarray | bytes) -> np.ndarray:
    """JPEG or PNG bytes -> RGB uint8 image (H, W, 3) (OpenCV, libjpeg-turbo / libpng).

    Raises:
        ValueError: the bytes are not an image OpenCV can decode.
    """
    import cv2

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("stored face crop is not a decodable image")
    return image[..., ::-1]


def write_shard(
    path: str | os.PathLike,
    segments: list[dict],
    clips: list[str],
    failures: list[tuple[str, str, str]],
    face_encoder: str,
    feature_dim: int,
    audio_samples: int = N_SAMPLES,
    face_size: int = CROP_SIZE,
    face_codec: str = "jpeg",
    shard_format: int = FORMAT,
    audio_codec: str = "blosc",
) -> Path:
    """Write segments to ``path`` atomically, in format :data:`FORMAT` (module doc), or in
    format 1 when ``shard_format`` is 1 (for comparisons; ``face_codec`` is then unused).

    The file is written under a temporary name unique to this writer (``path.<id>.tmp``)
    and renamed when complete, so a reader never sees a partial shard and two writers of the
    same shard (a task retried by a cluster while its first attempt still runs) never mix.

    Args:
        segments: dicts with the per-segment keys listed in the module doc (``audio`` int16
            (audio_samples,), ``face`` uint8 (face_size, face_size, 3)).
        clips: keys of every clip this shard covers (done, even with no segment).
        failures: (clip, stage, reason) for rejected clips and segments.
        face_codec: "jpeg" or "png" (:func:`image_bytes`).
        audio_codec: "blosc" or "flac" (:func:`audio_bytes`).
    Returns:
        The final path.
    Raises:
        ValueError: an unknown face or audio codec.
    """
    import h5py

    path = Path(path)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    n = len(segments)
    shapes = {"landmarks": (68, 2), "feature": (feature_dim,), "box": (4,)}
    blobs = h5py.vlen_dtype(np.uint8)
    if shard_format == 1:
        shapes |= {"audio": (audio_samples,), "face": (face_size, face_size, 3)}
    try:
        with h5py.File(tmp, "w") as f:
            if shard_format != 1:
                audio = f.create_dataset("audio", (n,), dtype=blobs)
                face = f.create_dataset("face", (n,), dtype=blobs)
                for i, seg in enumerate(segments):
                    audio[i] = audio_bytes(seg["audio"], audio_codec)
                    face[i] = image_bytes(seg["face"], face_codec)
            for name, (shape, dtype) in ARRAYS.items():
                if name in ("audio", "face") and shard_format != 1:
                    continue
                data = np.zeros((n, *shapes.get(name, shape)), dtype)
                for i, seg in enumerate(segments):
                    data[i] = seg[name]
                gzip = {"compression": "gzip", "compression_opts": 1} if name == "face" else {}
                f.create_dataset(name, data=data, **(gzip if n else {}))
            for name in STRINGS:
                f.create_dataset(
                    name,
                    data=[seg[name] for seg in segments],
                    dtype=h5py.string_dtype(),
                    shape=(n,),
                )
            f.attrs["clips"] = json.dumps(clips)
            f.attrs["failures"] = json.dumps([list(x) for x in failures])
            f.attrs["face_encoder"] = face_encoder
            f.attrs["feature_dim"] = feature_dim
            if shard_format != 1:
                f.attrs["format"] = shard_format
                f.attrs["audio_codec"] = audio_codec
                f.attrs["face_codec"] = face_codec
                f.attrs["audio_samples"] = audio_samples
                f.attrs["face_size"] = face_size
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def shard_format(f) -> int:
    """Format number of an open shard (h5py.File): 1 when it has no ``format`` attribute."""
    return int(f.attrs.get("format", 1))


def read_rows(f, name: str, rows: list[int], decode: bool = True) -> list:
    """Values of the field ``name`` at ``rows`` of an open shard (h5py.File).

    Both formats give the same decoded values: ``audio`` int16 (samples,), ``face`` uint8
    (size, size, 3), strings as str, other fields numpy arrays or scalars. Repeated rows are
    allowed; the order of ``rows`` is kept. ``decode=False`` returns what is stored
    (:func:`decode_rows` finishes the job, e.g. outside a lock).

    Raises:
        KeyError: no field ``name`` in the shard.
        ValueError: a stored face that does not decode.
    """
    unique = sorted(set(rows))
    data = f[name][unique] if unique else []
    values = dict(zip(unique, data, strict=True))
    out = [values[r] for r in rows]
    return decode_rows(name, out, codecs(f)) if decode else out


def codecs(f) -> dict:
    """{"audio": codec or None, "face": codec or None} of an open shard (None: format 1's
    plain arrays)."""
    if shard_format(f) < 2:
        return {"audio": None, "face": None}
    return {"audio": str(f.attrs["audio_codec"]), "face": str(f.attrs["face_codec"])}


def decode_rows(name: str, values: list, shard_codecs: dict) -> list:
    """Stored values of the field ``name`` -> decoded values (:func:`read_rows`), given the
    shard's :func:`codecs`: compressed audio -> int16 samples, JPEG/PNG -> RGB uint8,
    bytes -> str."""
    if name == "audio" and shard_codecs["audio"]:
        return [audio_samples(v, shard_codecs["audio"]) for v in values]
    if name == "face" and shard_codecs["face"]:
        return [image_pixels(v) for v in values]
    if values and isinstance(values[0], bytes):
        return [v.decode() for v in values]
    return values


def shard_info(path: str | os.PathLike) -> dict:
    """Attributes of a shard: format, clips, failures, face_encoder, feature_dim, segments
    (count), and its identity, split and gender columns and seconds of audio.

    Raises:
        OSError: the file is not a readable HDF5 shard.
    """
    import h5py

    with h5py.File(path, "r") as f:
        return {
            "format": shard_format(f),
            "clips": json.loads(f.attrs["clips"]),
            "failures": [tuple(x) for x in json.loads(f.attrs["failures"])],
            "face_encoder": str(f.attrs["face_encoder"]),
            "feature_dim": int(f.attrs["feature_dim"]),
            "segments": int(f["audio"].shape[0]),
            "identity": [s.decode() for s in f["identity"][:]],
            "split": [s.decode() for s in f["split"][:]],
            "gender": [s.decode() for s in f["gender"][:]],
            "seconds": float(np.sum(f["end"][:] - f["start"][:])),
        }


def sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file (:func:`speech2face.integrity.sha256`)."""
    from speech2face.integrity import sha256 as digest

    return digest(path)
