"""phases/repo_layout.py (where a candidate's card is, which card is a profile's), store/suggest.py
("did you mean ...?") and store/json_input.py (bad JSON named at file, line and column)."""
from __future__ import annotations

import pytest

from onboard.llamacpp.errors import BadInput
from onboard.phases.repo_layout import card_files, card_for_profile, card_relpath
from onboard.store.json_input import parse_json
from onboard.store.suggest import close_names, did_you_mean


def test_the_card_path_is_the_one_the_docs_and_the_workflow_name():
    assert card_relpath("Qwen3-32B") == "models/documentation/CANDIDATES/README_Qwen3-32B.md"


def test_cards_are_listed_and_matched_to_their_profile_by_the_slugged_name(tmp_path):
    assert card_files(tmp_path) == [] and card_for_profile(tmp_path, "qwen3-32b") is None
    for name in ("Qwen3-32B", "gemma-3-270m"):
        path = tmp_path / card_relpath(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# card\n", encoding="utf-8")
    (tmp_path / card_relpath("x")).with_name("notes.md").write_text("not a card\n", encoding="utf-8")
    assert [name for name, _path in card_files(tmp_path)] == ["Qwen3-32B", "gemma-3-270m"]
    name, path = card_for_profile(tmp_path, "qwen3-32b")
    assert name == "Qwen3-32B" and path == tmp_path / card_relpath("Qwen3-32B")
    assert card_for_profile(tmp_path, "qwen3-8b") is None


def test_did_you_mean_names_the_close_choices_or_nothing():
    ids = ["qwen3-32b", "qwen3-8b", "gemma-3-270m"]
    assert did_you_mean("qwen3-32", ids, n=1) == "did you mean qwen3-32b?"
    assert did_you_mean("bench-qwen3-32", ["bench-qwen3-32b"], n=1, cutoff=0.8,
                        show="[{}]".format) == "did you mean [bench-qwen3-32b]?"
    assert did_you_mean("stauts", ["status", "start"], cutoff=0.5, show=repr,
                        joiner=" or ") == "did you mean 'status' or 'start'?"
    assert did_you_mean("llama", ids) is None
    assert close_names("qwen3-8", ids, n=3, cutoff=0.5)[0] == "qwen3-8b"


def test_bad_json_is_bad_input_at_its_line_and_column():
    assert parse_json('{"a": 1}', "x.json") == {"a": 1}
    with pytest.raises(BadInput) as err:
        parse_json('{\n  "a": 1,\n  "b": \n}', "benchmarks/evalplus/reference-scores.json")
    assert err.value.path == "benchmarks/evalplus/reference-scores.json" and err.value.line == 4
    assert "not valid JSON" in err.value.message and "(column 1)" in err.value.message
    assert err.value.fix == "correct it by hand"
