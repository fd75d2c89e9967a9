"""The update schedule of replay learning: updates per episode collected, independent of how many
env copies collected them."""

from __future__ import annotations

import math
from fractions import Fraction

from marlzoo.errors import UserError


class UpdateSchedule:
    """How many updates the episodes collected so far have earned, at ``rate`` updates per episode.

    Fractions carry over exactly: at 1/3, every third episode earns an update, whatever the number
    of env copies that collected them.
    """

    def __init__(self, rate: Fraction | float | int) -> None:
        self.rate = Fraction(rate)
        if self.rate < 0:
            raise UserError(f"updates per episode must be 0 or more, not {float(self.rate)}")
        self.credit = Fraction(0)

    def updates_for(self, episodes: int) -> int:
        """The updates earned by ``episodes`` more episodes."""
        self.credit += episodes * self.rate
        n = math.floor(self.credit)
        self.credit -= n
        return n

    def state_dict(self) -> dict[str, int]:
        """The fractional credit carried to the next collection, exactly (numerator and denominator)."""
        return {"numerator": self.credit.numerator, "denominator": self.credit.denominator}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.credit = Fraction(int(state["numerator"]), int(state["denominator"]))
