"""Speech2Face's commands, one module per stage group: data (spectrogram, prepare,
prepare-faces, convert-dataset), decoder (train-decoder), training (pretrain, train) and
results (predict, evaluate, crossval)."""

from __future__ import annotations

from speech2face.speech2face.cli import data, decoder, results, training


def register(sub) -> None:
    """Add Speech2Face's subcommands to the `speech2face` parser, in the data flow's order."""
    for module in (data, decoder, training, results):
        module.register(sub)
