"""Memory bars: each part's share of the device is drawn in proportion, free room up to its memory,
and the plan's text output shows one bar per device with its sizes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.gguf_factory import write_tiny_model
from onboard.workflow.memory_bars import WIDTH, bar, device_rows

REPO = Path(__file__).resolve().parent.parent


def test_parts_are_drawn_in_proportion_then_the_free_room():
    drawn = bar({"weights": 12000, "kv": 6000, "compute": 1500, "overhead": 500}, capacity=24000, scale=24000)
    assert drawn == "[" + "█" * 20 + "▓" * 10 + "▒" * 2 + "░" * 1 + "·" * 7 + "]"


def test_an_overfull_device_fills_the_bar_and_says_how_much_beside_it():
    rows = device_rows([{"name": "CUDA1", "capacity": 16000, "predicted": {"weights": 15000, "kv": 3000}}])
    assert "·" not in rows[0] and "17.6 GiB of 15.6 GiB" in rows[0]


def test_predicted_and_measured_are_side_by_side():
    rows = device_rows([{"name": "CUDA0", "capacity": 24000, "predicted": {"weights": 10000, "kv": 2000},
                         "measured": {"weights": 10000, "kv": 2100}}])
    assert rows[0].startswith("  CUDA0 predicted [") and rows[1].startswith("  CUDA0 measured  [")


def test_plan_prints_a_bar_per_device(tmp_path):
    model = write_tiny_model(tmp_path / "tiny.gguf", "llama")
    out = subprocess.run([sys.executable, "-m", "onboard.workflow.cli", "plan", str(model), "--device", "GPU0=30",
                          "--device", "GPU1=20"], capture_output=True, text=True, cwd=REPO, timeout=120).stdout
    assert "  GPU0 [" in out and "  GPU1 [" in out and "of 30.0 MiB" in out and "█ weights" in out
