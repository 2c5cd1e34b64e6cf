"""The demo's terminal view: redrawn status lines on a TTY, plain event lines otherwise."""

from __future__ import annotations

import sys
from typing import TextIO


class View:
    """Shows each contender's state; ``note`` adds a line of narration."""

    def __init__(self, names: list[str], out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.live = self.out.isatty()
        self.states = dict.fromkeys(names, "waiting")
        self._drawn = 0
        self._draw()

    def set(self, name: str, state: str) -> None:
        """Change one contender's state and show it."""
        self.states[name] = state
        if self.live:
            self._draw()
        else:
            self._write(f"  {name}: {state}\n")

    def note(self, text: str) -> None:
        """Print a narration line above the live block (or in sequence)."""
        if self.live:
            self._erase()
            self._write(text + "\n")
            self._draw()
        else:
            self._write(text + "\n")

    def _draw(self) -> None:
        if not self.live:
            return
        self._erase()
        lines = [f"  {name:<10} {state}" for name, state in self.states.items()]
        self._write("\n".join(lines) + "\n")
        self._drawn = len(lines)

    def _erase(self) -> None:
        if self._drawn:
            self._write("\x1b[F\x1b[K" * self._drawn)
            self._drawn = 0

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
