#!/usr/bin/env bash
# Reproduces every shipped model (models/README.md), its k-fold figures, the comparison reports and the CamVid
# held-out-sequence check, and (part 6) this round's keep-term comparison. CPU only: about 11 hours on 2 cores, in
# resumable pieces (a crossval continues its folds, a finished step is skipped), so it can run in <= 3-hour sessions.
# CAMVID, KITTI, UNLABELLED, WEIGHTS point at the data and the pretrained weights.
#
# Default (KITTI-shaped 192x608, part 0): the Intel road network (OpenVINO IR, read by training.pretrained) is
# fine-tuned on KITTI + a quarter of CamVid -> the teacher; its soft road probabilities on the 128 unlabelled KITTI
# road frames + the KITTI labels + a fifth of CamVid train a U-Net decoder on the teacher's encoder -> the student,
# shipped as the default. In k-fold, fold k's teacher is trained without fold k ('{fold}' in the paths).
# Small option (224x224, parts 1-5): two CamVid stages, then a KITTI stage that mixes a quarter of CamVid into every
# epoch (each KITTI frame 4x per epoch, strong augmentation, BatchNorm frozen, Adam 3e-4 cosine, 30 epochs, last
# epoch kept). The 5 demo/test frames 000000-000004 are never trained on.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh training
source scripts/data_paths.sh
DEMO_FRAMES='00000[0-4]_10'

# 0. The default: Intel teacher -> soft labels -> U-Net student on the teacher's encoder (192x608). Recipes:
#    training/recipes/intel_road_teacher.yaml, intel_unet_student.yaml, intel_unetpp_student.yaml.
teacher=(--recipe training/recipes/intel_road_teacher.yaml --data "$KITTI")
student=(--recipe training/recipes/intel_unet_student.yaml --data "$KITTI")
python -m training.export --intel-ir "$INTEL_IR" \
    --input-size 192 608 --out models/intel_road_192x608.onnx \
    --save-keras models/intel_road_192x608.keras                      # the off-the-shelf row, zero-shot; adapt --toward
python -m training.export --intel-ir "$INTEL_IR" \
    --input-size 384 1216 --out models/intel_road_384x1216.onnx       # the same at 384x1216: training.adapt's 2nd teacher
python -m training.crossval --folds 4 "${teacher[@]}" --out runs/cv_teacher
for k in 1 2 3 4; do
  [ -f runs/cv_teacher/fold$k/model.onnx ] || python -m training.export runs/cv_teacher/fold$k --out runs/cv_teacher/fold$k/model.onnx
  [ -f runs/soft_teacher/fold$k/teacher.json ] || python -m training.distill --teacher runs/cv_teacher/fold$k/model.onnx \
      --frames "$UNLABELLED" --out runs/soft_teacher/fold$k
done
python -m training.crossval --folds 4 --model intel_unet --encoder-from 'runs/cv_teacher/fold{fold}/best.keras' \
    "${student[@]}" --mix 'soft:runs/soft_teacher/fold{fold}:0.35' --out runs/cv_intel_unet
python -m training.crossval --folds 4 --recipe training/recipes/intel_unetpp_student.yaml --data "$KITTI" \
    --encoder-from 'runs/cv_teacher/fold{fold}/best.keras' --mix 'soft:runs/soft_teacher/fold{fold}:0.35' \
    --out runs/cv_intel_unetpp
[ -f runs/teacher_kitti/model.onnx ] || { python -m training.train "${teacher[@]}" --val 0 --exclude "$DEMO_FRAMES" \
    --out runs/teacher_kitti && python -m training.export runs/teacher_kitti --out runs/teacher_kitti/model.onnx; }
[ -f runs/soft_teacher/final/teacher.json ] || python -m training.distill --teacher runs/teacher_kitti/model.onnx \
    --frames "$UNLABELLED" --out runs/soft_teacher/final
[ -f runs/intel_unet_kitti/best.keras ] || python -m training.train "${student[@]}" --model intel_unet \
    --encoder-from runs/teacher_kitti/best.keras --mix soft:runs/soft_teacher/final:0.35 --val 0 \
    --exclude "$DEMO_FRAMES" --out runs/intel_unet_kitti
python -m training.crossval --dataset kitti --data "$KITTI" --out runs/cv_intel_unet --rescore-at 160 512   # k-fold at 160x512
python -m training.export runs/intel_unet_kitti --input-size 160 512 --out models/intel_unet_kitti_160x512.onnx
python -m training.quantize models/intel_unet_kitti_160x512.onnx --precision fp16 --out models/intel_unet_kitti_160x512_fp16.onnx
python -m training.quantize models/intel_unet_kitti_160x512.onnx --calib "$UNLABELLED" \
    --out models/intel_unet_kitti_160x512_int8.onnx --fp16-sibling intel_unet_kitti_160x512_fp16.onnx   # the default
ln -sf intel_unet_kitti_160x512_int8.onnx models/road_seg_default.onnx
python -m training.export runs/intel_unet_kitti --out models/intel_unet_kitti.onnx --save-keras models/intel_unet_kitti.keras
python -m training.quantize models/intel_unet_kitti.onnx --precision fp16 --out models/intel_unet_kitti_fp16.onnx
python -m training.quantize models/intel_unet_kitti.onnx --calib "$UNLABELLED" --out models/intel_unet_kitti_int8.onnx \
    --fp16-sibling intel_unet_kitti_fp16.onnx
python -m training.export runs/teacher_kitti --out models/intel_road_kitti.onnx   # the fine-tuned teacher, a comparison row
bash scripts/camvid_heldout.sh                                        # CamVid held-out sequences, the whole recipe
camvid1=(--recipe training/recipes/unet16_camvid_stage1.yaml --data "$CAMVID")
camvid2=(--recipe training/recipes/unet16_camvid_stage2.yaml --data "$CAMVID")
kitti=(--recipe training/recipes/unet16_kitti.yaml)

# 1. CamVid stages (U-Net 16 -> models/unet16_camvid.keras, the KITTI stage's starting point; UNet++ 8 DS).
python -m training.train "${camvid1[@]}" --out runs/unet16_camvid
python -m training.train "${camvid2[@]}" --epochs 16 --init-from runs/unet16_camvid --out runs/unet16_camvid_ft
python -m training.export runs/unet16_camvid_ft --out runs/unet16_camvid_ft/model.onnx --save-keras models/unet16_camvid.keras
python -m training.train "${camvid1[@]}" --model unetpp --base-filters 8 --deep-supervision --epochs 20 \
    --out runs/unetpp8ds_camvid
python -m training.train "${camvid2[@]}" --epochs 8 --init-from runs/unetpp8ds_camvid --out runs/unetpp8ds_camvid_ft

# 2. Block 4-fold cross-validation of the KITTI stage on the 32 labelled KITTI frames (model choices were made here).
python -m training.crossval --dataset kitti --data "$KITTI" --folds 4 --init-from models/unet16_camvid.keras \
    "${kitti[@]}" --out runs/cv_r4
python -m training.crossval --dataset kitti --data "$KITTI" --folds 4 --init-from models/unet16_camvid.keras \
    "${kitti[@]}" --input-size 160 512 --out runs/cv_r4_160x512
python -m training.crossval --dataset kitti --data "$KITTI" --folds 4 --init-from runs/unetpp8ds_camvid_ft \
    "${kitti[@]}" --out runs/cv_r4_unetpp8ds

# 3. The shipped KITTI models: every labelled frame but the demo block.
kitti_final=(--dataset kitti --data "$KITTI" --val 0 --exclude "$DEMO_FRAMES" "${kitti[@]}")
python -m training.train "${kitti_final[@]}" --init-from models/unet16_camvid.keras --out runs/unet16_kitti
python -m training.train "${kitti_final[@]}" --init-from runs/unetpp8ds_camvid_ft --out runs/unetpp8ds_kitti

for run in unet16_kitti unetpp8ds_kitti; do
  python -m training.export "runs/$run" --out "runs/$run/model.onnx"
  python -m training.evaluate "runs/$run/model.onnx" --dataset kitti --data sample_data/kitti --split all --birds-eye \
      --out "runs/$run"
done
python -m training.quantize runs/unet16_kitti/model.onnx --calib "$CAMVID/train" --out runs/unet16_kitti/model_int8.onnx \
    --fp16-sibling unet16_kitti_fp16.onnx
python -m training.quantize runs/unet16_kitti/model.onnx --precision fp16 --out runs/unet16_kitti/model_fp16.onnx

cp runs/unet16_kitti/model_int8.onnx models/unet16_kitti_int8.onnx          # the small 224x224 option
cp runs/unet16_kitti/model.onnx models/unet16_kitti.onnx
cp runs/unet16_kitti/model_fp16.onnx models/unet16_kitti_fp16.onnx
python -m training.export runs/unet16_kitti --out runs/unet16_kitti/model.onnx --save-keras models/unet16_kitti.keras

# 4. (The U-Net vs UNet++ report of the retired 224x224 pair is no longer made: docs/compare_kitti.md compares the
#    served-size pair, part 7.)

# 5. CamVid held-out sequence 0006R0: the whole recipe without it, scored on it (stage 1 alone, for reference).
python -m training.train "${camvid1[@]}" --exclude '0006R0_*' --model unet --base-filters 16 --epochs 30 \
    --out runs/seq_0006R0_stage1
python -m training.train "${camvid2[@]}" --exclude '0006R0_*' --epochs 16 --init-from runs/seq_0006R0_stage1 \
    --out runs/seq_0006R0_stage2
python -m training.train "${kitti_final[@]}" --exclude '0006R0_*' --init-from runs/seq_0006R0_stage2 \
    --out runs/seq_0006R0_kitti
for run in seq_0006R0_stage1 seq_0006R0_stage2 seq_0006R0_kitti; do
  python -m training.evaluate "runs/$run" --dataset camvid --data "$CAMVID" --split all --only '0006R0_*' --out "runs/$run"
done

# 6. Keeping what the pretrained network knew (this round): the keep-term trade-off (three recipes, k-fold at the
#    served 160x512 and CamVid sequences no run saw), the candidate trained from the chosen setting, and CamVid as
#    "your camera" (training.adapt rotated over the three sequences). Tables: scripts/keep_table.py, rotation_table.py.
bash scripts/keep_tradeoff.sh
bash scripts/keep_final.sh none
bash scripts/keep_final.sh mild
bash scripts/keep_final.sh strong                                      # the new default (INT8, within 0.5 points)
for suffix in .onnx _int8.onnx _fp16.onnx .keras; do cp "runs/keep/final_strong/intel_unet_keep_strong_160x512$suffix" models/; done
python -m training.metadata models/intel_unet_keep_strong_160x512.onnx \
    fp16_sibling=intel_unet_keep_strong_160x512_fp16.onnx              # GPUs run the FP16 twin of the FP32 file too
ln -sfn intel_unet_keep_strong_160x512_int8.onnx models/road_seg_default.onnx
bash scripts/camvid_rotation.sh

# 7. At the served size on the default's recipe (issue 24): U-Net vs UNet++ (pruned head included), the decoder
#    learning 10x faster, and the 224x224 option, squashed or tiled -- k-fold and CamVid (tables: python3
#    scripts/keep_table.py served / tiles),
#    the UNet++ and 224x224 models trained on all KITTI frames but the demo frames, and docs/compare_kitti.md.
bash scripts/served_size.sh
for suffix in .onnx _int8.onnx _fp16.onnx .keras; do                   # the 224x224 option: tiles (squashed: not shipped)
  cp "runs/keep/final_strong_224tiles/intel_unet_keep_strong_224x224_tiles$suffix" models/
done
python -m training.metadata models/intel_unet_keep_strong_224x224_tiles.onnx \
    fp16_sibling=intel_unet_keep_strong_224x224_tiles_fp16.onnx
SETTINGS=strong_dlr10 bash scripts/keep_tradeoff.sh
SETTINGS=strong_stagelr bash scripts/keep_tradeoff.sh                    # per-stage encoder rates (keep_table stage_lr)
python -m training.compare models/intel_unet_keep_strong_160x512.onnx \
    runs/keep/final_strong_unetpp/intel_unetpp_keep_strong_160x512.onnx --dataset kitti --data sample_data/kitti \
    --split all --grid 5 --crossval runs/keep/cv_strong runs/keep/cv_strong_unetpp --name compare_kitti --out docs

# 8. WiSE-FT over the whole Intel network (issue 24, fourth session): fine-tuned at its own 192x608 with the keep
#    pools, then its weights moved back toward the zero-shot network; k-fold and CamVid per alpha (python3
#    scripts/keep_table.py wise_ft). The default: trained on every KITTI frame but the demo frames, alpha 0.75 (the
#    best k-fold), FP32 (faster in the node than its INT8 on this CPU; INT8 and FP16 shipped beside it). Then tiles at
#    the served cost, measured and not shipped (keep_table.py tiles160).
bash scripts/keep_wise_ft.sh
ALPHA=0.75 bash scripts/keep_final.sh wiseft_intel_road intel_road_keep_wiseft_192x608
for suffix in .onnx _int8.onnx _fp16.onnx .keras; do
  cp "runs/keep/final_wiseft_intel_road_a0.75/intel_road_keep_wiseft_192x608$suffix" models/
done
python -m training.metadata models/intel_road_keep_wiseft_192x608.onnx fp16_sibling=intel_road_keep_wiseft_192x608_fp16.onnx
ln -sfn intel_road_keep_wiseft_192x608.onnx models/road_seg_default.onnx
SETTINGS=strong_160tiles bash scripts/keep_tradeoff.sh
