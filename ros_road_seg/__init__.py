"""Road segmentation for ROS 2: a ROS-free ONNX Runtime core (``segmenter``) and a thin rclpy node (``node``)."""
