"""U-Net (the course's, optionally with BatchNorm) and UNet++ (Zhou et al. 2018): one decoder over the stages of
any encoder in the registry (:mod:`training.encoders`: scratch, Intel road, EfficientNet-Lite0), one conv block.

Every layer carries a stage name (``x21_conv1``, ``head_l3``) so the summary and the ONNX graph read like the
paper's figure. ``base_filters`` is the width knob: 64 is the course's 31 M-parameter U-Net; 8-32 run on a CPU.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras
from keras import layers

from ros_road_seg.core.errors import ModelLoadError, one_line
from training.encoders import PRETRAINED_ENCODERS, encoder_of, scratch_encoder
from training.losses import RoadIoU, get_loss
from training.pretrained import layers as _registered_layers  # noqa: F401 - custom layers of saved .keras files

SCRATCH_ARCHITECTURES = ("unet", "unetpp")
# a decoder on a registered pretrained encoder (training.encoders), and the whole Intel road network
PRETRAINED_ARCHITECTURES = tuple(f"{e}_{d}" for e in PRETRAINED_ENCODERS for d in SCRATCH_ARCHITECTURES) + (
    "intel_road",
)
ARCHITECTURES = SCRATCH_ARCHITECTURES + PRETRAINED_ARCHITECTURES
_MODEL_NAMES = {"unet": "unet", "unet_plus_plus": "unetpp"}  # a Keras model's name -> its architecture


def conv_block(x, filters: int, name: str, batch_norm: bool = True):
    """Two 3x3 convolutions, each followed by (BatchNorm and) ReLU: the unit both architectures share."""
    for index in (1, 2):
        x = layers.Conv2D(
            filters,
            3,
            padding="same",
            use_bias=not batch_norm,
            kernel_initializer="he_normal",
            name=f"{name}_conv{index}",
        )(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"{name}_bn{index}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{index}")(x)
    return x


def up_block(x, filters: int, name: str):
    """The course's up-convolution: 2x nearest upsampling, then a 2x2 convolution with ReLU."""
    x = layers.UpSampling2D(2, name=f"{name}_upsample")(x)
    return layers.Conv2D(
        filters, 2, padding="same", activation="relu", kernel_initializer="he_normal", name=f"{name}_upconv"
    )(x)


def _check_common(input_shape, base_filters: int, depth: int, dropout: float) -> None:
    if len(input_shape) != 3 or input_shape[2] != 3:
        raise ValueError(f"input_shape {input_shape} must be (height, width, 3)")
    if base_filters < 1:
        raise ValueError(f"base_filters {base_filters} must be >= 1")
    if not 1 <= depth <= 5:
        raise ValueError(f"depth {depth} must be between 1 and 5")
    for size in input_shape[:2]:
        if size is not None and size % (2**depth):
            raise ValueError(f"input_shape {input_shape}: height and width must be divisible by 2**depth = {2**depth}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout {dropout} must be in [0, 1)")


def decoder(stages: list, widths: tuple[int, ...], nested: bool, deep_supervision: bool, batch_norm: bool = True):
    """The one decoder, over any encoder's stages (fine to coarse, the deepest last): [(head name, features)].

    U-Net (``nested=False``): from the deepest stage up, ``up_block`` -> concat the stage's skip -> ``conv_block``;
    one head, ``road_probability``, on the finest level. UNet++: node X(i,j) = conv_block(concat[X(i,0..j-1),
    up(X(i+1,j-1))]) with the stages as the backbone column X(i,0); heads ``head_l<j>`` on X(0,1..) under deep
    supervision (prunable by :func:`prune_unet_plus_plus`), else on X(0,deepest) only. ``widths[level]`` is the
    width of every node at that level.
    """
    deepest = len(stages) - 1
    if len(widths) < deepest:
        raise ValueError(f"decoder widths {widths}: need one per encoder stage but the deepest ({deepest})")
    if deep_supervision and not nested:
        raise ValueError("deep_supervision applies to the nested (UNet++) decoder only")
    if not nested:
        x = stages[deepest]
        for level in reversed(range(deepest)):
            x = up_block(x, widths[level], f"decoder_stage{level}")
            x = layers.Concatenate(axis=-1, name=f"decoder_stage{level}_concat")([stages[level], x])
            x = conv_block(x, widths[level], f"decoder_stage{level}", batch_norm)
        return [("road_probability", x)]
    nodes = {(level, 0): stage for level, stage in enumerate(stages)}
    for column in range(1, deepest + 1):
        for level in range(deepest + 1 - column):
            up = up_block(nodes[(level + 1, column - 1)], widths[level], f"x{level}{column}")
            merged = layers.Concatenate(axis=-1, name=f"x{level}{column}_concat")(
                [nodes[(level, k)] for k in range(column)] + [up]
            )
            nodes[(level, column)] = conv_block(merged, widths[level], f"x{level}{column}", batch_norm)
    head_levels = range(1, deepest + 1) if deep_supervision else [deepest]
    return [(f"head_l{level}", nodes[(0, level)]) for level in head_levels]


def _scratch_model(inputs, heads: list, name: str, pre_head_filters: int = 0) -> keras.Model:
    """Sigmoid 1x1 heads (after the course's 2-filter conv when ``pre_head_filters``) on decoder features."""
    outputs = []
    for head, x in heads:
        if pre_head_filters:
            x = layers.Conv2D(
                pre_head_filters,
                3,
                padding="same",
                activation="relu",
                kernel_initializer="he_normal",
                name="pre_head_conv",
            )(x)
        outputs.append(layers.Conv2D(1, 1, activation="sigmoid", name=head)(x))
    return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=name)


def build_unet(
    input_shape=(224, 224, 3),
    base_filters: int = 64,
    depth: int = 4,
    dropout: float = 0.5,
    batch_norm: bool = False,
    pre_head_filters: int = 2,
    name: str = "unet",
) -> keras.Model:
    """The course's U-Net: at the defaults exactly its 31,032,837 parameters (224x224x3).

    ``batch_norm=True`` adds BatchNorm after every conv (what actually trains; the plain stack stalls) and
    ``pre_head_filters=0`` drops the course's 2-filter ReLU conv before the 1x1 sigmoid head.
    """
    _check_common(input_shape, base_filters, depth, dropout)
    if pre_head_filters < 0:
        raise ValueError(f"pre_head_filters {pre_head_filters} must be >= 0")
    inputs = keras.Input(shape=input_shape, name="image")
    stages, _ = scratch_encoder(inputs, base_filters, depth, batch_norm, dropout, "unet")
    widths = tuple(base_filters * 2**level for level in range(depth))
    return _scratch_model(inputs, decoder(stages, widths, False, False, batch_norm), name, pre_head_filters)


def build_unet_plus_plus(
    input_shape=(224, 224, 3),
    base_filters: int = 32,
    depth: int = 4,
    dropout: float = 0.0,
    batch_norm: bool = True,
    deep_supervision: bool = False,
    name: str = "unet_plus_plus",
) -> keras.Model:
    """UNet++ (Zhou et al. 2018) from scratch: the scratch encoder's column X(i,0) and the nested decoder.

    Sigmoid heads sit on X(0,1..depth). With ``deep_supervision`` the model has ``depth`` outputs (trained on the
    averaged loss) and can be pruned to any level L1..L<depth> at export (:func:`prune_unet_plus_plus`); without
    it only the X(0,depth) head exists.
    """
    _check_common(input_shape, base_filters, depth, dropout)
    inputs = keras.Input(shape=input_shape, name="image")
    stages, _ = scratch_encoder(inputs, base_filters, depth, batch_norm, dropout, "unetpp")
    widths = tuple(base_filters * 2**level for level in range(depth))
    return _scratch_model(inputs, decoder(stages, widths, True, deep_supervision, batch_norm), name)


def _encoder_head(x, input_size: tuple[int, int], name: str, prior_logit):
    """One head on a pretrained encoder: a 1x1 road logit at the finest decoder level, bilinear to the input size,
    plus the pretrained network's own road logit when it has one, sigmoid. The 1x1 starts at zero, so training
    starts from the pretrained network's answer (or an even 0.5) and the decoder learns the correction."""
    logit = layers.Conv2D(1, 1, kernel_initializer="zeros", name=f"{name}_logit")(x)
    factor = (input_size[0] // x.shape[1], input_size[1] // x.shape[2])
    if factor != (1, 1):
        logit = layers.UpSampling2D(factor, interpolation="bilinear", name=f"{name}_upsample")(logit)
    if prior_logit is not None:
        logit = layers.Add(name=f"{name}_plus_prior")([prior_logit, logit])
    return layers.Activation("sigmoid", name=name)(logit)


def build_encoder_unet(
    input_shape=(192, 608, 3),
    encoder: str = "intel",
    weights: str | Path | None = None,
    nested: bool = False,
    deep_supervision: bool = False,
) -> keras.Model:
    """The one decoder (U-Net, or UNet++ when ``nested``) on a registered pretrained encoder's stages.

    The decoder ends at half the input size; each head is a 1x1 logit upsampled bilinearly to the input and added
    to the pretrained network's own road logit where it has one (:func:`_encoder_head`): the same encoder, data and
    head for U-Net and UNet++, so a comparison is fair.
    """
    if encoder not in PRETRAINED_ENCODERS:
        raise ValueError(f"encoder '{encoder}' is not one of: {', '.join(PRETRAINED_ENCODERS)}")
    spec = PRETRAINED_ENCODERS[encoder]
    for size in input_shape[:2]:
        if size % spec.stride:
            raise ValueError(
                f"input size {tuple(input_shape[:2])}: the {encoder} encoder needs multiples of {spec.stride}"
            )
    inputs = keras.Input(shape=input_shape, name="image")
    stages, prior = spec.build(inputs, weights or spec.default_weights)
    heads = decoder(stages, spec.decoder_filters, nested, deep_supervision)
    size = tuple(input_shape[:2])
    outputs = [_encoder_head(x, size, head, prior) for head, x in heads]
    name = f"{encoder}_{'unetpp' if nested else 'unet'}"
    return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=name)


def prune_unet_plus_plus(model: keras.Model, level: int) -> keras.Model:
    """The sub-network that ends at head X(0,level): UNet++ L1..L4 'fast mode' (fewer nodes, same weights)."""
    try:
        head = model.get_layer(f"head_l{level}")
    except ValueError:
        heads = [layer.name for layer in model.layers if layer.name.startswith("head_l")]
        raise ValueError(
            f"prune level L{level}: model '{model.name}' has heads {heads}; pruning below the "
            "last level needs a model trained with deep supervision"
        ) from None
    return keras.Model(model.input, head.output, name=f"{model.name}_l{level}")


def describe_model(model: keras.Model) -> dict:
    """What a built or loaded model *is* (the build arguments), read from its layers: a ``.keras`` file without
    its run folder still says its width, so a fine-tuned run records the truth rather than CLI defaults."""
    convs = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    architecture = _MODEL_NAMES.get(model.name, model.name if model.name in ARCHITECTURES else "unknown")
    return {
        "model": architecture,  # the recipe's name for it (``--model``); ONNX metadata calls it road_seg.architecture
        "base_filters": int(convs[0].filters) if convs else "unknown",
        "depth": sum(isinstance(layer, layers.MaxPooling2D) for layer in model.layers),
        "deep_supervision": len(model.outputs) > 1,
        "no_batch_norm": not any(isinstance(layer, layers.BatchNormalization) for layer in model.layers),
        "course_head": any(layer.name == "pre_head_conv" for layer in model.layers),
    }


def build_model(
    architecture: str,
    input_shape=(224, 224, 3),
    base_filters: int = 16,
    depth: int = 4,
    deep_supervision: bool = False,
    batch_norm: bool = True,
    dropout: float | None = None,
    course_head: bool = False,
    pretrained: str | Path | None = None,
) -> keras.Model:
    """The training CLI's entry point: ``unet`` or ``unetpp`` from scratch at a given width, the same decoders on a
    pretrained encoder (``<encoder>_unet``, ``<encoder>_unetpp``; ``pretrained`` = its weights file), or the whole
    Intel network (``intel_road``)."""
    if architecture in PRETRAINED_ARCHITECTURES and architecture != "intel_road":
        encoder, decoder_name = encoder_of(architecture)
        return build_encoder_unet(
            input_shape, encoder, pretrained, nested=decoder_name == "unetpp", deep_supervision=deep_supervision
        )
    if architecture == "intel_road":
        from training.pretrained.intel_road import DEFAULT_IR, intel_road_model

        return intel_road_model(pretrained or DEFAULT_IR, tuple(input_shape[:2]))
    if architecture == "unet":
        if deep_supervision:
            raise ValueError("deep_supervision applies to unetpp only")
        return build_unet(
            input_shape,
            base_filters,
            depth,
            0.5 if dropout is None else dropout,
            batch_norm,
            pre_head_filters=2 if course_head else 0,
        )
    if architecture == "unetpp":
        return build_unet_plus_plus(
            input_shape, base_filters, depth, 0.0 if dropout is None else dropout, batch_norm, deep_supervision
        )
    raise ValueError(f"architecture '{architecture}' is not one of {', '.join(ARCHITECTURES)}")


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates of one forward pass, counted over Conv2D layers (the rest is negligible)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            _, height, width, out_channels = layer.output.shape
            kernel_h, kernel_w = layer.kernel_size
            in_channels = layer.input.shape[-1]
            total += int(height) * int(width) * kernel_h * kernel_w * int(in_channels) * int(out_channels)
    return total


def resolve_keras_path(path: Path) -> Path:
    """A run folder means its best.keras."""
    path = Path(path)
    candidate = path / "best.keras" if path.is_dir() else path
    if not candidate.is_file():
        raise FileNotFoundError(f"no model at '{candidate}'")
    return candidate


def check_keras_file(path: Path) -> Path:
    """The ``.keras`` that ``path`` means (a run folder: its best.keras), if it is one: a cheap check before minutes of
    work that would end in loading it; a missing or damaged file is named (FileNotFoundError, ModelLoadError)."""
    resolved = resolve_keras_path(path)
    if not zipfile.is_zipfile(resolved):
        raise ModelLoadError(
            f"'{resolved}' is not a Keras model file (a .keras is a zip archive: truncated or damaged?)"
        )
    return resolved


def load_keras_model(path: Path) -> keras.Model:
    """A ``.keras`` file or a run folder's best.keras, uncompiled; a damaged file is a ModelLoadError naming it."""
    resolved = check_keras_file(path)
    try:
        return keras.saving.load_model(resolved, compile=False)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise ModelLoadError(f"'{resolved}' could not be loaded: {one_line(error)}") from None


def with_input_size(model: keras.Model, input_size: tuple[int, int]) -> keras.Model:
    """The same network and weights for another input size (all layers are convolutional, so weights carry over):
    a 224x224 model trained on CamVid becomes the start of a KITTI-shaped 192x608 one, and a 192x608 encoder U-Net
    is exported at 160x512 for a slower CPU (its resize layers are rebuilt for the size, the weights copied by name)."""
    if tuple(model.input.shape[1:3]) == tuple(input_size):
        return model
    described = describe_model(model)
    if described["model"] in PRETRAINED_ARCHITECTURES:  # rebuilt from the IR at the new size, weights by name
        built = build_model(described["model"], (*input_size, 3), deep_supervision=described["deep_supervision"])
        source = {layer.name: layer for layer in model.layers if layer.weights}
        target = [layer for layer in built.layers if layer.weights]
        if {layer.name for layer in target} != set(source):
            raise ValueError(f"model '{model.name}' does not rebuild layer for layer at {input_size}")
        for layer in target:
            layer.set_weights(source[layer.name].get_weights())
        return built
    built = build_model(
        **{key: value for key, value in describe_build(model).items() if key != "input_shape"},
        input_shape=(*input_size, 3),
    )
    built.set_weights(model.get_weights())
    return built


def describe_build(model: keras.Model) -> dict:
    """:func:`build_model` arguments that rebuild ``model``'s graph (see :func:`describe_model`)."""
    described = describe_model(model)
    if described["model"] == "unknown" or described["model"] in PRETRAINED_ARCHITECTURES:
        raise ValueError(f"model '{model.name}' is neither this project's U-Net nor its UNet++; cannot rebuild it")
    dropouts = [layer.rate for layer in model.layers if isinstance(layer, layers.Dropout)]
    return {
        "architecture": described["model"],  # build_model's argument
        "input_shape": tuple(model.input.shape[1:]),
        "base_filters": described["base_filters"],
        "depth": described["depth"],
        "deep_supervision": described["deep_supervision"],
        "batch_norm": not described["no_batch_norm"],
        "dropout": dropouts[0] if dropouts else 0.0,
        "course_head": described["course_head"],
    }


def freeze_batch_norm(model: keras.Model) -> None:
    """Fine-tuning on a handful of frames: keep BatchNorm's statistics (inference mode while training)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


@keras.saving.register_keras_serializable(package="ros_road_seg")
class ScaledAdam(keras.optimizers.Adam):
    """Adam with the learning rate times ``scales[path]`` for the variables named there (every other at the learning
    rate): per-stage learning rates. Adam moves each weight by about the learning rate per step whatever the
    gradient's size, so a zero-started decoder head at the encoder's careful 1e-4 barely leaves zero in a short
    fine-tune; scaling the gradient would not help (Adam divides it out), scaling the step does."""

    def __init__(self, learning_rate=1e-3, scales: dict[str, float] | None = None, **kwargs) -> None:
        super().__init__(learning_rate, **kwargs)
        self.scales = {str(path): float(scale) for path, scale in (scales or {}).items()}

    def update_step(self, gradient, variable, learning_rate):
        scale = self.scales.get(_variable_path(variable))
        if scale is not None:
            learning_rate = learning_rate * scale
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict:
        return {**super().get_config(), "scales": dict(sorted(self.scales.items()))}


def _variable_path(variable) -> str:
    """A Keras variable's path (``decoder_stage0_conv1/kernel``); under TensorFlow the optimizer is handed the
    backend variable, whose name is that path with ``:0``."""
    path = getattr(variable, "path", None)
    return path if path is not None else variable.name.split(":", 1)[0]


def decoder_variable_paths(model: keras.Model) -> tuple[str, ...]:
    """The trainable variables outside the registered pretrained encoder (all of them for a scratch model)."""
    from training.encoders import encoder_for_model

    encoder = encoder_for_model(model)
    prefix = encoder.prefix if encoder is not None else None
    return tuple(
        variable.path
        for layer in model.layers
        if prefix is None or not layer.name.startswith(prefix)
        for variable in layer.trainable_weights
    )


def learning_rate_scales(
    model: keras.Model, decoder_scale: float = 1.0, stage_scales: tuple[float, ...] = ()
) -> dict[str, float]:
    """Per-variable learning-rate factors: ``decoder_scale`` for everything outside the pretrained encoder, and
    ``stage_scales[k]`` for the encoder's layers of stage k+1 (up to the layer that ends it, in graph order; the
    encoder's layers after the last listed stage keep 1). Factors of 1 are left out."""
    from training.encoders import encoder_layer_stages

    scales = {path: decoder_scale for path in decoder_variable_paths(model)} if decoder_scale != 1.0 else {}
    if stage_scales:
        _, layer_stages = encoder_layer_stages(model, "--stage-lr-scales", len(stage_scales))
        for layer in model.layers:
            factor = stage_scales[layer_stages[layer.name] - 1] if layer.name in layer_stages else 1.0
            if factor != 1.0:
                scales.update({variable.path: factor for variable in layer.trainable_weights})
    return scales


def compile_model(
    model: keras.Model,
    loss_name: str,
    lr,
    outputs: int | None = None,
    decoder_lr_scale: float = 1.0,
    stage_lr_scales: tuple[float, ...] = (),
) -> None:
    """Adam on the road loss; under deep supervision every head gets the loss (averaged), IoU on the last head.
    ``decoder_lr_scale`` / ``stage_lr_scales``: per-stage learning rates (:func:`learning_rate_scales`)."""
    outputs = len(model.outputs) if outputs is None else outputs
    loss = get_loss(loss_name)
    optimizer = ScaledAdam(lr, scales=learning_rate_scales(model, decoder_lr_scale, tuple(stage_lr_scales)))
    if outputs > 1:
        model.compile(
            optimizer=optimizer,
            loss=[loss] * outputs,
            loss_weights=[1.0 / outputs] * outputs,
            metrics=[[] for _ in range(outputs - 1)] + [[RoadIoU()]],
        )
    else:
        model.compile(optimizer=optimizer, loss=loss, metrics=[RoadIoU()])
