"""A training recipe: data, model, schedule, augmentation, as one frozen value built once from the command line.

``train`` and ``crossval`` parse their arguments into a :class:`Recipe` and hand it to library code
(:mod:`training.fitting`); nothing below a CLI reads an ``argparse.Namespace``. A fold of a cross-validation is
``dataclasses.replace(recipe, seed=..., mix=...)``, never a mutated namespace.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from ros_road_seg.core.arguments import bounded_number
from ros_road_seg.core.errors import UsageError
from ros_road_seg.core.labels import use_folder_labels
from training.augment import AUGMENTATIONS
from training.data import DATASETS, MixSource, add_folder_label_arguments, parse_mix
from training.losses import LOSSES
from training.models import ARCHITECTURES


@dataclass(frozen=True)
class Recipe:
    """Everything that decides what a run learns (see ``add_recipe_arguments`` for each field's meaning)."""

    dataset: str
    data: Path
    mix: tuple[MixSource, ...] = ()
    repeat: int = 1
    exclude: tuple[str, ...] = ()
    model: str = "unet"
    base_filters: int = 16
    depth: int = 4
    input_size: tuple[int, int] | None = None
    tiles: bool = False
    epochs: int = 25
    batch_size: int = 8
    lr: float = 1e-3
    loss: str = "bce_dice"
    augment: str = "full"
    look_alike_weight: float = 1.0
    deep_supervision: bool = False
    pretrained: Path | None = None
    encoder_from: Path | None = None
    no_batch_norm: bool = False
    course_head: bool = False
    seed: int = 0
    lr_schedule: str = "cosine"
    init_from: Path | None = None
    freeze_batchnorm: bool = False
    l2_sp: float = 0.0
    freeze_stages: int = 0
    decoder_lr_scale: float = 1.0
    stage_lr_scales: tuple[float, ...] = ()
    workers: int = 2
    quiet: bool = False
    early_stopping: int = 0
    strategy: str = "default"
    road_id: int | None = None  # the folder dataset's road value (--road-value / --road-id); None = 255
    ignore_id: int | None = None  # the folder dataset's ignored mask value (--ignore-id)

    def __post_init__(self) -> None:
        for name in ("repeat", "epochs", "batch_size", "workers", "base_filters", "depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} {getattr(self, name)} must be >= 1")
        if not 0 < self.lr < math.inf:  # NaN fails this too
            raise ValueError(f"--lr {self.lr} must be a finite number > 0")
        if not self.look_alike_weight > 0:
            raise ValueError(f"--look-alike-weight {self.look_alike_weight} must be > 0")
        if not 0 <= self.l2_sp < 1:
            raise ValueError(f"--l2-sp {self.l2_sp} must be in [0, 1) (the share of the way back per step)")
        if not 0 <= self.freeze_stages <= 4:
            raise ValueError(f"--freeze-stages {self.freeze_stages} must be 0..4 (the encoder's stages)")
        if "folder" in (self.dataset, *(source.dataset for source in self.mix)):
            use_folder_labels(self.road_id, self.ignore_id)  # what the folder's mask values mean, for every reader
        if not all(0 < scale < math.inf for scale in self.stage_lr_scales):
            raise ValueError(f"--stage-lr-scales {list(self.stage_lr_scales)} must be finite numbers > 0")
        if not 0 < self.decoder_lr_scale < math.inf:
            raise ValueError(f"--decoder-lr-scale {self.decoder_lr_scale} must be a finite number > 0")
        if self.early_stopping < 0:
            raise ValueError(f"--early-stopping {self.early_stopping} must be >= 0")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Recipe:
        """The recipe fields of a parsed command line (train- or crossval-only flags are left to the CLI)."""
        values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
        values["mix"] = tuple(values.get("mix") or ())
        values["exclude"] = tuple(values.get("exclude") or ())
        if values.get("input_size") is not None:
            values["input_size"] = tuple(values["input_size"])
        values["stage_lr_scales"] = tuple(values.get("stage_lr_scales") or ())
        try:
            return cls(**values)
        except ValueError as error:  # a flag that parses but makes no sense: a usage error, exit code 2
            raise UsageError(str(error)) from None

    @classmethod
    def from_config(cls, config: dict) -> Recipe:
        """The recipe a run folder's config.json records (:meth:`as_json` read back; the run's own figures such as
        ``params`` or ``train_names`` are left out): what rebuilds the network a run started from."""
        values = {f.name: config[f.name] for f in dataclasses.fields(cls) if f.name in config}
        for name in ("data", "pretrained", "encoder_from", "init_from"):
            if values.get(name) is not None:
                values[name] = Path(values[name])
        values["mix"] = [MixSource(m["dataset"], Path(m["path"]), m["share"]) for m in values.get("mix", ())]
        return cls.from_args(argparse.Namespace(**values))

    def as_json(self) -> dict:
        """The recipe for config.json (paths as strings)."""
        return {key: _jsonable(value) for key, value in dataclasses.asdict(self).items()}


def read_run_config(source: Path) -> dict:
    """The config.json of a run folder (or of the folder a .keras file lies in). A shipped ``.keras`` has no run
    beside it: then its ONNX twin (same name, ``.onnx``) says whether it runs on tiles; {} when neither exists."""
    source = Path(source)
    folder = source if source.is_dir() else source.parent
    path = folder / "config.json"
    if path.is_file():
        return json.loads(path.read_text())
    twin = source.with_suffix(".onnx")
    if source.suffix == ".keras" and twin.is_file():
        from training.onnx_export import read_metadata

        return {"tiles": True} if read_metadata(twin).get("road_seg.tiling") == "aspect" else {}
    return {}


def _jsonable(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def recipe_file_arguments(path: Path) -> list[str]:
    """A recipe file (YAML: flag names without dashes as keys, e.g. ``input_size: [160, 512]``, ``mix: [...]``) as
    the command-line flags it stands for, so it is validated exactly like typed flags."""
    import yaml

    try:
        values = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise UsageError(f"--recipe '{path}' cannot be read: {error}") from None
    if not isinstance(values, dict):
        raise UsageError(f"--recipe '{path}' is not a mapping of flag names to values")
    argv: list[str] = []
    for key, value in values.items():
        flag = "--" + str(key).replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, list) and key in ("mix", "exclude"):  # flags given once per value
            for item in value:
                argv += [flag, str(item)]
        elif isinstance(value, list):
            argv += [flag, *(str(item) for item in value)]
        else:
            argv += [flag, str(value)]
    return argv


def parse_with_recipe(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv`` on top of ``--recipe FILE``'s flags: a flag given on the command line replaces the file's;
    ``--mix`` and ``--exclude`` (lists) add to the file's (a fold's soft labels beside the recipe's CamVid share)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    recipe = next((argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--recipe"), None)
    if recipe is None:
        return parser.parse_args(argv)
    given = {arg.split("=", 1)[0] for arg in argv if arg.startswith("--")} - {"--mix", "--exclude"}
    from_file, keep = [], True
    for arg in recipe_file_arguments(Path(recipe)):
        if arg.startswith("--"):
            keep = arg not in given
        if keep:
            from_file.append(arg)
    return parser.parse_args(from_file + argv)


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    """What a training recipe is: data, model, schedule, augmentation. Shared by ``train`` and ``crossval``."""
    parser.add_argument(
        "--recipe",
        type=Path,
        default=None,
        help="a recipe file (training/recipes/*.yaml); flags given here replace its values, --mix/--exclude add to it",
    )
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="KITTI data_semantics[/training], CamVid root, Cityscapes root, or a folder with images/ and masks/",
    )
    add_folder_label_arguments(parser)
    parser.add_argument(
        "--mix",
        type=parse_mix,
        action="append",
        default=[],
        metavar="DATASET:PATH:SHARE",
        help="mix another dataset into every epoch, e.g. camvid:../shared/data/camvid:0.5 (repeatable)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="each --dataset frame appears this often per epoch")
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="never train or validate on frames whose name matches (shell pattern, e.g. '00000[0-4]_10')",
    )
    parser.add_argument("--model", choices=ARCHITECTURES, default="unet")
    parser.add_argument("--base-filters", type=int, default=16, help="width: 64 = the course's U-Net")
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument(
        "--input-size",
        type=int,
        nargs=2,
        default=None,
        metavar=("HEIGHT", "WIDTH"),
        help="default 224 224, or the --init-from model's own size; another size re-uses its weights",
    )
    parser.add_argument(
        "--tiles",
        action="store_true",
        help="train on --input-size tiles of the frame resized with its aspect kept (not squashed into it); the "
        "exported model runs the same tiles as one batch (road_seg.tiling = aspect)",
    )
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=bounded_number(0.0, above=True), default=1e-3)
    parser.add_argument("--loss", choices=LOSSES, default="bce_dice")
    parser.add_argument("--augment", choices=AUGMENTATIONS, default="full")
    parser.add_argument(
        "--look-alike-weight",
        type=float,
        default=1.0,
        help="loss weight of sidewalk/parking/rail/pavement pixels (1 = like any other pixel)",
    )
    parser.add_argument("--deep-supervision", action="store_true", help="unetpp: heads on X(0,1..depth)")
    parser.add_argument(
        "--pretrained",
        type=Path,
        default=None,
        metavar="IR_XML",
        help="intel_*: the Intel road model's OpenVINO IR (default ../shared/weights/road-segmentation-adas-0001/)",
    )
    parser.add_argument("--no-batch-norm", action="store_true", help="the course's plain conv stack")
    parser.add_argument("--course-head", action="store_true", help="unet: the course's 2-filter conv before the head")
    parser.add_argument(
        "--encoder-from",
        type=Path,
        default=None,
        help="intel_unet/intel_unetpp: take the encoder's weights from this .keras (a fine-tuned intel_road); "
        "'{fold}' in crossval is the fold's number",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr-schedule", choices=("cosine", "plateau", "none"), default="cosine")
    parser.add_argument("--init-from", type=Path, default=None, help="run folder or .keras to fine-tune from")
    parser.add_argument(
        "--freeze-batchnorm", action="store_true", help="with --init-from: keep BatchNorm statistics (few frames)"
    )
    parser.add_argument(
        "--l2-sp",
        type=bounded_number(0.0, 1.0),
        default=0.0,
        metavar="STRENGTH",
        help="keep term: after every step, pull each pretrained encoder weight this share of the way back to its "
        "starting value (L2-SP, decoupled like AdamW's decay; 0 = off, 1e-3 = mild)",
    )
    parser.add_argument(
        "--freeze-stages",
        type=bounded_number(0, 4, integer=True),
        default=0,
        help="keep term: freeze the pretrained encoder's first N stages (1/2, 1/4, 1/8 ... of the input)",
    )
    parser.add_argument(
        "--decoder-lr-scale",
        type=bounded_number(0.0, 1000.0, above=True),
        default=1.0,
        metavar="FACTOR",
        help="the layers outside the pretrained encoder (decoder, heads) learn FACTOR times faster than --lr",
    )
    parser.add_argument(
        "--stage-lr-scales",
        type=bounded_number(0.0, 1000.0, above=True),
        nargs="+",
        default=[],
        metavar="FACTOR",
        help="keep term: the pretrained encoder's stage 1, 2, ... learn FACTOR times --lr (e.g. 0.1 0.3: the "
        "earliest stages move least; stages not listed keep 1)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quiet", action="store_true", help="no progress bar (logs one line per epoch)")
    parser.add_argument("--early-stopping", type=int, default=0, metavar="PATIENCE", help="0 = off")
    parser.add_argument("--strategy", choices=("default", "mirrored"), default="default")
