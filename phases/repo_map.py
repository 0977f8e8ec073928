"""The repository map: where a person's hand-written docs list their models, found by meaning.

Why: an adopted repository has no markers. Its README has a "Target Models" table, a "Switching
Models" table of ``./start.sh`` commands and a folder tree; its client settings have a capability
table, a sampler table and one section per model; its roadmap lists the models in production. The
docs phase fills these places and the docs check verifies them, so both need the same answer to
"which table is the target-models table, which row is qwen3-32b's". The answer comes from headers
(``phases.doc_fields``), headings, the file a place is in and the rows that name profiles.

Ambiguity is refused, never guessed: a heading that appears twice where it would name a place, or a
table of models none of whose columns onboard can fill, goes to ``unmapped`` with file:line and what
to do, and ``map_problems`` turns those the docs phase would need into ``BadInput`` errors.
Read-only and deterministic: the same files give the same map.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from onboard.llamacpp.errors import BadInput
from onboard.phases import doc_fields
from onboard.store import markdown_doc, marker_blocks
from onboard.store.markdown_doc import MarkdownDoc

ROLES = ("target-models", "switching", "structure", "hierarchy", "roadmap-status", "capabilities", "samplers",
         "model-notes", "model-reference", "bench-profiles", "generated-block")
# our template's generated blocks -> the role of the place they are
BLOCK_ROLES = {"target-models": "target-models", "switching-models": "switching",
               "repository-structure": "structure", "capability-table": "capabilities",
               "sampler-table": "samplers", "model-reference": "model-reference", "bench-profiles": "bench-profiles"}
PIPELINE_README = "benchmarks/evalplus/README.md"
SAMPLER_FIELDS = {"temp", "top_p", "top_k", "min_p", "repeat_penalty", "presence_penalty"}
CAPABILITY_FIELDS = {"thinking", "tools", "vision", "system_prompt"}
_TREE_CHARS = "│├└─|`+\\- \t*"
_FILE_EXT_RE = re.compile(r"\.(md|gguf|json|txt|py|sh|conf|toml|yaml|yml|svg|png|jsonl|log|csv)$", re.I)
_NOT_MODEL_DIRS = {"documentation", "candidates", "docs", "cards", "archive", "old", "tmp"}
_GENERIC_HEADERS = {"name", "id", "config", "section", "preset"}  # say "model" only when rows name profiles
_STATUS_HEADING_RE = re.compile(r"\b(current status|status|current state|in production|production models|"
                                r"where we are|now)\b", re.I)


@dataclass(frozen=True)
class Place:
    role: str  # one of ROLES
    kind: str  # "table" | "tree" (a fenced code tree or listing) | "list" | "sections" | "block"
    file: str  # relative path, "/" separators
    line: int  # 1-based first line (table header, fence opening, first item, first per-model heading, marker)
    end_line: int  # 1-based last line
    heading: str | None  # the heading it sits under
    columns: tuple[str, ...] = ()  # tables: header cells as written
    # tables: per column the field (doc_fields) it holds; None = onboard cannot fill it
    fields: tuple[str | None, ...] = ()
    # (1-based line, profile id) for each row/line/item/section that names a production profile
    entries: tuple[tuple[int, str], ...] = ()
    per_model: bool = True  # every production profile must appear here (False: lists some models only)
    items: tuple[tuple[int, str], ...] = ()  # (1-based line, text) of every row/model-folder line/item/section heading


@dataclass(frozen=True)
class Refusal:
    """A place onboard found but will not use, with where and what to do."""

    file: str
    line: int
    what: str
    fix: str
    role: str | None = None  # the role it would have had, when known
    blocking: bool = True  # hides a place onboard keeps (the check reports it); False: only listed

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.what}; {self.fix}"


@dataclass
class RepoMap:
    places: list[Place]
    unmapped: list[str]  # "file:line: what it is and why onboard does not use it; what to do"
    refusals: list[Refusal] = field(default_factory=list)  # the same, structured

    @property
    def problems(self) -> list[Refusal]:
        """The refusals that hide a place onboard keeps: what ``docs check`` reports."""
        return [r for r in self.refusals if r.blocking]

    def to_json(self) -> dict:
        return {"places": [{**asdict(p), "columns": list(p.columns), "fields": list(p.fields),
                            "entries": [list(e) for e in p.entries], "items": [list(i) for i in p.items]}
                           for p in self.places],
                "unmapped": list(self.unmapped)}

    def render(self) -> str:
        """The listing a person reads: one line per place, then what onboard leaves alone and why."""
        if not self.places and not self.unmapped:
            return "no places listing models were found in the docs"
        lines = ["places that list models (onboard keeps these):"]
        for p in self.places:
            where = f"{p.file}:{p.line}-{p.end_line}"
            if p.kind == "block":
                lines.append(f"  {p.role:<16} {p.kind:<8} {where}: onboard's generated block"
                             + (f" for {p.entries[0][1]}" if p.entries else ""))
                continue
            under = f" under '{p.heading}'" if p.heading else ""
            named = ", ".join(sorted({pid for _, pid in p.entries})) or "no profile yet"
            extra = ""
            if p.kind == "table":
                known = [f"{c}={f}" for c, f in zip(p.columns, p.fields) if f]
                unknown = [c for c, f in zip(p.columns, p.fields) if not f]
                extra = f"; columns: {', '.join(known) or '-'}" + (f"; left as written: {', '.join(unknown)}"
                                                                     if unknown else "")
            scope = "" if p.per_model else " (lists some models only)"
            lines.append(f"  {p.role:<16} {p.kind:<8} {where}{under}{scope}: {named}{extra}")
        if self.unmapped:
            lines.append("not used (onboard leaves these alone):")
            lines += [f"  {u}" for u in self.unmapped]
        return "\n".join(lines)

    def by_role(self, role: str) -> list[Place]:
        return [p for p in self.places if p.role == role]


# -- which files ---------------------------------------------------------------------------------------
def doc_files(root: Path) -> list[str]:
    """The Markdown files that may hold places, relative, sorted: top-level, docs/, agents, pipeline README."""
    found: set[str] = set()
    for pattern in ("*.md", "docs/*.md", ".claude/agents/*.md", PIPELINE_README):
        for path in root.glob(pattern):
            if path.is_file() and not path.is_symlink():
                found.add(path.relative_to(root).as_posix())
    return sorted(found)


# -- building the map ----------------------------------------------------------------------------------
def build_map(root: Path) -> RepoMap:
    """Map every place in the repository's docs that lists models (read-only)."""
    from onboard.store.models_conf import ModelsConf

    conf = ModelsConf.load(root / "models.conf")
    prod = doc_fields.conf_identities(conf, root)
    bench_ids = {s.id for s in conf.sections if s.id.startswith("bench-")}
    places: list[Place] = []
    refusals: list[Refusal] = []
    for rel in doc_files(root):
        try:
            text = (root / rel).read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as err:
            refusals.append(Refusal(rel, 1, f"cannot be read ({getattr(err, 'reason', None) or err})",
                                    "save it as UTF-8 so onboard can read it"))
            continue
        found, refused = map_file(rel, text, prod, bench_ids)
        places += found
        refusals += refused
    return RepoMap(places, [str(r) for r in refusals], refusals)


def map_file(rel: str, text: str, prod: Mapping[str, set[str]], bench_ids: Iterable[str] = ()
             ) -> tuple[list[Place], list[Refusal]]:
    """The places of one file (``rel`` decides roles: README, AI_INSTRUCTIONS.md, agents, ...)."""
    doc = markdown_doc.parse(text)
    blocked, places = _blocks(rel, doc)
    refusals: list[Refusal] = []
    duplicates = _duplicate_headings(doc)
    candidates: list[tuple[Place, int | None]] = []  # (place, index of the heading it sits under)
    for table in doc.tables:
        if table.first_line in blocked:
            continue
        result = _table_place(rel, doc, table, prod, set(bench_ids))
        if isinstance(result, Refusal):
            refusals.append(result)
        elif result is not None:
            candidates.append((result, _heading_index(doc, table.first_line)))
    for found, place_of in ((doc.fences, _tree_place), (doc.lists, _list_place)):
        for block in found:
            place = None if block.first_line in blocked else place_of(rel, doc, block, prod)
            if place is not None:
                candidates.append((place, _heading_index(doc, block.first_line)))
    for place, first_heading in _section_places(rel, doc, prod, blocked):
        candidates.append((place, first_heading))
    for place, heading_index in candidates:
        dup = duplicates.get(heading_index) if heading_index is not None else None
        if dup:
            lines = " and ".join(str(n + 1) for n in dup)
            refusals.append(Refusal(rel, place.line, f"the {place.role} {place.kind} sits under heading "
                                    f"'{place.heading}', which appears {len(dup)} times (lines {lines})",
                                    "rename one of the headings so each names one place; until then "
                                    "onboard leaves it alone", place.role))
            continue
        places.append(place)
    places.sort(key=lambda p: p.line)
    refusals.sort(key=lambda r: r.line)
    return places, refusals


def _heading_index(doc: MarkdownDoc, line: int) -> int | None:
    index = None
    for i, heading in enumerate(doc.headings):
        if heading.line > line:
            break
        index = i
    return index


def _duplicate_headings(doc: MarkdownDoc) -> dict[int, list[int]]:
    """Heading index -> lines of every heading in the file with the same level and text (when > 1)."""
    groups: dict[tuple[int, str], list[int]] = {}
    for i, heading in enumerate(doc.headings):
        groups.setdefault((heading.level, doc_fields.normalize(heading.text)), []).append(i)
    out = {}
    for indexes in groups.values():
        if len(indexes) > 1:
            for i in indexes:
                out[i] = [doc.headings[k].line for k in indexes]
    return out


def _blocks(rel: str, doc: MarkdownDoc) -> tuple[set[int], list[Place]]:
    """Our generated blocks (and per-model ``onboard:`` sections): places of kind block, and their lines."""
    blocked: set[int] = set()
    places = []
    open_at: dict[tuple[str, str], int] = {}
    for index in range(len(doc.lines)):
        marker = marker_blocks.marker_in(doc.line_text(index))
        if marker is None:
            continue
        edge, kind, block_id = marker
        key = (kind, block_id)
        if edge == "BEGIN":
            open_at[key] = index
        elif key in open_at:
            start = open_at.pop(key)
            blocked.update(range(start, index + 1))
            path = doc.heading_path(start)
            if kind == "GENERATED":
                role = BLOCK_ROLES.get(block_id, "generated-block")
                entries: tuple = ()
            else:
                role, entries = "model-notes", ((start + 1, block_id),)
            places.append(Place(role, "block", rel, start + 1, index + 1, path[-1] if path else None,
                                entries=entries, per_model=False))
    return blocked, places


def _cell_profile(cells: Iterable[str], prod: Mapping[str, set[str]]) -> str | None:
    """The production profile a row names: the most specific name over its cells."""
    best: tuple[int, str | None] = (0, None)
    for cell in cells:
        pid = doc_fields.best_profile(cell, prod)
        if pid is not None:
            length = doc_fields.match_length(cell, prod[pid])
            if length > best[0]:
                best = (length, pid)
    return best[1]


def _table_place(rel: str, doc: MarkdownDoc, table, prod, bench_ids: set[str]) -> Place | Refusal | None:
    fields = tuple(doc_fields.field_for_header(h) for h in table.header)
    entries = []
    for row in table.rows:
        pid = _cell_profile(row.cells, prod)
        if pid is not None:
            entries.append((row.line + 1, pid))
    names_bench = any(c.strip("` ") in bench_ids for row in table.rows for c in row.cells)
    named_columns = {doc_fields.header_names_field(h) for h in table.header
                     if doc_fields.normalize(h) not in _GENERIC_HEADERS}
    if not ({"model", "profile", "bench"} & named_columns) and not entries and not names_bench:
        return None  # not a table of models
    heading = table.headings[-1] if table.headings else None
    line, end = table.first_line + 1, table.last_line + 1
    if not any(fields):
        # a hand-kept list of models (its heading says which, or it has a model column) is a place
        # onboard would keep: refused loudly; any other table naming models is only listed
        suggested = _heading_role(rel, table) or ({"model", "profile"} & named_columns)
        return Refusal(rel, line, f"a table of models under '{heading or rel}' with columns "
                       f"{', '.join(repr(h) for h in table.header)}, none of which onboard knows",
                       "name a column by what it holds (e.g. 'Model', 'Profile', 'Speed'); until then "
                       "onboard leaves the table alone", _heading_role(rel, table), blocking=bool(suggested))
    role = _table_role(rel, table, fields)
    if role is None:
        return Refusal(rel, line, f"a table of models under '{heading or rel}' whose purpose onboard cannot "
                       "tell", "give it a heading such as 'Target Models' or a column onboard knows "
                       "(start command, strategy, temp, thinking) if onboard should keep it; until then "
                       "onboard leaves it alone", blocking=False)
    items = tuple((row.line + 1, " | ".join(row.cells)) for row in table.rows)
    return Place(role, "table", rel, line, end, heading, tuple(table.header), fields, tuple(entries),
                 per_model=role != "bench-profiles", items=items)


def _heading_role(rel: str, table) -> str | None:
    """The role the headings above a table (and its file) give it, without looking at its columns."""
    key = doc_fields.normalize(" ".join(table.headings[-2:]))
    if rel == PIPELINE_README:
        return "bench-profiles"
    for word, role in (("switch", "switching"), ("capabilit", "capabilities"), ("sampler", "samplers"),
                       ("target", "target-models")):
        if word in key:
            return role
    if "reference" in key and "model" in key:
        return "model-reference"
    if rel == "README.md" and "model" in key:
        return "target-models"
    return None


def _table_role(rel: str, table, fields: tuple[str | None, ...]) -> str | None:
    """The role of a table of models: from what its columns hold first, then its headings and file."""
    heading_key = doc_fields.normalize(" ".join(table.headings[-2:]))
    cells = [c for row in table.rows for c in row.cells]
    present = set(fields)
    if rel == PIPELINE_README or "bench" in present and "profile" not in present and "model" not in present:
        return "bench-profiles"
    if "start" in present or any("start.sh" in c for c in cells) or "switch" in heading_key:
        return "switching"
    if present & CAPABILITY_FIELDS and not (present & SAMPLER_FIELDS and "capabilit" not in heading_key):
        return "capabilities"
    if present & SAMPLER_FIELDS:
        return "samplers"
    if "strategy" in present:
        return "model-reference"
    role = _heading_role(rel, table)
    if role is None and rel in ("docs/gpu-strategy-guide.md", ".claude/agents/gpu-optimizer.md"):
        return "model-reference"
    return role


def _tree_entry(line: str) -> tuple[int, str]:
    """(indent, name) of a tree line: ``│   ├── Qwen3-32B/   # dense`` -> (8, "Qwen3-32B")."""
    stripped = line.lstrip(_TREE_CHARS)
    indent = len(line) - len(stripped)
    name = re.split(r"\s+(?:#|<-|←|--|—)\s*|\s{2,}", stripped.strip(), maxsplit=1)[0].strip()
    return indent, name.rstrip("/").strip("`*")


def _tree_place(rel: str, doc: MarkdownDoc, fence, prod) -> Place | None:
    """A fenced tree that lists model folders: structure (README) or hierarchy (AI_INSTRUCTIONS, agents)."""
    role = "structure" if rel == "README.md" else (
        "hierarchy" if rel == "AI_INSTRUCTIONS.md" or rel.startswith(".claude/agents/") else None)
    if role is None:
        return None
    if not any(ch in line for line in fence.body for ch in "├└│") and \
            sum(1 for line in fence.body if line.rstrip().endswith("/")) < 2:
        return None  # a command listing, not a tree
    body = [(fence.first_line + 1 + k, *_tree_entry(line)) for k, line in enumerate(fence.body)]
    models_at = next((k for k, (_, _, name) in enumerate(body) if name.lower() == "models"), None)
    items: list[tuple[int, str]] = []
    if models_at is not None:
        base = body[models_at][1]
        children = []
        for index, indent, name in body[models_at + 1:]:
            if not name:
                continue
            if indent <= base:
                break
            children.append((index, indent, name))
        if children:
            level = min(indent for _, indent, _ in children)
            items = [(index + 1, name.split("/")[0]) for index, indent, name in children
                     if indent == level and not _FILE_EXT_RE.search(name)
                     and name.lower() not in _NOT_MODEL_DIRS]
    # with a models/ folder, its model folders are the entries (not a card under documentation/);
    # without one, any line naming a profile's folder or file
    named_lines = items or [(index + 1, name) for index, _, name in body if name]
    entries = []
    for line, name in named_lines:
        pid = doc_fields.best_profile(name, prod)
        if pid is not None:
            entries.append((line, pid))
    if not items and not entries:
        return None
    if not items:
        items = [(line, name) for line, name in named_lines if any(line == e[0] for e in entries)]
    seen: set[str] = set()
    entries = [(line, pid) for line, pid in entries if not (pid in seen or seen.add(pid))]
    path = fence.headings
    return Place(role, "tree", rel, fence.first_line + 1, fence.last_line + 1, path[-1] if path else None,
                 entries=tuple(entries), items=tuple(items))


def _named_profiles(text: str, prod: Mapping[str, set[str]]) -> list[str]:
    """Every production profile a line names (a roadmap item may name several)."""
    return sorted(pid for pid, ids in prod.items() if doc_fields.names_profile(text, ids)
                  and not any(other != pid and doc_fields.match_length(text, prod[other])
                              > doc_fields.match_length(text, ids) and _contains(prod[other], ids)
                              for other in prod))


def _contains(longer: set[str], shorter: set[str]) -> bool:
    return any(s in x and s != x for x in longer for s in shorter)


def _list_place(rel: str, doc: MarkdownDoc, lst, prod) -> Place | None:
    """A list under a status heading in ROADMAP.md whose items name profiles: roadmap-status."""
    if rel != "ROADMAP.md" or not lst.headings or not _STATUS_HEADING_RE.search(lst.headings[-1]):
        return None
    entries = []
    for item in lst.items:
        for line in range(item.line, item.last_line + 1):
            for pid in _named_profiles(doc.line_text(line), prod):
                entries.append((line + 1, pid))
    if not entries:
        return None
    seen: set[str] = set()
    entries = [(line, pid) for line, pid in entries if not (pid in seen or seen.add(pid))]
    items = tuple((item.line + 1, item.text) for item in lst.items)
    return Place("roadmap-status", "list", rel, lst.first_line + 1, lst.last_line + 1, lst.headings[-1],
                 entries=tuple(entries), items=items)


def _section_places(rel: str, doc: MarkdownDoc, prod, blocked: set[int]) -> list[tuple[Place, int]]:
    """Runs of sibling headings, at least two of which each name one profile: per-model sections."""
    out = []
    for level in range(1, 7):
        sections = [s for s in doc.sections(level) if s.first_line not in blocked]
        groups: dict[tuple[str, ...], list] = {}
        for section in sections:
            parent = doc.heading_path(section.first_line)[:-1]
            groups.setdefault(parent, []).append(section)
        for parent, siblings in groups.items():
            named = []
            for section in siblings:
                pid = doc_fields.best_profile(section.heading.text, prod)
                if pid is not None:
                    named.append((section, pid))
            if len({pid for _, pid in named}) < 2:
                continue
            first, last = named[0][0], named[-1][0]
            items = tuple((s.first_line + 1, s.heading.text) for s in siblings
                          if first.first_line <= s.first_line <= last.last_line
                          or doc_fields.looks_like_model_name(s.heading.text))
            place = Place("model-notes", "sections", rel, first.first_line + 1, last.last_line + 1,
                          parent[-1] if parent else None,
                          entries=tuple((s.first_line + 1, pid) for s, pid in named),
                          per_model=rel == "docs/client-settings.md", items=items)
            out.append((place, _parent_index(doc, first.heading)))
    return out


def _parent_index(doc: MarkdownDoc, heading) -> int | None:
    """Index of the heading a heading sits under (the last one above it of a higher level)."""
    parent = None
    for i, other in enumerate(doc.headings):
        if other.line >= heading.line:
            break
        if other.level < heading.level:
            parent = i
    return parent


def map_problems(root: Path, rmap: RepoMap | None = None) -> list[BadInput]:
    """What keeps the docs phase from writing a place, as ``BadInput`` errors (file:line, fix)."""
    rmap = rmap if rmap is not None else build_map(root)
    return [BadInput(r.what, path=r.file, line=r.line, fix=r.fix) for r in rmap.problems]
