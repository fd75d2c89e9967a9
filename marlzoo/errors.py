"""The one exception type that means "the user asked for something we cannot do"."""


class UserError(Exception):
    """Bad input from the user: the CLI prints the message on one line and exits with code 2.

    The message should say what was wrong and what to do instead.
    """
