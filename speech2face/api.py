"""The Python API: one function per stage of the data flow, and the trained model.

    import speech2face

    speech2face.prepare("data/clips", "runs/dataset", workers=2)
    speech2face.train_decoder("runs/dataset", "runs/decoder", faces=["data/faces"], epochs=60)
    model = speech2face.train("runs/dataset", "runs/decoder", "runs/bundle", steps=300)
    metrics = speech2face.evaluate("runs/dataset", "runs/bundle", "runs/report")
    image, feature = speech2face.load_model("runs/bundle").predict("voice.wav")

    speech2face.wav2pix_prepare("data/clips", "runs/pairs", workers=2)   # Wav2Pix
    speech2face.wav2pix_train("runs/pairs", "runs/wav2pix", steps=6000)
    speech2face.wav2pix_evaluate("runs/pairs", "runs/wav2pix", "runs/wav2pix_report")
    image, embedding = speech2face.load_wav2pix("runs/wav2pix").predict("voice.wav")

Every stage takes its inputs, then its output folder, then keyword options: the fields of
the stage's config dataclass, with the same defaults as the command line (`speech2face
COMMAND --help` lists them). An unknown keyword raises TypeError. Every stage resumes when
called again with the same output folder. Errors the user can fix (a missing file, a
dataset built with another face encoder, a damaged file, an output folder another run is
writing into) raise :class:`speech2face.errors.UserError` with a one-line message naming
the file and the cause.
"""

from __future__ import annotations

import os
from dataclasses import fields

from speech2face import _API, locks
from speech2face.speech2face.evaluation.sf2f_retrieval import GALLERY_SIZE
from speech2face.speech2face.inference import Speech2Face
from speech2face.wav2pix.config import MAX_PAIRS
from speech2face.wav2pix.inference import Wav2Pix

__all__ = list(_API)  # the names `import speech2face` exposes, listed once there


def _options(stage: str, given: dict, *classes) -> list[dict]:
    """Split keyword options among config dataclasses; unknown ones raise TypeError."""
    known = [{f.name for f in fields(cls) if f.name != "segment"} for cls in classes]
    unknown = set(given) - set().union(*known)
    if unknown:
        raise TypeError(
            f"{stage}() got unknown option(s) {', '.join(sorted(unknown))}; "
            f"its options are: {', '.join(sorted(set().union(*known)))}"
        )
    return [{k: v for k, v in given.items() if k in names} for names in known]


def prepare(source: str | os.PathLike, output: str | os.PathLike, **config) -> dict:
    """Build (or resume) a dataset: clips -> 6 s segments with face targets -> HDF5 shards.

    Args:
        source: a folder ``ROOT/<identity>/<clip>.<ext>``, a manifest CSV, a VoxCeleb root
            (``source_type="voxceleb"``) or an AVSpeech CSV (``source_type="avspeech"``).
        output: the dataset folder: ``shards/shard-NNNNN.h5``, ``dataset.json``,
            ``failures.csv``.
        **config: fields of :class:`~speech2face.dataset.sources.SourceConfig` (where the
            clips come from and how they split),
            :class:`~speech2face.speech2face.data.build.PrepareConfig` (face encoder, shards,
            workers, engine) and :class:`~speech2face.speech2face.data.segments.SegmentConfig` (how
            a clip is cut into segments); each field's comment says what it does.
    Returns:
        The dataset manifest (the content of ``output/dataset.json``): counts per split,
        identities, shards, feature dimension, rejections.
    Raises:
        TypeError: an unknown option.
        UserError: no clips, an unreadable source, an existing dataset built with another
            face encoder, or another run writing into ``output`` (``locks.BusyError``).
        OSError: ``output`` cannot be written (read-only, disk full); finished shards stay.
    """
    from speech2face.dataset.sources import SourceConfig, read_clips
    from speech2face.speech2face.data import build
    from speech2face.speech2face.data.segments import SegmentConfig

    source_opts, build_opts, segment_opts = _options(
        "prepare", config, SourceConfig, build.PrepareConfig, SegmentConfig
    )
    with locks.hold(output, "prepare"):  # one writer per dataset folder
        clips, failures = read_clips(source, output, SourceConfig(**source_opts))
        settings = build.PrepareConfig(**build_opts, segment=SegmentConfig(**segment_opts))
        return build.prepare(clips, output, settings, failures)


def prepare_faces(source: str | os.PathLike, output: str | os.PathLike, **config) -> dict:
    """Build (or resume) a face cache: photos / face videos -> faces detected, aligned,
    described and scored once, in HDF5 shards (`speech2face prepare-faces`).

    Args:
        source: a labelled-photo CSV (``file``, ``age``, ``gender``, ``race``, ``split``:
            UTKFace's ``utkface.csv``), a manifest CSV (face_photo / face_video rows) or a
            folder ``<identity>/<file>``.
        output: the cache folder: ``face_shards/faces-NNNNN.h5``, ``faces.json``,
            ``failures.csv``; ``train_decoder(faces=[output])`` reads it.
        **config: fields of :class:`~speech2face.speech2face.data.face_cache.FaceSourceConfig`.
    Returns:
        The ``faces.json`` record (counts and shards with their sha256).
    Raises:
        UserError: not a face source, no faces after the age filter, an unknown option
            value, or another run writing into ``output`` (``locks.BusyError``).
    """
    from speech2face.speech2face.data.face_cache import FaceSourceConfig, prepare_faces

    (options,) = _options("prepare_faces", config, FaceSourceConfig)
    with locks.hold(output, "prepare-faces"):
        return prepare_faces(source, output, FaceSourceConfig(**options))


def train_decoder(data: str | os.PathLike, output: str | os.PathLike, *, faces=(), **config):
    """Train (or resume) the face decoder (Cole et al.): face feature -> face image.

    Args:
        data: a dataset folder from :func:`prepare`; its train-split faces are used.
        output: the run folder: ``decoder.keras``, ``mean_landmarks.npy``, picture grids
            (every ``grid_every`` epochs), ``history.csv``, and ``decoder_metrics.json``
            (landmark error, re-identification and mouth opening on the test split, when it
            has faces).
        faces: face-only sources (manifest CSVs or ``<identity>/<file>`` folders of photos
            and silent face videos) whose train-split faces are added.
        **config: fields of :class:`~speech2face.speech2face.training.config.DecoderConfig` (each
            field's comment there says what it does; the CLI's help lists them too).
    Returns:
        The trained decoder, a Keras model: (B, feature_dim) float32 face features ->
        {"image": (B, S, S, 3) in [0, 1], "texture", "landmarks": (B, 68, 2) normalised}.
    Raises:
        TypeError: an unknown option.
        UserError: not a dataset, no training faces, a missing VGG-Face weights file, a
            damaged shard or checkpoint, or another run writing into ``output``.
    """
    from speech2face.speech2face.training.config import DecoderConfig

    (options,) = _options("train_decoder", config, DecoderConfig)
    with locks.hold(output, "train-decoder"):
        from speech2face.speech2face.training.decoder import train_decoder as run

        return run(data, output, list(faces), DecoderConfig(**options))


def pretrain(sources, output: str | os.PathLike, **config) -> dict:
    """Pretrain (or resume) the voice encoder as a speaker classifier on voice-only speech.

    Args:
        sources: one or a list of: manifest CSVs (rows of kind ``speech``), folders
            ``<speaker>/<file>`` of recordings, dataset folders from :func:`prepare`
            (their train split, labelled by identity).
        output: the run folder that ``train(..., init=output)`` starts from.
        **config: fields of :class:`~speech2face.speech2face.training.config.PretrainConfig` (each
            field's comment says what it does).
    Returns:
        {"speakers", "windows", "heldout_windows", "heldout_accuracy", "chance"}.
    Raises:
        TypeError: an unknown option.
        UserError: an unreadable source, fewer than 2 speakers, a damaged checkpoint, or
            another run writing into ``output``.
    """
    from speech2face.speech2face.training.config import PretrainConfig
    from speech2face.speech2face.training.pretrain import pretrain as run

    (options,) = _options("pretrain", config, PretrainConfig)
    sources = [sources] if isinstance(sources, str | os.PathLike) else list(sources)
    with locks.hold(output, "pretrain"):
        return run(sources, output, PretrainConfig(**options))


def train(
    data: str | os.PathLike, decoder: str | os.PathLike, output: str | os.PathLike, **config
) -> Speech2Face:
    """Train (or resume exactly) the voice encoder with the frozen face decoder.

    Args:
        data: a dataset folder from :func:`prepare`; its train split is used.
        decoder: a run folder of :func:`train_decoder`.
        output: the bundle folder (what :func:`load_model` reads), with its checkpoint,
            ``history.csv`` and TensorBoard logs.
        **config: fields of :class:`~speech2face.speech2face.training.config.TrainConfig` (the voice
            route: ``voice_encoder="paper"`` trains the Table 1 CNN, ``"ge2e"`` a head on
            the pretrained speaker encoder; each field's comment says what it does).
    Returns:
        The trained model, loaded from the bundle written into ``output``.
    Raises:
        TypeError: an unknown option.
        UserError: no decoder in ``decoder``, features of another dimension, an empty
            train split, fewer GPUs than ``num_gpu``, a damaged file (shard, decoder,
            checkpoint, pretrain run; even one that fails mid-training names itself), or
            another run writing into ``output``.
    """
    from speech2face.speech2face.training.config import TrainConfig

    (options,) = _options("train", config, TrainConfig)
    with locks.hold(output, "train"):  # one writer per bundle folder; before Keras loads
        settings = TrainConfig(**options)
        if settings.voice_encoder == "paper":
            from speech2face.speech2face.training.voice import train_voice_encoder

            train_voice_encoder(data, decoder, output, settings)
        else:
            from speech2face.speech2face.training.speaker_head import train_speaker_head

            train_speaker_head(data, decoder, output, settings)
    return load_model(output)


def evaluate(
    data: str | os.PathLike,
    model: str | os.PathLike,
    output: str | os.PathLike,
    *,
    split: str | None = None,
    gallery_size: int = GALLERY_SIZE,
    face_scorer: str | None = None,
) -> dict:
    """Run every evaluation protocol of a bundle on the held-out splits of a dataset.

    Each held-out split is a protocol: ``test`` (unseen identities, Speech2Face) and
    ``test_seen`` (seen identities, unseen speech, Wav2Pix; a dataset prepared with
    ``split_mode="both"`` or ``"seen"``). On each: retrieval recall@1/2/5/10 (two galleries,
    three distances, chance K/N), feature similarity and spread, gender agreement beside
    the voice-pitch baseline and the majority rate (dlib features), craniofacial
    correlations and the landmark-detection ratio; and the figures to put beside the
    literature: SF2F retrieval in disjoint galleries of ``gallery_size`` identities, 1:2
    and N-way voice-face matching (all pairs and gender-matched), and a 95 % bootstrap
    interval over identities for every rate. Beside them, the fit on the training split
    (recall@1 of its own segments; a collapse to one face is flagged).

    Args:
        data: a dataset folder. model: a bundle folder from :func:`train`.
        output: the report folder: ``metrics.json``, ``faces_<split>.png``,
            ``recall_<split>.png``, ``index.html``.
        split: one split only (``test``, ``test_seen`` or ``train``); None: every
            held-out split.
        gallery_size: identities per SF2F gallery (SF2F and the paper's Table 3: 100; with
            fewer test identities, one gallery of all of them, said in the metrics).
        face_scorer: None (retrieval and matching on the dataset's face features) or a
            ``.keras`` face-embedding model (FaceNet, ArcFace) that embeds the faces rendered
            from voices and the real faces; every report names the scorer.
    Returns:
        {"face_encoder", "recipe", "fit", "protocols": {split: metrics}} (the content of
        ``output/metrics.json``); :func:`speech2face.speech2face.evaluation.summary.summary_lines`
        prints them.
    Raises:
        UserError: an empty split, no held-out split, or a bundle whose features do not
            match the dataset.
    """
    from speech2face.speech2face.evaluation.evaluate import evaluate as run

    return run(data, model, output, split, gallery_size, face_scorer)


def load_model(bundle: str | os.PathLike | None = None) -> Speech2Face:
    """Load a trained bundle; ``.predict(voice)`` gives (face (S, S, 3) uint8, feature).

    Args:
        bundle: a bundle folder of `speech2face train`; None loads the shipped default
            model (``speech2face/speech2face/default_model``, see its MODEL_CARD.md).

    Raises:
        UserError: the folder is not a complete bundle (names the missing files).
        DamagedFileError: a file of the bundle is damaged or foreign (checked against the
            sizes and sha256 in ``bundle.json``); the message names it and what to do.
    """
    from speech2face.speech2face.bundle import default_bundle

    return Speech2Face.load(default_bundle() if bundle is None else bundle)


def wav2pix_prepare(source: str | os.PathLike, output: str | os.PathLike, **config) -> dict:
    """Build (or resume) a Wav2Pix pair dataset: clips -> (1 s of speech, face) pairs.

    Args:
        source: any source :func:`prepare` reads, or a CSV of YouTube channels
            (``source_type="youtube"``).
        output: the pair dataset folder: ``shards/pairs-NNNNN.h5``, ``pairs.json``,
            ``failures.csv``.
        **config: fields of :class:`~speech2face.dataset.sources.SourceConfig` (its
            ``split_mode`` defaults to "seen" here, the Wav2Pix protocol, and the time cuts
            keep 1 s windows whole), :class:`~speech2face.wav2pix.config.PairConfig` (how
            pairs are cut) and :class:`~speech2face.wav2pix.config.PairBuildConfig` (workers
            and shards); each field's comment says what it does.
    Returns:
        The manifest (the content of ``output/pairs.json``): counts per split, identities.
    Raises:
        TypeError: an unknown option.
        UserError: no clips, an unreadable source, shards built with other options, or
            another run writing into ``output`` (``locks.BusyError``).
    """
    from speech2face import audio
    from speech2face.dataset.sources import SourceConfig, read_clips
    from speech2face.wav2pix import config as wav2pix_config
    from speech2face.wav2pix import pair_shards

    source_opts, pair_opts, build_opts = _options(
        "wav2pix_prepare",
        config,
        SourceConfig,
        wav2pix_config.PairConfig,
        wav2pix_config.PairBuildConfig,
    )
    source_opts = {"split_mode": wav2pix_config.SPLIT_MODE, **source_opts}
    source_opts["holdout_window"] = wav2pix_config.WINDOW / audio.SAMPLE_RATE  # the pairs' 1 s
    build = wav2pix_config.PairBuildConfig(**build_opts)
    with locks.hold(output, "wav2pix prepare"):
        clips, failures = read_clips(source, output, SourceConfig(**source_opts))
        manifest = pair_shards.build_pairs(
            clips,
            output,
            wav2pix_config.PairConfig(**pair_opts),
            build.workers,
            build.clips_per_shard,
            failures,
            source_opts["split_mode"],
        )
    print(pair_shards.summary(manifest))
    return manifest


def wav2pix_train(data: str | os.PathLike, output: str | os.PathLike, **config) -> Wav2Pix:
    """Train (or resume exactly) Wav2Pix on a pair dataset's training split.

    Args:
        data: a folder from :func:`wav2pix_prepare`.
        output: the run folder: checkpoint, ``history.csv``, TensorBoard logs, a face grid
            per epoch, and the exported models with ``run.json`` (what :func:`load_wav2pix`
            reads).
        **config: fields of :class:`~speech2face.wav2pix.config.Wav2PixConfig` (each
            field's comment says what it does).
    Returns:
        The trained model, loaded from ``output``.
    Raises:
        TypeError: an unknown option.
        UserError: not a pair dataset, fewer than two identities, a checkpoint of other
            models, fewer devices than ``num_gpu``, or another run writing into ``output``.
    """
    from speech2face.wav2pix.config import Wav2PixConfig
    from speech2face.wav2pix.train import train_wav2pix

    (options,) = _options("wav2pix_train", config, Wav2PixConfig)
    with locks.hold(output, "wav2pix train"):
        train_wav2pix(data, output, Wav2PixConfig(**options))
    return load_wav2pix(output)


def wav2pix_evaluate(
    data: str | os.PathLike,
    model: str | os.PathLike,
    output: str | os.PathLike,
    *,
    split: str | None = None,
    max_pairs: int | None = MAX_PAIRS,
    inception_weights: str | os.PathLike | None = None,
    stochastic: bool = False,
    speech2face_report: str | os.PathLike | None = None,
) -> dict:
    """Wav2Pix's metrics beside chance and real faces: identity accuracy of generated faces
    (seen and unseen speech), landmark-detection ratio, FID (dlib descriptors; Inception-v3
    when ``inception_weights`` is given).

    Args:
        data: a pair dataset. model: a run folder of :func:`wav2pix_train`.
        output: the report folder: ``metrics.json``, ``faces.png``, ``index.html``.
        split: the held-out split (default "test_seen", else "test").
        max_pairs: pairs per split to generate from, plus one of each identity (None: all).
        stochastic: generator dropout on, as the authors' code.
        speech2face_report: a report folder of :func:`evaluate`; its identity and segment
            recall@1 and gender figures on the same protocol (``test_seen`` for
            ``test_seen``, ``test`` for ``test``) and the shared identities go into the
            block "speech2face", shown beside Wav2Pix's identity accuracy.
    Returns:
        The metrics (the content of ``output/metrics.json``);
        :func:`speech2face.wav2pix.summary.summary_lines` prints them.
    Raises:
        UserError: no held-out split, a run trained on other identities, or a
            ``speech2face_report`` without a readable metrics.json holding that protocol.
    """
    from speech2face.wav2pix.evaluate import evaluate_wav2pix

    return evaluate_wav2pix(
        data,
        model,
        output,
        max_pairs,
        inception_weights and str(inception_weights),
        split,
        stochastic,
        speech2face_report,
    )


def load_wav2pix(run: str | os.PathLike, stochastic: bool = False) -> Wav2Pix:
    """Load a Wav2Pix run; ``.predict(speech)`` gives (face (S, S, 3) uint8, embedding).

    Raises:
        UserError: the folder is not a finished run (names the missing files).
    """
    return Wav2Pix.load(run, stochastic=stochastic)
