"""Wav2Pix (Duarte et al., ICASSP 2019): a face GAN conditioned on raw speech.

Everything of this system is in this folder; it uses the shared core (audio, video,
faces, dataset sources and shards, integrity, locks, distribution, predict_files, CLI
options) and nothing of the Speech2Face system but :mod:`speech2face.voices` (the
pretrained GE2E speaker encoder, an option) and, in :mod:`.beside`, a Speech2Face report.
The data flow, module by module:

- :mod:`.config`: every option and default (pairs, building, training);
- :mod:`.pairs`: clips -> (1 s of speech, face) pairs in HDF5 shards (``wav2pix prepare``);
- :mod:`.pair_reader`: the pair dataset, checked, and its training batches;
- :mod:`.model`: the SEGAN speech encoder, generator, discriminator and speaker classifier;
  :mod:`.ge2e_encoder`: the GE2E speech encoder option;
- :mod:`.train`: the GAN's training loop, checkpoints and export (``wav2pix train``);
- :mod:`.inference`: :class:`~.inference.Wav2Pix`, a trained run (``wav2pix predict``);
- :mod:`.metrics`, :mod:`.report`, :mod:`.beside`: the paper's evaluation, its page, and
  Speech2Face's figures on the same protocol (``wav2pix evaluate``);
- :mod:`.demo`: ``speech2face demo --system wav2pix``; :mod:`.cli`: the commands.

A change to the generator is made in :mod:`.model` (its preset and layers), trained by
:mod:`.train` (which builds it through :func:`.model.build_wav2pix`), exported into the run
folder and loaded by :mod:`.inference`, which :mod:`.metrics`, the CLI and the web page use.
"""
