"""The `onboard` command line: wiring only. Each command lives in ``workflow/commands/<name>.py``
and exposes ``command`` (a click command or group); modules are imported only when their command
runs, so that read-only commands stay fast and never import gguf, huggingface_hub or the planner.
"""
from __future__ import annotations

import importlib

import click

from onboard.workflow.exit_codes import Exit

# command name -> module under workflow.commands (one module per command, pipx style)
COMMANDS: dict[str, str] = {  # in the order a person meets them: the workflow first, then the tools
    "init": "init",
    "adopt": "adopt",
    "start": "start",
    "status": "status",
    "advance": "advance",
    "rollback": "rollback",
    "list": "list_",
    "abandon": "abandon",
    "history": "history",
    "inspect": "inspect",
    "plan": "plan",
    "logs": "logs",
    "hardware": "hardware",
    "samplers": "samplers",
    "docs": "docs",
    "serve": "serve",
    "export": "export",
    "doctor": "doctor",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that subcommand is used
    (the pattern from click's documentation, "Lazily Loading Subcommands")."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def resolve_command(self, ctx: click.Context, args: list[str]):  # noqa: ANN201 - click's own signature
        """A mistyped command gets the commands it is close to (``onboard stauts`` -> status)."""
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            from onboard.store.suggest import did_you_mean

            hint = did_you_mean(name, COMMANDS, cutoff=0.5, show=repr, joiner=" or ")
            if hint:
                ctx.fail(f"No such command '{name}'. {hint[0].upper()}{hint[1:]}")
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMANDS.get(cmd_name)
        if module_name is None:
            return None
        return importlib.import_module(f"onboard.workflow.commands.{module_name}").command


@click.group(cls=LazyGroup)
@click.option("--root", type=click.Path(file_okay=False), envvar="ONBOARD_ROOT",
              help="Repository to work on (default: walk up from the current directory to models.conf).")
@click.option("--db", type=click.Path(dir_okay=False), envvar="ONBOARD_DB",
              help="Workflow database (default: <root>/.onboard/onboard.db).")
@click.version_option(package_name="onboard")
@click.pass_context
def cli(ctx: click.Context, root: str | None, db: str | None) -> None:
    """Onboard a GGUF model into a llama-server repository, one resumable phase at a time.

    \b
    Examples:
      onboard adopt                          # take your repository as it is
      onboard start Qwen3-8B --repo unsloth/Qwen3-8B-GGUF
      onboard advance Qwen3-8B --quant Q4_K_M
      onboard status Qwen3-8B                # where it stands, and the next command
      onboard rollback Qwen3-8B              # back one phase, its writes undone

    Exit codes and the JSON error object: docs/errors.md. Shell completion (names and cards too):
    eval "$(_ONBOARD_COMPLETE=bash_source onboard)" in ~/.bashrc (zsh_source, fish_source).
    """
    ctx.obj = {"root": root, "db": db}


class Terminated(BaseException):
    """SIGTERM, raised where the process is, so that a step in progress is undone on the way out
    exactly as for Ctrl-C (the engine puts a step's files back on any BaseException)."""


def _terminate(signum: int, _frame: object) -> None:
    raise Terminated(signum)




def main() -> None:
    """Run the CLI; Ctrl-C ends with 130 and SIGTERM with 143 (never "Aborted!" with 1, which would
    read as a guard holding the candidate back), saying that nothing was left half-done."""
    import signal
    import sys

    signal.signal(signal.SIGTERM, _terminate)
    try:
        code = cli.main(prog_name="onboard", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as err:  # usage errors: click's own message and code (2)
        err.show()
        sys.exit(err.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        _stopped("interrupted (Ctrl-C)")
        sys.exit(Exit.INTERRUPTED)
    except Terminated:
        _stopped("terminated (SIGTERM)")
        sys.exit(Exit.TERMINATED)
    sys.exit(code if isinstance(code, int) else 0)  # --help and --version return their code here


def _stopped(how: str) -> None:
    click.echo(f"error: {how}. A step in progress was undone, so files and the database are as before "
               "it; `onboard status NAME` shows where the candidate stands, and the same command goes on "
               "from there.", err=True)


if __name__ == "__main__":
    main()
