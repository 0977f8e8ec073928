"""The assistant entry point (`/add-model <candidate>`: .claude/skills/add-model/SKILL.md and the
role notes in .claude/agents/) names only what exists, so an assistant that follows it drives the
real state machine and never hand-edits the person's files.

What is checked, against the real code and real output (nothing here is a copy of the contract):
- every `onboard ...` command line in the skill, the agents and docs/assistant.md (fenced code and
  inline code) resolves in the real click CLI (workflow.cli's lazy group), group subcommands
  included, and every option it names is a parameter of that command; an `advance` option is one a
  phase declares (phases.PHASES) or `--skip-bench`;
- the skill's phase table lists exactly the phases, guards and `advance` options of the registry
  (`--skip-bench` exactly where the machine has a skip_bench transition), and the costly options are
  in its "ask the person before" column;
- the exit code table and every "exit N (NAME)" match workflow.exit_codes.Exit;
- every JSON field, written by the convention `root.path` in backticks (`status.guards[].reason`,
  `plan.devices[].total_mib`, `list[].phase`), is present in the JSON the real commands print on a
  real scratch repository taken through all eight phases (local hub with the real huggingface_hub
  client, a real llama-server launch, a real quick EvalPlus run, a real crash at a named point for
  `status.interrupted`), and every `status.next` seen on the way is itself a valid command line;
- no file grants or asks for an editing tool: the agents' `tools` and the skill's `allowed-tools`
  hold no Edit/Write tool, the skill pre-approves only read-only `onboard` commands, fenced code is
  only `onboard` command lines, and the rule against hand edits is stated.
"""
from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import yaml

from onboard.phases import PHASES
from onboard.workflow.cli import cli
from onboard.workflow.exit_codes import Exit
from onboard.workflow.machine import transitions_table

ROOT = Path(__file__).resolve().parent.parent
SKILL = ROOT / ".claude" / "skills" / "add-model" / "SKILL.md"
AGENT_DIR = ROOT / ".claude" / "agents"
ROLES = ("onboard-evaluator", "onboard-gpu-placement", "onboard-benchmark", "onboard-docs")
AGENTS = tuple(AGENT_DIR / f"{role}.md" for role in ROLES)
GUIDE = ROOT / "docs" / "assistant.md"
FILES = (SKILL, *AGENTS, GUIDE)
FIXTURES = Path(__file__).parent / "fixtures"

EDIT_TOOLS = {"Edit", "Write", "MultiEdit", "NotebookEdit"}
READ_TOOLS = {"Bash", "Read", "Grep", "Glob"}
READ_ONLY_COMMANDS = {"status", "list", "history", "inspect", "plan", "hardware", "samplers", "logs analyze",
                      "docs check"}
# JSON roots of the field convention -> the command whose `--json` output the path is read in
FIELD_ROOTS = ("status", "list", "history", "inspect", "plan", "hardware", "samplers", "logs", "docs")
FIELD = re.compile(rf"^({'|'.join(FIELD_ROOTS)})((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\])+)$")
FIELD_LIKE = re.compile(rf"^({'|'.join(FIELD_ROOTS)})[.\[]")


# -- reading the markdown ---------------------------------------------------------------------------

def split_front_matter(text: str) -> tuple[dict, str]:
    """(front matter as YAML, body); a file without front matter gets {}."""
    if not text.startswith("---\n"):
        return {}, text
    head, _, body = text[4:].partition("\n---\n")
    return yaml.safe_load(head) or {}, body


@dataclass(frozen=True)
class Snippet:
    file: str
    line: int
    text: str
    fenced: bool


def snippets(path: Path) -> list[Snippet]:
    """Every fenced code line and every inline code span of the body, with its line number."""
    _, body = split_front_matter(path.read_text(encoding="utf-8"))
    offset = path.read_text(encoding="utf-8").count("\n") - body.count("\n")
    found, fenced = [], False
    for n, line in enumerate(body.splitlines(), start=1 + offset):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            if line.strip():
                found.append(Snippet(path.name, n, line.strip(), True))
            continue
        for span in re.findall(r"(?<!`)`([^`\n]+)`(?!`)", line):
            found.append(Snippet(path.name, n, span.strip(), False))
    return found


def onboard_lines(path: Path) -> list[Snippet]:
    out = []
    for s in snippets(path):
        text = re.sub(r"^\$\s+", "", s.text)
        text = re.sub(r"\s+#.*$", "", text)  # a shell comment
        if re.match(r"^onboard\s+\S", text):
            out.append(Snippet(s.file, s.line, text, s.fenced))
    return out


def field_refs(path: Path) -> list[Snippet]:
    return [s for s in snippets(path) if FIELD_LIKE.match(s.text)]


# -- the real CLI -----------------------------------------------------------------------------------

def _flags(command: click.Command) -> set[str]:
    flags = {"--help"}
    for param in command.params:
        if isinstance(param, click.Option):
            flags.update(param.opts)
            flags.update(param.secondary_opts)
    return flags


def _takes_value(command: click.Command, flag: str) -> bool:
    for param in command.params:
        if isinstance(param, click.Option) and flag in (*param.opts, *param.secondary_opts):
            return not param.is_flag and not param.count
    return False


PHASE_FLAGS = {"--" + o.name.replace("_", "-") for p in PHASES for o in p.options}
SKIP_SOURCES = {t["source"] for t in transitions_table() if t["trigger"] == "skip_bench"}


def check_command(line: str) -> tuple[str | None, list[str]]:
    """(the command's name as the CLI resolves it, problems) for one `onboard ...` line."""
    try:
        tokens = shlex.split(line)
    except ValueError as err:
        return None, [f"cannot split {line!r}: {err}"]
    assert tokens[0] == "onboard"
    ctx = click.Context(cli, info_name="onboard")
    i = 1
    while i < len(tokens) and tokens[i].startswith("-"):  # group options (--root DIR, --db FILE)
        flag = tokens[i].split("=", 1)[0]
        if flag not in _flags(cli):
            return None, [f"onboard has no option {flag}"]
        i += 2 if _takes_value(cli, flag) and "=" not in tokens[i] else 1
    if i >= len(tokens):
        return None, ["no command"]
    name = tokens[i]
    command = cli.get_command(ctx, name)
    if command is None:
        return None, [f"no command `onboard {name}`"]
    i += 1
    full = name
    if isinstance(command, click.Group):
        if i >= len(tokens) or tokens[i] not in command.commands:
            sub = tokens[i] if i < len(tokens) else "(nothing)"
            return None, [f"`onboard {name}` has no subcommand {sub}: {sorted(command.commands)}"]
        full = f"{name} {tokens[i]}"
        command = command.commands[tokens[i]]
        i += 1
    problems = []
    for token in tokens[i:]:
        token = token.strip("[]")
        if not token.startswith("-") or token in ("-", "..."):
            continue
        flag = token.split("=", 1)[0]
        if flag not in _flags(command):
            problems.append(f"`onboard {full}` has no option {flag}")
        elif full == "advance" and flag not in PHASE_FLAGS | {"--skip-bench", "--help"}:
            problems.append(f"advance option {flag} is not declared by any phase")
    return full, problems


# -- static checks: commands, options, phases, exit codes, tools -----------------------------------

def test_the_skill_and_every_role_exist_with_claude_code_front_matter():
    meta, body = split_front_matter(SKILL.read_text(encoding="utf-8"))
    assert meta["name"] == "add-model" == SKILL.parent.name
    assert "/add-model" in meta["description"] and meta["argument-hint"] == "<candidate>"
    assert "$ARGUMENTS" in body
    for role, path in zip(ROLES, AGENTS):
        meta, body = split_front_matter(path.read_text(encoding="utf-8"))
        assert meta["name"] == role == path.stem
        assert len(meta["description"]) > 40 and body.strip()
        tools = {t.strip() for t in meta["tools"].split(",")}
        assert tools <= READ_TOOLS, f"{path.name}: tools {sorted(tools - READ_TOOLS)} can change files"
        assert not tools & EDIT_TOOLS


def test_the_skill_preapproves_only_read_only_onboard_commands_and_no_editing_tool():
    meta, _ = split_front_matter(SKILL.read_text(encoding="utf-8"))
    rules = [r.strip() for r in re.split(r",\s*(?![^()]*\))", meta["allowed-tools"])]
    assert not {r.split("(")[0] for r in rules} & EDIT_TOOLS
    bash = [re.fullmatch(r"Bash\((onboard [^:]+):\*\)", r) for r in rules if r.startswith("Bash")]
    assert bash and all(bash), rules
    approved = set()
    for match in bash:
        full, problems = check_command(match.group(1))
        assert not problems, problems
        approved.add(full)
    assert approved == READ_ONLY_COMMANDS


def test_every_onboard_command_line_names_a_real_command_and_real_options():
    problems, seen = [], set()
    for path in FILES:
        for s in onboard_lines(path):
            full, found = check_command(s.text)
            seen.add(full)
            problems += [f"{s.file}:{s.line}: {s.text}: {p}" for p in found]
    assert not problems, "\n".join(problems)
    # the loop and every role's reading are there: a parser that found nothing would pass vacuously
    assert {"start", "status", "advance", "rollback", "abandon", "list", "history", "inspect", "plan",
            "hardware", "samplers", "logs analyze", "docs check"} <= seen


def test_fenced_code_is_only_onboard_commands_and_no_snippet_writes_a_file():
    for path in FILES:
        for s in snippets(path):
            if s.fenced and not s.text.startswith("#"):
                assert re.match(r"^(\$\s+)?onboard\s", s.text), f"{s.file}:{s.line}: {s.text}"
            code = re.sub(r"\s+#.*$", "", s.text)
            assert not re.search(r"(^|\s)(>>?|tee|sed\s+-i|rm|mv|cp|truncate)(\s|$)", code), \
                f"{s.file}:{s.line}: {s.text} writes a file"


def test_the_skill_forbids_hand_edits_and_says_when_to_ask():
    text = SKILL.read_text(encoding="utf-8")
    rules = text.split("## Rules", 1)[1]
    never = re.search(r"Never edit (.+?) by hand", rules, re.S)
    assert never and all(p in never.group(1) for p in ("`models.conf`", "`docs/`", "`.onboard/`"))
    assert "no Edit or Write tool" in rules
    assert re.search(r"exit 5 \(BUSY\) wait", rules) and "Never kill" in rules
    assert re.search(r"exit 7 \(CONFLICT\) show", rules) and "ask" in rules.split("exit 7", 1)[1].split("\n-")[0]


def _phase_table(text: str) -> list[list[str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if line.startswith("|") and "phase" in line and "guards" in line and "`advance` options" in line)
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def test_the_phase_table_is_the_phase_registry():
    rows = _phase_table(SKILL.read_text(encoding="utf-8"))
    assert [r[1] for r in rows] == [p.name for p in PHASES]
    for (num, name, guards, options, ask), phase in zip(rows, PHASES):
        assert int(num) == PHASES.index(phase) + 1
        assert re.findall(r"`([^`]+)`", guards) == [g.name for g in phase.guards], name
        flags = [re.match(r"--[a-z-]+", o).group(0) for o in re.findall(r"`([^`]+)`", options)]
        expected = ["--" + o.name.replace("_", "-") for o in phase.options]
        if phase.name in SKIP_SOURCES:
            expected.append("--skip-bench")
        assert flags == expected, name
        for o in phase.options:  # a value option shows its metavar, as `advance --help` does
            if o.metavar:
                assert f"`--{o.name.replace('_', '-')} {o.metavar}`" in options, (name, o.name)
        for costly in ("--download", "--apply-suggestion", "--skip-bench", "--accept-defaults"):
            if costly in flags:
                assert f"`{costly}`" in ask, f"{name}: ask the person before {costly}"


def test_exit_codes_match_the_exit_code_table():
    text = SKILL.read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| (\d+) \| ([A-Z_]+) \|", text, re.M))
    assert {int(k): v for k, v in table.items()} == {e.value: e.name for e in Exit}
    for path in FILES:
        body = path.read_text(encoding="utf-8")
        for code, name in re.findall(r"exit (\d+) \(([A-Z_]+)\)", body):
            assert Exit(int(code)).name == name, f"{path.name}: exit {code} ({name})"
        for code in re.findall(r"\bexits? (\d+)\b", body):
            assert int(code) in {e.value for e in Exit}, f"{path.name}: exit {code}"


def test_field_references_follow_the_convention():
    refs = [s for path in FILES for s in field_refs(path)]
    bad = [f"{s.file}:{s.line}: `{s.text}`" for s in refs if not FIELD.match(s.text)]
    assert not bad, "not `root.path` (see docs/assistant.md):\n" + "\n".join(bad)
    roots = {FIELD.match(s.text).group(1) for s in refs}
    assert roots == set(FIELD_ROOTS)  # every root is used, so every command's JSON is checked below


# -- the JSON the real commands print ----------------------------------------------------------------

from tests.test_benchmark_real import _require_evalplus  # noqa: E402  (the bench extra, or skip/fail)


@dataclass
class Walk:
    samples: dict[str, list]
    nexts: list[str]


@pytest.fixture(scope="module")
def walk(tmp_path_factory, llama_server_bin) -> Walk:
    """A real repository taken through all eight phases by the commands the skill names, keeping
    every JSON document printed on the way (plus the exit codes the skill's table promises)."""
    _require_evalplus()
    from tests.hub_server import LocalHub
    from tests.workflow_repo import REPO_ID, hub_files, make_repo

    tmp = tmp_path_factory.mktemp("assistant")
    files = hub_files(tmp)
    samples: dict[str, list] = {root: [] for root in FIELD_ROOTS}
    nexts: list[str] = []
    name = "tiny-llama"
    with LocalHub({REPO_ID: files}) as hub:
        repo = make_repo(tmp, hub.url, files)
        repo.env["LLAMA_SERVER"] = str(llama_server_bin)

        def run(*args: str, code: int = 0, env: dict | None = None, timeout: float = 600) -> str:
            proc = repo.onboard(*args, env=env, timeout=timeout)
            assert proc.returncode == code, f"onboard {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            return proc.stdout

        def keep(root: str, *args: str, code: int = 0) -> dict | list:
            data = json.loads(run(*args, code=code))
            samples[root].append(data)
            return data

        def status(phase: str) -> dict:
            data = keep("status", "status", name, "--json")
            assert data["phase"] == phase, data
            if data.get("next"):  # .get: a renamed field must fail the field test, not this walk
                nexts.append(data["next"])
            return data

        assert repo.onboard("status", name, "--json").returncode == Exit.UNKNOWN
        run("start", name)
        status("evaluate")
        run("advance", name, code=Exit.GUARD)  # no quant chosen
        run("advance", name, "--download", code=Exit.WRONG_STATE)  # an option of another phase
        run("rollback", name, code=Exit.WRONG_STATE)  # nothing before evaluate
        run("advance", name, "--quant", "Q8_0")
        status("download")
        crashed = repo.onboard("advance", name, "--download", env={"ONBOARD_TEST_KILL_AT": "after_file_write"})
        assert crashed.returncode == -9, crashed.stderr
        assert "interrupted" in status("download")
        run("advance", name, "--download")  # undoes the interrupted step, then does it again
        status("profile")
        run("advance", name)
        status("samplers")
        run("advance", name)
        status("test")
        run("advance", name, "--log", str(FIXTURES / "llama-server-logs" / "b11434-cpu-fail-oom-ulimit.log"),
            code=Exit.GUARD)
        assert status("test")["facts"]["test"]["suggestion"]
        run("advance", name)  # launches the real llama-server with the profile
        status("bench-profile")
        run("advance", name)
        status("benchmark")
        run("advance", name, "--quick", "1", "--dataset", str(FIXTURES / "humaneval_tiny.jsonl"), timeout=900)
        status("docs")
        run("advance", name)
        status("onboarded")
        keep("list", "list", "--all", "--json")
        keep("history", "history", name, "--json")

        gguf = repo.root / "models" / "Tiny-Llama" / "Q8_0" / "Tiny-Llama-Q8_0.gguf"
        keep("inspect", "inspect", str(gguf), "--json")
        keep("inspect", "inspect", f"{REPO_ID}:Q8_0", "--json")
        keep("plan", "plan", str(gguf), "--json")
        keep("plan", "plan", str(gguf), "--device", "Vulkan0=2048", "--ctx", "2048", "--json")
        keep("hardware", "hardware", "--json")
        keep("hardware", "hardware", "--device", "Vulkan0=2048", "--json")
        card = repo.root / "models" / "documentation" / "CANDIDATES" / f"README_{name}.md"
        keep("samplers", "samplers", str(card), "--json")
        keep("samplers", "samplers", str(FIXTURES / "cards" / "qwen3-4b.md"), "--json")
        keep("logs", "logs", "analyze", str(FIXTURES / "llama-server-logs" / "b11434-cpu-fail-oom-ulimit.log"), "--json")
        launch_log = repo.root / samples["status"][-1]["facts"]["test"]["run"]["log"]
        keep("logs", "logs", "analyze", str(launch_log), "--json")
        keep("docs", "docs", "check", "--json")
    return Walk(samples, nexts)


def _segments(path: str) -> list[str]:
    return [key or "[]" for key, _ in re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)|(\[\])", path)]


def _present(doc, segments: list[str]) -> bool:
    """Whether some value of ``doc`` lies at that path (a list step: some element has the rest)."""
    if not segments:
        return True
    head, rest = segments[0], segments[1:]
    if head == "[]":
        return isinstance(doc, list) and any(_present(item, rest) for item in doc)
    return isinstance(doc, dict) and head in doc and _present(doc[head], rest)


@pytest.mark.real_server
@pytest.mark.slow  # the walk: a launch and a quick EvalPlus run, about 2 minutes on 2 cores
def test_every_json_field_the_skill_and_agents_name_is_in_the_real_output(walk):
    refs = [s for path in FILES for s in field_refs(path) if FIELD.match(s.text)]
    assert len({s.text for s in refs}) > 80
    missing = []
    for s in refs:
        root, path = FIELD.match(s.text).groups()
        if not any(_present(doc, _segments(path)) for doc in walk.samples[root]):
            missing.append(f"{s.file}:{s.line}: `{s.text}` is in no `onboard {root} ... --json` output")
    assert not missing, "\n".join(missing)


@pytest.mark.real_server
@pytest.mark.slow  # the walk: a launch and a quick EvalPlus run, about 2 minutes on 2 cores
def test_every_next_command_status_proposes_is_a_valid_command_line(walk):
    """The skill's loop runs `status.next`: each one seen on the way must parse and resolve."""
    assert len(walk.nexts) >= 8
    for line in walk.nexts:
        command = line.split("  ", 1)[0]  # after two spaces: a comment for the person
        full, problems = check_command(command)
        assert full in ("advance", "rollback") and not problems, (line, problems)
