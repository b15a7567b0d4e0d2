"""The shared training core: exact resume (checkpoint), devices (distribution) and the
backend-specific gradient of a hand-written step (gradients). Each system's training is in
its package: :mod:`speech2face.speech2face.training`, :mod:`speech2face.wav2pix.train`."""
