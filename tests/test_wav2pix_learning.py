"""Wav2Pix learns: the small generator, trained briefly on real pairs of five identities,
generates faces from their training speech that a classifier of real faces re-identifies
well above chance (dlib descriptors, as `wav2pix evaluate`)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow

STEPS = 600


def test_generated_faces_are_reidentified(wav2pix_pairs, tmp_path):
    from speech2face import api
    from speech2face.dataset.shards import decode_audio
    from speech2face.wav2pix import metrics as m
    from speech2face.wav2pix.pair_reader import resize_faces

    model = api.wav2pix_train(
        wav2pix_pairs.root,
        tmp_path / "run",
        steps=STEPS,
        batch_size=8,
        checkpoint_every=STEPS,
        embedding_gain=100.0,  # the CPU recipe of the demo (docs/wav2pix.md)
        lr_g=4e-4,
        lr_encoder=1e-4,
        balanced=True,
        progress=False,
    )
    train = wav2pix_pairs.load("train")
    rows = np.arange(0, len(train["pair_face"]), 3)
    truth = train["identity"][train["pair_face"][rows]]
    fake = model.generate(model.embed(decode_audio(train["audio"][rows])))
    real = resize_faces(train["face"], 64)
    clf = m.identity_classifier(m.crop_descriptors(real, 1.4), train["identity"])
    acc = m.accuracy(clf.predict(m.crop_descriptors(fake, 1.4)), truth)
    chance = 1 / len(set(train["identity"]))
    print(f"identity accuracy of faces from training speech after {STEPS} steps: {acc}")
    assert acc["accuracy"] >= 3 * chance and acc["balanced"] >= 2 * chance, acc
