"""Dataset building and reading, in the order of the data flow (no TensorFlow here).

- ``sources/``: a folder, a manifest CSV, VoxCeleb, AVSpeech or YouTube channels -> clips;
- ``splits``: the clip list under a protocol (unseen identities; seen identities, unseen speech);
- ``face_cache``: photos and silent face videos -> cached face shards (for the face decoder);
- ``face_reader``: a face cache's ``faces.json`` + shards -> faces of a split;
- ``segments``: one clip -> 6 s segments with their face targets;
- ``shards``: segments <-> HDF5 shard files; the dataset's file names; int16 audio;
- ``engines``: the resume rule and the engines of every shard builder (process pool, Ray);
- ``build``: clips -> shards + ``dataset.json`` (`speech2face prepare`), resumable;
- ``reader``: ``dataset.json`` + shards -> segments and seeded batches;
- ``pairs``: clips -> Wav2Pix pairs (1 s of speech, a face) in shards + ``pairs.json``;
- ``pair_reader``: ``pairs.json`` + shards -> faces, pairs and step-addressed batches.
"""
