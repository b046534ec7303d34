"""Errors a person can act on; the CLI turns each into one line and an exit code."""


class WlbError(Exception):
    """Base: the message is the one line shown to the user."""

    exit_code = 1


class ConfigError(WlbError):
    """Bad config file, argument or environment; exit 2."""

    exit_code = 2


class UsageError(WlbError):
    """A command was asked for something that cannot be done; exit 2."""

    exit_code = 2


class PlatformError(WlbError):
    """A platform answered with an error or something we cannot parse."""


class NotFound(PlatformError):
    """The remote object does not exist (deleted, or never existed)."""


class NotCreated(PlatformError):
    """The platform answered a definite no to a write (a validation error): nothing was created there."""
