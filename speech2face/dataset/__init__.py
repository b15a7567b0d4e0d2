"""The shared data core, in the order of the data flow (no TensorFlow here).

- ``sources/``: a folder, a manifest CSV, VoxCeleb, AVSpeech or YouTube channels -> clips;
- ``splits``: the clip list under a protocol (unseen identities; seen identities, unseen speech);
- ``shards``: records <-> HDF5 shard files; the file names of a shard folder; int16 audio;
- ``engines``: the resume rule and the engines of every shard builder (process pool, Ray).

Each system builds its own shards on these: Speech2Face's segments and face caches
(:mod:`speech2face.speech2face.data`), Wav2Pix's pairs (:mod:`speech2face.wav2pix.pairs`).
"""
