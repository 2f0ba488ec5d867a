"""Write strategies through the real ``inv load``: clean, incremental, prune, dry run, a plugin's strategy."""

from __future__ import annotations

import json
import textwrap
from decimal import Decimal

import pytest
from invhelp import items

pytestmark = pytest.mark.e2e


def by_table(document: dict) -> dict[str, dict]:
    return {t["table"]: t for t in document["tables"]}


def counts(document: dict, table: str) -> tuple[int, int, int, int, int]:
    t = by_table(document)[table]
    return t["created"], t["updated"], t["skipped"], t["deleted"], t["failed"]


def data_write_requests(document: dict) -> int:
    return sum(t["requests"].get(op, 0) for t in document["tables"] if t["table"] != "pni-cache-metadata"
               for op in ("BatchWriteItem", "PutItem", "UpdateItem", "DeleteItem"))


@pytest.fixture
def loaded(runner):
    """30 seeded lessons migrated clean; returns (runner, clean run document)."""
    runner.seed(30)
    document = runner.inv_json("load", "--env=local", "--clean")
    return runner, document


def test_clean_then_incremental_with_no_change_sends_no_writes(loaded):
    runner, clean = loaded
    lessons = runner.sql("SELECT count(*) FROM lessons")[0][0]
    passages = runner.sql("SELECT count(*) FROM passages")[0][0]
    assert counts(clean, "pni-lessons") == (lessons, 0, 0, 0, 0)
    assert counts(clean, "pni-passages") == (passages, 0, 0, 0, 0)
    batches = by_table(clean)["pni-lessons"]["requests"]["BatchWriteItem"]
    assert batches == -(-lessons // 25)  # 25 items a request, no more requests than needed

    again = runner.inv_json("load", "--env=local")
    assert counts(again, "pni-lessons") == (0, 0, lessons, 0, 0)
    assert counts(again, "pni-passages") == (0, 0, passages, 0, 0)
    assert data_write_requests(again) == 0
    assert all(t["wru"] == 0 for t in again["tables"] if t["table"] != "pni-cache-metadata")
    # the skip decision read the hash manifest, not the tables: a few read units only
    assert again["total"]["rru"] <= 0.05 * clean["total"]["wru"]
    assert again["total"]["savings_pct"] > 90


def test_known_edits_give_exact_counts_item_by_item(loaded):
    runner, _ = loaded
    lesson_id, passage_id, question_id = runner.sql(
        "SELECT lesson_id, passage_id, id FROM questions WHERE passage_id IS NOT NULL ORDER BY id LIMIT 1")[0]
    other_lesson = runner.sql("SELECT id FROM lessons WHERE id <> %s ORDER BY id DESC LIMIT 1", (lesson_id,))[0][0]
    gone_lesson = runner.sql("SELECT id FROM lessons WHERE id NOT IN (%s, %s) AND NOT EXISTS "
                             "(SELECT 1 FROM passages p WHERE p.lesson_id = lessons.id) ORDER BY id LIMIT 1",
                             (lesson_id, other_lesson))
    runner.sql("UPDATE questions SET prompt = 'Which one is right? ✅' WHERE id = %s", (question_id,))
    runner.sql("UPDATE lessons SET updated_at = updated_at + interval '1 day' WHERE id = %s", (other_lesson,))
    topic, level = runner.sql("SELECT topic, level FROM lessons WHERE id = %s", (lesson_id,))[0]
    runner.sql("INSERT INTO lessons (id, slug, title, topic, level, is_published, created_at, updated_at) "
               "VALUES (999001, 'new-lesson', 'New', %s, %s, true, now(), now())", (topic, level))
    assert gone_lesson, "the seed has lessons without passages"
    runner.sql("DELETE FROM lessons WHERE id = %s", (gone_lesson[0][0],))

    document = runner.inv_json("load", "--env=local")
    lessons = runner.sql("SELECT count(*) FROM lessons")[0][0]
    # lessons: the new one created; the one with the edited question updated; the timestamp-only edit skipped
    assert counts(document, "pni-lessons") == (1, 1, lessons - 2, 0, 0)
    assert by_table(document)["pni-lessons"]["orphans"] == 1
    passages = runner.sql("SELECT count(*) FROM passages")[0][0]
    assert counts(document, "pni-passages") == (0, 1, passages - 1, 0, 0)
    client = runner.dynamodb()
    lesson = next(i for i in items(client, "pni-lessons") if i["lesson_id"] == lesson_id)
    assert "Which one is right? ✅" in [q["prompt"] for q in lesson["questions"]]
    passage = next(i for i in items(client, "pni-passages") if i["passage_id"] == passage_id)
    assert "Which one is right? ✅" in [q["prompt"] for q in passage["questions"]]
    assert any(i["lesson_id"] == 999001 for i in items(client, "pni-lessons"))
    # without --prune the orphan stays
    assert any(i["lesson_id"] == gone_lesson[0][0] for i in items(client, "pni-lessons"))

    pruned = runner.inv_json("load", "--env=local", "--prune")
    assert counts(pruned, "pni-lessons") == (0, 0, lessons, 1, 0)
    assert not any(i["lesson_id"] == gone_lesson[0][0] for i in items(client, "pni-lessons"))
    assert runner.inv_json("verify", "--env=local")["ok"] is True


def test_large_prune_refuses_without_force(loaded):
    runner, _ = loaded
    runner.sql("DELETE FROM lessons WHERE id IN (SELECT id FROM lessons ORDER BY id LIMIT 10)")
    refused = runner.inv("load", "--env=local", "--prune", check=False)
    assert refused.returncode == 1
    assert "refused to prune" in refused.stderr and "--force" in refused.stderr
    assert len(items(runner.dynamodb(), "pni-lessons")) == 30
    forced = runner.inv_json("load", "--env=local", "--prune", "--force")
    assert by_table(forced)["pni-lessons"]["deleted"] == 10
    assert len(items(runner.dynamodb(), "pni-lessons")) == 20


def test_dry_run_writes_nothing_and_reports_what_it_would_do(loaded):
    runner, _ = loaded
    runner.sql("UPDATE lessons SET title = title || ' (2)' WHERE id IN (SELECT id FROM lessons ORDER BY id LIMIT 3)")
    before = {t: items(runner.dynamodb(), t) for t in ("pni-lessons", "pni-cache-metadata")}
    document = runner.inv_json("load", "--env=local", "--dry-run")
    assert document["dry_run"] is True
    assert counts(document, "pni-lessons")[:2] == (0, 3)
    assert document["total"]["requests"].get("BatchWriteItem", 0) == 0
    assert document["total"]["requests"].get("PutItem", 0) == 0
    assert document["total"]["cost_actual"] > 0
    assert {t: items(runner.dynamodb(), t) for t in before} == before


APPEND_ONLY = textwrap.dedent('''
    from pni_tasks import hookimpl
    from pni_tasks.model import Action
    from pni_tasks.strategy import WriteStrategy


    class AppendOnly(WriteStrategy):
        name = "append-only"
        description = "create new keys, never update or delete"

        def decide(self, target, item):
            return Action.CREATE if target.known_hash(item.key) is None else Action.SKIP


    @hookimpl
    def pni_register_strategies(register):
        register(AppendOnly())
''')


def test_a_plugin_adds_a_strategy(loaded, tmp_path):
    runner, _ = loaded
    folder = tmp_path / "myplugins"
    folder.mkdir()
    (folder / "append_only.py").write_text(APPEND_ONLY)
    env = runner.environ(INVOKE_PNI_PLUGINS_FOLDER=str(folder))
    listed = runner.inv("plugins", "--env=local", env=env)
    assert "append_only" in listed.stdout and "strategy append-only" in listed.stdout
    first = runner.sql("SELECT min(id) FROM lessons")[0][0]
    runner.sql("UPDATE lessons SET title = 'changed' WHERE id = %s", (first,))
    runner.sql("INSERT INTO lessons (id, slug, title, topic, level, is_published, created_at, updated_at) "
               "VALUES (999002, 'appended', 'Appended', 'Grammar', 'B1', false, now(), now())")
    document = runner.inv_json("load", "--env=local", "--strategy=append-only", env=env)
    assert document["mode"] == "append-only"
    assert counts(document, "pni-lessons") == (1, 0, 30, 0, 0)
    stored = {i["lesson_id"]: i for i in items(runner.dynamodb(), "pni-lessons")}
    assert stored[first]["title"] != "changed"
    assert stored[Decimal(999002)]["title"] == "Appended"


def test_unknown_strategy_is_one_line(loaded):
    runner, _ = loaded
    result = runner.inv("load", "--env=local", "--strategy=upsert", check=False)
    assert result.returncode == 2
    assert "unknown strategy 'upsert': known strategies are clean, incremental" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_records_in_the_metadata_table(loaded):
    runner, clean = loaded
    runner.inv_json("load", "--env=local")
    runs = [i for i in items(runner.dynamodb(), "pni-cache-metadata") if i["pk"] == "run"]
    assert [r["mode"] for r in sorted(runs, key=lambda r: r["sk"])] == ["clean", "incremental"]
    assert {r["status"] for r in runs} == {"succeeded"}
    first = sorted(runs, key=lambda r: r["sk"])[0]
    assert first["total"]["created"] == clean["total"]["created"]
    assert first["tool_version"] and first["finished_at"] >= first["started_at"]
    state = [i for i in items(runner.dynamodb(), "pni-cache-metadata") if i["pk"] == "table#pni-lessons"]
    assert state and state[0]["last_run_id"] in {r["run_id"] for r in runs}


def test_a_hand_edit_in_dynamodb_is_caught_by_verify_and_repaired_by_rescan(loaded):
    runner, _ = loaded
    client = runner.dynamodb()
    from pni_tasks.sink import serialize

    victim = sorted(items(client, "pni-lessons"), key=lambda i: i["lesson_id"])[0]
    client.put_item(TableName="pni-lessons", Item=serialize({**victim, "title": "edited by hand"}))

    verify = runner.inv("verify", "--env=local", "--json", check=False)
    assert verify.returncode == 1
    lessons = {t["table"]: t for t in json.loads(verify.stdout)["tables"]}["pni-lessons"]
    assert lessons["different"] == 1 and lessons["different_keys"] == [f"[{victim['lesson_id']}]"]

    trusting = runner.inv_json("load", "--env=local")  # the manifest cannot know about the edit
    assert counts(trusting, "pni-lessons")[1] == 0
    repaired = runner.inv_json("load", "--env=local", "--rescan")
    assert counts(repaired, "pni-lessons")[:3] == (0, 1, 29)
    assert by_table(repaired)["pni-lessons"]["rru"] > by_table(trusting)["pni-lessons"]["rru"]
    assert runner.inv_json("verify", "--env=local")["ok"] is True
