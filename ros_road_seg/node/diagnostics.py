"""The node's /diagnostics status: one DiagnosticStatus from the serving counters, the per-stage timings, the
fault log and the grid; level OK / WARN (bad frames, waiting or bad intrinsics) / ERROR (faults, nothing served)."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from ros_road_seg.node.faults import bounded


def diagnostic_status(server) -> DiagnosticStatus:
    """The status of a :class:`~ros_road_seg.node.serving.RoadSegServer` now."""
    faults, gaps = server.faults, server.transport_gaps
    p50, p99 = server.latency.percentiles_ms(50, 99)
    level, message = DiagnosticStatus.OK, "serving" if server.state == "active" else server.state
    if faults.bad_frames:
        level, message = DiagnosticStatus.WARN, f"bad frames: {faults.bad_frames}; last: {faults.last_error}"
    if server.received.total and not server.served.total and server.state == "active":
        level, message = DiagnosticStatus.ERROR, "receiving frames but serving none"
    if faults.internal_faults:
        level, message = DiagnosticStatus.ERROR, f"internal faults: {faults.internal_faults}; last: {faults.last_fault}"

    def gap_count(count: int) -> str:
        return str(count) if gaps.supported else "unknown (no sequence numbers)"

    values = {
        "state": server.state,
        "fps_in": f"{server.received.rate_since_last():.2f}",
        "fps_out": f"{server.served.rate_since_last():.2f}",
        "frames_received": str(server.received.total),
        "frames_served": str(server.served.total),
        "frames_dropped_stale": str(server.slot.dropped),
        "frames_lost_in_transport": gap_count(gaps.lost),
        "frames_published_before_first_received": gap_count(gaps.before_first),
        "frames_bad": str(faults.bad_frames),
        "internal_faults": str(faults.internal_faults),
        "latency_p50_ms": f"{p50:.2f}",
        "latency_p99_ms": f"{p99:.2f}",
        **server.stages.summary(),
        "outputs_live": ", ".join(server.outputs_live) or "none",
        "provider": server.segmenter.provider if server.segmenter is not None else "none",
        "model": server.model_path,
        "transport_max_frame_bytes": str(server.transport_max_bytes or "unknown"),
    }
    if server.grid is not None:
        values.update(server.grid.diagnostics())
        if server.grid.waiting_reason and level == DiagnosticStatus.OK:
            level, message = DiagnosticStatus.WARN, server.grid.waiting_reason
    return DiagnosticStatus(
        level=level,
        name=f"{server.node.get_fully_qualified_name()}: road segmentation",
        message=bounded(message),
        hardware_id=values["provider"],
        values=[KeyValue(key=k, value=bounded(v)) for k, v in values.items()],
    )


def diagnostic_array(server) -> DiagnosticArray:
    diagnostics = DiagnosticArray(status=[diagnostic_status(server)])
    diagnostics.header.stamp = server.node.get_clock().now().to_msg()
    return diagnostics
