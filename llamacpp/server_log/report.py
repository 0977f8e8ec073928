"""What one llama-server log says: :class:`LogReport`, the result every reader of a log returns.

Why a module of its own: the state machine fills it, the diagnosis words it, and callers (``logs
analyze``, the test phase, the planner's checks) read its fields; none of them needs the others.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .streaming import LogSource

# The phases an out-of-memory is placed in (LogReport.oom_phase); diagnosis words each one.
OOM_PHASES = ("model_load", "kv_cache", "compute_buffer", "runtime", "other")


@dataclass
class LogReport:
    """What one log says. ``to_json()`` is what ``onboard logs analyze --json`` prints; unknown values
    are ``None``."""

    build: str | None = None
    devices: list[dict] = field(default_factory=list)
    model_buffers_mib: dict[str, float] = field(default_factory=dict)
    kv_buffers_mib: dict[str, float] = field(default_factory=dict)
    compute_buffers_mib: dict[str, float] = field(default_factory=dict)
    output_buffers_mib: dict[str, float] = field(default_factory=dict)
    n_ctx: int | None = None
    type_k: str | None = None
    type_v: str | None = None
    layers_offloaded: str | None = None
    graph_nodes: int | None = None
    graph_splits: int | None = None
    oom: bool = False
    oom_phase: str | None = None
    oom_device: str | None = None
    oom_asked_mib: float | None = None
    oom_free_mib: float | None = None
    fatal_error: str | None = None
    prompt_tps: float | None = None
    gen_tps: float | None = None
    warnings: list[str] = field(default_factory=list)
    # Not part of the JSON: CPU features the build reported, for the SIGILL diagnosis.
    cpu_features: list[str] = field(default_factory=list, repr=False)
    # Not part of the JSON: the OOM_PHASES name of the load step the log stops in when it ends in
    # the middle of a load with neither an OOM nor a fatal error (the load never finished: the log
    # was copied too early, or the server was stopped); None when the log gets past the load.
    unfinished: str | None = field(default=None, repr=False)
    # Not part of the JSON: what the file itself held (set by analyze_file), see LogSource.
    source: "LogSource | None" = field(default=None, repr=False)

    def to_json(self) -> dict:
        return {
            "build": self.build,
            "devices": [dict(d) for d in self.devices],
            "model_buffers_mib": dict(self.model_buffers_mib),
            "kv_buffers_mib": dict(self.kv_buffers_mib),
            "compute_buffers_mib": dict(self.compute_buffers_mib),
            "output_buffers_mib": dict(self.output_buffers_mib),
            "n_ctx": self.n_ctx,
            "type_k": self.type_k,
            "type_v": self.type_v,
            "layers_offloaded": self.layers_offloaded,
            "graph_nodes": self.graph_nodes,
            "graph_splits": self.graph_splits,
            "oom": self.oom,
            "oom_phase": self.oom_phase,
            "oom_device": self.oom_device,
            "oom_asked_mib": self.oom_asked_mib,
            "oom_free_mib": self.oom_free_mib,
            "fatal_error": self.fatal_error,
            "prompt_tps": self.prompt_tps,
            "gen_tps": self.gen_tps,
            "warnings": list(self.warnings),
        }
