"""ROS-free road segmentation core: preprocess -> ONNX Runtime -> resize back -> threshold -> overlay.

The node, ``training.evaluate``, the demo and the benchmarks all call this module; nobody else resizes,
normalises or thresholds on their own. It imports neither ROS nor TensorFlow.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ros_road_seg.errors import ModelLoadError, ProviderUnavailableError, RoadSegError

LOGGER = logging.getLogger("ros_road_seg.segmenter")

PROVIDER_CHOICES = ("auto", "cuda", "tensorrt", "cpu")
METADATA_PREFIX = "road_seg."
DEFAULT_INPUT_SIZE = (224, 224)  # (height, width)
DEFAULT_THRESHOLD = 0.5
DEFAULT_NORMALISATION = "scale_0_1"  # uint8 / 255, the only one the training code writes

_CUDA = "CUDAExecutionProvider"
_TENSORRT = "TensorrtExecutionProvider"
_CPU = "CPUExecutionProvider"


@dataclass(frozen=True)
class ModelInfo:
    """What the node needs to know about a model, read from its ONNX metadata and input shape."""

    input_height: int
    input_width: int
    threshold: float
    normalisation: str
    metadata: dict[str, str]


@dataclass
class SegmentationResult:
    """Outputs at the input frame's size. Arrays are reused by the next call of the same Segmenter."""

    mask: np.ndarray  # HxW uint8, 0 or 255
    overlay: np.ndarray  # HxWx3 uint8 RGB
    probability: np.ndarray  # input_height x input_width float32 in [0, 1], model size


def preprocess(rgb: np.ndarray, input_size: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
    """Turn an RGB uint8 HxWx3 frame into the model's 1xhxwx3 float32 input in [0, 1].

    The one preprocessing path of the project: training batches, evaluation, the node and the benchmarks call
    it, so a model always sees at serving time exactly what it saw in training.
    """
    height, width = input_size
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise RoadSegError(f"preprocess expects an RGB uint8 HxWx3 array, got shape {rgb.shape} dtype {rgb.dtype}")
    if out is None:
        out = np.empty((1, height, width, 3), dtype=np.float32)
    if rgb.shape[0] == height and rgb.shape[1] == width:
        resized = rgb
    else:
        resized = cv2.resize(
            rgb,
            (width, height),
            interpolation=cv2.INTER_AREA if rgb.shape[0] > height and rgb.shape[1] > width else cv2.INTER_LINEAR,
        )
    np.multiply(resized, np.float32(1.0 / 255.0), out=out[0], casting="unsafe")
    return out


def resize_probability(
    probability: np.ndarray, frame_size: tuple[int, int], out: np.ndarray | None = None
) -> np.ndarray:
    """Resize a model-size probability map back to the frame's (height, width), bilinear."""
    height, width = frame_size
    if probability.shape == (height, width):
        if out is None:
            return probability
        np.copyto(out, probability)
        return out
    return cv2.resize(probability, (width, height), dst=out, interpolation=cv2.INTER_LINEAR)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label or mask to (height, width): labels are never interpolated."""
    height, width = size
    if mask.shape[:2] == (height, width):
        return mask
    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)


def threshold_mask(probability: np.ndarray, threshold: float, out: np.ndarray | None = None) -> np.ndarray:
    """Road where probability > threshold: uint8 0/255, the ROS mono8 mask convention."""
    if probability.size == 1:  # OpenCV reads a 1x1 array as a scalar and refuses to compare it
        mask = np.where(probability > threshold, 255, 0).astype(np.uint8)
        if out is None:
            return mask
        out[...] = mask
        return out
    return cv2.compare(probability, float(threshold), cv2.CMP_GT, dst=out)


def blend_overlay(
    rgb: np.ndarray, mask: np.ndarray, alpha: float, color: tuple[int, int, int], out: np.ndarray | None = None
) -> np.ndarray:
    """``(1 - alpha) * rgb + alpha * layer`` where layer is ``color`` on road and black elsewhere.

    With alpha 0.5 and white this is the course's ``Image.blend(image, mask_rgb, 0.5)``. Two OpenCV passes, no
    float copy of the frame.
    """
    out = cv2.convertScaleAbs(rgb, dst=out, alpha=1.0 - alpha)
    tint = tuple(float(alpha * channel) for channel in color)
    cv2.add(out, tint, dst=out, mask=mask)
    return out


def resolve_providers(choice: str) -> list[str]:
    """Execution providers to ask ONNX Runtime for, most preferred first, for one of PROVIDER_CHOICES."""
    import onnxruntime as ort

    if choice not in PROVIDER_CHOICES:
        raise ProviderUnavailableError(f"providers '{choice}' is not one of {', '.join(PROVIDER_CHOICES)}")
    if choice == "cpu":
        return [_CPU]
    available = ort.get_available_providers()
    if choice in ("cuda", "tensorrt") and hasattr(ort, "preload_dlls"):
        _preload_cuda_libraries(ort)
    if choice == "cuda":
        if _CUDA not in available:
            raise ProviderUnavailableError(
                "providers 'cuda' requested but this onnxruntime has no CUDAExecutionProvider "
                f"(available: {available}); install onnxruntime-gpu with CUDA 13 + cuDNN 9, or use 'cpu'"
            )
        return [_CUDA, _CPU]
    if choice == "tensorrt":
        if _TENSORRT not in available:
            raise ProviderUnavailableError(
                f"providers 'tensorrt' requested but this onnxruntime has no TensorrtExecutionProvider "
                f"(available: {available})"
            )
        return [_TENSORRT, _CUDA, _CPU]
    if _CUDA in available:  # auto
        _preload_cuda_libraries(ort)
        return [_CUDA, _CPU]
    return [_CPU]


def _preload_cuda_libraries(ort_module) -> None:
    """Load CUDA/cuDNN from pip packages when onnxruntime offers it; absence is reported by the session later."""
    preload = getattr(ort_module, "preload_dlls", None)
    if preload is None:
        return
    try:
        preload()
    except Exception as error:  # noqa: BLE001 - a missing library shows up as a CPU fallback, reported below
        LOGGER.debug("onnxruntime.preload_dlls failed: %s", error)


def read_model_info(session) -> ModelInfo:
    """Input size from the graph, threshold and normalisation from ``road_seg.*`` metadata (defaults otherwise)."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelLoadError(f"model has {len(inputs)} inputs, expected 1 (an NHWC image)")
    shape = inputs[0].shape
    if len(shape) != 4:
        raise ModelLoadError(
            f"model input '{inputs[0].name}' has rank {len(shape)} (shape {shape}), "
            "expected 4: batch x height x width x 3"
        )
    if shape[3] != 3:
        raise ModelLoadError(
            f"model input '{inputs[0].name}' has {shape[3]} channels (shape {shape}), expected 3 (NHWC RGB)"
        )
    if inputs[0].type != "tensor(float)":
        raise ModelLoadError(f"model input '{inputs[0].name}' is {inputs[0].type}, expected tensor(float)")
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    meta = {key[len(METADATA_PREFIX) :]: value for key, value in metadata.items() if key.startswith(METADATA_PREFIX)}
    height = shape[1] if isinstance(shape[1], int) else int(meta.get("input_height", DEFAULT_INPUT_SIZE[0]))
    width = shape[2] if isinstance(shape[2], int) else int(meta.get("input_width", DEFAULT_INPUT_SIZE[1]))
    normalisation = meta.get("normalisation", DEFAULT_NORMALISATION)
    if normalisation != DEFAULT_NORMALISATION:
        raise ModelLoadError(
            f"model metadata normalisation '{normalisation}' is not supported (only '{DEFAULT_NORMALISATION}')"
        )
    return ModelInfo(
        input_height=height,
        input_width=width,
        threshold=float(meta.get("threshold", DEFAULT_THRESHOLD)),
        normalisation=normalisation,
        metadata=metadata,
    )


def create_session(model_path: str | os.PathLike, providers: str = "auto", intra_op_threads: int = 0):
    """Open an ONNX Runtime session with tuned CPU options; returns (session, provider actually running).

    ``auto`` falls back to CPU when CUDA does not really load; an explicit ``cuda``/``tensorrt`` that falls back is
    an error, because the user asked for a GPU and would otherwise silently get a CPU.
    """
    import onnxruntime as ort

    path = Path(model_path)
    if not path.is_file():
        raise ModelLoadError(f"model_path '{path}' does not exist or is not a file")
    if not os.access(path, os.R_OK):
        raise ModelLoadError(f"model_path '{path}' is not readable")
    requested = resolve_providers(providers)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = intra_op_threads or physical_core_count()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # the fallback is reported below in one line, not as an ORT error wall
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=requested)
    except Exception as error:  # noqa: BLE001 - ORT raises several private exception types
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelLoadError(f"model_path '{path}' could not be loaded by ONNX Runtime: {first_line}") from None
    active = session.get_providers()[0]
    if providers in ("cuda", "tensorrt") and active == _CPU:
        raise ProviderUnavailableError(
            f"providers '{providers}' requested but ONNX Runtime fell back to CPU (CUDA 13 / cuDNN 9 libraries not "
            "loadable); install them or set providers to 'cpu'"
        )
    return session, active


def physical_core_count() -> int:
    """Threads for intra-op parallelism: the cores this process may use (hyper-threads do not help ORT convs)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


class Segmenter:
    """One loaded model and its reusable buffers: call :meth:`segment` per frame."""

    def __init__(
        self,
        model_path: str | os.PathLike,
        providers: str = "auto",
        threshold: float | None = None,
        overlay_alpha: float = 0.5,
        overlay_color: tuple[int, int, int] = (255, 255, 255),
        intra_op_threads: int = 0,
        warmup: bool = True,
        io_binding: bool | None = None,
    ) -> None:
        self.model_path = str(model_path)
        self.session, self.provider = create_session(model_path, providers, intra_op_threads)
        self.info = read_model_info(self.session)
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        self.threshold = self.info.threshold if threshold is None else float(threshold)
        self.overlay_alpha = float(overlay_alpha)
        self.overlay_color = tuple(int(c) for c in overlay_color)
        validate_threshold(self.threshold)
        validate_alpha(self.overlay_alpha)
        validate_color(self.overlay_color)
        self._input = np.empty((1, self.info.input_height, self.info.input_width, 3), dtype=np.float32)
        self._frame_buffers: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        # On a GPU, I/O binding lets ONNX Runtime copy the input once and skip its own staging buffers.
        self.io_binding = (self.provider != _CPU) if io_binding is None else io_binding
        self._binding = self.session.io_binding() if self.io_binding else None
        if warmup:  # the first runs pay for allocation (and cuDNN autotuning on CUDA): not the first frame's job
            blank = np.zeros((self.info.input_height, self.info.input_width, 3), dtype=np.uint8)
            for _ in range(1 if self.provider == _CPU else 5):
                self.probability(blank)

    @property
    def input_size(self) -> tuple[int, int]:
        return self.info.input_height, self.info.input_width

    def probability(self, rgb: np.ndarray) -> np.ndarray:
        """Road probability at model size (float32 h x w) for an RGB uint8 frame."""
        model_input = preprocess(rgb, self.input_size, out=self._input)
        if self._binding is not None:
            self._binding.bind_cpu_input(self.input_name, model_input)
            self._binding.bind_output(self.output_name, "cpu")
            self.session.run_with_iobinding(self._binding)
            output = self._binding.copy_outputs_to_cpu()[0]
        else:
            output = self.session.run([self.output_name], {self.input_name: model_input})[0]
        return _squeeze_probability(output, self.output_name)

    def segment(self, rgb: np.ndarray) -> SegmentationResult:
        """Mask and overlay at the frame's size. The returned arrays are overwritten by the next call."""
        probability = self.probability(rgb)
        height, width = rgb.shape[:2]
        prob_full, mask, overlay = self._buffers_for(height, width)
        resize_probability(probability, (height, width), out=prob_full)
        threshold_mask(prob_full, self.threshold, out=mask)
        blend_overlay(rgb, mask, self.overlay_alpha, self.overlay_color, out=overlay)
        return SegmentationResult(mask=mask, overlay=overlay, probability=probability)

    def _buffers_for(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = (height, width)
        buffers = self._frame_buffers.get(key)
        if buffers is None:
            if len(self._frame_buffers) >= 4:  # a camera whose size keeps changing must not grow memory
                self._frame_buffers.clear()
            buffers = (
                np.empty((height, width), np.float32),
                np.empty((height, width), np.uint8),
                np.empty((height, width, 3), np.uint8),
            )
            self._frame_buffers[key] = buffers
        return buffers


def _squeeze_probability(output: np.ndarray, name: str) -> np.ndarray:
    """Model output 1xhxwx1 (or 1xhxw) -> hxw float32."""
    if output.ndim == 4 and output.shape[0] == 1 and output.shape[3] == 1:
        return output[0, :, :, 0]
    if output.ndim == 3 and output.shape[0] == 1:
        return output[0]
    raise RoadSegError(f"model output '{name}' has shape {output.shape}, expected 1 x h x w x 1")


def validate_threshold(value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"threshold {value} is outside [0, 1]")


def validate_alpha(value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"overlay_alpha {value} is outside [0, 1]")


def validate_color(value: tuple[int, ...]) -> None:
    if len(value) != 3 or any(not 0 <= c <= 255 for c in value):
        raise ValueError(f"overlay_color {list(value)} must be three integers in [0, 255] (R, G, B)")
