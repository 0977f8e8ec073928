"""`onboard logs analyze FILE|- [--json]`: read a llama-server / llama-cli log like an expert.

Thin on purpose: ``llamacpp.log_analysis`` does the reading; this prints its diagnosis and the key
figures, or the JSON contract with ``--json``. Exit 0 whenever the log was read, out-of-memory or
not, complete or not (the report says so); exit 6 when the file cannot be read or is no log at all
(empty, or binary data), naming it (and the line).
"""
from __future__ import annotations

import click

from onboard.workflow.commands._common import handle_errors, print_json


@click.group(name="logs")
def command() -> None:
    """Read llama-server logs."""


def _figures(report) -> list[str]:  # report: llamacpp.log_analysis.LogReport
    """The numbers behind the diagnosis, one line each, only those the log printed."""
    lines = []
    if report.build:
        lines.append(f"build: {report.build}")
    for device in report.devices:
        sizes = ", ".join(f"{label} {device[key]} MiB" for label, key in (("free", "free_mib"), ("total", "total_mib"))
                          if device.get(key) is not None)
        lines.append(f"device {device['id']}: {device.get('name') or '?'}" + (f" ({sizes})" if sizes else ""))
    for label, table in (("model buffers", report.model_buffers_mib), ("KV buffers", report.kv_buffers_mib),
                         ("compute buffers", report.compute_buffers_mib),
                         ("output buffers", report.output_buffers_mib)):
        if table:
            lines.append(f"{label} (MiB): " + ", ".join(f"{key} {value:.2f}" for key, value in table.items()))
    for label, value in (("n_ctx", report.n_ctx), ("layers offloaded", report.layers_offloaded),
                         ("graph nodes", report.graph_nodes), ("graph splits", report.graph_splits),
                         ("prompt t/s", report.prompt_tps), ("generation t/s", report.gen_tps)):
        if value is not None:
            lines.append(f"{label}: {value}")
    if report.type_k or report.type_v:
        lines.append(f"cache types: K {report.type_k or '?'}, V {report.type_v or '?'}")
    return lines


@command.command("analyze")
@click.argument("file", metavar="FILE|-")
@click.option("--json", "as_json", is_flag=True, help="Print the machine-readable report (the contract).")
@handle_errors
def analyze(file: str, as_json: bool) -> int:
    """Diagnose a llama-server/llama-cli log (FILE, or - for standard input)."""
    from onboard.llamacpp.log_analysis import analyze_file, diagnose, require_text_log

    report = analyze_file(file)
    require_text_log(report, file)  # an empty or binary file is no log: exit 6 naming it
    if as_json:
        print_json(report.to_json())
        return 0
    click.echo(f"{'stdin' if file == '-' else file}:")
    for sentence in diagnose(report):
        click.echo(f"  - {sentence}")
    figures = _figures(report)
    if figures:
        click.echo("figures:")
        for line in figures:
            click.echo(f"  {line}")
    return 0
