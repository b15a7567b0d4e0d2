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

    preset: str = "small"  # small (64 px), small128 (128 px) or paper (224 px)
    epochs: int = 60
    batch_size: int = 16
    learning_rate: float = 1e-3
    landmark_weight: float = 100.0  # MSE of normalised coordinates is ~1e-3; L1 texture ~0.1
    identity_weight: float = 0.1
    frames_per_video: int = 3  # frames read from each face-only video
    seed: int = 0
    vggface_weights: str | None = None


@dataclass
class TrainConfig:
    """Options of `speech2face train` (defaults: the paper's optimiser, small preset)."""

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
    checkpoint_every: int = 50  # steps between checkpoints
    num_gpu: int = 0
    seed: int = 0
    vggface_weights: str | None = None
