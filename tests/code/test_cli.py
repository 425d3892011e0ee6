"""The command line turns fixable errors into a message and exit code 1."""

from pathlib import Path

from typer.testing import CliRunner

from mlops.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_every_command_has_help():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = ("fetch", "validate", "prepare", "train", "evaluate", "show", "repro", "report")
    for command in (*commands, "gate", "pull-cache"):
        sub = runner.invoke(app, [command, "--help"])
        assert sub.exit_code == 0, sub.output


def test_missing_raw_files_are_an_error_with_a_fix(tmp_path):
    result = runner.invoke(
        app,
        [
            "validate",
            "--raw",
            str(tmp_path / "nowhere"),
            "--out",
            str(tmp_path / "out.parquet"),
            "--report",
            str(tmp_path / "report.json"),
            "--params",
            str(ROOT / "params.yaml"),
        ],
    )
    assert result.exit_code == 1
    assert "error in `validate`" in result.stderr
    assert "make data" in result.stderr
    assert not (tmp_path / "out.parquet").exists()


def test_bad_params_file_is_an_error(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("paths: {}\n")
    result = runner.invoke(app, ["show", "--params", str(bad)])
    assert result.exit_code == 1
    assert "does not match the expected parameters" in result.stderr


def test_show_before_any_run(tmp_path):
    params = (ROOT / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(
        params.replace("metrics: reports/metrics.json", f"metrics: {tmp_path}/none.json")
    )
    result = runner.invoke(app, ["show", "--params", str(tmp_path / "params.yaml")])
    assert result.exit_code == 1
    assert "run `make run` first" in result.stderr
