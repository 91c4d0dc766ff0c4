"""Keep-term tables of models/README.md (issue 24) from the runs' own JSON: runs/keep/cv_<setting>/crossval.json (KITTI
block 4-fold at the setting's size, scored at full resolution) and runs/keep/camvid_<setting>/<sequence>/
eval_camvid_all.json (CamVid sequences no run of that setting saw).
Usage: keep_table.py [trade_off|served|stage_lr|tiles|tiles160|wise_ft] [--json F]. ``wise_ft``: one row per alpha
from runs/keep/cv_wiseft_intel_road/crossval_wise_ft.json and runs/keep/camvid_wiseft_intel_road_a<alpha>/.
Prints Markdown; exits 3 naming what is missing when a row's runs are not here (scripts/card_tables.py then leaves
the committed table as it is)."""

import json
import sys
from pathlib import Path

KEEP = Path("runs/keep")
GROUPS = {
    "trade_off": {
        "none": "no keep term (KITTI labels + zero-shot soft labels on unlabelled KITTI)",
        "mild": "mild: + CamVid frames (zero-shot soft labels) 25 % of each epoch, L2-SP 1e-3",
        "strong": "strong: + CamVid 40 %, L2-SP 1e-2, first encoder stage frozen",
    },
    "served": {
        "strong": "U-Net at 160x512 (keep_strong, the default's recipe)",
        "strong_unetpp": "UNet++ at 160x512, deep supervision (head L2; pruned L1 in its k-fold JSON)",
        "strong_dlr10": "U-Net at 160x512, decoder learning 10x faster than the encoder",
        "strong_224": "U-Net at 224x224 (frames squashed; last session's 224x224 option)",
    },
    "stage_lr": {
        "strong_stagelr": "U-Net at 160x512, encoder stages at 0.1x / 0.3x / 0.6x the rate (none frozen)",
    },
    "tiles": {
        "strong_224tiles": "U-Net at 224x224 tiles of the aspect-kept frame (4 per KITTI frame)",
    },
    "tiles160": {
        "strong_160tiles": "U-Net at 160x288 tiles of the aspect-kept frame (2 per KITTI frame, 1.125x the default's pixels)",
        "strong_224tiles": "U-Net at 224x224 tiles of the aspect-kept frame (4 per KITTI frame)",
    },
}
WISE_FT = "wiseft_intel_road"  # the whole Intel network fine-tuned at 192x608, then interpolated toward its start
SEQUENCES = ("0001TP", "0006R0")
# the zero-shot network's own k-fold per block (no training; models/README.md, measured at 192x608)
ZERO_SHOT_BLOCKS = (0.8685, 0.8823, 0.9066, 0.7859)


def camvid(folder: Path) -> list:
    scores = []
    for sequence in SEQUENCES:
        path = folder / sequence / "eval_camvid_all.json"
        scores.append(json.loads(path.read_text())["pooled_iou_full"] if path.is_file() else None)
    return scores


def cell(value) -> str:
    return "—" if value is None else f"{value:.4f}"


def row(label: str, summary: dict, folds: list, scores: list) -> str:
    """One table row: the label, k-fold mean ± sd, each block, each CamVid sequence."""
    return (
        f"| {label} | {summary['mean_of_fold_pooled_iou']:.4f} ± {summary['sd_of_fold_pooled_iou']:.4f} | "
        + " | ".join(map(cell, [*folds, *scores]))
        + " |"
    )


def wise_ft_rows() -> tuple[list, dict]:
    """One row per alpha: (1 - alpha) x the zero-shot network + alpha x the fine-tuned one, k-fold and CamVid."""
    path = KEEP / f"cv_{WISE_FT}" / "crossval_wise_ft.json"
    if not path.is_file():
        sys.exit(f"keep_table wise_ft: no {path} (bash scripts/keep_wise_ft.sh)")
    rows, record = [], {}
    for alpha, entry in json.loads(path.read_text())["alphas"].items():
        folds = [fold["pooled_iou"] for fold in entry["folds"]]
        summary = entry["summary"]
        scores = camvid(KEEP / f"camvid_{WISE_FT}_a{alpha}")
        label = {"0": "the zero-shot network itself", "1": "as fine-tuned"}.get(alpha, "interpolated")
        name = f"whole Intel network at 192x608, alpha {alpha} ({label}) (`training/recipes/keep_{WISE_FT}.yaml`)"
        rows.append(row(name, summary, folds, scores))
        record[f"alpha_{alpha}"] = {
            "kfold_blocks": folds,
            "kfold_mean": summary["mean_of_fold_pooled_iou"],
            "kfold_sd": summary["sd_of_fold_pooled_iou"],
            "pooled_by_threshold": summary["pooled_iou_by_threshold"],
            "camvid": dict(zip(SEQUENCES, scores)),
        }
    return rows, record


group = next((a for a in sys.argv[1:] if a in GROUPS or a == "wise_ft"), "trade_off")
missing = [s for s in GROUPS.get(group, {}) if not (KEEP / f"cv_{s}" / "crossval.json").is_file()]
if missing:
    sys.exit(f"keep_table {group}: no k-fold runs for {', '.join(missing)} under {KEEP}")
rows, record = [], {}
blocks = " | ".join(cell(v) for v in ZERO_SHOT_BLOCKS)
mean = sum(ZERO_SHOT_BLOCKS) / len(ZERO_SHOT_BLOCKS)
zero = camvid(KEEP / "camvid_zero_shot")
rows.append(
    f"| Intel network as it comes (zero-shot, 192x608) | {mean:.4f} | {blocks} | " + " | ".join(map(cell, zero)) + " |"
)
record["zero_shot"] = {"kfold_blocks": ZERO_SHOT_BLOCKS, "camvid": dict(zip(SEQUENCES, zero))}
if group == "wise_ft":
    more_rows, more_record = wise_ft_rows()
    rows += more_rows
    record.update(more_record)
for setting, label in GROUPS.get(group, {}).items():
    report = json.loads((KEEP / f"cv_{setting}" / "crossval.json").read_text())
    folds = [fold["pooled_iou"] for fold in report["folds"]]
    summary = report["summary"]
    scores = camvid(KEEP / f"camvid_{setting}")
    rows.append(row(f"{label} (`training/recipes/keep_{setting}.yaml`)", summary, folds, scores))
    record[setting] = {
        "kfold_blocks": folds,
        "kfold_mean": summary["mean_of_fold_pooled_iou"],
        "pruned_heads": summary.get("pruned_heads_mean_of_fold_pooled_iou", {}),
        "camvid": dict(zip(SEQUENCES, scores)),
    }
print("| setting | KITTI 4-fold | 000000–07 | 08–15 | 16–23 | 24–31 | CamVid 0001TP | CamVid 0006R0 |")
print("|---|---|---|---|---|---|---|---|")
print("\n".join(rows))
if "--json" in sys.argv:
    Path(sys.argv[sys.argv.index("--json") + 1]).write_text(json.dumps(record, indent=2))
