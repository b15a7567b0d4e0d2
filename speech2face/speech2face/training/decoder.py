"""Train the face decoder (Cole et al., CVPR 2017) on faces: `speech2face train-decoder`.

Faces come from a dataset's segments and from face-only sources (photos, silent face
videos), train split only. The decoder renders faces in canonical form, frontal and neutral
(Cole et al.; Speech2Face §3.2), so the targets are canonical: from each face video the most
frontal and neutral frames are kept, faces far from frontal and neutral are dropped (each
identity keeps its best), and every face's landmark target is its identity's neutral
geometry (the faces' landmarks with closed mouths, averaged; :mod:`speech2face.faces.canonical`).
The texture target is the face warped from its own landmarks to the mean landmarks of the
targets (saved with the model), inside the face mask (the feathered hull of the landmarks and
the forehead) on a plain background. Losses: texture L1 weighted by the face mask + landmark
MSE, plus the identity loss (negative cosine between the face feature of the rendered face
and the input feature) when the face encoder is a differentiable Keras model (vggface). With
the dlib encoder there is no differentiable path from pixels to the feature, so the identity
term is off.

:func:`train_decoder` reads as its steps: faces (the dataset's segments and the face
caches of `prepare-faces`, built under ``face_cache/`` for a raw source), canonical faces
and landmark targets, mean landmarks, targets, model, fit (a checkpoint per epoch, a
picture grid every ``grid_every``), save, test metrics.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from speech2face import integrity
from speech2face.errors import UserError
from speech2face.faces.alignment import CROP_SIZE
from speech2face.speech2face.bundle import MEAN_FILE
from speech2face.speech2face.data.reader import Dataset
from speech2face.speech2face.training.config import DecoderConfig

log = logging.getLogger(__name__)

DECODER_FILE = "decoder.keras"
CONFIG_FILE = "decoder.json"
METRICS_FILE = "decoder_metrics.json"
CHECKPOINT_DIR = "checkpoint"
GRID_ROWS = 6
FACE_FIELDS = ("face", "landmarks", "feature", "identity")
TARGETS_FILE = "targets.h5"  # the texture and landmark targets of the training faces
TEST_FACES = 400  # test faces per face cache in decoder_metrics.json (two galleries of 200)
WARP_AT_OUTPUT_FROM = 128  # px: outputs this large get texture targets warped at their size
WARP_PIXELS = 400_000  # pixels warped at once by texture_targets (memory ~ pixels x points)


def train_decoder(
    data: str | os.PathLike,
    out: str | os.PathLike,
    face_sources=(),
    config: DecoderConfig | None = None,
):
    """Train (or resume) the face decoder; write it, its pictures and test metrics to ``out``.

    Args:
        data: a dataset folder (`speech2face prepare`); its train-split faces are used.
        out: the run folder: ``decoder.keras``, ``mean_landmarks.npy``, ``decoder.json``,
            ``face_cache/`` (the faces of raw face sources), ``checkpoint/``,
            ``grids/epoch_NNN.png``, ``history.csv``, ``logs/`` (TensorBoard) and
            ``decoder_metrics.json`` (landmark error, re-identification and mouth opening of
            the test faces, when there are any).
        face_sources: manifest CSVs or ``<identity>/<file>`` folders of face-only media.
        config: options (:class:`~speech2face.speech2face.training.config.DecoderConfig`).
    Returns:
        The trained decoder
        (:func:`speech2face.speech2face.models.face_decoder.build_face_decoder`).
    Raises:
        UserError: not a dataset, no training faces, or a missing VGG-Face weights file.
    """
    from speech2face import faces
    from speech2face.training.checkpoint import restore

    config = config or DecoderConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = Dataset(data)
    encoder = faces.get_encoder(dataset.face_encoder, config.vggface_weights)

    caches = face_caches(out, face_sources, dataset, config)
    gathered = gather_faces(dataset, caches, "train", config.max_face_score)
    train = canonical_faces(gathered, config.max_face_score, config.neutral_landmarks)
    mean = _mean_landmarks(out, train)
    size = _image_size(config.preset)
    targets = _cached_targets(out, train, mean, size)
    print(
        f"decoder: {len(train['identity'])} training faces of {len(set(train['identity']))} "
        f"identities ({len(gathered['identity']) - len(train['identity'])} far from frontal "
        f"and neutral dropped), {size}x{size} ({config.preset} preset), feature "
        f"{dataset.feature_dim}-D {dataset.face_encoder}"
    )
    steps = config.epochs * -(-len(train["identity"]) // config.batch_size)
    decoder, trainer, targets = _build(dataset, encoder, mean, config, targets, train, steps)
    done = restore(trainer, out / CHECKPOINT_DIR)
    if done:
        print(f"resuming after epoch {done}")
    grid = _grid_writer(decoder, train, targets, size, out / "grids", config)
    _fit(trainer, train["feature"], targets, done, config.epochs, config, grid, out)
    if config.detail_epochs:  # then fine detail, on the face the L1 epochs placed
        rate, total = config.detail_learning_rate, config.epochs + config.detail_epochs
        _compile(trainer, mean, config, rate, detail=True, identity=encoder.differentiable)
        if done > config.epochs:  # resuming inside the detail epochs: their Adam's state
            restore(trainer, out / CHECKPOINT_DIR)
        _fit(trainer, train["feature"], targets, max(done, config.epochs), total, config, grid, out)

    decoder.save(out / DECODER_FILE)
    info = {
        "config": asdict(config),
        "face_encoder": dataset.face_encoder,
        "feature_dim": dataset.feature_dim,
        "image_size": size,
        "faces": len(train["identity"]),
        "faces_gathered": len(gathered["identity"]),
        "identity_loss": bool(encoder.differentiable),
        "dataset": str(Path(data).resolve()),
        "files": integrity.records(out, (DECODER_FILE, MEAN_FILE)),  # checked by `train`
    }
    (out / CONFIG_FILE).write_text(json.dumps(info, indent=1))
    _test_metrics(decoder, dataset, caches, encoder, out)
    return decoder


def decoder_run_from_bundle(bundle, out) -> Path:
    """Write a decoder run folder holding the face decoder of a bundle (the shipped one by
    default), so that `train` puts a new voice side on a trained decoder (the demo's
    default: the shipped decoder learnt from ~20,000 faces, beyond what a CPU demo trains).

    Returns:
        ``out``, with ``decoder.keras``, ``mean_landmarks.npy`` and ``decoder.json``
        ("from_bundle" names the bundle; its recorded decoder metrics are copied).
    Raises:
        UserError / DamagedFileError: an incomplete or damaged bundle.
    """
    import shutil

    from speech2face.models import load_parts
    from speech2face.speech2face.bundle import DECODER, read_config
    from speech2face.speech2face.bundle import remedy as bundle_remedy

    bundle, out = Path(bundle), Path(out)
    config = read_config(bundle)
    decoder = load_parts(bundle, DECODER, bundle_remedy(bundle))
    out.mkdir(parents=True, exist_ok=True)
    decoder.save(out / DECODER_FILE)
    shutil.copyfile(bundle / MEAN_FILE, out / MEAN_FILE)
    info = {
        "from_bundle": str(bundle.resolve()),
        "face_encoder": config["face_encoder"],
        "feature_dim": config["feature_dim"],
        "image_size": int(decoder.output["image"].shape[1]),
        "decoder_metrics": config.get("decoder_metrics"),
        "files": integrity.records(out, (DECODER_FILE, MEAN_FILE)),
    }
    (out / CONFIG_FILE).write_text(json.dumps(info, indent=1))
    return out


# --- the steps, in order ---------------------------------------------------------------


def face_caches(out: Path, face_sources, dataset: Dataset, config) -> list[Path]:
    """The face cache of each face source: the source itself when it is one
    (`speech2face prepare-faces`), else one built (or resumed) under ``out/face_cache/``
    with the dataset's face encoder (:func:`speech2face.speech2face.data.face_cache.prepare_faces`).
    """
    from speech2face.speech2face.data import face_cache, face_reader

    caches = []
    for i, source in enumerate(face_sources):
        if face_reader.is_face_cache(source):
            caches.append(Path(source))
            continue
        folder = out / "face_cache" / f"{i}-{Path(source).stem}"
        face_cache.prepare_faces(
            source,
            folder,
            face_cache.FaceSourceConfig(
                face_encoder=dataset.face_encoder,
                vggface_weights=config.vggface_weights,
                min_age=config.min_age,
                frames_per_video=config.frames_per_video,
                frame_candidates=config.frame_candidates,
                size=int(dataset.manifest.get("face_size", CROP_SIZE)),
                workers=config.workers,
            ),
        )
        caches.append(folder)
    return caches


def _mean_landmarks(out: Path, faces: dict) -> np.ndarray:
    """(68, 2) normalised mean of the landmark targets, saved as ``mean_landmarks.npy``."""
    from speech2face.speech2face.models.face_decoder import mean_landmarks_of

    mean = mean_landmarks_of(faces["target"], faces["face"].shape[1])
    np.save(out / MEAN_FILE, mean)
    return mean


def _image_size(preset: str) -> int:
    """Side in pixels of the decoder's output for a preset (64 for an unknown one)."""
    from speech2face.speech2face.models.face_decoder import PRESETS

    return PRESETS[preset]["image_size"] if preset in PRESETS else 64


def _targets(faces: dict, mean: np.ndarray, size: int) -> dict:
    """The decoder's targets: {"texture": (N, size, size, 3) uint8, the face warped to the
    mean landmarks inside the face mask on the plain background; "landmarks": (N, 68, 2)
    float32, the landmark targets normalised}. uint8 keeps 20,000 faces at 128 px in
    ~1 GB; :class:`FaceBatches` scales them to [0, 1] per batch."""
    from tqdm import tqdm

    from speech2face.speech2face.models.face_decoder import BACKGROUND, face_mask

    crop = faces["face"].shape[1]
    # warped at the crop's resolution below 128 px (the closed mouths of the mean landmarks
    # are ~1 px apart at 224 px, well below a pixel at 64), else at the output size, which
    # costs (size / crop)^2 of the time (0.04 s a face at 128 px, 0.15 s at 224)
    warp_size = crop if size < WARP_AT_OUTPUT_FROM else size
    mask = face_mask(mean, size)[None, :, :, None]
    background = np.asarray(BACKGROUND, np.float32)
    textures = np.empty((len(faces["face"]), size, size, 3), np.uint8)
    chunk = 256
    for i in tqdm(
        range(0, len(textures), chunk),
        desc="texture targets",
        unit_scale=chunk,
        disable=len(textures) < 2 * chunk,
    ):
        part = slice(i, i + chunk)
        images = resize_uint8(faces["face"][part], warp_size)
        scale = warp_size / crop
        warped = texture_targets(images, faces["landmarks"][part] * scale, mean * warp_size)
        warped = resize_uint8(warped, size).astype(np.float32) / 255.0
        blended = warped * mask + background * (1 - mask)
        textures[part] = (blended * 255 + 0.5).astype(np.uint8)
    target = (faces["target"] / crop).astype(np.float32)
    return {"texture": textures, "landmarks": target}


def _cached_targets(out: Path, faces: dict, mean: np.ndarray, size: int) -> dict:
    """:func:`_targets`, kept in ``out/targets.h5`` keyed on the mean landmarks, the
    faces' features and landmark targets, and the size: a resumed run (or another run on
    the same faces, given a copy) skips the warps (~8 minutes for 17,000 faces)."""
    import hashlib

    import h5py

    digest = hashlib.sha256()
    for array in (mean, faces["feature"], faces["target"], np.array([size])):
        digest.update(np.ascontiguousarray(array).tobytes())
    key = digest.hexdigest()
    path = out / TARGETS_FILE
    if path.is_file():
        try:
            with h5py.File(path, "r") as f:
                if f.attrs.get("key") == key:
                    return {k: f[k][:] for k in ("texture", "landmarks")}
        except OSError:
            log.info("%s is unreadable: computing the targets again", path)
    targets = _targets(faces, mean, size)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        for k, v in targets.items():
            f.create_dataset(k, data=v)
        f.attrs["key"] = key
    os.replace(tmp, path)
    return targets


def resize_uint8(images: np.ndarray, size: int) -> np.ndarray:
    """(N, S0, S0, 3) uint8 -> (N, size, size, 3) uint8 (OpenCV area interpolation)."""
    import cv2

    if images.shape[1] == size:
        return images
    return np.stack(
        [cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images]
    ).reshape(len(images), size, size, 3)


def face_batches(features: np.ndarray, targets: dict, batch_size: int, seed: int):
    """Seeded shuffled (features, targets) batches for ``keras.Model.fit``.

    A ``keras.utils.PyDataset``: batch ``i`` of epoch ``e`` is the same in every run of the
    same seed (so a resumed run sees the batches an uninterrupted one would), and uint8
    arrays are scaled to [0, 1] float32 per batch (the targets of 20,000 faces stay uint8
    in memory).

    Args:
        features: (N, dim) float32. targets: {name: (N, ...) array}; uint8 arrays are
            divided by 255.
    """
    import keras

    class _Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epoch = 0
            self.order = self._order(0)

        def _order(self, epoch):
            return np.random.default_rng([seed, epoch]).permutation(len(features))

        def __len__(self):
            return -(-len(features) // batch_size)

        def __getitem__(self, i):
            rows = np.sort(self.order[i * batch_size : (i + 1) * batch_size])
            y = {}
            for name, array in targets.items():
                part = array[rows]
                y[name] = part.astype(np.float32) / 255.0 if part.dtype == np.uint8 else part
            return features[rows], y

        def on_epoch_end(self):
            self.epoch += 1
            self.order = self._order(self.epoch)

    return _Batches()


def _build(dataset: Dataset, encoder, mean, config, targets: dict, train: dict, steps: int):
    """The decoder and its compiled trainer (+ the identity head for a differentiable encoder).

    Losses: texture L1 weighted by the face mask, plus ``edge_weight`` x the same L1 on the
    image gradients (sharper edges than the L1 alone, which blurs what it cannot place),
    landmark MSE, and the identity loss when the encoder is differentiable. The learning
    rate is constant or follows a cosine decay over the ``steps`` of the run
    (``config.schedule``).

    Returns:
        (decoder, trainer, targets): ``targets`` gains "identity" (the input features) when
        the identity loss is on.
    """
    import keras

    from speech2face.speech2face.models.face_decoder import build_face_decoder

    keras.utils.set_random_seed(config.seed)
    decoder = build_face_decoder(dataset.feature_dim, mean, config.preset)
    outputs = {
        "texture": decoder.get_layer("texture").output,
        "landmarks": decoder.get_layer("landmarks").output,
    }
    if encoder.differentiable:
        outputs["identity"] = _identity_head(decoder, config.vggface_weights)
        targets = {**targets, "identity": train["feature"]}
    else:
        log.info(
            "identity loss off: the %s face encoder is not differentiable", dataset.face_encoder
        )
    rate = config.learning_rate
    if config.schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, max(1, steps), alpha=0.02)
    elif config.schedule != "constant":
        raise UserError(f"unknown schedule {config.schedule!r}: use constant or cosine")
    trainer = keras.Model(decoder.input, outputs)
    _compile(trainer, mean, config, rate, detail=False, identity=encoder.differentiable)
    return decoder, trainer, targets


def _compile(trainer, mean: np.ndarray, config, rate, detail: bool, identity: bool) -> None:
    """Compile ``trainer`` with a fresh Adam at ``rate``; with ``detail``, the texture loss
    gains ``detail_weight`` x :func:`.losses.detail_loss` (the detail epochs, after the L1 ones
    have placed the face: from the first epoch the detail term trades identity for texture,
    on UTKFace test in galleries of 200 re-identification 0.37 against 0.46 after an L1
    phase; issue 20). Compiling again keeps the weights. ``identity``: the trainer has
    the identity head's output."""
    import keras

    from speech2face.speech2face.models.face_decoder import face_mask
    from speech2face.speech2face.training.losses import masked_l1

    size = int(trainer.get_layer("texture").output.shape[1])
    texture = masked_l1(
        face_mask(mean, size),
        edge_weight=config.edge_weight,
        detail_weight=config.detail_weight if detail else 0.0,
    )
    losses = {"texture": texture, "landmarks": "mse"}
    weights = {"texture": 1.0, "landmarks": config.landmark_weight}
    if identity:  # the head of a differentiable face encoder (see _build)
        losses["identity"] = keras.losses.CosineSimilarity()  # = negative cosine
        weights["identity"] = config.identity_weight
    trainer.compile(keras.optimizers.Adam(rate), loss=losses, loss_weights=weights)


def _grid_writer(decoder, faces: dict, targets: dict, size: int, folder: Path, config):
    """A function of the epoch that saves ``folder/epoch_NNN.png`` after the first and the
    last epoch and every ``config.grid_every``: a few training faces, their target texture
    and target face (the texture rendered at the landmark targets), and the decoder's
    texture (with landmarks) and rendered face. (A grid takes about a second on 2 CPU
    cores, longer than an epoch of the small preset.)"""
    from speech2face.speech2face.evaluation.report import face_grid

    n = len(faces["identity"])
    pick = np.linspace(0, n - 1, min(GRID_ROWS, n)).astype(int)
    images = resize_uint8(faces["face"][pick], size).astype(np.float32) / 255.0
    textures = targets["texture"][pick].astype(np.float32) / 255.0
    target_faces = np.asarray(
        decoder.get_layer("image")([textures, targets["landmarks"][pick].astype(np.float32)])
    )

    def grid(epoch: int) -> None:
        done = epoch + 1
        last = (config.epochs, config.epochs + config.detail_epochs)  # each phase's last
        if done != 1 and done not in last and done % max(1, config.grid_every):
            return
        pred = decoder.predict(faces["feature"][pick], verbose=0)
        face_grid(
            {
                "input face": images,
                "target texture": textures,
                "target face": target_faces,
                "predicted texture": pred["texture"],
                "rendered face": pred["image"],
            },
            folder / f"epoch_{epoch + 1:03d}.png",
            landmarks={"predicted texture": pred["landmarks"] * size},
            row_labels=faces["identity"][pick],
            title=f"face decoder, epoch {epoch + 1}",
        )

    return grid


def _fit(trainer, features, targets: dict, done: int, epochs: int, config, grid, out: Path):
    """Run epochs ``done`` to ``epochs``: checkpoint + grid per epoch, CSV and TensorBoard
    logs (the batches of epoch e are the same whichever phase runs it)."""
    import keras

    from speech2face.training.checkpoint import Checkpoint

    if done >= epochs:
        return
    callbacks = [
        keras.callbacks.TerminateOnNaN(),  # stop with a message instead of saving NaNs
        Checkpoint(out / CHECKPOINT_DIR, extra=grid),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
    ]
    if keras.backend.backend() == "tensorflow":
        callbacks.append(keras.callbacks.TensorBoard(str(out / "logs")))
    trainer.fit(
        face_batches(features, targets, config.batch_size, config.seed),
        epochs=epochs,
        initial_epoch=done,
        callbacks=callbacks,
        verbose="auto",
    )


def _test_metrics(decoder, dataset, caches, encoder, out: Path) -> dict | None:
    """Landmark error, re-identification (among all and in galleries of 200), sharpness and
    neutrality on the test faces (video frames chosen as for training, none dropped), of
    every source together and of each source ("by_source": "dataset" and each cache's
    folder name; a cache gives at most :data:`TEST_FACES`, evenly spaced) ->
    ``decoder_metrics.json``."""
    from speech2face.speech2face.data import face_reader
    from speech2face.speech2face.evaluation.decoder_quality import decoder_quality

    parts = {}
    if dataset.index("test"):
        parts["dataset"] = dataset.load("test", FACE_FIELDS)
    for cache in caches:
        got = face_reader.read_faces(cache, "test", fields=FACE_FIELDS)
        if len(got["identity"]) > TEST_FACES:
            pick = np.linspace(0, len(got["identity"]) - 1, TEST_FACES).astype(int)
            got = {k: v[pick] for k, v in got.items()}
        if len(got["identity"]):
            parts[Path(cache).name] = got
    if not parts:
        log.info("no test faces in %s or the face sources: no decoder metrics", dataset.root)
        return None
    crop = next(iter(parts.values()))["face"].shape[1]

    def quality(faces):
        # every test face is kept; the targets say what a canonical rendering would be
        return decoder_quality(decoder, canonical_faces(faces, np.inf, neutral=True), encoder, crop)

    together = {k: np.concatenate([p[k] for p in parts.values()]) for k in FACE_FIELDS}
    metrics = quality(together)
    metrics["by_source"] = (
        {name: quality(faces) for name, faces in parts.items()} if len(parts) > 1 else {}
    )
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=1))
    for name, m in [("all", metrics), *metrics["by_source"].items()]:
        print(_quality_line(name, m, crop))
    return metrics


def _quality_line(name: str, m: dict, crop: int) -> str:
    return (
        f"test faces ({name}): {m['faces']} of {m['identities']} identities; "
        f"landmark error {m['landmark_error_px']:.2f} px ({crop} px crop; "
        f"{m['landmark_error_to_targets_px']:.2f} px to the neutral targets); "
        f"re-identification top-1 {m['reid_top1']:.3f} "
        f"(chance {m['reid_chance']:.3f}, real faces {m['reid_top1_true_faces']:.3f}), "
        f"{m['reid_top1_gallery']:.3f} in galleries of {m['reid_gallery_size']}; "
        f"sharpness ratio {m['sharpness_ratio']:.3f} ({m['sharpness_ratio_crop']:.3f} at "
        f"{crop} px); mouth opening rendered {_number(m['mouth_opening_rendered'])} "
        f"(dlib finds {m['rendered_faces_found']:.0%} of the faces), "
        f"input faces {m['mouth_opening_faces']:.3f}, targets {m['mouth_opening_targets']:.3f}"
    )


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


# --- faces and targets ----------------------------------------------------------------


def gather_faces(
    dataset: Dataset,
    caches=(),
    split: str = "train",
    max_face_score: float = np.inf,
    required: bool = True,
) -> dict | None:
    """Faces of one split from the dataset's segments and from face caches.

    Args:
        caches: face-cache folders (:func:`face_caches`, `speech2face prepare-faces`).
        max_face_score: faces of the caches less canonical than this are dropped, except
            the best of an identity with several faces (:func:`_canonical_in_cache`).
        required: when False, a split without faces gives None instead of an error.
    Returns:
        {"face": (N, 224, 224, 3) uint8, "landmarks": (N, 68, 2) crop pixels (x, y),
        "feature": (N, dim) float32, "identity": (N,) str}.
    Raises:
        UserError: a cache of another face encoder or crop size, or (``required``) no face
            of the split was found.
        DamagedFileError: a shard that differs from its record.
    """
    from speech2face.speech2face.data import face_reader

    parts = [dataset.load(split, FACE_FIELDS)] if dataset.index(split) else []
    size = int(dataset.manifest.get("face_size", CROP_SIZE))
    for cache in caches:
        got = face_reader.read_faces(cache, split, fields=FACE_FIELDS + ("score",))
        keep = _canonical_in_cache(got["score"], got["identity"], max_face_score)
        got = {k: got[k][keep] for k in FACE_FIELDS}
        if len(got["identity"]) and (
            got["face"].shape[1] != size or got["feature"].shape[1] != dataset.feature_dim
        ):
            raise UserError(
                f"{cache}: faces of {got['face'].shape[1]} px with {got['feature'].shape[1]}-D "
                f"features, the dataset has {size} px and {dataset.feature_dim}-D; prepare "
                "the faces with the dataset's face encoder"
            )
        parts.append(got)
    parts = [p for p in parts if len(p["identity"])]
    if not parts:
        if not required:
            return None
        raise UserError(f"no {split} faces in {dataset.root} or the face sources")
    return {k: np.concatenate([p[k] for p in parts]) for k in FACE_FIELDS}


def _canonical_in_cache(scores, identities, max_score: float) -> np.ndarray:
    """(N,) bool: faces scoring at most ``max_score``, and the best face of each identity
    that has several. A photo that is its own identity (UTKFace has no identity labels)
    is kept only when canonical enough, where "each identity keeps its best" (the rule of
    :func:`canonical_faces`) would keep every one."""
    from speech2face.faces import canonical

    names, counts = np.unique(np.asarray(identities).astype(str), return_counts=True)
    several = np.isin(np.asarray(identities).astype(str), names[counts > 1])
    best = canonical.most_canonical(scores, identities, -np.inf)  # each identity's best
    return (scores <= max_score) | (best & several)


def canonical_faces(faces: dict, max_score: float, neutral: bool = True) -> dict:
    """Keep the faces near frontal and neutral and give them landmark targets.

    Args:
        faces: {"face", "landmarks" (N, 68, 2) crop pixels, "feature", "identity"}.
        max_score: faces with a higher :func:`speech2face.faces.canonical.canonical_score`
            are dropped, except each identity's best (``np.inf`` keeps every face).
        neutral: landmark targets in the identity's neutral geometry
            (:func:`speech2face.faces.canonical.neutral_geometry`; Cole et al.); False keeps
            each face's own landmarks.
    Returns:
        The kept faces, with "target": (M, 68, 2) float32 landmark targets (crop pixels)
        and "score": (M,) canonical scores.
    """
    from speech2face.faces import canonical

    scores = canonical.canonical_score(faces["landmarks"])
    keep = canonical.most_canonical(scores, faces["identity"], max_score)
    kept = {k: v[keep] for k, v in faces.items()}
    kept["score"] = scores[keep]
    if neutral:
        kept["target"] = canonical.neutral_geometry(
            kept["landmarks"], kept["identity"], kept["score"]
        )
    else:
        kept["target"] = kept["landmarks"].astype(np.float32)
    return kept


def texture_targets(
    images: np.ndarray, landmarks_px: np.ndarray, mean_px: np.ndarray, batch: int | None = None
) -> np.ndarray:
    """Each face warped from its own landmarks to the mean landmarks (Cole et al. §3).

    Args:
        images: (N, S, S, 3) float32 in [0, 1] or uint8. landmarks_px: (N, 68, 2) (x, y)
            pixels. mean_px: (68, 2) (x, y) pixels.
        batch: faces per warp; by default :data:`WARP_PIXELS` pixels at once (7 faces at
            224 px), which keeps the spline's (faces, pixels, points) tensors ~100-250 MB.
    Returns:
        (N, S, S, 3) uint8 textures for uint8 images, else float32 in [0, 1].
    """
    from speech2face.speech2face.models.face_decoder import BOUNDARY_POINTS
    from speech2face.speech2face.models.warp import sparse_image_warp

    batch = batch or max(1, WARP_PIXELS // (images.shape[1] * images.shape[2]))
    out = []
    as_uint8 = images.dtype == np.uint8
    for i in range(0, len(images), batch):
        img = images[i : i + batch]
        if as_uint8:
            img = img.astype(np.float32) / 255.0
        src = landmarks_px[i : i + batch][..., ::-1]
        dst = np.broadcast_to(mean_px[:, ::-1], src.shape)
        warped, _ = sparse_image_warp(img, src, np.ascontiguousarray(dst), 2, 0.0, BOUNDARY_POINTS)
        out.append(np.clip(np.asarray(warped), 0, 1))
    out = np.concatenate(out).astype(np.float32)
    return (out * 255 + 0.5).astype(np.uint8) if as_uint8 else out


def _identity_head(decoder, vgg_weights: str):
    """Output: VGG-Face fc7 of the rendered face (frozen VGG-Face), for the identity loss."""
    import keras

    from speech2face.faces import vggface

    vgg = vggface.feature_model(vggface.load_vggface(vgg_weights))
    vgg.trainable = False
    image = decoder.output["image"]
    side = int(vgg.input.shape[1])
    x = keras.layers.Resizing(side, side, name="to_vgg_size")(image)
    mean = np.asarray(vggface.MEAN_BGR, np.float32)
    x = keras.layers.Lambda(lambda t: keras.ops.flip(t * 255.0, axis=-1) - mean, name="to_bgr")(x)
    fc7, _ = vgg(x)
    return fc7
