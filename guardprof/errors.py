"""User-facing errors: one line, no traceback, the right exit code.

click prints `ClickException` as `Error: <message>` and exits 1; `UsageError` exits 2.
Library code raises these so the CLI never has to translate.
"""

import click


class GuardprofError(click.ClickException):
    """A runtime failure the user can act on (exit 1)."""


class WorkloadUsageError(click.UsageError):
    """Bad input that names the workload or an option (exit 2)."""
