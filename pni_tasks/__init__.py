"""pni-migrate: migrate the PNI learning content from PostgreSQL to Amazon DynamoDB.

Plugins import the implementation marker from here::

    from pni_tasks import hookimpl
"""

import pluggy

__version__ = "0.1.0"

PROJECT_NAME = "pni_tasks"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = ["hookimpl", "__version__", "PROJECT_NAME"]
