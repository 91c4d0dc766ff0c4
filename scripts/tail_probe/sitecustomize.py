"""Where the node's latency tail goes, part 1: every garbage collection's generation and pause, per Python process.
Part 2 (seventh session): ``SWITCH_INTERVAL=<seconds>`` sets Python's GIL switch interval (default 0.005 s) in every
process started with this folder on PYTHONPATH (the bench and the node it starts): a thread waiting for the GIL
(the node's inference thread back from ONNX Runtime, or its executor thread with a new frame) waits up to that long
while the other runs Python code (`bash scripts/tail_probe/env_ab.sh OUT SWITCH_INTERVAL=0.0005`).
Part 3: ``SPIN_IN_RUN=1`` makes every ONNX Runtime session of those processes spin its intra-op threads while a run
lasts and stop the moment it returns (``session.force_spinning_stop``): the wake-up of a sleeping thread at every
operator is saved without busy-waiting between frames (`env_ab.sh OUT SPIN_IN_RUN=1`).

Opt-in and outside the package: ``GC_PROBE=$PWD/gc PYTHONPATH=scripts/tail_probe:$PYTHONPATH python -m
ros_road_seg.bench ...`` writes ``gc_<pid>.txt`` (in the current folder) for the bench and for the node it starts (lines: unix time,
generation, pause ms, objects collected). ``python3 scripts/tail_probe/summary.py gc_*.txt`` sums them.
"""

import gc
import os
import sys
import time

if os.environ.get("GC_PROBE"):
    _log = open(f"{os.environ['GC_PROBE']}_{os.getpid()}.txt", "a", buffering=1)  # noqa: SIM115 (lives with the process)
    _started = {}

    def _on_collection(phase, info):
        if "argv" not in _started:
            _started["argv"] = True
            _log.write("# " + " ".join(sys.argv[:3]) + "\n")
        if phase == "start":
            _started["t"] = time.perf_counter()
        else:
            pause_ms = (time.perf_counter() - _started.get("t", time.perf_counter())) * 1e3
            _log.write(f"{time.time():.4f} {info['generation']} {pause_ms:.3f} {info['collected']}\n")

    gc.callbacks.append(_on_collection)

if os.environ.get("SWITCH_INTERVAL"):
    sys.setswitchinterval(float(os.environ["SWITCH_INTERVAL"]))

if os.environ.get("SPIN_IN_RUN"):  # part 3: ONNX Runtime's threads spin during a run only (env_ab.sh)
    import onnxruntime as _ort

    _open_session = _ort.InferenceSession.__init__

    def _spinning_in_run_only(self, *args, **kwargs):
        options = kwargs.get("sess_options")
        if options is not None:  # the package passes its SessionOptions by keyword (ros_road_seg/core/model.py)
            options.add_session_config_entry("session.intra_op.allow_spinning", "1")
            options.add_session_config_entry("session.force_spinning_stop", "1")
        _open_session(self, *args, **kwargs)

    _ort.InferenceSession.__init__ = _spinning_in_run_only
