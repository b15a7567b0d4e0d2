"""The shared evaluation core: bootstrap intervals over identities (intervals), per-probe
tables (probes) and paired differences between two reports of either system (compare).
Each system's protocols are in its package: :mod:`speech2face.speech2face.evaluation`,
:mod:`speech2face.wav2pix.evaluate`."""
