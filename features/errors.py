"""The errors a user can fix: bad input, settings, command-line values, or something not made yet.

The command line prints their message and exits 2, without a traceback. Every other
exception is a bug in leadscore and shows its traceback (exit 1), so that it is
reported rather than mistaken for the user's mistake. ``leadscore --debug`` shows the
traceback of these too.
"""

from __future__ import annotations


class UserError(ValueError):
    """Input, settings or arguments to fix; the message says what and how."""


class NotFound(UserError, LookupError):
    """Something the command needs does not exist yet: a registered model, an alias, a version."""


class EngineFailure(UserError):
    """The engine gave up on a job after its own retries (a Spark worker lost, executors out of memory): the cluster or
    its settings to fix, not leadscore; nothing was written."""
