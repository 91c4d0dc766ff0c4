"""The ROS-free core: arrays in, arrays out (no ROS, no TensorFlow)."""
