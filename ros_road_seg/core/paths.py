"""Where the package's data files are: the ROS share directory when installed, the source tree otherwise."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_NAME = "ros_road_seg"
DEFAULT_MODEL_NAME = "road_seg_default.onnx"
FASTDDS_PROFILE_NAME = "fastdds_shm.xml"


def share_directory() -> Path:
    """``share/ros_road_seg`` of a colcon/pip install, else the repository root (a source checkout)."""
    source_root = Path(__file__).resolve().parents[2]
    if (source_root / "package.xml").is_file() and (source_root / "models").is_dir():
        return source_root
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE_NAME))
    except Exception:  # noqa: BLE001 - ament index absent or package not registered
        return source_root


def default_model_path() -> Path:
    return share_directory() / "models" / DEFAULT_MODEL_NAME


def fastdds_profile_path() -> Path:
    return share_directory() / "config" / FASTDDS_PROFILE_NAME


def apply_fastdds_profile(environ: dict | None = None) -> str | None:
    """Point Fast DDS at the shared-memory profile unless the user chose one; call before ``rclpy.init``.

    Returns the profile in effect. Big best-effort image messages between processes need it (see README).
    """
    env = os.environ if environ is None else environ
    if env.get("FASTDDS_DEFAULT_PROFILES_FILE"):
        return env["FASTDDS_DEFAULT_PROFILES_FILE"]
    profile = fastdds_profile_path()
    if profile.is_file():
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile)
        return str(profile)
    return None


def shm_segment_bytes(profile: str | os.PathLike | None) -> int | None:
    """The shared-memory segment size a Fast DDS profile gives (the largest message it carries between processes),
    or None when the profile has no SHM transport or cannot be read."""
    import xml.etree.ElementTree as ET

    if not profile:
        return None
    try:
        root = ET.parse(profile).getroot()
    except (OSError, ET.ParseError):
        return None
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "segment_size" and element.text and element.text.strip().isdigit():
            return int(element.text.strip())
    return None
