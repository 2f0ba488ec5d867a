"""pni-migrate's invoke tasks: `inv --list` shows them. The engine lives in pni_tasks/."""

from pni_tasks.tasks import ns  # noqa: F401
