"""Pretrained weights from ``../shared/weights`` turned into Keras models: readers written here from the formats'
descriptions (OpenVINO IR XML + BIN), checked against an independent reference (``openvino``) in the tests."""
