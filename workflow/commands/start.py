"""`onboard start NAME`: create a candidate in the first phase and prepare it."""
from __future__ import annotations

import click

from onboard.workflow.commands._readonly import complete_cards
from onboard.workflow.commands._common import handle_errors
from onboard.workflow.commands._results import JSON_OPTION, run_step


@click.command("start")
@click.argument("name", shell_complete=complete_cards)
@click.option("--repo", metavar="OWNER/REPO",
              help="GGUF repository on the hub (wins over everything the card says).")
@click.option("--profile-id", "profile", metavar="ID",
              help="The models.conf section to create (default: NAME as a lowercase slug).")
@JSON_OPTION
@click.pass_context
@handle_errors
def command(ctx: click.Context, name: str, repo: str | None, profile: str | None, as_json: bool) -> int:
    """Start onboarding candidate NAME (its card: models/documentation/CANDIDATES/README_<NAME>.md).

    The card may be the model's Hugging Face README saved as it is. The GGUF repository comes from
    --repo, else the card (gguf_repo, its links to a *-GGUF repository, base_model with quantized_by),
    else GGUF files already in models/<ModelName>/<Quant>/; a refused start leaves nothing behind."""
    _check_input(name, repo)
    if profile is not None:
        from onboard.phases.contract import profile_id
        from onboard.llamacpp.errors import BadInput

        if profile_id(profile) != profile:
            raise BadInput(f"{profile!r} is not a profile id: use lowercase letters, digits, '.', '_' and '-'",
                           field="--profile-id", fix=f"e.g. --profile-id {profile_id(profile) or 'my-model'}")
    return run_step(ctx, as_json, lambda engine: engine.start(name, repo, profile))


def _check_input(name: str, repo: str | None) -> None:
    """Refuse a NAME or --repo that is not a plain name BEFORE anything is opened or created.

    NAME becomes a file name (README_<NAME>.md), a folder (.onboard/candidates/<NAME>/) and a profile
    id; --repo becomes the model folder (models/<ModelName>/) and hub URLs. A path (``../x``,
    ``/abs``, ``a/b``), ``..`` or a control character (a trailing newline passes a ``$`` regex)
    must never reach them, so the check runs here, before the database is even created.
    """
    from onboard.llamacpp.candidate_card import REPO_ID_RE, check_name
    from onboard.llamacpp.errors import BadInput

    check_name(name)
    if repo is not None and (not REPO_ID_RE.fullmatch(repo) or ".." in repo.split("/")):
        raise BadInput(f"{repo!r} is not a hub repo id (OWNER/NAME)", field="--repo",
                       fix="write it as in the hub's URL, e.g. unsloth/Qwen3-30B-A3B-GGUF")
