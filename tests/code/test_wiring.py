"""dvc.yaml, params.yaml and the code agree: paths spelled once, stage = module = section."""

import re
from pathlib import Path

import pytest
import typer
import yaml

from mlops.cli import app
from mlops.pipeline.evaluate import PLOT_FILES

ROOT = Path(__file__).resolve().parents[2]
DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
STAGES = DVC_YAML["stages"]


def resolve(text: str) -> str:
    """Resolve DVC's ${a.b} templating against params.yaml, failing on unknown keys."""

    def lookup(match: re.Match) -> str:
        value = PARAMS
        for key in match[1].split("."):
            assert key in value, f"dvc.yaml uses ${{{match[1]}}}, not defined in params.yaml"
            value = value[key]
        return str(value)

    return re.sub(r"\$\{([\w.]+)\}", lookup, text)


def test_plots_section_shows_exactly_what_evaluate_writes():
    plot_dir = PARAMS["paths"]["plots"]
    referenced = set()
    for entry in DVC_YAML["plots"]:
        if isinstance(entry, str):  # a folder of images, e.g. the PNG figures
            continue
        for definition in entry.values():
            for path in (definition or {}).get("y", {}):
                referenced.add(resolve(path))
    assert referenced == {f"{plot_dir}/{name}" for name in PLOT_FILES.values()}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_is_a_module_a_command_and_a_params_section(stage):
    definition = STAGES[stage]
    assert f"python -m mlops {stage} " in definition["cmd"]
    assert f"src/mlops/pipeline/{stage}.py" in definition["deps"]
    assert (ROOT / "src" / "mlops" / "pipeline" / f"{stage}.py").exists()
    assert stage in typer.main.get_command(app).commands
    assert stage in PARAMS, f"params.yaml has no '{stage}' section"


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_tracked_params_exist(stage):
    for key in STAGES[stage].get("params", []):
        value = PARAMS
        for part in key.split("."):
            assert part in value, f"stage {stage} tracks '{key}', missing from params.yaml"
            value = value[part]


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_templated_paths_resolve(stage):
    text = yaml.safe_dump(STAGES[stage])
    assert "${" not in resolve(text)


def test_no_path_is_respelled_in_code():
    sources = {p: p.read_text() for p in (ROOT / "src").rglob("*.py")}
    for name, path in PARAMS["paths"].items():
        for source, text in sources.items():
            # a literal naming the path; `base / "data"` joins onto another folder, and
            # `{"data": ...}` is a mapping's key (a Kubernetes Secret's), not ours
            spelled = re.search(rf"""(?<!/ )["']{re.escape(path)}(/[^"']*)?["'](?!\s*:)""", text)
            assert not spelled, (
                f"{source} spells paths.{name} ({path}); take it from params.yaml instead"
            )


def test_stage_outputs_do_not_overlap_the_raw_data():
    raw = PARAMS["paths"]["raw"].rstrip("/") + "/"
    for stage, definition in STAGES.items():
        for out in definition.get("outs", []) + definition.get("metrics", []):
            path = resolve(next(iter(out)) if isinstance(out, dict) else out)
            assert not path.startswith(raw), f"{stage} writes {path} inside {raw}"


def test_pr_workflow_uploads_the_report_folder():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pr.yml").read_text())
    uploads = [
        step["with"]["path"]
        for step in workflow["jobs"]["pipeline"]["steps"]
        if step.get("uses", "").startswith("actions/upload-artifact@")
    ]
    assert uploads, "the pipeline job must upload its report"
    assert f"{PARAMS['paths']['report']}/" in uploads[0].split()
    assert f"{Path(PARAMS['paths']['metrics']).parent}/" in uploads[0].split()
