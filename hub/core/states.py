"""State machines as data: one table per machine and one transition function.

``Machine(name, table)``: ``table[state][event]`` is the state an event leads to; a pair
missing from the table is an illegal move, which ``next`` refuses with ``IllegalMove``
(a 409 ``Conflict`` when it reaches an API caller). The rooms keep their tables beside
their code (``hub.domain.fulfilment.states``, ``hub.domain.returns.states``); tests walk
every (state, event) pair of each.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from hub.core.errors import Conflict


class IllegalMove(Conflict):
    pass


@dataclass(frozen=True)
class Machine:
    name: str
    table: Mapping[str, Mapping[str, str]]

    @property
    def states(self) -> tuple[str, ...]:
        return tuple(self.table)

    @property
    def events(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for moves in self.table.values():
            seen.update(dict.fromkeys(moves))
        return tuple(seen)

    def can(self, state: str, event: str) -> bool:
        return event in self.table.get(state, {})

    def next(self, state: str, event: str) -> str:
        """The state ``event`` leads to from ``state``; ``IllegalMove`` when it may not."""
        if not self.can(state, event):
            sources = self.sources(event)
            raise IllegalMove(f"{self.name} is {state}: cannot {event.replace('_', ' ')}"
                              + (f" (only when {' or '.join(sources)})" if sources else ""),
                              details={"status": state, "event": event})
        return self.table[state][event]

    def sources(self, event: str) -> tuple[str, ...]:
        """The states ``event`` may be taken from."""
        return tuple(state for state, moves in self.table.items() if event in moves)
