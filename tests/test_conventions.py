"""House rules that keep the codebase honest: engine without streamlit, documented public API, README
commands in step with CI, every canonical field documented."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import engine
from engine import TABLES

REPO = Path(__file__).resolve().parent.parent


def engine_sources() -> list[Path]:
    """Every Python file of the engine, packages (``engine/<name>/``) included."""
    return sorted((REPO / "engine").rglob("*.py"))


def engine_module_names() -> list[str]:
    """Dotted names of every engine module and subpackage module, as a user imports them."""
    found = pkgutil.walk_packages(engine.__path__, prefix="engine.")
    return sorted(m.name for m in found if not m.name.endswith(".__main__"))  # those run when imported


def test_engine_never_imports_streamlit():
    for path in engine_sources():
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


# What running SQL looks like: a call on a connection or relation, identifier quoting, or a string with SQL
# keywords in the upper case our SQL is written in (page text such as "Select a file from ..." is not SQL).
DATABASE_CALLS = {
    "execute",
    "executemany",
    "sql",
    "query_df",
    "fetchone",
    "fetchall",
    "fetchdf",
    "quote_ident",
}
SQL_TEXT = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\b[\s\S]*\bSET\b|\bDELETE\s+FROM\b"
    r"|\b(CREATE|DROP|ALTER)\s+(TABLE|VIEW|SCHEMA|INDEX)\b|\bCOPY\b[\s\S]*\bTO\b"
)


def sql_in_source(source: str) -> list[str]:
    """Database calls and SQL text in Python source: what a dashboard file must not hold."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in DATABASE_CALLS:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_TEXT.search(node.value):
            found.append(f"line {node.lineno}: SQL text {node.value[:60]!r}")
    return found


def test_pages_run_no_sql():
    """The dashboard calls the engine; the engine owns every query (one place to read, test and secure)."""
    paths = sorted((REPO / "dashboard").rglob("*.py"))
    assert len(paths) > 8
    for path in paths:
        found = sql_in_source(path.read_text(encoding="utf-8"))
        assert not found, f"{path.relative_to(REPO)} runs SQL: {found}"


def test_the_sql_check_finds_sql():
    """The check above would fail on the ways SQL used to reach pages."""
    assert sql_in_source('cursor().execute("SELECT min(d) FROM t").fetchone()')
    assert sql_in_source('con.sql("select 1")')
    assert sql_in_source('f"SELECT customer_id FROM {engine.quote_ident(table)} ORDER BY 1"')
    assert sql_in_source('text = """\n    SELECT a\n    FROM b\n"""')
    assert sql_in_source('q = "DELETE FROM orders"')
    assert not sql_in_source('st.caption("Select the segments to export from the list.")')
    assert not sql_in_source('engine.segment_members(state.cursor(), ["Champions"], as_of)')


def test_only_the_store_connects_to_duckdb():
    for path in engine_sources():
        if path == REPO / "engine" / "store.py":
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
    names = engine_module_names()
    assert "engine.store" in names and "engine.cli" in names
    for dotted in names:
        module = importlib.import_module(dotted)
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"{dotted}.__all__ lists missing {name}"


def test_the_lazy_loader_reads_modules_and_packages(tmp_path):
    """``engine/<name>.py`` and ``engine/<name>/__init__.py`` both declare names for ``from engine import``."""
    from engine import _declared_names

    for module in engine._LAZY:
        declared = _declared_names(module)
        assert declared == list(importlib.import_module(f"engine.{module}").__all__), module
    (tmp_path / "flat.py").write_text('__all__ = ["a", "b"]\n', encoding="utf-8")
    (tmp_path / "split").mkdir()
    (tmp_path / "split" / "__init__.py").write_text(
        'from x import a\n\n__all__: list[str] = ["c", "d"]\n', encoding="utf-8"
    )
    assert _declared_names("flat", tmp_path) == ["a", "b"]
    assert _declared_names("split", tmp_path) == ["c", "d"]


def test_the_readme_code_layout_names_every_module():
    """Every module of engine/ and dashboard/ has its line in the README's "How the code is laid out"."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## How the code is laid out") :]
    layout = layout[: layout.index("\n## ", 10)]
    missing = [
        str(path.relative_to(REPO))
        for folder in ("engine", "dashboard")
        for path in sorted((REPO / folder).rglob("*.py"))
        if path.parent.name != "app_pages" or path.name != "__init__.py"
        if f"`{path.relative_to(REPO)}`" not in layout
    ]
    assert not missing, f"add these modules to the README's code layout: {missing}"
