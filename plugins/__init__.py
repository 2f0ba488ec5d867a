"""The built-in plugins of pni-migrate: the PNI tables and the write strategies.

Each module is registered through the ``pni_tasks`` entry-point group of ``pyproject.toml``,
exactly as a third party's plugin would be, and uses only the public hooks of
:mod:`pni_tasks.hookspecs` and the helpers of :mod:`pni_tasks.items`:

- ``lessons``: table ``pni-lessons``, one item per lesson with every question embedded
- ``passages``: table ``pni-passages``, one item per passage with its questions embedded
- ``topics``: table ``pni-topics``, one aggregate item per (topic, level) of the lessons
- ``strategy_clean`` / ``strategy_incremental``: how items reach DynamoDB

The rules they follow are in ``pni-contract.md``; ``_pni_source`` holds what the table plugins share.
"""
