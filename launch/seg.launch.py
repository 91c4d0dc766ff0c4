"""Start the road_seg node (and optionally RViz) on a camera topic: ros2 launch ros_road_seg seg.launch.py."""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

PACKAGE = "ros_road_seg"
DEFAULT_IMAGE_TOPIC = "/kitti/camera/color/left/image_raw"


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    arguments = [
        DeclareLaunchArgument(
            "model", default_value="", description="ONNX model path; empty = the shipped default model"
        ),
        DeclareLaunchArgument(
            "image_topic",
            default_value=DEFAULT_IMAGE_TOPIC,
            description="camera topic remapped onto the node's 'image' input",
        ),
        DeclareLaunchArgument(
            "providers",
            default_value="auto",
            choices=["auto", "cuda", "tensorrt", "cpu"],
            description="ONNX Runtime execution provider",
        ),
        DeclareLaunchArgument(
            "threshold", default_value="-1.0", description="road probability threshold in [0, 1]; -1 = the model's own"
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=os.path.join(share, "config", "road_seg.yaml"),
            description="YAML with the node's parameters",
        ),
        DeclareLaunchArgument(
            "use_sim_time",
            default_value="false",
            choices=["true", "false"],
            description="use /clock (true when replaying a bag with --clock)",
        ),
        DeclareLaunchArgument(
            "rviz",
            default_value="false",
            choices=["true", "false"],
            description="also start RViz with config/road_seg.rviz",
        ),
    ]
    # Big best-effort images between processes need Fast DDS shared memory; keep a profile the user already set.
    fastdds = SetEnvironmentVariable(
        "FASTDDS_DEFAULT_PROFILES_FILE",
        EnvironmentVariable(
            "FASTDDS_DEFAULT_PROFILES_FILE", default_value=os.path.join(share, "config", "fastdds_shm.xml")
        ),
    )
    node = Node(
        package=PACKAGE,
        executable="road_seg_node",
        name="road_seg",
        output="screen",
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "model_path": ParameterValue(LaunchConfiguration("model"), value_type=str),
                "providers": ParameterValue(LaunchConfiguration("providers"), value_type=str),
                "threshold": ParameterValue(LaunchConfiguration("threshold"), value_type=float),
                "use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool),
            },
        ],
        remappings=[
            ("image", LaunchConfiguration("image_topic")),
            ("image/compressed", [LaunchConfiguration("image_topic"), "/compressed"]),
        ],
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=["-d", os.path.join(share, "config", "road_seg.rviz")],
        parameters=[{"use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)}],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )
    return LaunchDescription(arguments + [fastdds, node, rviz])
