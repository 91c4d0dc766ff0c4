"""Pretrained weights into Keras, checked against an independent reference (OpenVINO runs the original IR), the
encoder U-Net / UNet++ built on them, and their export under the project's ONNX contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ros_road_seg.core.errors import ModelLoadError

ROOT = Path(__file__).resolve().parent.parent
INTEL_IR = ROOT.parent / "shared" / "weights" / "road-segmentation-adas-0001" / "road-segmentation-adas-0001.xml"
needs_intel = pytest.mark.skipif(not INTEL_IR.is_file(), reason=f"Intel road IR not at {INTEL_IR} (../shared absent)")
TOLERANCE = 1e-4


def openvino_reference(xml: Path, nchw_input: np.ndarray) -> np.ndarray:
    """The IR run by OpenVINO in FP32 (its CPU plug-in would otherwise pick bf16 on CPUs that have it)."""
    ov = pytest.importorskip("openvino")
    core = ov.Core()
    network = core.read_model(str(xml))
    network.reshape(list(nchw_input.shape))
    compiled = core.compile_model(network, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return compiled(nchw_input)[0]


def write_tiny_ir(folder: Path) -> Path:
    """An IR with every operation type the Intel road model uses (biased and depthwise dilated convolutions, a
    residual add, ceil-mode pools, the ShapeOf -> StridedSlice -> Multiply -> Interpolate chain, softmax), written
    by OpenVINO itself so the reader is checked against files it did not write."""
    ov = pytest.importorskip("openvino")
    o = pytest.importorskip("openvino.opset1")
    rng = np.random.default_rng(0)

    def const(shape, scale=0.3):
        return o.constant((rng.normal(size=shape) * scale).astype(np.float32))

    def ints(values):
        return o.constant(np.array(values, np.int64))

    x = o.parameter([1, 3, 32, 32], np.float32, name="data")
    y = o.relu(o.add(o.convolution(x, const((8, 3, 3, 3)), [2, 2], [1, 1], [1, 1], [1, 1]), const((1, 8, 1, 1))))
    z = o.group_convolution(y, const((8, 1, 1, 3, 3)), [1, 1], [2, 2], [2, 2], [2, 2])
    y = o.relu(o.add(o.add(z, const((1, 8, 1, 1))), y))
    pooled = o.max_pool(y, [2, 2], [0, 0], [0, 0], [2, 2], "ceil")
    context = o.avg_pool(pooled, [2, 2], [0, 0], [0, 0], [2, 2], False, "ceil")
    context = o.convolution(context, const((8, 8, 1, 1)), [1, 1], [0, 0], [0, 0], [1, 1])
    size = o.multiply(o.strided_slice(o.shape_of(context), ints([2]), ints([4]), ints([1]), [0], [1]), ints([2]))
    attrs = {"axes": [2, 3], "mode": "linear", "align_corners": True, "antialias": False, "pads_begin": [0]}
    up = o.interpolate(context, size, {**attrs, "pads_end": [0]})
    logits = o.convolution(o.add(up, pooled), const((4, 8, 1, 1)), [1, 1], [0, 0], [0, 0], [1, 1])
    model = ov.Model([o.softmax(logits, 1)], [x], "tiny")
    path = folder / "tiny.xml"
    ov.save_model(model, str(path), compress_to_fp16=False)
    return path


def test_ir_reader_matches_openvino_on_a_tiny_graph(tmp_path):
    from training.pretrained.openvino_ir import ir_to_keras

    xml = write_tiny_ir(tmp_path)
    image = np.random.default_rng(1).random((1, 32, 32, 3), dtype=np.float32) * 255.0
    keras_out = np.asarray(ir_to_keras(xml, (32, 32))(image))
    reference = openvino_reference(xml, image.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1)
    assert keras_out.shape == reference.shape == (1, 8, 8, 4)  # stride 2 conv, then pooled to 1/4
    assert np.abs(keras_out - reference).max() <= TOLERANCE


def test_ir_reader_names_what_it_cannot_read(tmp_path):
    from training.pretrained.openvino_ir import ir_to_keras, read_ir

    with pytest.raises(ModelLoadError, match="does not exist"):
        read_ir(tmp_path / "missing.xml")
    xml = write_tiny_ir(tmp_path)
    text = xml.read_text().replace('type="SoftMax"', 'type="Elu"')
    (tmp_path / "odd.xml").write_text(text)
    (tmp_path / "odd.bin").write_bytes(xml.with_suffix(".bin").read_bytes())
    with pytest.raises(ModelLoadError, match="type Elu"):
        read_ir(tmp_path / "odd.xml")
    with pytest.raises(ModelLoadError, match="multiple of the pooling stride"):
        ir_to_keras(xml, (36, 36))
    (tmp_path / "short.xml").write_text(xml.read_text())
    (tmp_path / "short.bin").write_bytes(xml.with_suffix(".bin").read_bytes()[:100])
    with pytest.raises(ModelLoadError, match="past the end"):
        ir_to_keras(tmp_path / "short.xml", (32, 32))


@needs_intel
def test_intel_road_model_matches_openvino():
    from training.pretrained.intel_road import intel_road_model
    from training.pretrained.openvino_ir import ir_to_keras

    rgb = np.random.default_rng(2).random((1, 64, 96, 3), dtype=np.float32)
    bgr_255 = rgb[..., ::-1] * 255.0
    reference = openvino_reference(INTEL_IR, np.ascontiguousarray(bgr_255.transpose(0, 3, 1, 2)))
    softmax = np.asarray(ir_to_keras(INTEL_IR, (64, 96))(bgr_255))
    assert np.abs(softmax - reference.transpose(0, 2, 3, 1)).max() <= TOLERANCE
    # the contract wrapper: RGB [0, 1] in, road + lane mark probability out
    road = np.asarray(intel_road_model(INTEL_IR, (64, 96))(rgb))
    assert road.shape == (1, 64, 96, 1)
    assert np.abs(road[..., 0] - (reference[:, 1] + reference[:, 3])).max() <= TOLERANCE


@needs_intel
@pytest.mark.parametrize("architecture", ["intel_unet", "intel_unetpp"])
def test_encoder_unets_train_and_export_under_the_contract(tmp_path, architecture):
    import keras

    from ros_road_seg.core.segmenter import Segmenter
    from training.fitting import copy_encoder_weights
    from training.models import build_model, compile_model, describe_model, prune_unet_plus_plus
    from training.onnx_export import export
    from training.pretrained.intel_road import intel_road_model

    nested = architecture == "intel_unetpp"
    model = build_model(architecture, (64, 96, 3), deep_supervision=nested, pretrained=INTEL_IR)
    assert describe_model(model)["model"] == architecture
    assert [tuple(o.shape) for o in model.outputs] == [(None, 64, 96, 1)] * (2 if nested else 1)
    teacher = intel_road_model(INTEL_IR, (64, 96))
    images = np.random.default_rng(3).random((2, 64, 96, 3), dtype=np.float32)
    untrained = model(images)
    for head in untrained if nested else [untrained]:  # the correction starts at zero: the teacher's answer
        assert np.abs(np.asarray(head) - np.asarray(teacher(images))).max() <= 1e-5
    stem = teacher.get_layer("intel_L0000_Conv2d_BN_WithoutBiases")
    stem.set_weights([w + 1.0 for w in stem.get_weights()])  # a "fine-tuned" teacher differs from the IR
    assert copy_encoder_weights(teacher, model) > 20
    for got, want in zip(model.get_layer(stem.name).get_weights(), stem.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    compile_model(model, "bce_dice", 1e-3)
    targets = np.stack([np.ones((2, 64, 96)), np.ones((2, 64, 96))], axis=-1).astype(np.float32)
    model.fit(images, (targets, targets) if nested else targets, epochs=1, verbose=0)  # trainable end to end
    if nested:
        assert prune_unet_plus_plus(model, 1).output.shape == (None, 64, 96, 1)
    path = tmp_path / "model.keras"
    model.save(path)
    keras.saving.load_model(path, compile=False)  # custom layers are registered
    metadata = export(path, tmp_path / "model.onnx")
    assert float(metadata["road_seg.parity_max_abs_diff"]) <= 1e-4  # with the input scaling folded into the stem:
    import onnx

    names = [node.name for node in onnx.load(str(tmp_path / "model.onnx")).graph.node]
    assert not [n for n in names if "bgr255" in n], "the BGR/255 input scaling is folded into the first convolution"
    segmenter = Segmenter(tmp_path / "model.onnx", providers="cpu")
    assert segmenter.input_size == (64, 96)
    probability = segmenter.probability(np.zeros((120, 200, 3), np.uint8))
    assert probability.shape == (64, 96) and 0.0 <= probability.min() <= probability.max() <= 1.0


@needs_intel
def test_encoder_models_refuse_sizes_off_the_network_stride():
    from training.models import build_model

    with pytest.raises(ValueError, match="multiples of 32"):
        build_model("intel_unet", (100, 96, 3), pretrained=INTEL_IR)


EFFNET = ROOT.parent / "shared" / "weights" / "efficientnet_lite0_imagenet" / "efficientnet_lite0_imagenet.npz"


def torch_efficientnet_lite0(weights: dict):
    """The reference: the original arrays run by PyTorch's own convolutions, TF-"SAME" padding, BN eps 1e-3."""
    torch = pytest.importorskip("torch")
    f = torch.nn.functional
    t = {k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in weights.items() if v.ndim}

    def same_conv(x, w, stride, groups=1):
        k = w.shape[-1]
        pads = []
        for size in x.shape[-2:][::-1]:
            out = -(-size // stride)
            total = max((out - 1) * stride + k - size, 0)
            pads += [total // 2, total - total // 2]
        return f.conv2d(f.pad(x, pads), w, stride=stride, groups=groups)

    def bn(x, key):
        return f.batch_norm(x, t[f"{key}.running_mean"], t[f"{key}.running_var"], t[f"{key}.weight"], t[f"{key}.bias"],
                            eps=1e-3)  # fmt: skip

    def forward(x):
        x = f.relu6(bn(same_conv(x, t["_conv_stem.weight"], 2), "_bn0"))
        for i in range(16):
            key, stride, inp = f"_blocks.{i}", 2 if i in (1, 3, 5, 11) else 1, x
            if f"{key}._expand_conv.weight" in t:
                x = f.relu6(bn(same_conv(x, t[f"{key}._expand_conv.weight"], 1), f"{key}._bn0"))
            dw = t[f"{key}._depthwise_conv.weight"]
            x = f.relu6(bn(same_conv(x, dw, stride, groups=dw.shape[0]), f"{key}._bn1"))
            x = bn(same_conv(x, t[f"{key}._project_conv.weight"], 1), f"{key}._bn2")
            if stride == 1 and inp.shape[1] == x.shape[1]:
                x = x + inp
        x = f.relu6(bn(same_conv(x, t["_conv_head.weight"], 1), "_bn1")).mean(dim=(2, 3))
        return f.linear(x, t["_fc.weight"], t["_fc.bias"])

    return forward


@pytest.mark.skipif(not EFFNET.is_file(), reason=f"EfficientNet-Lite0 weights not at {EFFNET} (../shared absent)")
def test_efficientnet_lite0_reader_matches_pytorch():
    """Parity with PyTorch running the original arrays (skips without torch, which is no project dependency)."""
    torch = pytest.importorskip("torch")
    from training.pretrained.efficientnet_lite import efficientnet_lite0_classifier, load_npz

    rgb = np.random.default_rng(5).random((1, 64, 96, 3), dtype=np.float32)
    keras_logits = np.asarray(efficientnet_lite0_classifier(EFFNET, (64, 96))(rgb))
    normalised = torch.from_numpy(((rgb * 255.0 - 127.0) / 128.0).transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        reference = torch_efficientnet_lite0(load_npz(EFFNET))(normalised).numpy()
    difference = np.abs(keras_logits - reference).max()
    print(f"\n[parity] EfficientNet-Lite0 Keras vs PyTorch logits: max |diff| {difference:.2e}")
    assert keras_logits.shape == reference.shape == (1, 1000)
    assert difference <= TOLERANCE


@pytest.mark.skipif(not EFFNET.is_file(), reason=f"EfficientNet-Lite0 weights not at {EFFNET} (../shared absent)")
def test_efficientnet_lite0_is_an_encoder_of_the_one_decoder(tmp_path):
    """The ImageNet encoder under both decoders: no road prior, so the zero-started head answers 0.5 everywhere;
    its layers are what L2-SP pulls and --freeze-stages freezes; it trains and exports under the contract."""
    from training.fitting import freeze_encoder_stages, pretrained_weights
    from training.models import build_model, compile_model, describe_model
    from training.onnx_export import export

    for architecture in ("effnet_unet", "effnet_unetpp"):
        model = build_model(architecture, (64, 96, 3), pretrained=EFFNET)
        assert describe_model(model)["model"] == architecture
        images = np.random.default_rng(4).random((2, 64, 96, 3), dtype=np.float32)
        np.testing.assert_allclose(np.asarray(model(images)), 0.5, atol=1e-6)
        assert pretrained_weights(model) and all(name.startswith("effnet_") for name in pretrained_weights(model))
    frozen = freeze_encoder_stages(model, 2)
    trainable = {layer.name for layer in model.layers if layer.trainable and layer.weights}
    assert frozen > 0 and "effnet_stem" not in trainable and "effnet_block15_project" in trainable
    model = build_model("effnet_unet", (64, 96, 3), pretrained=EFFNET)
    compile_model(model, "bce_dice", 1e-3)
    model.fit(images, np.ones((2, 64, 96, 1), np.float32), epochs=1, verbose=0)
    path = tmp_path / "effnet.keras"
    model.save(path)
    metadata = export(path, tmp_path / "effnet.onnx")
    assert float(metadata["road_seg.parity_max_abs_diff"]) <= 1e-4
