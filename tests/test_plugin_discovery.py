"""Plugins a user adds, and how a broken one is reported: through the real ``inv``.

Three ways in (``docs/plugins.md``): an installed package's entry point in the ``pni_tasks``
group (``tests/fixtures/pni_glossary``, put on ``PYTHONPATH``, is a distribution with a
``.dist-info`` exactly as ``pip install`` leaves one), a ``.py`` file in ``pni.plugins.folder``,
and the built-ins. ``pni.plugins.disabled`` takes any of them out. pluggy validates each plugin
when it is loaded; the host turns its message into one line naming the plugin and its file.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import subprocess
import textwrap
from pathlib import Path

import pytest
from invhelp import REPO, InvRunner, items, table_names

from pni_tasks import docs, hookspecs
from pni_tasks.plugins import make_plugin_manager

GLOSSARY_PACKAGE = Path(__file__).resolve().parent / "fixtures" / "pni_glossary"
GLOSSARY = [  # term, definition, updated_at
    ("cloze", "A gap-fill exercise ✍️", "2024-03-01 12:00:00+00"),
    ("passage", None, "2024-03-02 08:30:00.25+02"),
    ("لغة", "language, in Arabic", "2024-03-03 00:00:00+00"),
]

TYPO = """
    from pni_tasks import hookimpl

    @hookimpl
    def pni_transfrom(table, group, context):
        return None
"""
UNKNOWN_ARGUMENT = """
    from pni_tasks import hookimpl

    @hookimpl
    def pni_transform(table, group, ctx):
        return None
"""
SECOND_TOPICS = """
    from pni_tasks import hookimpl
    from pni_tasks.model import KeyAttribute, TableSpec

    @hookimpl
    def pni_register_tables(register):
        register(TableSpec(name="pni-topics", hash_key=KeyAttribute("topic", "S")))
"""
# Overrides one built-in transform: tryfirst puts it before the built-in topics plugin, and a
# firstresult hook stops at the first non-None answer; None leaves every other table alone.
TOPIC_BADGE = """
    from pni_tasks import hookimpl
    from plugins.topics import topic_item

    @hookimpl(tryfirst=True)
    def pni_transform(table, group):
        if table.name != "pni-topics":
            return None
        item = topic_item(group.data)
        item["badge"] = item["topic"] + " / " + item["level"]
        return [item]
"""


def plugin_folder(path: Path, **sources: str) -> Path:
    path.mkdir()
    for name, source in sources.items():
        (path / f"{name}.py").write_text(textwrap.dedent(source))
    return path


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def plugin_rows(stdout: str) -> dict[str, str]:
    """``inv plugins``'s table: plugin name -> its whole row."""
    return {line.split()[0]: line for line in stdout.splitlines()[2:] if line.strip()}


@pytest.fixture
def bare(tmp_path: Path) -> InvRunner:
    """``inv`` for commands that touch neither PostgreSQL nor DynamoDB."""
    home = tmp_path / "home"
    home.mkdir()
    return InvRunner(pg_dsn="postgresql://postgres@127.0.0.1:9/none", endpoint="http://127.0.0.1:9", home=home)


# -------------------------------------------------------------------------------------------------
# Validation: one line naming the plugin
# -------------------------------------------------------------------------------------------------


def test_a_misspelled_hook_fails_naming_the_plugin(bare, tmp_path):
    folder = plugin_folder(tmp_path / "plugins", typo=TYPO)
    result = bare.inv("plugins", check=False, env=bare.environ(INVOKE_PNI_PLUGINS_FOLDER=str(folder)))
    assert result.returncode == 1
    assert error_lines(result) == [f"error: plugins failed: plugin typo ({folder / 'typo.py'}): unknown hook "
                                   "pni_transfrom: fix its name (did you mean pni_transform?)"]


def test_an_unknown_hook_argument_fails_naming_the_plugin(bare, tmp_path):
    folder = plugin_folder(tmp_path / "plugins", badarg=UNKNOWN_ARGUMENT)
    result = bare.inv("load", "--env=local", check=False,
                      env=bare.environ(INVOKE_PNI_PLUGINS_FOLDER=str(folder)))
    assert result.returncode == 1
    assert error_lines(result) == [f"error: stage 01 setup failed: plugin badarg ({folder / 'badarg.py'}): hook "
                                   "pni_transform has argument(s) ctx that its spec does not declare: use only "
                                   "table, group, context (in any order, any subset)"]


def test_two_plugins_registering_one_table_are_both_named_until_one_is_disabled(bare, tmp_path):
    folder = plugin_folder(tmp_path / "plugins", my_topics=SECOND_TOPICS)
    env = bare.environ(INVOKE_PNI_PLUGINS_FOLDER=str(folder))
    result = bare.inv("plugins", check=False, env=env)
    assert result.returncode == 1
    assert error_lines(result) == ["error: plugins failed: table pni-topics is registered by both plugin topics and "
                                   "plugin my_topics: disable one (pni.plugins.disabled)"]

    disable = tmp_path / "disable.json"
    disable.write_text(json.dumps({"pni": {"plugins": {"disabled": ["topics"]}}}))
    rows = plugin_rows(bare.inv("-f", str(disable), "plugins", env=env).stdout)
    assert "topics" not in rows
    assert f"file {folder / 'my_topics.py'}" in rows["my_topics"] and "table pni-topics" in rows["my_topics"]


def test_disabling_topics_removes_its_table(runner, tmp_path):
    disable = tmp_path / "disable.json"
    disable.write_text(json.dumps({"pni": {"plugins": {"disabled": ["topics"]}}}))
    assert "table pni-topics" in plugin_rows(runner.inv("plugins").stdout)["topics"]  # loaded by default

    listed = runner.inv("-f", str(disable), "plugins").stdout
    assert "topics" not in plugin_rows(listed) and "pni-topics" not in listed
    runner.seed(3)
    runner.inv("-f", str(disable), "migrate", "--env=local", "--clean")
    assert table_names(runner.dynamodb()) == ["pni-cache-metadata", "pni-lessons", "pni-passages"]


# -------------------------------------------------------------------------------------------------
# A third party's package, found through its entry point
# -------------------------------------------------------------------------------------------------


def test_the_glossary_fixture_is_an_installed_distribution_with_an_entry_point():
    (dist,) = importlib.metadata.distributions(name="pni-glossary", path=[str(GLOSSARY_PACKAGE)])
    assert (dist.metadata["Name"], dist.version) == ("pni-glossary", "0.1.0")
    assert [(ep.group, ep.name, ep.value) for ep in dist.entry_points] == [("pni_tasks", "glossary", "pni_glossary")]


@pytest.fixture
def glossary(runner):
    """The test database with a few lessons and the glossary package's own source table."""
    runner.seed(3)
    runner.sql("CREATE TABLE glossary (term text PRIMARY KEY, definition text, updated_at timestamptz)")
    for row in GLOSSARY:
        runner.sql("INSERT INTO glossary VALUES (%s, %s, %s)", row)
    runner.extra_env["PYTHONPATH"] = str(GLOSSARY_PACKAGE)
    return runner


def test_an_installed_package_adds_a_table_that_is_migrated_and_verified(glossary):
    rows = plugin_rows(glossary.inv("plugins").stdout)
    assert "entry point of pni-glossary 0.1.0" in rows["glossary"]
    assert "pni_read_source, pni_register_tables, pni_transform" in rows["glossary"]
    assert "table pni-glossary" in rows["glossary"]

    glossary.inv("migrate", "--env=local", "--clean")
    stored = sorted(items(glossary.dynamodb(), "pni-glossary"), key=lambda item: item["term"])
    assert [{k: v for k, v in item.items() if k not in ("content_hash", "migrated_at")} for item in stored] == [
        {"term": "cloze", "definition": "A gap-fill exercise ✍️", "updated_at": "2024-03-01T12:00:00Z"},
        {"term": "passage", "updated_at": "2024-03-02T06:30:00.250000Z"},  # NULL left out, UTC
        {"term": "لغة", "definition": "language, in Arabic", "updated_at": "2024-03-03T00:00:00Z"},
    ]
    assert all(item["content_hash"] and item["migrated_at"] for item in stored)

    verified = {t["table"]: t for t in glossary.inv_json("verify", "--env=local")["tables"]}["pni-glossary"]
    assert [verified[k] for k in ("expected", "stored", "missing", "extra", "different", "ok")] == [3, 3, 0, 0, 0, True]

    summary = glossary.inv_json("summary", "--env=local")
    tables = {t["name"]: t for t in summary["tables"]}
    assert (tables["pni-glossary"]["status"], tables["pni-glossary"]["item_count"]) == ("ACTIVE", 3)
    assert summary["last_verify"]["ok"] is True and "pni-glossary" in summary["last_verify"]["tables"]

    glossary.sql("UPDATE glossary SET definition = 'changed' WHERE term = 'cloze'")
    result = glossary.inv("verify", "--env=local", "--json", check=False)
    assert result.returncode == 1
    changed = {t["table"]: t for t in json.loads(result.stdout)["tables"]}["pni-glossary"]
    assert (changed["different"], changed["different_keys"]) == (1, ['["cloze"]'])


# -------------------------------------------------------------------------------------------------
# A local plugin overriding one built-in transform
# -------------------------------------------------------------------------------------------------


def test_a_local_plugin_overrides_one_built_in_transform(runner, tmp_path):
    folder = plugin_folder(tmp_path / "plugins", topic_badge=TOPIC_BADGE)
    runner.seed(4)
    runner.inv("migrate", "--env=local", "--clean", env=runner.environ(INVOKE_PNI_PLUGINS_FOLDER=str(folder)))
    client = runner.dynamodb()
    topics = items(client, "pni-topics")
    assert topics and all(item["badge"] == f"{item['topic']} / {item['level']}" for item in topics)
    assert not any("badge" in item for item in items(client, "pni-lessons"))

    # Without the plugin, the built-in transform is back: every topic changes, no lesson does.
    document = {t["table"]: t for t in runner.inv_json("load", "--env=local")["tables"]}
    ((lessons, passages),) = runner.sql("SELECT (SELECT count(*) FROM lessons), (SELECT count(*) FROM passages)")
    assert (document["pni-topics"]["updated"], document["pni-topics"]["skipped"]) == (len(topics), 0)
    assert (document["pni-lessons"]["updated"], document["pni-lessons"]["skipped"]) == (0, lessons)
    assert (document["pni-passages"]["updated"], document["pni-passages"]["skipped"]) == (0, passages)
    assert not any("badge" in item for item in items(client, "pni-topics"))


# -------------------------------------------------------------------------------------------------
# docs/plugins.md is generated from the hookspecs
# -------------------------------------------------------------------------------------------------


def test_docs_plugins_md_is_what_the_hookspecs_generate(bare):
    assert (REPO / "docs" / "plugins.md").read_text(encoding="utf-8") == docs.plugins_markdown()
    assert bare.inv("hook-docs", "--check").returncode == 0


def test_every_hook_is_specified_with_a_docstring_and_documented_in_order():
    pm = make_plugin_manager()
    specified = {name for name, caller in vars(pm.hook).items() if not name.startswith("_") and caller.spec}
    assert set(docs.documented_hooks()) == specified
    markdown = docs.plugins_markdown()
    positions = []
    for name in docs.documented_hooks():
        spec = getattr(hookspecs, name)
        assert (spec.__doc__ or "").strip(), f"hookspec {name} has no docstring"
        heading = f"### `{name}{inspect.signature(spec)}`".replace("'", "")
        assert heading in markdown and docs.markdown_text(spec.__doc__) in markdown
        positions.append(markdown.index(heading))
    assert positions == sorted(positions)  # the order hookspecs.py declares them: the order a run calls them
    assert docs.documented_hooks()[:2] == ["pni_register_tables", "pni_register_strategies"]


def test_an_installed_plugin_that_fails_to_import_is_named_in_one_line(bare, tmp_path):
    site = tmp_path / "site"
    dist_info = site / "pni_broken-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: pni-broken\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[pni_tasks]\nbroken = pni_broken\n")
    (site / "pni_broken.py").write_text("import a_module_that_is_not_installed\n")
    bare.extra_env["PYTHONPATH"] = str(site)
    result = bare.inv("plugins", check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last = error_lines(result)[-1]
    assert "plugin broken (entry point pni_broken of pni-broken) failed to import" in last
    assert "a_module_that_is_not_installed" in last
