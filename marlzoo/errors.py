"""The one exception type that means "the user asked for something we cannot do"."""


class UserError(Exception):
    """Bad input from the user: the CLI prints the message on one line and exits with code 2.

    The message should say what was wrong and what to do instead.
    """


class NonFiniteError(UserError):
    """A NaN or an infinity where training needs finite numbers: in what an env returned, or in a
    loss or gradient. The run stops at once; its last good checkpoint is kept."""
