"""`mlops gate-label`: on a label event, only the base branch's override label re-runs the
gate (pr.yml skips everything else); a branch cannot rename the label to get a re-run."""

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """main has the shipped params.yaml; the checked-out branch renames the override label."""
    params = (ROOT / "params.yaml").read_text()
    assert "override_label: gate-override" in params
    (tmp_path / "params.yaml").write_text(params)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "-c", "user.email=a@b", "-c", "user.name=a", "add", "params.yaml")
    git(tmp_path, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "main")
    git(tmp_path, "checkout", "-q", "-b", "pr")
    (tmp_path / "params.yaml").write_text(
        params.replace("override_label: gate-override", "override_label: whatever")
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    return tmp_path


@pytest.mark.parametrize(
    ("label", "affects"), [("gate-override", "true"), ("whatever", "false"), ("docs", "false")]
)
def test_only_the_base_override_label_reruns_the_gate(repo, label, affects):
    result = runner.invoke(app, ["gate-label", "--label", label, "--base", "main"])
    assert result.exit_code == 0, result.output
    assert (repo / "output").read_text() == f"gate={affects}\n"
    if affects == "false":
        assert "is not the override label on main ('gate-override')" in result.output
        assert "nothing to do" in result.output
    else:
        assert "the gate runs again" in result.output


def test_the_label_comes_from_the_environment(repo, monkeypatch):
    monkeypatch.setenv("LABEL", "gate-override")
    result = runner.invoke(app, ["gate-label", "--base", "main"])
    assert result.exit_code == 0, result.output
    assert (repo / "output").read_text() == "gate=true\n"


def test_a_missing_base_is_an_error(repo):
    result = runner.invoke(app, ["gate-label", "--label", "x", "--base", "nowhere"])
    assert result.exit_code == 1
    assert "base revision 'nowhere' not found" in result.output + result.stderr
