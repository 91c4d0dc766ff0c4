"""An ONNX road model on an execution provider: providers, session options, the model's own metadata.

No OpenCV here (the node imports this before deciding OpenCV's decoder limits). ``road_seg.*`` metadata written by
``training.export`` tells the node the input size, threshold and normalisation; :data:`MODEL_THRESHOLD` (-1) as a
threshold means "the model's own".
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ros_road_seg.core.errors import ModelLoadError, ProviderUnavailableError, one_line
from ros_road_seg.core.tiles import TILING_MODES

LOGGER = logging.getLogger("ros_road_seg.core.model")

PROVIDER_CHOICES = ("auto", "cuda", "tensorrt", "cpu")
METADATA_PREFIX = "road_seg."
DEFAULT_INPUT_SIZE = (224, 224)  # (height, width)
DEFAULT_THRESHOLD = 0.5
MODEL_THRESHOLD = -1.0  # a threshold setting meaning "the model's metadata value"
DEFAULT_NORMALISATION = "scale_0_1"  # uint8 / 255, the only one the training code writes

_CUDA = "CUDAExecutionProvider"
_TENSORRT = "TensorrtExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


@dataclass(frozen=True)
class ModelInfo:
    """What the node needs to know about a model, read from its ONNX metadata and input shape."""

    input_height: int
    input_width: int
    threshold: float
    normalisation: str
    metadata: dict[str, str]
    tiling: str = "none"  # "aspect": run on tiles of the frame resized with its aspect kept (core/tiles.py)


def resolve_providers(choice: str) -> list[str]:
    """Execution providers to ask ONNX Runtime for, most preferred first, for one of PROVIDER_CHOICES."""
    import onnxruntime as ort

    if choice not in PROVIDER_CHOICES:
        raise ProviderUnavailableError(f"providers '{choice}' is not one of {', '.join(PROVIDER_CHOICES)}")
    if choice == "cpu":
        return [CPU_PROVIDER]
    available = ort.get_available_providers()
    if choice in ("cuda", "tensorrt") and hasattr(ort, "preload_dlls"):
        _preload_cuda_libraries(ort)
    if choice == "cuda":
        if _CUDA not in available:
            raise ProviderUnavailableError(
                "providers 'cuda' requested but this onnxruntime has no CUDAExecutionProvider "
                f"(available: {available}); install onnxruntime-gpu with CUDA 13 + cuDNN 9, or use 'cpu'"
            )
        return [_CUDA, CPU_PROVIDER]
    if choice == "tensorrt":
        if _TENSORRT not in available:
            raise ProviderUnavailableError(
                f"providers 'tensorrt' requested but this onnxruntime has no TensorrtExecutionProvider "
                f"(available: {available})"
            )
        return [_TENSORRT, _CUDA, CPU_PROVIDER]
    if _CUDA in available:  # auto
        _preload_cuda_libraries(ort)
        return [_CUDA, CPU_PROVIDER]
    return [CPU_PROVIDER]


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
    threshold = _metadata_threshold(meta.get("threshold"))
    tiling = meta.get("tiling", "none")
    if tiling not in TILING_MODES:
        raise ModelLoadError(f"model metadata tiling '{tiling}' is not one of {', '.join(TILING_MODES)}")
    return ModelInfo(
        input_height=height,
        input_width=width,
        threshold=threshold,
        normalisation=normalisation,
        metadata=metadata,
        tiling=tiling,
    )


def _metadata_threshold(text: str | None) -> float:
    """The model's own threshold, refused at load when it is not a probability: a NaN or 2 there would make the node
    publish 0 % road on every frame while saying it serves."""
    if text is None:
        return DEFAULT_THRESHOLD
    try:
        value = float(text)
        validate_threshold(value)
    except ValueError:
        raise ModelLoadError(
            f"model metadata {METADATA_PREFIX}threshold '{text}' is not a probability in [0, 1]; re-export the model "
            "with a valid --threshold"
        ) from None
    return value


FP16_SIBLING_KEY = f"{METADATA_PREFIX}fp16_sibling"  # an INT8 model names its FP16 twin (same folder)
DEFAULT_TRT_CACHE = Path.home() / ".cache" / "ros_road_seg" / "tensorrt"


def provider_options(requested: list[str], trt_cache_dir: str | os.PathLike | None = None) -> list:
    """ONNX Runtime's ``providers`` argument: TensorRT with its engine and timing caches under ``trt_cache_dir``
    (built once per model and GPU, reused at every start instead of rebuilt) and FP16 kernels; others as they are."""
    result = []
    for name in requested:
        if name == _TENSORRT:
            folder = Path(trt_cache_dir) if trt_cache_dir else DEFAULT_TRT_CACHE
            options = {
                "trt_engine_cache_enable": "True",
                "trt_engine_cache_path": str(folder),
                "trt_timing_cache_enable": "True",
                "trt_timing_cache_path": str(folder),
                "trt_fp16_enable": "True",
            }
            result.append((name, options))
        else:
            result.append(name)
    return result


def model_for_providers(path: Path, requested: list[str]) -> Path:
    """The file to run on ``requested`` providers: on a GPU provider an INT8 (QDQ) model is swapped for the FP16
    sibling its ``road_seg.fp16_sibling`` metadata names (CUDA runs QDQ graphs slowly); on CPU the file as given."""
    if requested[0] not in (_CUDA, _TENSORRT):
        return path
    sibling = read_metadata(path).get(FP16_SIBLING_KEY, "")
    candidate = path.parent / sibling if sibling else None
    if candidate is None or not candidate.is_file():
        return path
    return candidate


def read_metadata(path: Path) -> dict[str, str]:
    """A model file's custom metadata, read without optimising or running it."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=[CPU_PROVIDER])
    except Exception as error:  # noqa: BLE001 - ORT raises several private exception types
        raise ModelLoadError(f"model_path '{path}' could not be loaded by ONNX Runtime: {one_line(error)}") from None
    return dict(session.get_modelmeta().custom_metadata_map)


def create_session(
    model_path: str | os.PathLike,
    providers: str = "auto",
    intra_op_threads: int = 0,
    trt_cache_dir: str | os.PathLike | None = None,
    spinning: bool = False,
):
    """Open an ONNX Runtime session with tuned CPU options; returns (session, provider actually running, the file
    actually loaded: the FP16 sibling of an INT8 model on a GPU provider, see :func:`model_for_providers`).

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
    path = model_for_providers(path, requested)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = intra_op_threads or available_cpu_count()
    options.inter_op_num_threads = 1
    # spinning intra-op threads busy-wait between runs and take the CPU from DDS, the publisher and the node's other
    # thread: on 2 cores that lengthens the latency tail (docs/performance.md), so they sleep unless asked to spin
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.log_severity_level = 3  # the fallback is reported below in one line, not as an ORT error wall
    try:
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=provider_options(requested, trt_cache_dir)
        )
    except Exception as error:  # noqa: BLE001 - ORT raises several private exception types
        raise ModelLoadError(f"model_path '{path}' could not be loaded by ONNX Runtime: {one_line(error)}") from None
    active = session.get_providers()[0]
    if providers in ("cuda", "tensorrt") and active == CPU_PROVIDER:
        raise ProviderUnavailableError(
            f"providers '{providers}' requested but ONNX Runtime fell back to CPU (CUDA 13 / cuDNN 9 libraries not "
            "loadable); install them or set providers to 'cpu'"
        )
    return session, active, path


def available_cpu_count() -> int:
    """Threads for intra-op parallelism: the CPUs in this process's affinity set (hyper-threads included)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def resolve_threshold(setting: float, info: ModelInfo) -> float:
    """The threshold in effect for a setting: :data:`MODEL_THRESHOLD` means the model's own."""
    if setting == MODEL_THRESHOLD:
        return info.threshold
    validate_threshold(setting)
    return float(setting)


def validate_threshold(value: float) -> None:
    """A fixed threshold must be a finite probability (:data:`MODEL_THRESHOLD` is resolved before this)."""
    if not 0.0 <= value <= 1.0:  # also False for NaN
        raise ValueError(f"threshold {value} is outside [0, 1]")


def validate_alpha(value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"overlay_alpha {value} is outside [0, 1]")


def validate_color(value: tuple[int, ...]) -> None:
    if len(value) != 3 or any(not 0 <= c <= 255 for c in value):
        raise ValueError(f"overlay_color {list(value)} must be three integers in [0, 255] (R, G, B)")
