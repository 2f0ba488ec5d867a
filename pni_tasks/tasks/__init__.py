"""The invoke task collection of pni-migrate. ``tasks.py`` at the repository root only exposes ``ns``."""

from invoke import Collection

from pni_tasks.tasks import bench, local, pipeline, plugin_tasks, utilities

ns = Collection()
for stage_task in (pipeline.setup, pipeline.validate, pipeline.create_tables, pipeline.load, pipeline.verify,
                   pipeline.migrate, plugin_tasks.plugins, plugin_tasks.hook_docs,
                   utilities.summary, utilities.create_iam_user, utilities.cleanup, bench.bench):
    ns.add_task(stage_task)
ns.add_collection(local.ns, name="local")
