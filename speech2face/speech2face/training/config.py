"""Options of the training stages, with the papers' values as defaults.

No Keras import here: the CLI builds its defaults and help from these dataclasses at once,
and the Python API (:mod:`speech2face.api`) takes their fields as keywords.
"""

from __future__ import annotations

from dataclasses import dataclass

# Speech2Face loss weights (§3.3): λ1 on the normalised feature distance, λ2 on the
# distillation term on VGG-Face fc8 logits, T the distillation temperature.
LAMBDA1 = 0.025
LAMBDA2 = 200.0
TEMPERATURE = 2.0


@dataclass
class DecoderConfig:
    """Options of `train-decoder` (defaults: the small preset for a CPU)."""

    preset: str = "small"  # small (64 px), small128 / medium128 (128 px) or paper (224 px)
    epochs: int = 60
    batch_size: int = 16
    learning_rate: float = 1e-3
    schedule: str = "constant"  # learning rate: constant, or cosine (decay over the run)
    edge_weight: float = 0.0  # texture: weight of the L1 of image gradients beside the L1
    detail_epochs: int = 0  # epochs after `epochs` with the detail loss on (0: none)
    detail_weight: float = 10.0  # their texture loss: + this x the local Laplacian-energy match
    detail_learning_rate: float = 3e-4  # their Adam learning rate (constant, a fresh Adam)
    landmark_weight: float = 100.0  # MSE of normalised coordinates is ~1e-3; L1 texture ~0.1
    identity_weight: float = 0.1
    frames_per_video: int = 3  # faces kept from each face-only video
    frame_candidates: int = 4  # frames read per kept one; the most frontal and neutral kept
    max_face_score: float = 8.0  # faces less canonical are dropped (each identity keeps one)
    min_age: float = 18.0  # face sources: faces labelled younger are skipped (adult voices)
    workers: int = 1  # face sources: worker processes that build their face caches
    neutral_landmarks: bool = True  # landmark targets: the identity's neutral geometry
    grid_every: int = 10  # epochs between picture grids (the first and last always get one)
    seed: int = 0
    vggface_weights: str | None = None


# Training recipes of the voice encoder (`train --recipe`); "auto" picks "paper" for VGG-Face
# features and "dlib" for dlib features. Both use the paper's optimiser and batch size.
#   paper: the Speech2Face loss of §3.3 on raw features, exactly as published (tuned for
#          4096-D post-ReLU VGG-Face fc7).
#   dlib:  targets standardised with train-split statistics (a frozen FeatureScale layer maps
#          the network's output back to face features, so the model still outputs features)
#          and training.losses.StandardizedLoss: squared error + normalised distance in
#          standard units. Why: on 128-D dlib descriptors the paper's loss settles on the
#          mean face (docs/models.md, "The dlib recipe").
RECIPES = ("auto", "paper", "dlib")
COSINE_WEIGHT = 1.0  # dlib recipe: weight of the normalised distance in standard units


# Voice routes of `train --voice-encoder`: "paper" trains the Table 1 CNN from the waveform
# (VoxCeleb-scale data); a speaker-encoder name (speech2face.voices: "ge2e" ships) or a
# .keras file puts a head on a pretrained speaker embedding (training/speaker_head.py).
VOICE_ENCODERS = ("paper", "ge2e")
# Speaker-head defaults, chosen by `speech2face crossval` on the sample data (docs/recipes.md):
# the gender-mean head, a ridge of alpha 100, gender-balanced weights, the offset from the
# gender's mean face at half the typical within-gender distance.
HEAD = "gender_ridge"
HEAD_ALPHA = 100.0
BALANCE = "gender"
RADIUS_SCALE = 0.5


@dataclass
class TrainConfig:
    """Options of `speech2face train` (defaults: the paper's optimiser, small preset)."""

    voice_encoder: str = "paper"  # one of VOICE_ENCODERS, a plugged-in name or a .keras file
    speaker_weights: str | None = None  # weights file of the speaker encoder (None: shipped)
    head: str = HEAD  # speaker route: ridge or mlp
    head_alpha: float = HEAD_ALPHA  # ridge head: L2 penalty (standardised units)
    head_hidden: int = 256  # mlp head: hidden units
    head_epochs: int = 300  # mlp head: full-batch epochs
    balance: str = "auto"  # none, identity, gender, both; auto: BALANCE (speaker route), none
    radius_scale: float = RADIUS_SCALE  # speaker route: calibrated radius x this
    finetune_speaker_encoder: bool = False  # speaker route: then train the LSTM too
    finetune_learning_rate: float = 1e-5
    recipe: str = "auto"  # one of RECIPES
    preset: str = "small"  # small (CPU) or paper (~160 M parameters)
    batch_size: int = 8
    epochs: float = 20.0  # passes over the training split (ignored when steps is set)
    steps: int | None = None
    learning_rate: float = 1e-3
    decay_steps: int = 10_000
    decay_rate: float = 0.95
    beta_1: float = 0.5
    epsilon: float = 1e-4
    lambda1: float = LAMBDA1
    lambda2: float = LAMBDA2
    temperature: float = TEMPERATURE
    cosine_weight: float = COSINE_WEIGHT
    augment: bool = False  # random circular time shift and gain of each 6 s segment
    precise_bn: bool = True  # re-estimate BatchNorm statistics after training (batchnorm.py)
    calibrate_radius: bool = True  # dlib recipe: predictions at the typical distance of real
    # faces from the mean face (models.voice_encoder.FeatureScale, set after training)
    init: str | None = None  # a `speech2face pretrain` run: start from its voice encoder
    fit_segments: int = 64  # training segments on which the fit figure is logged
    checkpoint_every: int = 50  # steps between checkpoints (and fit figures)
    num_gpu: int = 0
    hosts: bool = False  # multi-host JAX: keras.distribution.initialize(), batch split by host
    readers: int = 2  # threads reading batches ahead (0: read each batch when it is needed)
    seed: int = 0
    vggface_weights: str | None = None

    def resolved_balance(self) -> str:
        """The balance run: "auto" is :data:`BALANCE` on a speaker encoder, else "none"."""
        if self.balance != "auto":
            return self.balance
        return "none" if self.voice_encoder == "paper" else BALANCE

    def resolved_recipe(self, face_encoder: str) -> str:
        """The recipe run for features of ``face_encoder`` ("auto" resolved).

        Raises:
            ValueError: unknown recipe.
        """
        if self.recipe not in RECIPES:
            raise ValueError(f"unknown recipe {self.recipe!r}: use one of {', '.join(RECIPES)}")
        if self.recipe != "auto":
            return self.recipe
        return "dlib" if face_encoder == "dlib" else "paper"


@dataclass
class PretrainConfig:
    """Options of `speech2face pretrain`: the voice encoder as a speaker classifier.

    The paper's optimiser; windows of the speakers' recordings with a hop, so a long
    recording gives several (overlapping) 6 s windows.
    """

    preset: str = "small"  # must match the preset `train --init` builds
    target: str = "speaker"  # speaker: softmax over speakers; ge2e: regress the GE2E embedding
    steps: int = 400
    batch_size: int = 16
    learning_rate: float = 1e-3
    beta_1: float = 0.5
    epsilon: float = 1e-4
    hop_seconds: float = 3.0  # between 6 s windows of one recording
    splits: str = "train,aux"  # manifest rows of these splits (never the test speakers)
    augment: bool = True
    checkpoint_every: int = 100
    seed: int = 0
