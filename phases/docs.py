"""Phase 8, docs: the new model entered in every place of the docs that lists the models.

Two kinds of repository. One made by ``onboard init`` keeps its lists in generated blocks
(``<!-- BEGIN GENERATED: id -->``): those are re-rendered by ``phases.docs_blocks``, the renderers
``onboard docs check|fix`` uses, so what the phase writes is exactly what the check expects. A
person's own repository has hand-written tables, folder trees, status lists and per-model sections
and no markers: appending generated copies of its tables there would be wrong. There the places come
from the repository map (``phases.repo_map``, found by meaning), and each place that must list the
candidate but does not yet gets exactly one row, tree line, list item or section, in the style of its
neighbours (``phases.doc_rows``), after its last entry. Nothing else in the file changes.

Every edit goes through the journal as the lines it added (``PhaseContext.edit_text``), computed
from the files' current text under the repository's write lock, so a rollback removes exactly those
lines and reports a conflict when a person edited them since. A place the map refuses (a heading
that appears twice, a table of models none of whose columns onboard knows, a file that is not UTF-8)
stops the phase before anything is written, naming file:line and what to do. Running the phase again
adds nothing: a place whose entries name the profile already has it. The guard is a clean docs check.
"""
from __future__ import annotations

from pathlib import Path

from onboard.phases.contract import Guard, GuardResult, Phase, PhaseContext

# roles whose places list production profiles (bench-profiles lists bench profiles, generated blocks render)
_MODEL_ROLES = ("target-models", "switching", "structure", "hierarchy", "roadmap-status", "capabilities",
                "samplers", "model-notes", "model-reference", "bench-profiles")


def prepare(ctx: PhaseContext) -> None:
    from onboard.phases.docs_check import hand_written
    from onboard.phases.repo_map import build_map

    rmap = build_map(ctx.root)
    _refuse_unreadable(ctx.root, rmap)  # before anything is written
    if not hand_written(rmap):  # the same decision as the docs check's
        _generated_blocks(ctx, append_missing=True)
    else:
        if any(p.kind == "block" and p.role != "model-notes" for p in rmap.places):
            _generated_blocks(ctx, append_missing=False)
        added = enter_model(ctx)
        if added:
            ctx.report(f"Docs: [{ctx.profile_id}] entered in {len(added)} place(s):")
            for label in added:
                ctx.report(f"  {label}")
        else:
            ctx.report(f"Docs: every place that lists the models already has [{ctx.profile_id}]")
    problems = _check(ctx.root)
    if problems:
        ctx.report("Still inconsistent (these need a person):")
        for p in problems:
            ctx.report(f"  {p}")


def _refuse_unreadable(root: Path, rmap) -> None:
    """The map's refusals as BadInput: the first one names its file:line and fix, the count of the rest."""
    from onboard.phases.repo_map import map_problems

    problems = map_problems(root, rmap)
    if problems:
        from onboard.llamacpp.errors import BadInput

        first = problems[0]
        more = "" if len(problems) == 1 else f" (and {len(problems) - 1} more: " + "; ".join(
            f"{p.path}:{p.line}" for p in problems[1:]) + ")"
        raise BadInput(first.message + more, path=first.path, line=first.line, fix=first.fix)


def _generated_blocks(ctx: PhaseContext, *, append_missing: bool) -> None:
    """A repository made by ``onboard init``: its generated blocks re-rendered (missing ones appended
    only where the repository has no hand-written places, so a person's tables never get a copy)."""
    from onboard.phases import docs_blocks

    with ctx.writing():  # whole files rendered from the repository: no other command's write in between
        blocks = docs_blocks.REPOSITORY_BLOCKS
        if not append_missing:
            blocks = tuple(b for b in blocks if _has_block(ctx.root / b.file, b.id))
        changes = docs_blocks.complete(ctx.root, blocks)
        for relpath, text in changes.items():
            ctx.write_shared(relpath, text, f"{relpath}: generated blocks for {ctx.profile_id}")
    ctx.report("Docs updated: " + (", ".join(changes) if changes else "nothing to change"))


def _has_block(path: Path, block_id: str) -> bool:
    from onboard.store import marker_blocks as mb
    from onboard.store.atomic import read_text

    return mb.has_begin(read_text(path) or "", block_id, mb.GENERATED)


def must_list(place, bench_exists: bool) -> bool:
    """Must this place list the candidate? Places that list every model do; the benchmark pipeline's
    profile table does once the candidate has a bench profile; places listing some models only do not."""
    if place.kind == "block" or place.role not in _MODEL_ROLES:
        return False
    if place.role == "bench-profiles":
        return bench_exists
    return bool(place.per_model)


def is_listed(place, facts: dict, identities: set[str], doc_text: str) -> bool:
    """Does the place already have the candidate's entry? By the map's entries; a tree by its folder
    lines (a folder several profiles share names none of them in the entries); a settings-by-model
    table by its header cells."""
    from onboard.phases import doc_rows
    from onboard.phases.doc_fields import names_profile
    from onboard.phases.doc_trees import tree_shows

    if place.kind == "tree":
        return tree_shows(place, facts, doc_text)
    if any(pid == facts["profile"] for _line, pid in place.entries):
        return True
    if place.kind == "table":
        from onboard.store.markdown_doc import parse

        table = doc_rows.table_at(place, parse(doc_text))
        if doc_rows.is_transposed(table):
            return any(names_profile(cell, identities) for cell in table.header[1:])
    return False


def enter_model(ctx: PhaseContext, roles: frozenset[str] | None = None) -> list[str]:
    """Add the candidate's entry to every hand-written place that lacks it (only places of ``roles``
    when given: the samplers phase writes the sampler row and the per-model section early); returns
    what was added where."""
    from onboard.phases import doc_rows
    from onboard.phases.doc_facts import model_facts
    from onboard.phases.doc_fields import profile_identities
    from onboard.phases.repo_map import build_map
    from onboard.store.atomic import read_text
    from onboard.store.models_conf import ModelsConf

    pid = ctx.profile_id
    added: list[str] = []
    with ctx.writing():  # the places and the files' text as they are now, no other write in between
        conf = ModelsConf.load(ctx.root / "models.conf")
        section = conf.section(pid)
        if section is None:
            from onboard.llamacpp.errors import BadInput

            raise BadInput(f"models.conf has no [{pid}] profile", path=str(ctx.root / "models.conf"),
                           fix=f"onboard rollback {ctx.name} back to the profile phase, which writes it")
        identities = profile_identities(section, ctx.root)
        bench = conf.section(f"bench-{pid}") is not None
        facts = model_facts(ctx.root, pid, ctx.merged_view())
        rmap = build_map(ctx.root)
        _refuse_unreadable(ctx.root, rmap)
        places = [p for p in rmap.places if must_list(p, bench) and (roles is None or p.role in roles)]
        # bottom to top within a file: an insertion never moves the lines of a place above it
        for place in sorted(places, key=lambda p: (p.file, -p.line)):
            text = read_text(ctx.root / place.file) or ""
            if is_listed(place, facts, identities, text):
                continue
            try:
                new_text, lines, at = doc_rows.add_entry(place, facts, text)
            except ValueError as err:
                ctx.report(f"  {place.file}:{place.line}: not changed ({err}); add [{pid}] there by hand")
                continue
            what = {"table": "row", "tree": "line", "list": "item", "sections": "section"}.get(place.kind, "entry")
            label = f"{place.file}:{at + 1} {place.kind} '{place.heading or place.role}': {what} for {pid}"
            if ctx.edit_text(place.file, new_text, label):
                added.append(label + f" ({len([x for x in lines if x.strip()])} line(s))")
    return added


def _check(root: Path) -> list[str]:
    """The docs check (``onboard docs check``): generated blocks, or a person's places by meaning."""
    from onboard.phases import docs_check

    return docs_check.check(root)


def _consistent(ctx: PhaseContext) -> GuardResult:
    problems = _check(ctx.root)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        return GuardResult(False, "; ".join(problems[:3]) + more, fix="onboard docs fix, then edit what it names")
    return GuardResult(True, "onboard docs check is clean")


PHASE = Phase(
    name="docs",
    title="Docs",
    does="enters the model in every place that lists the models, found by meaning in the person's own files (one "
         "row per table, one line per tree, one roadmap item, one per-model section), or re-renders our generated "
         "blocks in a repository made by `onboard init`",
    guards=(Guard("docs consistent", "`onboard docs check` finds nothing", _consistent),),
    prepare=prepare,
)
