"""Pictures of Wav2Pix runs: real faces beside faces generated from their speech (PIL,
no matplotlib), for the training grids and the report."""

from __future__ import annotations

import numpy as np

GRID_ROWS = 6  # identities per training grid


def grid_rows(sets: dict, n: int) -> dict:
    """{split: pair rows}: the first pair of up to ``n`` identities present in every split."""
    ids = {k: d["identity"][d["pair_face"]] for k, d in sets.items()}
    common = sorted(set.intersection(*(set(v) for v in ids.values())))
    names = [common[i] for i in np.linspace(0, len(common) - 1, min(n, len(common))).astype(int)]
    return {
        k: np.array([np.flatnonzero(v == name)[0] for name in names], int) for k, v in ids.items()
    }


def tile_faces(columns: dict[str, np.ndarray], labels, title: str) -> np.ndarray:
    """A quick picture (PIL, no matplotlib): one column of faces per entry, a label per row.

    Args:
        columns: {title: (N, S, S, 3) uint8}. labels: N strings.
    Returns:
        (H, W, 3) uint8.
    """
    from PIL import Image, ImageDraw

    names = list(columns)
    n, s = len(labels), next(iter(columns.values())).shape[1]
    left, top, gap = 150, 32, 4
    canvas = Image.new("RGB", (left + len(names) * (s + gap), top + n * (s + gap)), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 2), title, fill="black")
    for j, name in enumerate(names):
        draw.text((left + j * (s + gap), 18), name[: s // 6 + 4], fill="black")
        for i in range(n):
            canvas.paste(
                Image.fromarray(columns[name][i]), (left + j * (s + gap), top + i * (s + gap))
            )
    for i, label in enumerate(labels):
        draw.text((4, top + i * (s + gap) + s // 2 - 6), str(label)[:24], fill="black")
    return np.asarray(canvas)


def generated_beside_real(models: dict, data: dict, rows: np.ndarray, image_size: int):
    """(true faces, faces generated from their pairs' speech, identities) of pair rows."""
    from speech2face.wav2pix.pair_reader import resize_faces, to_uint8
    from speech2face.wav2pix.pairs import scale_and_emphasize

    emb = models["speech_encoder"](scale_and_emphasize(data["audio"][rows]), training=False)
    fake = to_uint8(models["generator"](emb, training=False))
    real = resize_faces(data["face"][data["pair_face"][rows]], image_size)
    return real, fake, data["identity"][data["pair_face"][rows]]


def grid_name(step: int, steps_per_epoch: int) -> str:
    """The picture grid's file name after ``step``: ``epoch_NNN.png`` at the end of an
    epoch, else ``step_NNNNNN.png`` (the last step of a run that ends mid-epoch), so the
    final grid never overwrites the last epoch's."""
    if step % steps_per_epoch == 0:
        return f"epoch_{step // steps_per_epoch:03d}.png"
    return f"step_{step:06d}.png"
