"""The embedded store's token rule: never lower than a token handed out before, even when the
database file was deleted, replaced or restored from an older copy.

``next_token(counter, floor, wall_us) = max(counter + 1, floor + 1, wall_us)`` where ``counter``
is the election's counter row in the file (0 if missing), ``floor`` the highest token this process
has seen in any file, and ``wall_us`` the wall clock (CLOCK_REALTIME) in whole microseconds. The
counter row is then set to the token, in the same transaction as the lease row.

Why tokens strictly increase:

1. Within one file: each token exceeds the counter, which holds the previous token (one
   transaction, serialized by SQLite's write lock).
2. Across a new, replaced or restored file, as seen by a process that used the old file: ``floor``
   holds the highest token it saw, so its own next token is higher.
3. Across a new file, for every process: by induction every token is ``<=`` the wall clock (in
   µs) at the time it was handed out, as long as the wall clock never steps back and tenures
   are at least 1 µs apart (a tenure costs a synchronous commit, far more than 1 µs): if
   ``t_prev <= wall_prev < wall_now`` then ``t_prev + 1 <= wall_now``, so the maximum is
   ``wall_now`` unless ``floor`` is larger. A token handed out later from any file is at least
   the wall clock then, so it is larger than every earlier one.

What breaks rule 3: the wall clock stepped back by ``d`` seconds, and the file replaced within
``d`` seconds of the step by processes that never saw the old file. Rules 1 and 2 still hold.
The wall clock is used for nothing else: lease times are CLOCK_BOOTTIME.
"""

from __future__ import annotations

import time


def next_token(counter: int, floor: int, wall_us: int) -> int:
    """The token of a new tenure (see the module docstring)."""
    return max(counter + 1, floor + 1, wall_us)


def wall_microseconds() -> int:
    """CLOCK_REALTIME in whole microseconds: the token floor that survives a new file."""
    return time.time_ns() // 1000
