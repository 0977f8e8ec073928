"""Calibration: predicted-vs-measured rows stored per rig and backend correct later plans' compute
buffers (weights and KV are exact and stay as planned)."""
from __future__ import annotations

import pytest

from onboard.llamacpp.gguf_header import read_header
from onboard.llamacpp.planner.plan import PlanRequest, make_plan
from onboard.llamacpp.rig import Device, Host, Rig
from onboard.phases.profile import calibrate
from onboard.store.db import open_db
from onboard.store.measurements import calibration, record
from onboard.store.schema import Candidate
from tests.gguf_factory import write_tiny_model


def test_measured_ratios_are_kept_per_rig_and_backend(tmp_path):
    sessions = open_db(tmp_path / "m.db")
    with sessions() as s:
        s.add(Candidate(name="a", state="test", created_at="t", updated_at="t"))
        s.commit()
    record(sessions, 1, "rig A", [("Vulkan", "Vulkan0", "compute", 10.0, 12.0), ("Vulkan", "Vulkan0", "kv", 4.0, 4.0),
                                  ("CPU", "CPU", "compute", 5.0, None)])
    record(sessions, 1, "rig A", [("Vulkan", "Vulkan0", "compute", 10.0, 14.0)])
    record(sessions, 1, "rig B", [("Vulkan", "Vulkan0", "compute", 10.0, 30.0)])
    assert calibration(sessions, "rig A", "Vulkan") == {"compute": pytest.approx(1.3), "kv": 1.0}
    assert calibration(sessions, "rig A", "CPU") == {}
    assert calibration(sessions, "rig B", "Vulkan") == {"compute": 3.0}


def test_a_plan_is_corrected_by_the_ratio_and_fits_follows(tmp_path):
    header = read_header(write_tiny_model(tmp_path / "m.gguf", "llama"))
    rig = Rig(devices=[Device("Vulkan0", "Vulkan", usable_mib=2048, margin_mib=0)], host=Host(ram_mib=8192))
    plan = make_plan(header, rig, PlanRequest(ctx=4096, ngl=99))
    before = {d.name: (d.weights_mib, d.kv_mib, d.compute_mib) for d in plan.devices}
    calibrate(plan, {"Vulkan": 1.5})
    gpu = plan.device("Vulkan0")
    assert gpu.compute_mib == before["Vulkan0"][2] * 1.5
    assert (gpu.weights_mib, gpu.kv_mib) == before["Vulkan0"][:2]
    assert plan.device("CPU").compute_mib == before["CPU"][2]
    assert any("calibration" in w for w in plan.warnings)
    calibrate(plan, {"Vulkan": 1000.0})
    assert plan.fits is False
