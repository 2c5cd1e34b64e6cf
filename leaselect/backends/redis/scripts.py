"""The Lua scripts of the Redis backend; each runs atomically on the server, by SHA.

Keys of one election share the hash tag ``{name}`` so they land in one Redis Cluster slot:
``<prefix>{name}:lease`` (string ``nonce|token|payload``, with a PX expiry),
``<prefix>{name}:token`` (the fencing counter, never expires; see ``_NEXT_TOKEN``),
``<prefix>{name}:waiters`` (sorted set: waiter id -> last refresh, server ms),
``<prefix>{name}:cands`` (hash: waiter id -> ``nonce|ttl ms|payload``, what it would lead with)
and ``<prefix>{name}:wake:<waiter id>`` (a list a waiter blocks on with BLPOP).

Every script that changes the leader (an acquire that takes the lease, a release that deletes
it or hands it over) publishes on the channel named like the lease key, for leader watches
(``feed``); a lease that expires publishes nothing.

A release hands the lease straight to one live waiter: it installs that waiter's record with a
new token and pushes ``g|token|px|score`` to its wake list, where ``score`` is the refresh
time the waiter's last registering request wrote. The waiter knows when it sent the request
that wrote that score; the release ran after it, so that send time is a safe anchor and no
acquire round trip is needed.
"""

from __future__ import annotations

# Tell the leader watches of KEYS[1] (its channel). ``pcall``: a user the ACL denies PUBLISH (or
# the channel) still campaigns and releases; the script's reply says the watches were not told.
_TELL = """
local function tell(message)
  local told = redis.pcall('PUBLISH', KEYS[1], message)
  return type(told) ~= 'table' or not told.err
end
"""

# Server time in ms, the registration clock of the waiters' sorted set.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# The next fencing token of the counter KEY: max(counter + 1, server time in microseconds).
# The counter alone makes tokens strictly increase while Redis keeps it; the time floor keeps
# them increasing when Redis loses it (evicted, or a restart without persistence): every token
# is at least the server's clock when it was issued, and fewer than one token is issued per
# microsecond, so a token issued later, from a lost counter, is greater. '%.0f': Lua's tostring
# would print a 16-digit number in exponent form.
_NEXT_TOKEN = """
local function next_token(key)
  local t = redis.call('TIME')
  local floor = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local token = math.max(tonumber(redis.call('GET', key) or '0') + 1, floor)
  local text = string.format('%.0f', token)
  redis.call('SET', key, text)
  return text
end
"""

# KEYS: lease, token, waiters, own wake list, cands.
# ARGV: nonce, ttl ms, payload, waiter id. A registration lives ttl ms after its last refresh.
# Returns {1, token} (we lead; also when a release handed us the lease) or
# {0, pttl ms, registration score} (someone else leads; we are registered); {1, token, -1} when
# the leader watches could not be told (the ACL denies PUBLISH).
# Leading always leaves the queue, also a registration whose reply we never saw.
ACQUIRE = (
    _NEXT_TOKEN
    + _TELL
    + """
local mine = ARGV[1] .. '|'
local cur = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[4])
if cur and string.sub(cur, 1, #mine) ~= mine then
"""
    + _NOW
    + """
  redis.call('ZADD', KEYS[3], now, ARGV[4])
  redis.call('HSET', KEYS[5], ARGV[4], ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3])
  return {0, redis.call('PTTL', KEYS[1]), now}
end
redis.call('ZREM', KEYS[3], ARGV[4])
redis.call('HDEL', KEYS[5], ARGV[4])
if cur then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, tonumber(string.match(cur, '^[^|]*|(%d+)|'))}
end
local token = next_token(KEYS[2])
redis.call('SET', KEYS[1], mine .. token .. '|' .. ARGV[3], 'NX', 'PX', ARGV[2])
if not tell(token) then
  return {1, tonumber(token), -1}
end
return {1, tonumber(token)}
"""
)

# KEYS: lease, waiters, cands, token.
# ARGV: nonce, waiter id, wake-key prefix, wake list ms, the releaser's ttl ms.
# Deletes the lease if it is ours and leaves the queue; then, if the lease is free, hands it to
# ONE live waiter: the most recently refreshed (a dead one stops refreshing), skipping (and
# dropping) registrations that lapsed (ttl ms after their last refresh). The handed lease lasts
# no longer than the waiter's own TTL, the releaser's TTL and what is left of the waiter's
# registration: a waiter that died since its last refresh stalls the election no longer than
# the releaser's TTL, whatever TTL it registered with.
# Returns 1 if our lease was deleted, else 0; plus 2 if the leader watches could not be told.
RELEASE = (
    _NEXT_TOKEN
    + _TELL
    + """
local released = 0
local handed = false
local cur = redis.call('GET', KEYS[1])
local mine = ARGV[1] .. '|'
if cur and string.sub(cur, 1, #mine) == mine then
  redis.call('DEL', KEYS[1])
  released = 1
  cur = false
end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
if not cur then
"""
    + _NOW
    + """
  for _ = 1, 100 do
    local next = redis.call('ZPOPMAX', KEYS[2])
    if not next[1] then
      break
    end
    local wake = ARGV[3] .. next[1]
    local rec = redis.call('HGET', KEYS[3], next[1])
    redis.call('HDEL', KEYS[3], next[1])
    local msg = false
    if not rec then
      msg = '1'  -- no record to lead with: wake it to campaign itself
    else
      local nonce, ttl, payload = string.match(rec, '^([^|]*)|(%d+)|(.*)$')
      local score = tonumber(next[2])
      local px = math.min(tonumber(ttl), tonumber(ARGV[5]), score + tonumber(ttl) - now)
      if px > 0 then
        local token = next_token(KEYS[4])
        redis.call('SET', KEYS[1], nonce .. '|' .. token .. '|' .. payload, 'PX', px)
        handed = true
        msg = 'g|' .. token .. '|' .. px .. '|' .. next[2]
      end
    end
    if msg then
      redis.call('LPUSH', wake, msg)
      redis.call('PEXPIRE', wake, ARGV[4])
      break
    end
  end
end
if (released == 1 or handed) and not tell(released) then
  return released + 2
end
return released
"""
)

# KEYS: per candidacy, its lease then its waiters key.  ARGV: ttl ms, then per candidacy:
# nonce ('' for a waiter) and waiter id.
# Returns per candidacy: 1 renewed, 0 lease gone, -1 taken by another, 2 waiter not registered,
# or (> 2) the refresh time a waiter's refresh wrote as its score.
KEEP_ALIVE = (
    _NOW
    + """
local out = {}
for i = 1, #KEYS / 2 do
  local lease, waiters = KEYS[2 * i - 1], KEYS[2 * i]
  local nonce, waiter = ARGV[2 * i], ARGV[2 * i + 1]
  if nonce == '' then
    out[i] = 2
    if redis.call('ZSCORE', waiters, waiter) then
      out[i] = now
      redis.call('ZADD', waiters, now, waiter)
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
