"""House rules that keep the codebase honest: engine without streamlit, documented public API, README
commands in step with CI, every canonical field documented."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import engine
from engine import TABLES

REPO = Path(__file__).resolve().parent.parent


def test_engine_never_imports_streamlit():
    for path in (REPO / "engine").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "streamlit" for n in names), f"{path.name} imports streamlit"


def test_every_public_name_exists_and_public_functions_are_documented():
    for name in engine.__all__:
        value = getattr(engine, name)
        if callable(value) and getattr(value, "__module__", "").startswith("engine"):
            assert value.__doc__ and value.__doc__.strip(), f"engine.{name} has no docstring"


def test_only_the_store_connects_to_duckdb():
    for path in (REPO / "engine").glob("*.py"):
        if path.name == "store.py":
            continue
        assert "duckdb.connect(" not in path.read_text(encoding="utf-8"), f"{path.name} connects on its own"


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    run_cmd, test_cmd = blocks[0].strip(), blocks[1].strip()
    assert "pip install -e ." in run_cmd and run_cmd.endswith("segmint")
    assert "pytest" in test_cmd
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert test_cmd in ci
    assert "apt-get install" in ci and "chromium" in ci


def test_every_canonical_field_is_in_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for table in TABLES.values():
        assert f"`{table.name}`" in readme
        for field in table.fields:
            assert f"`{field.name}`" in readme, (
                f"{table.name}.{field.name} missing from the README data model"
            )


def test_engine_modules_import_as_a_user_would():
    for path in sorted((REPO / "engine").glob("*.py")):
        module = importlib.import_module(f"engine.{path.stem}")
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"engine.{path.stem}.__all__ lists missing {name}"
