"""Speech2Face's data: segments (``segments``, ``build``: `speech2face prepare`), their reader
(``reader``) and face caches of face-only sources (``face_cache``: `prepare-faces`,
``face_reader``), on the shared shards of :mod:`speech2face.dataset`."""
