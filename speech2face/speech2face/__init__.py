"""Speech2Face (Oh et al., CVPR 2019): voice -> face feature -> face (Cole et al.'s decoder).

Everything of this system is in this folder; it uses the shared core (audio, video,
faces, dataset sources/shards/splits, voices, integrity, locks, distribution, checkpoint,
intervals, predict_files, CLI options). The data flow, package by package:

- :mod:`.data`: clips -> 6 s segments with face features in HDF5 shards (``segments``,
  ``build`` = ``speech2face prepare``), their reader and batches (``reader``), and face
  caches of face-only photos and videos (``face_cache`` = ``prepare-faces``, ``face_reader``);
- :mod:`.models`: the spectrogram layer, the voice encoder (Table 1), the face decoder
  and its differentiable warp (Cole et al.);
- :mod:`.training`: options (``config``), losses (§3.3), the voice encoder (``voice``, and
  ``speaker_head`` for a pretrained speaker encoder), the face decoder (``decoder``) and
  speaker pretraining (``pretrain``);
- :mod:`.bundle` and :mod:`.inference`: the trained bundle and :class:`~.inference.Speech2Face`;
  :mod:`.default_model`: the shipped bundle;
- :mod:`.evaluation`: ``evaluate`` (every protocol), its report and summary, retrieval,
  SF2F retrieval, 1:2 matching, attributes and face judges, craniofacial, decoder
  quality, cross-validation over identities;
- :mod:`.demo`: ``speech2face demo``.
"""
