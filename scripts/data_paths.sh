# Sourced by the model scripts: where the data and the pretrained weights are (set any of them to override).
CAMVID="${CAMVID:-../shared/data/camvid}"
KITTI="${KITTI:-../shared/data/kitti_semantics}"
UNLABELLED="${UNLABELLED:-../shared/data/kitti_road_unlabelled/testing/image_2}"
WEIGHTS="${WEIGHTS:-../shared/weights}"
INTEL_IR="$WEIGHTS/road-segmentation-adas-0001/road-segmentation-adas-0001.xml"
