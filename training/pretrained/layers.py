"""Keras layers the converted networks need and Keras lacks: registered, so a ``.keras`` file reloads with them."""

from __future__ import annotations

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="road_seg")
class AlignedBilinearResize(keras.layers.Layer):
    """Bilinear resize to a fixed (height, width) with ``align_corners`` (corner pixels map onto corner pixels):
    OpenVINO's ``Interpolate`` with ``align_corners=1``, which Keras's ``UpSampling2D`` (half-pixel) is not."""

    def __init__(self, size: tuple[int, int], **kwargs) -> None:
        super().__init__(**kwargs)
        self.size = (int(size[0]), int(size[1]))

    def call(self, x):
        import tensorflow as tf

        return tf.compat.v1.image.resize_bilinear(x, self.size, align_corners=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.size, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "size": list(self.size)}


@keras.saving.register_keras_serializable(package="road_seg")
class ChannelBias(keras.layers.Layer):
    """``x + b`` with one trainable value per channel (an IR bias ``Add`` that follows no convolution)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)

    def build(self, input_shape):
        self.bias = self.add_weight(name="bias", shape=(input_shape[-1],), initializer="zeros")

    def call(self, x):
        return x + self.bias


@keras.saving.register_keras_serializable(package="road_seg")
class ScaleChannels(keras.layers.Layer):
    """Fixed per-channel affine map and channel order, for the normalisation a pretrained network expects.

    ``y[..., i] = x[..., order[i]] * scale[i] + offset[i]``. It lives inside the graph, so every exported model
    keeps the project's contract: RGB in [0, 1] in, whatever the pretrained network wants inside."""

    def __init__(self, scale, offset, order=(0, 1, 2), **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale = [float(v) for v in scale]
        self.offset = [float(v) for v in offset]
        self.order = [int(v) for v in order]

    def call(self, x):
        from keras import ops

        if self.order != [0, 1, 2]:
            x = ops.stack([x[..., i] for i in self.order], axis=-1)
        return x * np.asarray(self.scale, np.float32) + np.asarray(self.offset, np.float32)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset, "order": self.order}


@keras.saving.register_keras_serializable(package="road_seg")
class RoadLogit(keras.layers.Layer):
    """The logit of "road" from a 4-class softmax's inputs, without the softmax: with ``road`` the classes summed for
    road, log(sum exp(road logits)) - log(sum exp(other logits)), each log-sum-exp of two taken stably as
    max + log(1 + exp(-|a - b|)). ``sigmoid`` of it is exactly the summed softmax probability; it costs a few
    per-pixel operations where ONNX Runtime's softmax over a 4-wide last axis cost a fifth of the network."""

    def __init__(self, road=(1, 3), other=(0, 2), **kwargs) -> None:
        super().__init__(**kwargs)
        self.road = [int(c) for c in road]
        self.other = [int(c) for c in other]

    def call(self, logits):
        from keras import ops

        def log_sum_exp(a, b):
            return ops.maximum(a, b) + ops.log(1.0 + ops.exp(-ops.abs(a - b)))

        road = log_sum_exp(logits[..., self.road[0]], logits[..., self.road[1]])
        other = log_sum_exp(logits[..., self.other[0]], logits[..., self.other[1]])
        return ops.expand_dims(road - other, -1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)

    def get_config(self):
        return {**super().get_config(), "road": self.road, "other": self.other}
