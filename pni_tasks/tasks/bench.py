"""``inv bench``: measure a migration on a private stack beside the old scripts' way (see pni_tasks/bench.py)."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path

from invoke import task

from pni_tasks import bench as benchmark
from pni_tasks import report
from pni_tasks.tasks._cli import user_errors
from pni_tasks.tasks.context import logger_for


@task(help={
    "lessons": "lessons to seed and migrate (default 10000; passages and questions are 3 and 10 per lesson)",
    "scaling": "also run clean load and pipeline at 1x, 3x and 10x of lessons/10: linearity and memory",
    "json": "print the results as one JSON document on stdout (progress stays on stderr)",
    "output": "file the results are written to as JSON (default bench-results.json)",
    "database": "PostgreSQL database the benchmark seeds, dropping its PNI tables first (default pni_bench)",
    "baseline-lessons": "lessons the slow hand-written baseline migrates (default 1000; 0: all); its rates are "
                        "compared",
})
@user_errors
def bench(c, lessons=10000, scaling=False, json=False, output="bench-results.json", database="pni_bench",
          baseline_lessons=benchmark.BASELINE_LESSONS):
    """Benchmark clean, no-change and 1%-changed loads against a baseline and the server's floor."""
    logger_for(c)
    document = benchmark.run(c.config.pni, lessons=int(lessons), scaling=scaling, database=database,
                             baseline_lessons=int(baseline_lessons))
    Path(output).write_text(jsonlib.dumps(document, indent=2) + "\n", encoding="utf-8")
    if json:
        report.print_json(document)
        return
    print(report.table(benchmark.phase_rows(document), benchmark.PHASE_HEADERS))
    if document.get("scaling"):
        print()
        print(report.table(benchmark.scaling_rows(document), benchmark.SCALING_HEADERS))
    print()
    print(report.table(benchmark.target_rows(document), benchmark.TARGET_HEADERS))
    print(f"\n{document['lessons']:,} lessons in {document['total_seconds']:.0f} s; figures written to {output}")
