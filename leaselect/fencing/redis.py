"""A resource in Redis: one command runs only if its token passes the rule, in one script.

The check and the write are one Lua script next to the data, so nothing runs between them. The
fence remembers the newest token and holder in a hash of its own (the ``resource`` key). Its
guarantee is the rule's, and only as durable as that Redis: a restart without ``appendfsync
always``, a failover to a replica that missed the last writes or an eviction can forget the
newest token, and then an older tenure's next write passes until a newer one writes again.
Under Redis Cluster the fence key and every key the command touches must share a hash slot
(one ``{tag}``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .rule import StaleToken

if TYPE_CHECKING:
    import redis

Arg = str | bytes | int | float

# Run one command iff its token passes the rule, then record the token: the fence's one script.
# KEYS[1]: the fence's hash (fields ``token``, ``holder``); KEYS[2..]: the keys the command
#   touches (declared so Redis Cluster routes the script; the command names them itself).
# ARGV[1]: the token (decimal digits), ARGV[2]: the holder, ARGV[3..]: the command and its
#   arguments, as ``redis.call`` takes them.
# Tokens compare as decimal strings (length, then digits): exact for any size, where Lua's
#   numbers are doubles, exact only below 2^53. The command runs before the hash is updated:
#   if it fails, the script stops there and the fence is unchanged.
# Returns the command's reply, or the error "STALE <token> <newest>" without running it.
FENCED_COMMAND = """
local seen = redis.call('HMGET', KEYS[1], 'token', 'holder')
local newest, token = seen[1], ARGV[1]
if newest then
  local older = #token < #newest or (#token == #newest and token < newest)
  if older or (token == newest and seen[2] ~= ARGV[2]) then
    return redis.error_reply('STALE ' .. token .. ' ' .. newest)
  end
end
local reply = redis.call(unpack(ARGV, 3))
redis.call('HSET', KEYS[1], 'token', token, 'holder', ARGV[2])
return reply
"""

_STALE = re.compile(r"STALE (\d+) (\d+)")


class RedisFence:
    """Runs Redis commands through ``FENCED_COMMAND`` on ``client`` (a ``redis.Redis``)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._script = client.register_script(FENCED_COMMAND)

    def write(
        self,
        resource: str,
        token: int,
        holder: str,
        command: Sequence[Arg],
        keys: Sequence[str] = (),
    ) -> Any:
        """Run ``command`` (e.g. ``("SET", "config", "v2")``) iff ``token`` passes the fence
        kept at key ``resource``; its reply, or ``StaleToken``. ``keys``: the keys it touches."""
        if token < 0 or not command:
            raise ValueError("a fenced write needs a token >= 0 and a command")
        import redis  # the module's only run-time use: importing the package needs no redis

        try:
            return self._script(keys=[resource, *keys], args=[str(token), holder, *command])
        except redis.ResponseError as exc:
            stale = _STALE.search(str(exc))
            if stale is None:
                raise
            raise StaleToken(resource, token, int(stale[2])) from None

    def newest(self, resource: str) -> int | None:
        """The highest token the fence at ``resource`` has accepted."""
        token = self._client.hget(resource, "token")
        return None if token is None else int(token)
