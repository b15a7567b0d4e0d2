"""Convert Resemblyzer's GE2E weights to the package's HDF5 file, once; write reference
embeddings computed with the original implementation for the tests.

Needs PyTorch and Resemblyzer here only (never at run time), in a virtual environment of
its own:

    python -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch==2.13.0 librosa h5py soundfile webrtcvad-wheels
    /tmp/torchenv/bin/pip install --no-deps resemblyzer==0.1.4
    /tmp/torchenv/bin/python preprocess/convert_ge2e.py --samples ../shared/data

(`torch==2.13.0` takes the CPU build on this machine's disk; any other torch pulls a CUDA
build of several GB.) Resemblyzer's checkpoint is ``torch.load``-ed with
``weights_only=True`` (tensors only, no code). PyTorch's LSTM keeps its gates in the order
i, f, g, o, as Keras's LSTM does (i, f, c, o), with two biases that Keras sums into one:

    kernel = weight_ih.T   recurrent_kernel = weight_hh.T   bias = bias_ih + bias_hh

Writes ``speech2face/voices/ge2e.weights.h5`` (datasets ``ge2e_lstm{1,2,3}/{kernel,
recurrent_kernel,bias}``, ``ge2e_linear/{kernel,bias}``; no time stamps, so the bytes and
their sha256 repeat) and ``tests/data/ge2e_reference*.npy`` + ``.json``: the embeddings
of three sample clips by Resemblyzer itself, with and without its preprocessing. Put the
printed sha256 into ``speech2face/voices/ge2e.py`` (WEIGHTS_SHA256).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "speech2face" / "voices" / "ge2e.weights.h5"
REFERENCE = ROOT / "tests" / "data"
# 16 kHz clips of the sample data (no resampling, so both sides decode the same samples)
CLIPS = (
    "speech/libri_103/103-1240-0000.flac",
    "speech/libri_1034/1034-121119-0000.flac",
    "av/obama/Obama_clip1.wav",
)


def convert(checkpoint: Path) -> dict:
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["model_state"]
    arrays = {}
    for layer in range(3):
        name = f"ge2e_lstm{layer + 1}"
        arrays[f"{name}/kernel"] = state[f"lstm.weight_ih_l{layer}"].numpy().T
        arrays[f"{name}/recurrent_kernel"] = state[f"lstm.weight_hh_l{layer}"].numpy().T
        arrays[f"{name}/bias"] = (
            state[f"lstm.bias_ih_l{layer}"] + state[f"lstm.bias_hh_l{layer}"]
        ).numpy()
    arrays["ge2e_linear/kernel"] = state["linear.weight"].numpy().T
    arrays["ge2e_linear/bias"] = state["linear.bias"].numpy()
    return arrays


def write(arrays: dict, checkpoint: Path) -> str:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(OUT, "w", track_order=True) as f:
        f.attrs["source"] = "Resemblyzer 0.1.4 (PyPI), resemblyzer/pretrained.pt"
        f.attrs["source_sha256"] = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
        f.attrs["license"] = "Apache-2.0 (see GE2E_LICENSE)"
        for key, value in arrays.items():
            f.create_dataset(key, data=np.ascontiguousarray(value, np.float32), track_times=False)
    return hashlib.sha256(OUT.read_bytes()).hexdigest()


def references(samples: Path) -> None:
    from resemblyzer import VoiceEncoder, preprocess_wav

    encoder = VoiceEncoder("cpu", verbose=False)
    full, raw, info = [], [], []
    for clip in CLIPS:
        import soundfile

        wave, sr = soundfile.read(samples / clip, dtype="float32")
        assert sr == 16000, clip
        full.append(encoder.embed_utterance(preprocess_wav(wave)))
        raw.append(encoder.embed_utterance(wave))
        info.append(
            {"clip": clip, "sha256": hashlib.sha256((samples / clip).read_bytes()).hexdigest()}
        )
    REFERENCE.mkdir(parents=True, exist_ok=True)
    np.save(REFERENCE / "ge2e_reference.npy", np.stack(full).astype(np.float32))
    np.save(REFERENCE / "ge2e_reference_raw.npy", np.stack(raw).astype(np.float32))
    (REFERENCE / "ge2e_reference.json").write_text(
        json.dumps(
            {
                "what": "Resemblyzer 0.1.4 embed_utterance of each clip; ge2e_reference.npy after "
                "preprocess_wav (volume + VAD), ge2e_reference_raw.npy of the raw samples",
                "clips": info,
            },
            indent=1,
        )
    )


def main() -> None:
    import resemblyzer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=Path(resemblyzer.__file__).with_name("pretrained.pt"),
        help="Resemblyzer's pretrained.pt (default: the installed package's)",
    )
    parser.add_argument("--samples", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    digest = write(convert(args.checkpoint), args.checkpoint)
    print(f"{OUT}: {OUT.stat().st_size:,} bytes, sha256 {digest}")
    references(args.samples)
    print(f"reference embeddings: {REFERENCE}/ge2e_reference*.npy")


if __name__ == "__main__":
    main()
