"""The one exception type whose message is meant for the user (UI banner, CLI line)."""


class UserError(ValueError):
    """Bad input from a user: a file, a hyper-parameter, a URL. The message says what to fix."""
