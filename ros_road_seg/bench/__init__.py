"""``python -m ros_road_seg.bench``: the course pipeline, raw ONNX Runtime, our core and our node, side by side.

- ``cli``: the command line and the order of the measurements;
- ``course``: the seed course's serving code (Keras + PIL), measured as it was;
- ``tuning``: raw ONNX Runtime, the tuning variants and ONNX Runtime's operator profile;
- ``node_run``: a real node process fed by a publisher at fixed rates;
- ``report``: the markdown table;
- ``bombs``: decompression bombs and what refusing them costs (``python -m ros_road_seg.bench.bombs``).

"The course" is the seed project this package grew from: a Keras U-Net served with PIL. Its pipeline is kept only
as the baseline the benchmark measures against.
"""
