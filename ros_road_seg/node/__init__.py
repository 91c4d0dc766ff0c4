"""The ROS 2 node: messages in and out, parameters, serving, diagnostics."""
