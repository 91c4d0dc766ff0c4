"""training.adapt end to end on tiny frames with a tiny model (seconds): frames -> soft labels -> fine-tune ->
FP32/INT8/FP16 -> summary with before/after figures and the launch line; a second run finds every stage done."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from synthetic_data import make_kitti, synthetic_frame, write_png

from training import adapt as adapt_cli
from training import evaluate as evaluate_cli
from training.data import layout
from training.models import build_model


@pytest.fixture(scope="module")
def adapted(tmp_path_factory, red_model):
    tmp = tmp_path_factory.mktemp("adapt")
    frames = tmp / "frames"
    for index in range(12):
        write_png(frames / f"f{index:03d}.png", synthetic_frame(index, (48, 64), seed=7)[0])
    start = tmp / "start.keras"
    build_model("unet", (32, 32, 3), base_filters=4, depth=2).save(start)
    labelled = make_kitti(tmp / "kitti", 4)
    args = ["--frames", str(frames), "--start", str(start), "--teacher", str(red_model), "--out", str(tmp / "out")]
    args += ["--evaluate-on", str(labelled), "--evaluate-dataset", "kitti", "--input-size", "32", "32", "--epochs", "2"]
    assert adapt_cli.main(args) == 0
    return tmp, args


def test_adapt_writes_models_with_their_story_and_a_summary(adapted, capsys):
    tmp, _ = adapted
    summary = json.loads((tmp / "out" / "adapt_summary.json").read_text())
    for key in ("fp32", "int8", "fp16"):
        session = ort.InferenceSession(summary["adapted"][key], providers=["CPUExecutionProvider"])
        metadata = session.get_modelmeta().custom_metadata_map
        assert (
            metadata["road_seg.adapted_from"] == "start.keras"
            and str(tmp / "frames") in metadata["road_seg.adapted_on"]
        )
    agreement = summary["agreement_with_teacher"]
    assert 0.0 <= agreement["before"] <= 1.0 and 0.0 <= agreement["after"] <= 1.0
    assert set(summary["road_iou_labelled"]) == {"before", "after", "teachers", "also_trained_on"}
    assert summary["road_iou_labelled"]["also_trained_on"] is False
    # the free model as it comes, scored on the same labelled frames as training.evaluate scores it on its own
    teacher = summary["teachers"]["models"][0]
    args = [teacher, "--dataset", "kitti", "--data", str(tmp / "kitti"), "--split", "all", "--out", str(tmp / "eval")]
    assert evaluate_cli.main(args) == 0
    (scored,) = (json.loads(path.read_text()) for path in (tmp / "eval").glob("eval_*.json"))
    assert summary["road_iou_labelled"]["teachers"] == {teacher: pytest.approx(scored["pooled_iou_full"], abs=1e-9)}
    assert summary["held_back_frames"] == ["f005"]  # every 10th frame, never trained on
    config = json.loads((tmp / "out" / "run" / "config.json").read_text())
    assert "f005" not in config["train_names"]
    assert summary["launch"].startswith("ros2 launch ros_road_seg seg.launch.py model:=")


def test_a_second_run_continues_from_what_is_done(adapted, capsys):
    tmp, args = adapted
    capsys.readouterr()
    assert adapt_cli.main(args) == 0
    out = capsys.readouterr().out
    assert out.count("(done before)") == 3, out  # soft labels, fine-tune, export; the frames folder is yours


def test_other_teacher_settings_make_the_soft_labels_and_the_fine_tune_again(adapted, tmp_path, capsys):
    tmp, args = adapted
    out = tmp_path / "out"
    shutil.copytree(tmp / "out", out)  # keeps the stages' times: what was done stays done
    args = [str(out) if arg == str(tmp / "out") else arg for arg in args]
    first = json.loads((out / "soft" / "teacher.json").read_text())
    assert first["combine"] == "mean" and first["flip"] is True  # the defaults
    capsys.readouterr()
    assert adapt_cli.main([*args, "--no-teacher-flip"]) == 0
    printed = capsys.readouterr().out
    assert "2/5 soft labels: 12 frames" in printed and "3/5 fine-tune: '" not in printed, printed
    assert json.loads((out / "soft" / "teacher.json").read_text())["flip"] is False
    summary = json.loads((out / "adapt_summary.json").read_text())
    assert summary["teachers"]["flip"] is False
    config_time = (out / "run" / "state.json").stat().st_mtime
    assert config_time >= (out / "soft" / "teacher.json").stat().st_mtime  # trained again on the new labels


@pytest.mark.parametrize(
    ("option", "code", "said"),
    [
        ("--start", 1, "is not a Keras model file"),
        ("--toward", 2, "is neither start nor origin nor a model file"),
        ("--teacher", 1, "does not exist or is not a file"),
    ],
)
def test_a_bad_model_is_named_before_any_stage_runs(tmp_path, red_model, capsys, option, code, said):
    """Before: a damaged --start or a missing --toward was found only when used, after the soft labels (and for
    --toward the whole fine-tune: 43 s for 5 frames here); now before the first stage, nothing written."""
    frames = tmp_path / "frames"
    for index in range(3):
        write_png(frames / f"f{index}.png", synthetic_frame(index, (48, 64))[0])
    start = tmp_path / "start.keras"
    build_model("unet", (32, 32, 3), base_filters=4, depth=2).save(start)
    damaged = tmp_path / "damaged.keras"
    damaged.write_bytes(start.read_bytes()[:100])  # truncated
    bad = {"--start": str(damaged), "--toward": str(tmp_path / "missing.keras"), "--teacher": str(tmp_path / "no.onnx")}
    args = {"--start": str(start), "--teacher": str(red_model), **{option: bad[option]}}
    argv = ["--frames", str(frames), "--out", str(tmp_path / "out"), *[x for pair in args.items() for x in pair]]
    assert adapt_cli.main(argv) == code
    captured = capsys.readouterr()
    assert said in captured.err and "1/5 frames" not in captured.out, (captured.out, captured.err)
    assert not (tmp_path / "out").exists()


def test_alpha_auto_takes_the_best_of_the_grid_on_your_labelled_frames(adapted, tmp_path, capsys):
    """--alpha auto: every alpha of the grid scored on the --evaluate-on frames; the chosen one is the best there
    (training.evaluate, the one scoring path, run on each moved model is the oracle), it is the one exported, and
    the summary keeps the grid's scores beside the 'after' figure they bias."""
    from training.adaptation import ALPHA_GRID

    tmp, args = adapted
    out = tmp_path / "out"
    shutil.copytree(tmp / "out", out)  # the fine-tune is reused: only the choice and what follows it run
    args = [str(out) if arg == str(tmp / "out") else arg for arg in args]
    capsys.readouterr()
    assert adapt_cli.main([*args, "--alpha", "auto"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "adapt_summary.json").read_text())
    choice = summary["wise_ft_alpha_choice"]
    scores = {}
    for alpha in ALPHA_GRID:
        model = out / "run" if alpha == 1.0 else out / "alpha_choice" / f"a{alpha:g}"
        argv = [str(model), "--dataset", "kitti", "--data", str(tmp / "kitti"), "--split", "all"]
        assert evaluate_cli.main([*argv, "--out", str(tmp_path / f"eval{alpha:g}")]) == 0
        (scored,) = (json.loads(p.read_text()) for p in (tmp_path / f"eval{alpha:g}").glob("eval_*.json"))
        scores[alpha] = scored["pooled_iou_full"]
        assert choice["road_iou_by_alpha"][f"{alpha:g}"] == pytest.approx(scores[alpha], abs=1e-9)
    best = max(scores.values())
    assert scores[choice["alpha"]] == best and all(scores[a] < best for a in ALPHA_GRID if a < choice["alpha"])
    assert summary["wise_ft_alpha"] == choice["alpha"] and "the 'after' is optimistic" in printed
    if choice["alpha"] < 1.0:  # the exported model is the chosen one
        session = ort.InferenceSession(summary["adapted"]["fp32"], providers=["CPUExecutionProvider"])
        assert float(session.get_modelmeta().custom_metadata_map["road_seg.wise_ft_alpha"]) == choice["alpha"]


@pytest.mark.parametrize("option", ["--labelled", "--evaluate-on"])
def test_labelled_frames_that_cannot_be_read_are_named_before_any_stage_runs(tmp_path, red_model, capsys, option):
    """Before: --evaluate-on masks without the road value were found at the summary, after every other stage (7-8
    minutes on 200 real frames); --labelled ones after the soft labels. Now before the first stage."""
    from ros_road_seg.core.labels import use_folder_labels

    frames, mine = tmp_path / "frames", tmp_path / "mine"
    for index in range(3):
        rgb, road = synthetic_frame(index, (48, 64))
        write_png(frames / f"f{index}.png", rgb)
        write_png(mine / "images" / f"l{index}.png", rgb)
        write_png(mine / "masks" / f"l{index}.png", road.astype("uint8"))  # road = 1, but 255 is asked below
    start = tmp_path / "start.keras"
    build_model("unet", (32, 32, 3), base_filters=4, depth=2).save(start)
    argv = ["--frames", str(frames), "--start", str(start), "--teacher", str(red_model), "--out", str(tmp_path / "o")]
    dataset = "--labelled-dataset" if option == "--labelled" else "--evaluate-dataset"
    try:
        assert adapt_cli.main([*argv, option, str(mine), dataset, "folder", "--road-value", "255"]) == 1
    finally:
        use_folder_labels()
    captured = capsys.readouterr()
    assert "road value 255 occurs in none of the 3 masks" in captured.err and "1/5 frames" not in captured.out
    assert not (tmp_path / "o").exists()
    assert adapt_cli.main([*argv, "--replay", f"kitti:{tmp_path / 'nowhere'}:0.3"]) == 1  # before: after soft labels
    captured = capsys.readouterr()
    assert "is not a KITTI semantics folder" in captured.err and "1/5 frames" not in captured.out


def test_alpha_auto_needs_labelled_frames_never_trained_on_to_choose_on(tmp_path, capsys):
    argv = ["--frames", str(tmp_path), "--out", str(tmp_path / "o"), "--alpha", "auto"]
    assert adapt_cli.main(argv) == 2
    assert "--alpha auto chooses on your labelled frames: give them with --evaluate-on DIR" in capsys.readouterr().err
    (tmp_path / "mine").mkdir()
    mine = ["--labelled", str(tmp_path / "mine"), "--evaluate-on", str(tmp_path / "mine" / ".." / "mine")]  # the same
    assert adapt_cli.main([*argv, *mine]) == 2
    assert "--evaluate-on must not be the --labelled folder" in capsys.readouterr().err


def test_frames_or_a_bag_is_required(tmp_path, capsys):
    assert adapt_cli.main(["--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("training.adapt: error: give --frames DIR, or --bag BAG")


def test_adapt_trains_on_a_folder_of_your_own_binary_masks(tmp_path, red_model, capsys):
    """Your labels as images/ + masks/ with road = 1: trained on (four times an epoch) and scored before/after."""
    from ros_road_seg.core.labels import use_folder_labels

    frames, labelled = tmp_path / "frames", tmp_path / "mine"
    for index in range(6):
        write_png(frames / f"f{index:03d}.png", synthetic_frame(index, (48, 64), seed=3)[0])
    for index in range(3):
        rgb, road = synthetic_frame(index, (40, 56), seed=5)
        write_png(labelled / "images" / f"l{index}.png", rgb)
        write_png(labelled / "masks" / f"l{index}.png", road.astype("uint8"))  # 0/1 masks
    start = tmp_path / "start.keras"
    build_model("unet", (32, 32, 3), base_filters=4, depth=2).save(start)
    args = ["--frames", str(frames), "--start", str(start), "--teacher", str(red_model), "--out", str(tmp_path / "o")]
    args += ["--labelled", str(labelled), "--labelled-dataset", "folder", "--road-value", "1"]
    args += ["--evaluate-on", str(labelled), "--evaluate-dataset", "folder", "--input-size", "32", "32"]
    try:
        assert adapt_cli.main([*args, "--epochs", "1"]) == 0
    finally:
        use_folder_labels()
    config = json.loads((tmp_path / "o" / "run" / "config.json").read_text())
    assert config["dataset"] == "folder" and config["road_id"] == 1
    assert {"l0", "l1", "l2"} <= set(config["train_names"])
    summary = json.loads((tmp_path / "o" / "adapt_summary.json").read_text())
    assert set(summary["road_iou_labelled"]) == {"before", "after", "teachers", "also_trained_on"}
    assert summary["road_iou_labelled"]["also_trained_on"] is True  # the same folder as --labelled
    captured = capsys.readouterr()
    assert "road IoU on the labelled frames also trained on:" in captured.out
    err = captured.err  # a bar per long stage: soft labels, scoring
    assert "6/6 soft labels" in err and "3/3 frames scored" in err and "held-back frames scored" in err


def test_adapt_from_a_bag_names_its_camera_topic_in_the_launch_line(tmp_path, red_model):
    """The README's path: a recorded bag in, the launch line out with the camera topic the model adapted to."""
    from ros_road_seg.tools.kitti_to_bag import DEFAULT_TOPIC, convert

    frames = tmp_path / "frames"
    for index in range(6):
        write_png(frames / f"{index:06d}.png", synthetic_frame(index, (48, 64), seed=11)[0])
    convert(frames, tmp_path / "drive", progress=False)
    start = tmp_path / "start.keras"
    build_model("unet", (32, 32, 3), base_filters=4, depth=2).save(start)
    args = ["--bag", str(tmp_path / "drive"), "--topic", DEFAULT_TOPIC, "--hz", "100", "--start", str(start)]
    args += ["--teacher", str(red_model), "--out", str(tmp_path / "o"), "--input-size", "32", "32", "--epochs", "1"]
    assert adapt_cli.main(args) == 0
    summary = json.loads((tmp_path / "o" / "adapt_summary.json").read_text())
    fp32_ms, int8_ms = summary["ms_per_frame"]["fp32"], summary["ms_per_frame"]["int8"]
    assert summary["served"] == ("int8" if int8_ms <= 0.9 * fp32_ms else "fp32")  # the faster here, by the rule
    served = tmp_path / "o" / "served.onnx"
    assert served.resolve() == (tmp_path / "o" / Path(summary["adapted"][summary["served"]]).name).resolve()
    assert summary["launch"].endswith(f"model:={served} image_topic:={DEFAULT_TOPIC}")


def test_adapt_replays_the_starts_frames_and_moves_back_toward_the_start(tmp_path, red_model):
    """--seed reaches the fine-tune; --replay mixes the start's own labelled frames into every epoch; --alpha a
    serves (1 - a) x start + a x the fine-tuned weights (checked with numpy on the two .keras files); a later --alpha
    re-exports, never serves stale."""
    import keras
    import numpy as np

    frames = tmp_path / "frames"
    for index in range(6):
        write_png(frames / f"f{index:03d}.png", synthetic_frame(index, (48, 64), seed=13)[0])
    kitti = make_kitti(tmp_path / "kitti", 3)
    start = tmp_path / "start.keras"
    build_model("unet", (32, 32, 3), base_filters=4, depth=2).save(start)
    out = tmp_path / "o"
    args = ["--frames", str(frames), "--start", str(start), "--teacher", str(red_model), "--out", str(out)]
    args += ["--replay", f"kitti:{kitti}:0.3", "--input-size", "32", "32", "--epochs", "1", "--seed", "3"]
    assert adapt_cli.main([*args, "--alpha", "0.5"]) == 0
    config = json.loads((out / "run" / "config.json").read_text())
    assert {"dataset": "kitti", "path": str(kitti), "share": 0.3} in config["mix"] and config["seed"] == 3
    assert config["mix_frames"]["kitti"] == len(layout("kitti").pool(kitti)) == 3

    def weights_at(alpha):
        tuned = keras.models.load_model(out / "run" / "best.keras", compile=False).get_weights()
        begun = keras.models.load_model(start, compile=False).get_weights()
        return [(1 - alpha) * b + alpha * t for b, t in zip(begun, tuned, strict=True)]

    def served_metadata():
        session = ort.InferenceSession(str(out / "adapted.onnx"), providers=["CPUExecutionProvider"])
        return session.get_modelmeta().custom_metadata_map

    moved = keras.models.load_model(out / "wise_ft" / "best.keras", compile=False).get_weights()
    assert all(np.allclose(m, e, atol=1e-6) for m, e in zip(moved, weights_at(0.5), strict=True))
    assert served_metadata()["road_seg.wise_ft_alpha"] == "0.5"
    assert adapt_cli.main([*args, "--alpha", "0.25"]) == 0  # the same folder, another alpha
    moved = keras.models.load_model(out / "wise_ft" / "best.keras", compile=False).get_weights()
    assert all(np.allclose(m, e, atol=1e-6) for m, e in zip(moved, weights_at(0.25), strict=True))
    assert served_metadata()["road_seg.wise_ft_alpha"] == "0.25"
    # by default toward the origin: this start is a .keras without a run beside it, so it is its own origin (the
    # chain itself is tested in test_weight_space.py); toward the start names it so: the same weights, but the moved
    # model and its export are made again
    assert served_metadata()["road_seg.wise_ft_toward"] == "origin"
    assert adapt_cli.main([*args, "--alpha", "0.25", "--toward", "start"]) == 0
    moved = keras.models.load_model(out / "wise_ft" / "best.keras", compile=False).get_weights()
    assert all(np.allclose(m, e, atol=1e-6) for m, e in zip(moved, weights_at(0.25), strict=True))
    assert served_metadata()["road_seg.wise_ft_toward"] == "start"


def test_a_bad_replay_is_named_as_a_usage_error(tmp_path, capsys):
    """Before: argparse said "invalid parse_mix value"; now the spec and what is wrong with it, exit 2."""
    with pytest.raises(SystemExit) as stopped:
        adapt_cli.main(["--frames", str(tmp_path), "--out", str(tmp_path / "o"), "--replay", "kitti:/x:2"])
    assert stopped.value.code == 2
    assert "argument --replay: 'kitti:/x:2': SHARE 2.0 must be in (0, 1)" in capsys.readouterr().err


def test_the_shipped_start_and_a_run_begun_from_it_move_back_toward_the_shipped_intel_network(tmp_path):
    """The shipped start has no run folder to follow back; its origin, the Intel network as it comes, ships as .keras
    beside it. Before, only training.adapt's default knew that (by the start's file name): a second adaptation begun
    from the first one's model stopped at the shipped start and moved toward it. Now the chain continues from the
    shipped start to the Intel network, whose weights (loaded from its file, the oracle) the origin must equal."""
    from training.models import load_keras_model
    from training.weight_space import SHIPPED_ORIGINS, SHIPPED_START, interpolated_weights, origin_model

    models = Path(__file__).resolve().parents[1] / "models"
    intel = load_keras_model(models / SHIPPED_ORIGINS[SHIPPED_START])
    first = tmp_path / "first_adaptation"  # a run begun from the shipped start (its weights stand in for the tuned)
    first.mkdir()
    shutil.copy(models / SHIPPED_START, first / "best.keras")
    (first / "config.json").write_text(json.dumps({"init_from": str(models / SHIPPED_START)}))
    for source in (models / SHIPPED_START, first):
        origin = origin_model(source)
        for got, want in zip(origin.get_weights(), intel.get_weights(), strict=True):
            np.testing.assert_array_equal(got, want)
    lone = tmp_path / "mine.keras"  # the same weights outside models/ are nobody's shipped start: their own origin
    shutil.copy(models / SHIPPED_START, lone)
    shipped = load_keras_model(models / SHIPPED_START)
    for got, want in zip(origin_model(lone).get_weights(), shipped.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    halfway = interpolated_weights(intel, shipped, 0.5)  # the same architecture: every weight has a partner
    for got, o, s in zip(halfway, intel.get_weights(), shipped.get_weights(), strict=True):
        assert got.shape == s.shape
        np.testing.assert_allclose(got, 0.5 * (o + s), rtol=1e-6, atol=1e-7)
    # the shipped default was fine-tuned from that network, so it has moved away from it
    assert any(not np.allclose(o, s) for o, s in zip(intel.get_weights(), shipped.get_weights(), strict=True))
