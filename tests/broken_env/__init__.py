"""A package whose own code fails when imported, as a user's env module can."""

raise ValueError("a typo in the user's env module")
