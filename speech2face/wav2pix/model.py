"""Wav2Pix (Duarte et al., ICASSP 2019): speech encoder, generator, discriminator, classifier.

Functional Keras models in backend-agnostic ``keras.ops`` (TensorFlow on CPUs, JAX on GPUs),
each a :class:`keras.Model` subclass whose ``get_config`` holds its constructor arguments
(the keras-hub pattern), so ``from_config(get_config())`` rebuilds it. The sizes follow the
authors' code (miqueltubau/Wav2Pix = imatge-upc/wav2pix: ``models/segan.py``,
``models/generator.py``, ``models/discriminator.py``, ``models/auxiliary_classifier.py``,
``scripts/utils.py``):

- speech encoder (SEGAN's discriminator trunk): (B, 16000) waveform -> six blocks of
  zero-pad 6 left / 7 right, Conv1D kernel 15 stride 4 "valid" with bias, BatchNorm
  (momentum 0.9 = PyTorch 0.1, eps 1e-5), LeakyReLU 0.3; channels 16, 32, 128, 256, 512,
  1024 (lengths 4000, 1000, 250, 63, 16, 4) -> flatten 4096 -> Dense 256 ReLU -> Dense 128
  ReLU -> Dense 128 = the embedding (no activation);
- generator: the embedding as (1, 1, 128) -> spectral-normalised Conv2DTranspose 4x4 without
  bias, Dropout 0.5 and ReLU after each hidden one: 64 px 512 (stride 1 "valid" -> 4x4), 256,
  128, 64 (stride 2 "same"), 3 + tanh; 128 px 1024, 512, 256, 128, 64, 3. No BatchNorm;
- discriminator: spectral-normalised Conv2D 4x4 stride 2 "same" without bias + LeakyReLU 0.2:
  64, 128, 256, 512 (and 1024 at 128 px) down to 4x4 = the features; the embedding tiled to
  4x4 and concatenated on channels; a plain Conv2D 4x4 "valid" without bias -> one score, no
  sigmoid (LSGAN). The final conv is not spectral-normalised, as in the authors' code;
- speaker classifier: Dense 200 -> BatchNorm -> LeakyReLU 0.2 -> Dense n_identities ->
  BatchNorm = logits (the original fixed 10 outputs).

Weights start as N(0, 0.02) for every conv and dense kernel and N(1, 0.02) for BatchNorm
scales (``scripts/utils.py: weights_init``); biases keep PyTorch's default
U(-1/sqrt(fan_in), 1/sqrt(fan_in)), which that function left alone.

Spectral normalisation is ``keras.layers.SpectralNormalization``. Its training-mode call
replaces the kernel by kernel / sigma (one power iteration, the vector ``u`` stored). The
Wav2Pix trainer (:mod:`speech2face.wav2pix.train`) runs the models through
``stateless_call``, where that replacement is the value used in the forward pass and the
gradient flows through the division while the stored kernel stays the unnormalised one,
as in the authors' PyTorch ``SpectralNorm`` (``weight_bar``). Inference calls
(``training=False``) use the stored kernel as it is, so models are exported with
:func:`bake_spectral_norm`, which writes kernel / sigma into them.

Dropout replaces the generator's noise input. The original never switched its generator to
evaluation mode, so dropout stayed on at inference and one voice gave a different face at
every call. Here it is off at inference by default (one voice, one face: reproducible
predictions and evaluation; inverted dropout keeps the expected activations); the layers
are :class:`NoiseDropout`, whose ``at_inference`` flag restores the original behaviour
(``Wav2Pix.load(run, stochastic=True)``).
"""

from __future__ import annotations

import keras

from speech2face.wav2pix.config import IMAGE_SIZE, IMAGE_SIZES, WINDOW
from speech2face.wav2pix.layers import (
    ConfigModel,
    NoiseDropout,
    TileEmbedding,
    batch_norm,
    bias_init,
    dense,
    kernel_init,
)

EMBEDDING_DIM = 128

PRESETS = {
    # the authors' sizes (batch 64); about 10 GFLOP per pair and step at 128 px
    "paper": {
        "encoder_channels": (16, 32, 128, 256, 512, 1024),
        "encoder_units": (256, 128),
        "base_channels": 64,
        "batch_size": 64,
    },
    # a CPU preset: the same depth with a quarter of the channels, batch 16
    "small": {
        "encoder_channels": (4, 8, 32, 64, 128, 256),
        "encoder_units": (256, 128),
        "base_channels": 16,
        "batch_size": 16,
    },
}


def preset(name: str) -> dict:
    """The sizes of a preset ("paper" or "small").

    Raises:
        ValueError: unknown preset.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown Wav2Pix preset {name!r}: use one of {sorted(PRESETS)}")
    return dict(PRESETS[name])


@keras.saving.register_keras_serializable(package="speech2face")
class SpeechEncoder(ConfigModel):
    """SEGAN-style speech encoder: (B, n_samples) float32 waveform -> (B, 128) embedding.

    Args:
        channels: Conv1D channels of the six blocks (paper: 16, 32, 128, 256, 512, 1024).
        units: hidden Dense sizes after the flatten (paper: 256, 128).
        embedding_dim: output size (paper: 128).
        n_samples: input length (16000 = 1 s at 16 kHz); the flatten size is
            4 x channels[-1] for 16000.
    Input: the waveform after :func:`speech2face.wav2pix.pairs.scale_and_emphasize`
    (abs-max scaling, pre-emphasis 0.95). Source: ``models/segan.py`` (``Discriminator``,
    ``DiscBlock``).
    """

    _args = ("channels", "units", "embedding_dim", "n_samples")

    def __init__(
        self,
        channels=PRESETS["paper"]["encoder_channels"],
        units=PRESETS["paper"]["encoder_units"],
        embedding_dim: int = EMBEDDING_DIM,
        n_samples: int = WINDOW,
        **kwargs,
    ):
        wave = keras.Input((n_samples,), name="waveform")
        x = keras.layers.Reshape((n_samples, 1), name="to_channels")(wave)
        for i, c in enumerate(channels, start=1):
            x = keras.layers.ZeroPadding1D((6, 7), name=f"pad{i}")(x)
            x = keras.layers.Conv1D(
                int(c),
                15,
                strides=4,
                padding="valid",
                kernel_initializer=kernel_init(),
                bias_initializer=bias_init(15 * x.shape[-1]),
                name=f"conv{i}",
            )(x)
            x = batch_norm(f"bn{i}")(x)
            x = keras.layers.LeakyReLU(0.3, name=f"lrelu{i}")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        for i, u in enumerate(units, start=1):
            x = dense(int(u), x, f"fc{i}", activation="relu")
        emb = dense(embedding_dim, x, "embedding")
        kwargs.setdefault("name", "speech_encoder")
        super().__init__(wave, emb, **kwargs)
        self._keep(channels=channels, units=units, embedding_dim=embedding_dim, n_samples=n_samples)


def generator_channels(image_size: int, base: int) -> list[int]:
    """Transposed-conv channels of the generator: 64 px [8b, 4b, 2b, b, 3], 128 px [16b, ...].

    Raises:
        ValueError: image_size is not 64 or 128.
    """
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"Wav2Pix generates 64 or 128 px faces, not {image_size}")
    top = 8 if image_size == 64 else 16
    chans = []
    while top >= 1:
        chans.append(base * top)
        top //= 2
    return [*chans, 3]


@keras.saving.register_keras_serializable(package="speech2face")
class Generator(ConfigModel):
    """Generator: (B, 128) embedding -> (B, S, S, 3) float32 face in [-1, 1] (tanh), RGB.

    Args:
        image_size: 64 or 128.
        base_channels: ``ngf`` (paper 64): 64 px layers 8, 4, 2, 1 x ngf then 3.
        embedding_dim: input size (128).
        dropout: rate after each hidden transposed conv (0.5), before its ReLU.
        input_gain: a constant the embedding is multiplied by first (1.0: the authors'
            generator). Without biases or BatchNorm and with every layer spectral-normalised,
            the generator is positively homogeneous: G(c e) = c G(e) before the tanh, so
            the face's contrast can only come from the embedding's norm, which Adam at
            1e-4 grows slowly (at initialisation |G(e)| ~ 1e-5 |e|). A gain of 100 lets a
            CPU run learn in thousands instead of tens of thousands of steps; it equals
            starting the encoder's last layer 100 times larger with a 100 times larger
            learning rate. See docs/wav2pix.md for the measurements.
    Source: ``models/generator.py`` (``netG``).
    """

    _args = ("image_size", "base_channels", "embedding_dim", "dropout", "input_gain")

    def __init__(
        self,
        image_size: int = IMAGE_SIZE,
        base_channels: int = 64,
        embedding_dim: int = EMBEDDING_DIM,
        dropout: float = 0.5,
        input_gain: float = 1.0,
        **kwargs,
    ):
        chans = generator_channels(image_size, base_channels)
        emb = keras.Input((embedding_dim,), name="embedding")
        x = keras.layers.Rescaling(float(input_gain), name="input_gain")(emb)
        x = keras.layers.Reshape((1, 1, embedding_dim), name="to_map")(x)
        for i, c in enumerate(chans, start=1):
            first = i == 1
            conv = keras.layers.Conv2DTranspose(
                c,
                4,
                strides=1 if first else 2,
                padding="valid" if first else "same",
                use_bias=False,
                kernel_initializer=kernel_init(),
                name=f"deconv{i}",
            )
            x = keras.layers.SpectralNormalization(conv, name=f"sn_deconv{i}")(x)
            if i < len(chans):
                x = NoiseDropout(dropout, name=f"dropout{i}")(x)
                x = keras.layers.ReLU(name=f"relu{i}")(x)
        image = keras.layers.Activation("tanh", name="tanh")(x)
        kwargs.setdefault("name", "generator")
        super().__init__(emb, image, **kwargs)
        self._keep(
            image_size=image_size,
            base_channels=base_channels,
            embedding_dim=embedding_dim,
            dropout=dropout,
            input_gain=input_gain,
        )


@keras.saving.register_keras_serializable(package="speech2face")
class Discriminator(ConfigModel):
    """Conditional discriminator: (image (B, S, S, 3) in [-1, 1], embedding (B, 128)) ->
    {"score": (B,) float32 (no sigmoid), "features": (B, 4, 4, C) before the embedding}.

    Args:
        image_size: 64 or 128. base_channels: ``ndf`` (paper 64): 64, 128, 256, 512 (, 1024).
    Source: ``models/discriminator.py`` (``netD_1``, ``netD_2``).
    """

    _args = ("image_size", "base_channels", "embedding_dim")

    def __init__(
        self,
        image_size: int = IMAGE_SIZE,
        base_channels: int = 64,
        embedding_dim: int = EMBEDDING_DIM,
        **kwargs,
    ):
        if image_size not in IMAGE_SIZES:
            raise ValueError(f"Wav2Pix discriminates 64 or 128 px faces, not {image_size}")
        n = 4 if image_size == 64 else 5
        image = keras.Input((image_size, image_size, 3), name="image")
        emb = keras.Input((embedding_dim,), name="embedding")
        x = image
        for i in range(n):
            conv = keras.layers.Conv2D(
                base_channels * 2**i,
                4,
                strides=2,
                padding="same",
                use_bias=False,
                kernel_initializer=kernel_init(),
                name=f"conv{i + 1}",
            )
            x = keras.layers.SpectralNormalization(conv, name=f"sn_conv{i + 1}")(x)
            x = keras.layers.LeakyReLU(0.2, name=f"lrelu{i + 1}")(x)
        features = x
        x = keras.layers.Concatenate(name="with_embedding")([x, TileEmbedding(4, name="tile")(emb)])
        x = keras.layers.Conv2D(
            1,
            4,
            padding="valid",
            use_bias=False,
            kernel_initializer=kernel_init(),
            name="score_conv",
        )(x)
        score = keras.layers.Reshape((), name="score")(x)
        kwargs.setdefault("name", "discriminator")
        super().__init__([image, emb], {"score": score, "features": features}, **kwargs)
        self._keep(image_size=image_size, base_channels=base_channels, embedding_dim=embedding_dim)


@keras.saving.register_keras_serializable(package="speech2face")
class SpeakerClassifier(ConfigModel):
    """Speaker classifier on the embedding: (B, 128) -> (B, n_identities) logits.

    Dense 200 -> BatchNorm -> LeakyReLU 0.2 -> Dense n -> BatchNorm (the logits).
    Source: ``models/auxiliary_classifier.py`` (fixed to 10 outputs there).
    """

    _args = ("n_identities", "hidden", "embedding_dim")

    def __init__(
        self,
        n_identities: int = 10,
        hidden: int = 200,
        embedding_dim: int = EMBEDDING_DIM,
        **kwargs,
    ):
        if n_identities < 2:
            raise ValueError(
                f"the speaker classifier needs 2 or more identities, got {n_identities}"
            )
        emb = keras.Input((embedding_dim,), name="embedding")
        x = dense(hidden, emb, "fc1")
        x = batch_norm("bn1")(x)
        x = keras.layers.LeakyReLU(0.2, name="lrelu1")(x)
        x = dense(n_identities, x, "fc2")
        logits = batch_norm("bn2")(x)
        kwargs.setdefault("name", "speaker_classifier")
        super().__init__(emb, logits, **kwargs)
        self._keep(n_identities=n_identities, hidden=hidden, embedding_dim=embedding_dim)


def build_wav2pix(
    n_identities: int,
    image_size: int = IMAGE_SIZE,
    preset_name: str = "small",
    input_gain: float = 1.0,
    speech_encoder: str = "segan",
    **sizes,
):
    """The four models of a preset (``sizes`` overrides preset entries; ``input_gain`` is the
    generator's, see :class:`Generator`; ``speech_encoder`` "segan" is the authors', a
    speaker-encoder name such as "ge2e" a
    :class:`speech2face.wav2pix.ge2e_encoder.SpeakerSpeechEncoder`).

    Returns:
        (SpeechEncoder, Generator, Discriminator, SpeakerClassifier).
    Raises:
        ValueError: unknown preset, image size or too few identities.
    """
    p = {**preset(preset_name), **sizes}
    if speech_encoder == "segan":
        encoder = SpeechEncoder(p["encoder_channels"], p["encoder_units"])
    else:
        from speech2face.wav2pix.ge2e_encoder import SpeakerSpeechEncoder

        encoder = SpeakerSpeechEncoder(speech_encoder)
    generator = Generator(image_size, p["base_channels"], input_gain=input_gain)
    discriminator = Discriminator(image_size, p["base_channels"])
    classifier = SpeakerClassifier(n_identities)
    return encoder, generator, discriminator, classifier
