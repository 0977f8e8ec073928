"""Every workflow command's real ``--json`` output matches its JSON Schema (workflow.json_schemas), on
a real repository (tests/workflow_repo.py: onboard as a separate process, the model served by a local
hub), and docs/json-output.md is generated from those schemas."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hub_server import LocalHub
from tests.workflow_repo import REPO_ID, hub_files, make_repo
from onboard.workflow import generated_docs, json_validate
from onboard.workflow.json_schemas import schemas

NAME = "tiny-llama"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("json")
    files = hub_files(tmp)
    with LocalHub({REPO_ID: files}) as hub:
        yield make_repo(tmp, hub.url, files)


def _valid(kind: str, stdout: str) -> dict:
    data = json.loads(stdout)
    problems = json_validate.errors(data, schemas()[kind])
    assert problems == [], f"{kind}: " + "\n".join(problems)
    return data


def test_every_command_prints_what_its_schema_says(repo):
    started = _valid("step", repo.onboard("start", NAME, "--json", check=True).stdout)
    assert started["command"] == "start" and started["to_phase"] == "evaluate" and started["moved"]
    assert any("Fit table" in line for line in started["notes"])  # the phase's lines are in the result too
    held = repo.onboard("advance", NAME, "--json")
    assert held.returncode == 1
    held_data = _valid("step", held.stdout)
    assert not held_data["moved"] and held_data["exit_code"] == 1
    assert [g["name"] for g in held_data["guards"] if g["passed"] is False] == ["quant chosen"]
    moved = _valid("step", repo.onboard("advance", NAME, "--quant", "Q8_0", "--json", check=True).stdout)
    assert (moved["from_phase"], moved["to_phase"], moved["guards_phase"]) == ("evaluate", "download", "download")
    _valid("step", repo.onboard("advance", NAME, "--download", "--json", check=True).stdout)
    status = _valid("status", repo.onboard("status", NAME, "--json", check=True).stdout)
    assert status["phase"] == "profile" and status["allowed"] is None
    assert status["options"] == {"quant": "Q8_0"}  # the person's choice; what the phases found is in facts
    assert "Q8_0" in status["facts"]["evaluate"]["quants"] and status["facts"]["download"]["model_dir"]
    assert status["facts"]["profile"]["plan"]["fits"] is True
    checked = _valid("status", repo.onboard("status", NAME, "--check", "--json", check=True).stdout)
    assert checked["allowed"] == ["advance", "rollback", "abandon"]
    everyone = _valid("status-all", repo.onboard("status", "--json", check=True).stdout)
    assert [c["name"] for c in everyone["candidates"]] == [NAME]
    _valid("list", repo.onboard("list", "--json", check=True).stdout)
    history = _valid("history", repo.onboard("history", NAME, "--json", check=True).stdout)
    assert [(e["from_phase"], e["to_phase"]) for e in history["events"] if e["kind"] == "transition"] == \
        [("evaluate", "download"), ("download", "profile")]
    rolled = _valid("step", repo.onboard("rollback", NAME, "--json", check=True).stdout)
    assert (rolled["from_phase"], rolled["to_phase"]) == ("profile", "download") and rolled["undone_changes"] >= 1
    abandoned = _valid("step", repo.onboard("abandon", NAME, "--json", check=True).stdout)
    assert abandoned["to_phase"] == "abandoned" and abandoned["undone_changes"] is None
    _valid("list", repo.onboard("list", "--all", "--json", check=True).stdout)
    assert _valid("status-all", repo.onboard("status", "--json", check=True).stdout) == {"candidates": []}


def test_the_validator_finds_what_breaks_a_schema():
    schema = schemas()["list"]
    good = {"candidates": [{"name": "a", "phase": "test", "final": False, "updated_at": "t", "guards_passed": 1,
                            "guards_total": 2}]}
    assert json_validate.errors(good, schema) == []
    bad = {"candidates": [{"name": "a", "phase": "nowhere", "final": "no", "updated_at": "t", "guards_passed": 1,
                           "extra": 1}]}
    found = json_validate.errors(bad, schema)
    assert any("'nowhere' is not one of" in p for p in found)
    assert any("final: str" in p for p in found)
    assert any("'guards_total' is missing" in p for p in found)
    assert any("'extra' is not allowed" in p for p in found)
    with pytest.raises(ValueError, match="does not check"):
        json_validate.errors(1, {"minimum": 0})


def test_the_json_doc_is_generated_from_the_schemas():
    text = (ROOT / "docs" / "json-output.md").read_text()
    for kind, schema in schemas().items():
        assert f"### {kind}" in text and schema["title"] in text
    assert "| `from_phase` |" in text and "#### facts_profile" in text
    assert not [p for p in generated_docs.check(ROOT) if "json-output" in p]
