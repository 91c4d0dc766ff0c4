"""seg.launch.py run for real with ``ros2 launch`` in a colcon workspace, plus the files it points at.

The ROS 2 launch system is not on PyPI: ``scripts/venv.sh`` installs the wheels from ``../shared/ros2-launch`` when
that folder exists; without them the tests that run ``ros2 launch`` skip and say why.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from ros_road_seg.node.parameters import PARAMETERS
from ros_road_seg.tools.processes import ChildProcess, descendants, is_running

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = ROOT / "launch" / "seg.launch.py"


def console_scripts() -> dict[str, str]:
    text = (ROOT / "setup.py").read_text()
    return dict(re.findall(r'"(\w+) = ([\w.:]+)"', text))


def test_parameter_file_is_a_valid_configuration():
    """Every key is a declared parameter, of the declared type; values may differ from the defaults (it is a
    configuration, not a mirror), but each must pass the node's own check."""
    from ros_road_seg.node.parameters import check_value

    params = yaml.safe_load((ROOT / "config" / "road_seg.yaml").read_text())["road_seg"]["ros__parameters"]
    assert set(params) <= set(PARAMETERS), set(params) - set(PARAMETERS)
    for name, value in params.items():
        default = PARAMETERS[name].default
        assert type(value) is type(default), f"{name}: {type(value).__name__} in YAML, declared {type(default)}"
        check_value(name, value)
        low_high = PARAMETERS[name].float_range or PARAMETERS[name].int_range
        if low_high:
            assert low_high[0] <= value <= low_high[1], name


def test_rviz_config_shows_camera_mask_overlay_and_grid():
    rviz = yaml.safe_load((ROOT / "config" / "road_seg.rviz").read_text())
    displays = rviz["Visualization Manager"]["Displays"]
    topics = {d["Topic"]["Value"] for d in displays if "Topic" in d}
    assert {"/road_mask", "/road_overlay", "/road_grid"} <= topics
    assert any("image_raw" in t for t in topics)
    assert any(d["Class"] == "rviz_default_plugins/Map" and d["Topic"]["Value"] == "/road_grid" for d in displays)
    assert rviz["Visualization Manager"]["Global Options"]["Fixed Frame"] == PARAMETERS["grid_frame"].default


def test_every_console_script_resolves():
    for name, target in console_scripts().items():
        module, function = target.split(":")
        path = ROOT / (module.replace(".", "/") + ".py")
        assert path.is_file(), f"{name}: {path}"
        assert re.search(rf"^def {function}\(", path.read_text(), re.M), f"{name}: no {function}()"
    text = LAUNCH.read_text()
    for executable in re.findall(r'executable="(\w+)"', text):
        assert executable in console_scripts() or executable == "rviz2", executable


# --- ros2 launch, for real ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(colcon_workspace) -> dict:
    """The session's colcon workspace (conftest, built once); returns the environment of its setup.sh."""
    try:
        import launch_ros  # noqa: F401
    except ImportError:
        pytest.skip("launch_ros is not installed: ../shared/ros2-launch was not found when the venv was set up")
    ros2 = shutil.which("ros2") or str(Path(sys.executable).parent / "ros2")
    if not Path(ros2).is_file():
        pytest.skip("the ros2 command (ros2cli) is not installed")
    tmp = colcon_workspace
    dump = subprocess.run(
        ["bash", "-c", ". install/setup.sh && env -0"], cwd=tmp, capture_output=True, timeout=60, check=True
    )
    env = dict(item.split("=", 1) for item in dump.stdout.decode().split("\0") if "=" in item)
    env["ROS_DOMAIN_ID"] = str(100 + uuid.uuid4().int % 100)  # its own graph: nothing else answers here
    return {"env": env, "ros2": ros2, "root": tmp}


def launch(workspace, *arguments: str) -> ChildProcess:
    """``ros2 launch ros_road_seg seg.launch.py ARGS`` in its own session (as from a terminal)."""
    command = [workspace["ros2"], "launch", "ros_road_seg", "seg.launch.py", *arguments]
    return ChildProcess("ros2 launch", command, env=workspace["env"], cwd=workspace["root"], new_session=True)


def node_parameters(workspace, names: list[str], node: str = "/road_seg") -> dict:
    """The running node's parameter values, read through its own rcl_interfaces services (another process)."""
    script = (
        "import json, sys, rclpy\n"
        "from rclpy.parameter import parameter_value_to_python\n"
        "from rclpy.parameter_client import AsyncParameterClient\n"
        "rclpy.init()\n"
        "n = rclpy.create_node('launch_test_probe')\n"
        f"c = AsyncParameterClient(n, '{node}')\n"
        "assert c.wait_for_services(20.0)\n"
        f"f = c.get_parameters({names!r})\n"
        "rclpy.spin_until_future_complete(n, f, timeout_sec=20.0)\n"
        f"print(json.dumps(dict(zip({names!r}, [parameter_value_to_python(v) for v in f.result().values]))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=workspace["env"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    import json

    return json.loads(result.stdout.strip().splitlines()[-1])


def stop_with(process: ChildProcess, sig: int, whole_group: bool = False) -> tuple[int, float, list[int]]:
    """Send ``sig`` once (to ``ros2 launch``, or to its whole process group); (exit code, seconds, survivors)."""
    children = descendants(process.pid)
    started = time.monotonic()
    if whole_group:
        os.killpg(process.pid, sig)
    else:
        os.kill(process.pid, sig)
    code = process.wait(30)
    seconds = time.monotonic() - started
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(is_running(pid) for pid in children):
        time.sleep(0.1)
    survivors = [pid for pid in children if is_running(pid)]
    process.stop(signal.SIGKILL, 1)
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    return code, seconds, survivors


def test_every_launch_argument_takes_effect_and_sigint_stops_all(workspace, red_model, tmp_path):
    """model, image_topic, providers, threshold, params_file, use_sim_time: each reaches the node; a value in the
    params file that no argument sets survives; one SIGINT: exit 0, no traceback, no process left."""
    params = tmp_path / "mine.yaml"
    params.write_text(
        yaml.safe_dump(
            {"road_seg": {"ros__parameters": {"threshold": 0.7, "overlay_alpha": 0.25, "max_pixels": 5000000}}}
        )
    )
    process = launch(
        workspace,
        f"model:={red_model}",
        "image_topic:=/cam_a/image_color",
        "providers:=cpu",
        "threshold:=0.3",
        f"params_file:={params}",
        "use_sim_time:=true",
        "publish_grid:=false",
    )
    try:
        assert process.wait_for_output("road_seg ready", 60), process.output
        values = node_parameters(
            workspace, ["model_path", "providers", "threshold", "use_sim_time", "overlay_alpha", "max_pixels"]
        )
        print(f"\n[launch] parameters in the node: {values}")
        assert values == {
            "model_path": str(red_model),
            "providers": "cpu",
            "threshold": 0.3,  # the argument wins over the file's 0.7
            "use_sim_time": True,
            "overlay_alpha": 0.25,  # from the file: no argument set it
            "max_pixels": 5000000,
        }
        assert "subscribed to '/cam_a/image_color'" in process.output
        assert "provider CPUExecutionProvider" in process.output
    finally:
        code, seconds, survivors = stop_with(process, signal.SIGINT)
    print(f"[launch] one SIGINT: exit {code} in {seconds:.1f} s, processes left: {survivors}")
    assert code == 0 and not survivors, process.output
    assert "Traceback" not in process.output and "process has finished cleanly" in process.output, process.output


def test_params_file_values_survive_when_no_argument_is_given(workspace, red_model, tmp_path):
    """The bug this launch file had: model/providers/threshold/use_sim_time were always passed after params_file.
    A double SIGINT (to the whole process group, as Ctrl-C in a terminal) still ends cleanly."""
    params = tmp_path / "mine.yaml"
    params.write_text(
        yaml.safe_dump(
            {
                "road_seg": {
                    "ros__parameters": {
                        "model_path": str(red_model),
                        "providers": "cpu",
                        "threshold": 0.65,
                        "use_sim_time": True,
                    }
                }
            }
        )
    )
    process = launch(workspace, f"params_file:={params}")
    try:
        assert process.wait_for_output("road_seg ready", 60), process.output
        values = node_parameters(workspace, ["model_path", "providers", "threshold", "use_sim_time"])
        assert values == {"model_path": str(red_model), "providers": "cpu", "threshold": 0.65, "use_sim_time": True}
    finally:
        code, _, survivors = stop_with(process, signal.SIGINT, whole_group=True)
    assert code == 0 and not survivors, process.output
    assert "Traceback" not in process.output and "KeyboardInterrupt" not in process.output, process.output


def test_managed_autostart_reaches_active_and_sigterm_leaves_nothing(workspace, red_model):
    """managed:=true autostart:=true: configure -> activate from the launch file. SIGTERM to ``ros2 launch`` makes
    launch exit at once without stopping its children (launch's documented limitation); our node follows its
    parent (PR_SET_PDEATHSIG), so nothing is left running."""
    process = launch(workspace, f"model:={red_model}", "providers:=cpu", "managed:=true", "autostart:=true")
    try:
        assert process.wait_for_output("road_seg ready", 60), process.output
        assert process.output.index("configured:") < process.output.index("road_seg ready")
        assert "road_seg_lifecycle_node" in process.output
    finally:
        code, seconds, survivors = stop_with(process, signal.SIGTERM)
    print(f"\n[launch] SIGTERM to ros2 launch: exit {code} in {seconds:.1f} s, processes left: {survivors}")
    assert not survivors, f"orphaned after SIGTERM: {survivors}\n{process.output}"


def test_managed_without_autostart_waits_unconfigured(workspace, red_model):
    process = launch(workspace, f"model:={red_model}", "providers:=cpu", "managed:=true")
    try:
        assert process.wait_for_output("waiting for 'configure'", 60), process.output
        time.sleep(2.0)
        assert "road_seg ready" not in process.output and "configured:" not in process.output
    finally:
        code, _, survivors = stop_with(process, signal.SIGINT)
    assert code == 0 and not survivors, process.output


def test_readme_parameter_table_is_the_declared_one():
    """The README's parameter table is written from PARAMETERS; a parameter added, removed or changed shows here."""
    from ros_road_seg.node.parameters import markdown_table

    text = (ROOT / "README.md").read_text()
    start = text.index("<!-- parameters:")
    block = text[text.index("\n", start) + 1 : text.index("<!-- /parameters -->")].strip()
    assert block == markdown_table()


def _left_running(workspace) -> list[str]:
    """Processes still running from this workspace's install (a node orphaned by a failed launch)."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    marker = str(workspace["root"] / "install")
    return [line.strip() for line in out.splitlines() if marker in line and "road_seg" in line]


@pytest.mark.parametrize(
    "arguments, reason",
    [
        (["model:=/nonexistent.onnx"], "does not exist"),
        (["threshold:=1.5"], "threshold"),
        (["providers:=cuda"], "cuda"),
        (["params_file:=/nonexistent.yaml"], "params_file '/nonexistent.yaml' does not exist"),
        (["rviz:=true"], "rviz2 is not installed"),
    ],
    ids=["missing-model", "bad-threshold", "cuda-without-cuda", "missing-params-file", "rviz-missing"],
)
def test_launch_fails_loudly_and_leaves_nothing_behind(workspace, red_model, arguments, reason):
    """A node that cannot start, a params file that is not there, RViz that is not installed: ``ros2 launch``
    exits non-zero with the reason, and no road_seg process is left on the graph (before: exit 0, or exit 1 with
    the node orphaned)."""
    if arguments == ["rviz:=true"] and shutil.which("rviz2"):
        pytest.skip("rviz2 is installed here")
    if arguments == ["providers:=cuda"]:
        import onnxruntime

        if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            pytest.skip("this onnxruntime has CUDA")
    model = [] if arguments[0].startswith("model:=") else [f"model:={red_model}"]
    process = launch(workspace, *model, *arguments)
    try:
        code = process.wait(60)
    finally:
        process.stop(signal.SIGKILL, 1)
    print(f"\n[launch] {' '.join(arguments)}: exit {code}")
    assert code not in (0, None), process.output
    assert reason in process.output, process.output
    deadline = time.monotonic() + 5
    while _left_running(workspace) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _left_running(workspace), _left_running(workspace)
