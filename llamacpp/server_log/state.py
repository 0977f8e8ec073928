"""The reader's state: what the log has said so far, and the rules for when a new load or a new
context replaces the one before.

Why a state machine: the reader keeps the *last complete* load and context (a ``--fit`` dry run, a
retried load or a second context replaces the earlier one), so a recogniser only says what its
line means and :class:`LogState` decides what that replaces.
"""
from __future__ import annotations

from .report import LogReport

STAGE_NONE, STAGE_LOAD, STAGE_CTX, STAGE_KV, STAGE_READY = range(5)
STAGE_PHASE = {
    STAGE_NONE: "other",
    STAGE_LOAD: "model_load",
    STAGE_CTX: "kv_cache",
    STAGE_KV: "compute_buffer",
    STAGE_READY: "runtime",
}


def num(text: str) -> float | None:
    """A finite float read from ``text``, else None (nan, inf and garbage are no figure)."""
    try:
        value = float(text)
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return value


class LogState:
    """What the log has said so far: the current load attempt and its context, the devices, the
    build, the last completed request and the worst fatal line seen. The recognisers (``read_*``
    modules) change it; :meth:`report` turns it into a :class:`LogReport`."""

    def __init__(self) -> None:
        self.build: str | None = None
        self.build_weak: str | None = None  # "build_info: b0-unknown": only if nothing better
        self.devices: dict[str, dict] = {}
        self.gpu_family = "CUDA"
        self.cpu_features: list[str] = []
        self.in_fit = False
        self.stage = STAGE_NONE
        self.warnings: list[str] = []
        self.new_load(initial=True)
        # timings
        self.pending_prompt: dict[str | None, float | None] = {}
        self.speed: tuple[float | None, float | None] | None = None
        # failure
        self.fatal: tuple[int, str] | None = None

    # -- load / context lifecycle ---------------------------------------------------------------
    def new_load(self, initial: bool = False) -> None:
        """Forget the load (and its context) seen so far: a retry, a draft model or the real load
        after a ``--fit`` dry run replaces it."""
        if not initial and getattr(self, "oom", False):
            self.warn(f"an earlier load attempt ran out of memory on {self.oom_device or 'a device'}; "
                      "a later attempt is reported")
        self.model: dict[str, float] = {}
        self.layers: str | None = None
        self.oom = False
        self.oom_phase: str | None = None
        self.oom_phase_explicit = False
        self.oom_device: str | None = None
        self.oom_asked: float | None = None
        self.new_context()

    def new_context(self) -> None:
        """Forget the context seen so far (a second context of the same load replaces it)."""
        self.kv: dict[str, float] = {}
        self.compute: dict[str, float] = {}
        self.output: dict[str, float] = {}
        self.n_ctx: int | None = None
        self.type_k: str | None = None
        self.type_v: str | None = None
        self.graph_nodes: int | None = None
        self.graph_splits: int | None = None

    def context_touched(self) -> bool:
        """Whether the current context has printed anything (then a model buffer starts a new load)."""
        return bool(self.kv or self.compute or self.output or self.n_ctx is not None
                    or self.graph_splits is not None)

    def warn(self, text: str) -> None:
        """Add a note for the person (each sentence once)."""
        if text not in self.warnings:
            self.warnings.append(text)

    # -- result -----------------------------------------------------------------------------------
    def report(self) -> LogReport:
        """The state as a :class:`LogReport`: the last complete load, its context and the failure."""
        build = self.build or self.build_weak
        fatal = None
        if self.fatal is not None:
            priority, text = self.fatal
            if not (self.oom and priority <= 1):
                fatal = text
        free = None
        if self.oom and self.oom_device in self.devices and self.oom_device.upper() != "CPU":
            start_free = self.devices[self.oom_device].get("free_mib")
            if start_free is not None:
                used = sum(d.get(self.oom_device, 0.0) for d in (self.model, self.kv, self.compute, self.output))
                free = round(max(start_free - used, 0.0), 2)
        prompt_tps, gen_tps = self.speed if self.speed else (None, None)
        return LogReport(
            build=build,
            devices=[dict(d) for d in self.devices.values() if d["id"].upper() != "CPU"],
            model_buffers_mib=_rounded(self.model),
            kv_buffers_mib=_rounded(self.kv),
            compute_buffers_mib=_rounded(self.compute),
            output_buffers_mib=_rounded(self.output),
            n_ctx=self.n_ctx,
            type_k=self.type_k,
            type_v=self.type_v,
            layers_offloaded=self.layers,
            graph_nodes=self.graph_nodes,
            graph_splits=self.graph_splits,
            oom=self.oom,
            oom_phase=(self.oom_phase or "other") if self.oom else None,
            oom_device=self.oom_device if self.oom else None,
            oom_asked_mib=round(self.oom_asked, 2) if self.oom and self.oom_asked is not None else None,
            oom_free_mib=free,
            fatal_error=fatal,
            prompt_tps=prompt_tps,
            gen_tps=gen_tps,
            warnings=list(self.warnings),
            cpu_features=list(self.cpu_features),
            unfinished=STAGE_PHASE[self.stage] if self.stage in (STAGE_LOAD, STAGE_CTX, STAGE_KV)
            and not self.oom and fatal is None else None,
        )


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {key: round(value, 2) for key, value in values.items()}
