"""The package's import rules (docs/architecture.md), read off every module's imports: the
layers below training know no Lightning or Hydra, models know no Lightning, training knows
nothing of the workflows run after it, and no layer imports one above it."""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "detkit"
FRAMEWORKS = ("lightning", "pytorch_lightning", "hydra", "omegaconf")  # the last two: Hydra's configs
# each layer and the detkit packages it may import; the top-level modules (exceptions, files) serve all
MAY_IMPORT = {
    "data": {"data"},
    "models": {"models"},
    "evaluation": {"evaluation", "data"},
    "analysis": {"analysis", "evaluation", "data", "models", "runs.layout"},  # the reports' file names
    "deploy": {"deploy", "models", "data"},  # data: the sidecar json and model file read as every input is
    "runs": {"runs", "data", "models"},  # the run folder: its data and detector, no Lightning
    "training": {"training", "runs", "data", "models", "evaluation", "analysis"},
    "workflows": {"workflows", "training", "runs", "data", "models", "evaluation", "analysis", "deploy"},
}
WITHOUT_FRAMEWORKS = ("data", "models", "evaluation", "analysis", "deploy")
WITHOUT_LIGHTNING = ("runs",)  # reads a saved config with OmegaConf, builds with Hydra's instantiate


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at its top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def test_every_module_belongs_to_a_layer():
    packages = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    assert packages == set(MAY_IMPORT)


@pytest.mark.parametrize(
    ("layer", "never"),
    [*((layer, FRAMEWORKS) for layer in WITHOUT_FRAMEWORKS), *((layer, FRAMEWORKS[:2]) for layer in WITHOUT_LIGHTNING)],
)
def test_the_layers_below_training_import_no_lightning_and_runs_none_at_all(layer, never):
    """Below training no Lightning or Hydra; the run folder (which reads configs) no Lightning."""
    found = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in _modules(layer)
        for name in _imports(path)
        if name.split(".")[0] in never
    }
    assert not found


@pytest.mark.parametrize("layer", sorted(MAY_IMPORT))
def test_no_layer_imports_one_it_may_not(layer):
    found = set()
    for path in _modules(layer):
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] != "detkit" or len(parts) < 3 or not (PACKAGE / parts[1]).is_dir():
                continue  # another library, or a top-level module (detkit.exceptions, detkit.files)
            allowed = MAY_IMPORT[layer]
            if parts[1] not in allowed and ".".join(parts[1:3]) not in allowed:
                found.add(f"{path.relative_to(PACKAGE)}: {name}")
    assert not found


def test_the_run_layout_imports_the_standard_library_only():
    """Every layer that writes a report may read its file names from it: it brings nothing with it."""
    assert {name.split(".")[0] for name in _imports(PACKAGE / "runs" / "layout.py")} <= {
        "__future__",
        "dataclasses",
        "pathlib",
    }


def test_the_rules_catch_an_import_that_breaks_them(tmp_path):
    """The reader sees imports inside functions too, where a lazy import would hide."""
    module = tmp_path / "late.py"
    module.write_text("def f():\n    from detkit.workflows.cli import run_hydra_tool\n    import lightning\n")
    assert {"detkit.workflows.cli", "lightning"} <= _imports(module)


# the tool runner, and the comparisons, whose input is itself a training config they train runs from
CONFIG_READERS = {
    "workflows/cli.py",
    "workflows/options.py",  # composes the defaults to check command-line values against them
    "workflows/compare_multitask.py",
    "workflows/compare_transfer.py",
}


def test_workflows_take_typed_options_not_configs():
    """Every other workflow takes a dataclass of typed options the tool builds (`cli.typed`)."""
    found = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in _modules("workflows")
        if str(path.relative_to(PACKAGE)) not in CONFIG_READERS
        for name in _imports(path)
        if name.split(".")[0] in FRAMEWORKS[2:]
    }
    assert not found


def test_every_file_the_architecture_names_exists():
    """docs/architecture.md's drawing and its "How to change" table name real files, file by file."""
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:detkit|tests|configs|tools)/[\w/.]+\.(?:py|yaml))`", text))
    missing = sorted(path for path in named if not (PACKAGE.parent / path).is_file())
    assert len(named) >= 15 and not missing
