"""Errors a user can act on. Each one prints as a single line: what is at fault and what to do."""


class PniError(Exception):
    """A failure explained in one line; tasks print it and exit non-zero, without a traceback."""

    exit_code = 1


class ConfigError(PniError):
    """A setting, environment or credential is missing or invalid."""

    exit_code = 2


class SourceError(PniError):
    """PostgreSQL cannot be reached or lacks what the plugins need."""


class TargetError(PniError):
    """DynamoDB cannot be reached, or a table is not in the state the command needs."""


class PluginError(PniError):
    """A plugin misbehaved; the message names the plugin (and the table and row when known)."""


class ItemError(Exception):
    """Raised by a transformer for one source row that cannot become an item.

    The row fails, the rest of the run goes on, and the run ends non-zero listing it.
    ``column`` names the offending column when there is one.
    """

    def __init__(self, message: str, *, column: str | None = None):
        super().__init__(message)
        self.column = column


class Interrupted(PniError):
    """The user pressed Ctrl-C; the run stopped at a clean point."""

    exit_code = 130
