"""ament_python package: `colcon build` on a clone, or `pip install -e .[test]` without ROS tooling."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "ros_road_seg"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz") + glob("config/*.xml")),
        (f"share/{PACKAGE}/models", glob("models/*.onnx") + glob("models/*.md")),
        (f"share/{PACKAGE}/sample_data", glob("sample_data/*.md")),
        (f"share/{PACKAGE}/sample_data/kitti/image_2", glob("sample_data/kitti/image_2/*.png")),
        (f"share/{PACKAGE}/sample_data/kitti/semantic", glob("sample_data/kitti/semantic/*.png")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="ros_road_seg maintainers",
    maintainer_email="maintainers@ros-road-seg.invalid",
    description="Road segmentation node (ONNX Runtime) with U-Net / UNet++ training tools",
    license="Apache-2.0",
    extras_require={"test": ["pytest"]},
    entry_points={
        "console_scripts": [
            "road_seg_node = ros_road_seg.node.node:main",
            "road_seg_lifecycle_node = ros_road_seg.node.lifecycle_node:main",
            "kitti_to_bag = ros_road_seg.tools.kitti_to_bag:main",
            "bag_replay = ros_road_seg.tools.bag_replay:main",
            "record_overlay = ros_road_seg.tools.record_overlay:main",
            "bag_to_frames = ros_road_seg.tools.bag_to_frames:main",
            "road_seg_demo = ros_road_seg.tools.demo:main",
            "road_seg_bench = ros_road_seg.bench.cli:main",
        ],
    },
)
