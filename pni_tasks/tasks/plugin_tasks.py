"""Tasks about plugins: what is loaded, and the hook reference generated from hookspecs.py."""

from __future__ import annotations

from pathlib import Path

from invoke import task

from pni_tasks import docs, report
from pni_tasks.plugins import describe_plugins
from pni_tasks.tasks.context import session_for, stage


@task(help={"env": "environment whose plugin settings to use (default dev)"})
@stage("", "plugins")
def plugins(c, env=None):
    """List the loaded plugins, where each comes from, the hooks it implements, and its tables and strategies."""
    session = session_for(c, env)
    owners: dict[str, list[str]] = {}
    for spec in session.all_tables.values():
        owners.setdefault(spec.plugin, []).append(f"table {spec.name}")
    for name, strategy in session.strategies.items():
        module = type(strategy).__module__
        plugin = next((n for n, p in session.pm.list_name_plugin() if getattr(p, "__name__", None) == module), module)
        owners.setdefault(plugin, []).append(f"strategy {name}")
    rows = [(info.name, info.origin, ", ".join(info.hooks), ", ".join(owners.get(info.name, [])))
            for info in describe_plugins(session.pm)]
    print(report.table(rows, ["plugin", "from", "hooks", "provides"]))


@task(help={"check": "fail if docs/plugins.md differs from what hookspecs.py generates, instead of writing it"})
@stage("", "docs")
def hook_docs(c, check=False):
    """Write docs/plugins.md from the hook docstrings in pni_tasks/hookspecs.py."""
    path = Path(c.config.get("pni_docs_path") or "docs/plugins.md")
    text = docs.plugins_markdown()
    if check:
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            from invoke.exceptions import Exit

            raise Exit(f"error: {path} is out of date with pni_tasks/hookspecs.py: run inv hook-docs", code=1)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
