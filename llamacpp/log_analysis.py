"""Read a llama-server / llama-cli log like an expert would: what was loaded where, whether it ran out
of memory (on which device, in which phase, asking how much), what killed it, and how fast it ran.

This is the public entry point; the work is done in :mod:`llamacpp.server_log`, one job a module
(line cleaning, the table of recognised lines and its handlers, the scanner, file streaming, the
diagnosis). Garbage never raises here: :func:`require_text_log` is the caller's check that a file
is a log at all.
"""
from __future__ import annotations

from onboard.llamacpp.server_log.diagnosis import diagnose, phase_text
from onboard.llamacpp.server_log.report import OOM_PHASES, LogReport
from onboard.llamacpp.server_log.streaming import LogSource, analyze_file, analyze_lines, analyze_log, require_text_log

__all__ = ["OOM_PHASES", "LogReport", "LogSource", "analyze_log", "analyze_lines", "analyze_file", "diagnose",
           "phase_text", "require_text_log"]
