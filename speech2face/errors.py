"""Errors the CLI reports as one line, without a traceback."""


class UserError(Exception):
    """Bad input or setup that the user can fix; the message names the file and the cause."""
