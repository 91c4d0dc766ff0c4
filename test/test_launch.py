"""seg.launch.py, the parameter file and setup.py agree with the node (launch_ros is not on PyPI: parse, not run)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from ros_road_seg.node import PARAMETERS

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = ROOT / "launch" / "seg.launch.py"
REQUIRED_ARGUMENTS = {"model", "image_topic", "providers", "threshold", "params_file", "use_sim_time", "rviz"}


def calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == name
    ]


def constants(tree: ast.Module) -> dict:
    """Module-level NAME = "literal" assignments, to resolve package=PACKAGE."""
    return {
        t.id: ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name) and isinstance(n.value, ast.Constant)
    }


def value_of(node, tree) -> object:
    return constants(tree)[node.id] if isinstance(node, ast.Name) else ast.literal_eval(node)


def keyword(call: ast.Call, name: str):
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def console_scripts() -> dict[str, str]:
    text = (ROOT / "setup.py").read_text()
    return dict(re.findall(r'"(\w+) = ([\w.:]+)"', text))


def test_launch_arguments_are_declared_with_descriptions():
    tree = ast.parse(LAUNCH.read_text())
    declared = {}
    for call in calls(tree, "DeclareLaunchArgument"):
        description = keyword(call, "description")
        assert description is not None and ast.literal_eval(description), ast.dump(call)
        declared[ast.literal_eval(call.args[0])] = call
    assert REQUIRED_ARGUMENTS <= set(declared)
    providers_choices = ast.literal_eval(keyword(declared["providers"], "choices"))
    assert set(providers_choices) == set(
        PARAMETERS["providers"][1].additional_constraints.split("one of ")[1].split(", ")
    )
    assert "eval(" not in LAUNCH.read_text()


def test_launch_node_matches_entry_point_and_parameters():
    tree = ast.parse(LAUNCH.read_text())
    nodes = [c for c in calls(tree, "Node") if value_of(keyword(c, "package"), tree) == "ros_road_seg"]
    assert len(nodes) == 1
    executable = ast.literal_eval(keyword(nodes[0], "executable"))
    scripts = console_scripts()
    assert scripts[executable] == "ros_road_seg.node:main"
    parameter_dicts = [d for d in ast.walk(keyword(nodes[0], "parameters")) if isinstance(d, ast.Dict)]
    names = {ast.literal_eval(k) for d in parameter_dicts for k in d.keys}
    assert names and names <= set(PARAMETERS) | {"use_sim_time"}, names - set(PARAMETERS)
    remapped = {
        ast.literal_eval(t.elts[0]) for t in ast.walk(keyword(nodes[0], "remappings")) if isinstance(t, ast.Tuple)
    }
    assert {"image", "image/compressed"} <= remapped


def test_launch_points_at_installed_files():
    text = LAUNCH.read_text()
    for relative in re.findall(r'os\.path\.join\(share, "(\w+)", "([\w.]+)"\)', text):
        assert (ROOT / relative[0] / relative[1]).is_file(), relative
    assert "FASTDDS_DEFAULT_PROFILES_FILE" in text


def test_parameter_file_matches_declared_parameters():
    params = yaml.safe_load((ROOT / "config" / "road_seg.yaml").read_text())["road_seg"]["ros__parameters"]
    assert set(params) == set(PARAMETERS)
    for name, value in params.items():
        assert value == PARAMETERS[name][0], name


def test_rviz_config_shows_camera_mask_and_overlay():
    rviz = yaml.safe_load((ROOT / "config" / "road_seg.rviz").read_text())
    topics = {d["Topic"]["Value"] for d in rviz["Visualization Manager"]["Displays"]}
    assert {"/road_mask", "/road_overlay"} <= topics
    assert any("image_raw" in t for t in topics)


def test_every_console_script_module_exists():
    for name, target in console_scripts().items():
        module, function = target.split(":")
        path = ROOT / (module.replace(".", "/") + ".py")
        assert path.is_file(), f"{name}: {path}"
        assert re.search(rf"^def {function}\(", path.read_text(), re.M), f"{name}: no {function}()"
