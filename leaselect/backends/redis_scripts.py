"""The Lua scripts of the Redis backend; each runs atomically on the server, by SHA.

Keys of one election share the hash tag ``{name}`` so they land in one Redis Cluster slot:
``<prefix>{name}:lease`` (string ``nonce|token|payload``, with a PX expiry),
``<prefix>{name}:token`` (the fencing counter, never expires),
``<prefix>{name}:waiters`` (sorted set: waiter id -> registration expiry, server ms),
``<prefix>{name}:cands`` (hash: waiter id -> ``nonce|ttl ms|payload``, what it would lead with)
and ``<prefix>{name}:wake:<waiter id>`` (a list a waiter blocks on with BLPOP).

A release hands the lease straight to one live waiter: it installs that waiter's record with a
new token and pushes ``g|token|px|score`` to its wake list, where ``score`` is the registration
expiry the waiter last wrote. The waiter knows when it sent the request that wrote that score;
the release ran after it, so that send time is a safe anchor and no acquire round trip is needed.
"""

from __future__ import annotations

# Server time in ms, the registration clock of the waiters' sorted set.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: lease, token, waiters, own wake list, cands.
# ARGV: nonce, ttl ms, payload, waiter id, registration ms, '1' if we may be registered.
# Returns {1, token} (we lead; also when a release handed us the lease) or
# {0, pttl ms, registration score} (someone else leads; we are registered).
ACQUIRE = (
    """
local mine = ARGV[1] .. '|'
local cur = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[4])
if cur and string.sub(cur, 1, #mine) ~= mine then
"""
    + _NOW
    + """
  local score = now + tonumber(ARGV[5])
  redis.call('ZADD', KEYS[3], score, ARGV[4])
  redis.call('HSET', KEYS[5], ARGV[4], ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3])
  return {0, redis.call('PTTL', KEYS[1]), score}
end
if ARGV[6] == '1' then
  redis.call('ZREM', KEYS[3], ARGV[4])
  redis.call('HDEL', KEYS[5], ARGV[4])
end
if cur then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, tonumber(string.match(cur, '^[^|]*|(%d+)|'))}
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], mine .. token .. '|' .. ARGV[3], 'NX', 'PX', ARGV[2])
return {1, token}
"""
)

# KEYS: lease, waiters, cands, token.  ARGV: nonce, waiter id, wake-key prefix, wake list ms.
# Deletes the lease if it is ours, else leaves the queue; then, if the lease is free, hands it
# to ONE live waiter: the most recently refreshed (a dead one stops refreshing; if even that
# one's registration has lapsed, every registration has and the queue is dropped). The handed
# lease lasts no longer than that waiter's registration, so a waiter that died meanwhile stalls
# the election no longer than its registration would have.
# Returns 1 if our lease was deleted, else 0.
RELEASE = (
    """
local released = 0
local cur = redis.call('GET', KEYS[1])
local mine = ARGV[1] .. '|'
if cur and string.sub(cur, 1, #mine) == mine then
  redis.call('DEL', KEYS[1])
  released = 1
  cur = false
else
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2])
end
if not cur then
"""
    + _NOW
    + """
  local next = redis.call('ZPOPMAX', KEYS[2])
  local score = tonumber(next[2])
  if next[1] and score < now then
    redis.call('DEL', KEYS[2], KEYS[3])
  elseif next[1] then
    local wake = ARGV[3] .. next[1]
    local rec = redis.call('HGET', KEYS[3], next[1])
    redis.call('HDEL', KEYS[3], next[1])
    local msg = '1'
    if rec then
      local nonce, ttl, payload = string.match(rec, '^([^|]*)|(%d+)|(.*)$')
      local px = math.min(tonumber(ttl), score - now)
      if px > 0 then
        local token = redis.call('INCR', KEYS[4])
        redis.call('SET', KEYS[1], nonce .. '|' .. token .. '|' .. payload, 'PX', px)
        msg = 'g|' .. token .. '|' .. px .. '|' .. next[2]
      end
    end
    redis.call('LPUSH', wake, msg)
    redis.call('PEXPIRE', wake, ARGV[4])
  end
end
return released
"""
)

# KEYS: per candidacy, its lease then its waiters key.  ARGV: ttl ms, registration ms, then
# per candidacy: nonce ('' for a waiter) and waiter id.
# Returns per candidacy: 1 renewed, 0 lease gone, -1 taken by another, 2 waiter not registered,
# or (> 2) the registration expiry score a waiter's refresh wrote.
KEEP_ALIVE = (
    _NOW
    + """
local out = {}
for i = 1, #KEYS / 2 do
  local lease, waiters = KEYS[2 * i - 1], KEYS[2 * i]
  local nonce, waiter = ARGV[2 * i + 1], ARGV[2 * i + 2]
  if nonce == '' then
    out[i] = 2
    if redis.call('ZSCORE', waiters, waiter) then
      out[i] = now + tonumber(ARGV[2])
      redis.call('ZADD', waiters, out[i], waiter)
    end
  else
    local cur = redis.call('GET', lease)
    local mine = nonce .. '|'
    if not cur then
      out[i] = 0
    elseif string.sub(cur, 1, #mine) == mine then
      redis.call('PEXPIRE', lease, ARGV[1])
      out[i] = 1
    else
      out[i] = -1
    end
  end
end
return out
"""
)

# KEYS: marks (hash: mark -> ``token|value``).  ARGV: mark, value, token.
# Raises the mark to ``value`` unless a larger token or a value >= ``value`` wrote it: 1 or 0.
ADVANCE_MARK = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local token, value = string.match(cur, '^(%d+)|(%d+)$')
  if tonumber(token) > tonumber(ARGV[3]) or tonumber(value) >= tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3] .. '|' .. ARGV[2])
return 1
"""
