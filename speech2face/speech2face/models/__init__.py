"""Speech2Face's models: the spectrogram layer, the voice encoder (Oh et al. Table 1) and
the face decoder with its differentiable warp (Cole et al.). Saving and loading any model:
:mod:`speech2face.models`."""
