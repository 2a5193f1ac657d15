"""Exceptions that reach the user as one clear line."""


class OutboardError(Exception):
    """A problem the user can fix: the message names the file, key or port and
    what was expected.  The CLI prints it as one line and exits non-zero."""


class ConfigError(OutboardError):
    """A session or chain file that does not validate."""


class AudioFileError(OutboardError):
    """An audio file that cannot be read or written as asked."""


class OutboardWarning(UserWarning):
    """Something the user should know but that stops nothing (a session value
    the unit cannot take exactly): the CLI prints it as one line,
    ``outboard: warning: ...``, naming the file and key."""
