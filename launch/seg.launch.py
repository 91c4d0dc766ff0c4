"""Start the road_seg node (and optionally RViz) on a camera topic: ros2 launch ros_road_seg seg.launch.py.

Only the arguments given on the command line reach the node, after ``params_file``: a value in your YAML survives
unless you also set it here. ``managed:=true`` starts the lifecycle node; ``autostart:=true`` then drives
configure -> activate from here (leave it false when a lifecycle manager does).
"""

import os
import shutil

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    OpaqueFunction,
    RegisterEventHandler,
    SetEnvironmentVariable,
)
from launch.event_handlers import OnProcessExit
from launch.events import matches_action
from launch.substitutions import EnvironmentVariable
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

from launch import LaunchDescription
from ros_road_seg.core.model import PROVIDER_CHOICES
from ros_road_seg.tools.kitti_to_bag import DEFAULT_TOPIC, camera_info_topic

PACKAGE = "ros_road_seg"

UNSET = ""
# launch argument -> (node parameter, type); passed to the node only when the user gave it
PARAMETER_ARGUMENTS = {
    "model": ("model_path", str),
    "providers": ("providers", str),
    "threshold": ("threshold", float),
    "publish_grid": ("publish_grid", bool),
    "use_sim_time": ("use_sim_time", bool),
}


def _as(kind, text: str):
    if kind is bool:
        if text.lower() not in ("true", "false"):
            raise ValueError(f"expected true or false, got '{text}'")
        return text.lower() == "true"
    return kind(text)


def _fail_if_node_failed(event, context):
    if event.returncode not in (0, None):
        raise RuntimeError(f"{event.action.name} exited with code {event.returncode} (its error is in the log above)")


def _node_actions(context):
    share = get_package_share_directory(PACKAGE)
    config = context.launch_configurations
    overrides = {}
    for argument, (parameter, kind) in PARAMETER_ARGUMENTS.items():
        if config.get(argument, UNSET) != UNSET:
            overrides[parameter] = _as(kind, config[argument])
    params_file = config.get("params_file", UNSET) or os.path.join(share, "config", "road_seg.yaml")
    # Fail before starting anything (nothing is left behind): a missing params file or a missing RViz is an error
    # of this launch, not a warning the node runs past on built-in defaults.
    if not os.path.isfile(params_file):
        raise RuntimeError(f"params_file '{params_file}' does not exist")
    if _as(bool, config["rviz"]) and shutil.which("rviz2") is None:
        raise RuntimeError("rviz:=true but rviz2 is not installed (install ros-<distro>-rviz2, or leave rviz:=false)")
    common = {
        "package": PACKAGE,
        "name": "road_seg",
        "namespace": "",
        "output": "screen",
        "additional_env": {"ROAD_SEG_EXIT_WITH_PARENT": "1"},  # stops with launch even when launch gets SIGTERM
        "parameters": [params_file] + ([overrides] if overrides else []),
        "remappings": [
            ("image", config["image_topic"]),
            ("image/compressed", config["image_topic"] + "/compressed"),
            ("camera_info", config["camera_info_topic"]),
        ],
    }
    if _as(bool, config["managed"]):
        node = LifecycleNode(executable="road_seg_lifecycle_node", **common)
        actions = [node]
        if _as(bool, config["autostart"]):
            actions += [
                RegisterEventHandler(
                    OnStateTransition(
                        target_lifecycle_node=node,
                        goal_state="inactive",
                        entities=[
                            EmitEvent(
                                event=ChangeState(
                                    lifecycle_node_matcher=matches_action(node),
                                    transition_id=Transition.TRANSITION_ACTIVATE,
                                )
                            )
                        ],
                    )
                ),
                EmitEvent(
                    event=ChangeState(
                        lifecycle_node_matcher=matches_action(node), transition_id=Transition.TRANSITION_CONFIGURE
                    )
                ),
            ]
    else:
        node = Node(executable="road_seg_node", **common)
        actions = [node]
    # The node dying (a bad model, threshold or provider) ends the launch with exit code 1, not a silent 0.
    actions.append(RegisterEventHandler(OnProcessExit(target_action=node, on_exit=_fail_if_node_failed)))
    if _as(bool, config["rviz"]):
        sim_time = {k: v for k, v in overrides.items() if k == "use_sim_time"}
        actions.append(
            Node(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                arguments=["-d", os.path.join(share, "config", "road_seg.rviz")],
                parameters=[sim_time] if sim_time else [],
            )
        )
    return actions


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    arguments = [
        DeclareLaunchArgument("model", default_value=UNSET, description="ONNX model path; unset = the params file's"),
        DeclareLaunchArgument(
            "image_topic", default_value=DEFAULT_TOPIC, description="camera topic remapped onto 'image'"
        ),
        DeclareLaunchArgument(
            "camera_info_topic",
            default_value=camera_info_topic(DEFAULT_TOPIC),
            description="CameraInfo topic remapped onto 'camera_info' (intrinsics for the road grid)",
        ),
        DeclareLaunchArgument(
            "providers",
            default_value=UNSET,
            choices=[UNSET, *PROVIDER_CHOICES],
            description="ONNX Runtime execution provider; unset = the params file's",
        ),
        DeclareLaunchArgument(
            "threshold",
            default_value=UNSET,
            description="road probability threshold in [0, 1], -1 = the model's own; unset = the params file's",
        ),
        DeclareLaunchArgument(
            "publish_grid",
            default_value=UNSET,
            choices=[UNSET, "true", "false"],
            description="publish the drivable-area OccupancyGrid on road_grid; unset = the params file's",
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=os.path.join(share, "config", "road_seg.yaml"),
            description="YAML with the node's parameters (the launch arguments you set override it)",
        ),
        DeclareLaunchArgument(
            "use_sim_time",
            default_value=UNSET,
            choices=[UNSET, "true", "false"],
            description="use /clock (true when replaying a bag with --clock)",
        ),
        DeclareLaunchArgument(
            "managed",
            default_value="false",
            choices=["true", "false"],
            description="start the lifecycle (managed) node instead of the plain one",
        ),
        DeclareLaunchArgument(
            "autostart",
            default_value="false",
            choices=["true", "false"],
            description="with managed:=true, configure and activate it from this launch file",
        ),
        DeclareLaunchArgument("rviz", default_value="false", choices=["true", "false"], description="also start RViz"),
    ]
    # Big best-effort images between processes need Fast DDS shared memory; keep a profile the user already set.
    fastdds = SetEnvironmentVariable(
        "FASTDDS_DEFAULT_PROFILES_FILE",
        EnvironmentVariable(
            "FASTDDS_DEFAULT_PROFILES_FILE", default_value=os.path.join(share, "config", "fastdds_shm.xml")
        ),
    )
    return LaunchDescription(arguments + [fastdds, OpaqueFunction(function=_node_actions)])
