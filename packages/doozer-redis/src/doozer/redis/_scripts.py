"""The Lua scripts that make each change of an entry's fate atomic.

Each runs inside Redis as one step, so a crash (of the client, or the
connection) leaves an entry either before or after the change, never half
way. Each checks that the entry is still pending first, so running it a
second time (a retry after a lost reply) changes nothing.

Times come from the server (``TIME``), so hosts with different clocks agree
on when a delayed retry is due.
"""

from __future__ import annotations

__all__ = ["CLAIM", "DEAD_LETTER", "HAND_BACK", "MOVE_DUE", "RETRY_LATER", "TOUCH"]

# KEYS: stream, dead-letter stream
# ARGV: group, consumer, min idle (ms), cursor, count, max deliveries, reason, failed-at
# -> {next cursor, {{id, {field, value, ...}, deliveries}, ...}, number dead-lettered}
CLAIM = """
local claimed = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
                           'COUNT', ARGV[5])
local keep, dead = {}, 0
local limit = tonumber(ARGV[6])
for _, entry in ipairs(claimed[2]) do
  local id, fields = entry[1], entry[2]
  if fields then
    local info = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
    local count = info[1] and info[1][4] or 1
    if count > limit then
      local copy = {}
      for _, value in ipairs(fields) do copy[#copy + 1] = value end
      for _, value in ipairs({'x-doozer-error', string.format(ARGV[7], count - 1),
                              'x-doozer-error-type', 'doozer.redis.TooManyDeliveries',
                              'x-doozer-failed-at', ARGV[8],
                              'x-doozer-original-stream', KEYS[1],
                              'x-doozer-original-id', id}) do
        copy[#copy + 1] = value
      end
      redis.call('XADD', KEYS[2], '*', unpack(copy))
      redis.call('XACK', KEYS[1], ARGV[1], id)
      dead = dead + 1
    else
      keep[#keep + 1] = {id, fields, count}
    end
  end
end
return {claimed[1], keep, dead}
"""

# KEYS: stream, dead-letter stream
# ARGV: group, id, field, value, ...   -> 1 if dead-lettered, 0 if no longer pending
DEAD_LETTER = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

# KEYS: stream, sorted set of delayed entries
# ARGV: group, id, delay (ms), field, value, ...   -> 1 if scheduled, 0 if no longer pending
RETRY_LATER = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1) == 0 then return 0 end
local now = redis.call('TIME')
local due = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(ARGV[3])
redis.call('ZADD', KEYS[2], due, cmsgpack.pack({ARGV[2], {unpack(ARGV, 4)}}))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

# KEYS: sorted set of delayed entries, stream
# ARGV: most to move   -> {number moved, ms until the next is due (-1: none)}
MOVE_DUE = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, member in ipairs(due) do
  local entry = cmsgpack.unpack(member)
  redis.call('XADD', KEYS[2], '*', unpack(entry[2]))
  redis.call('ZREM', KEYS[1], member)
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 0 then return {#due, -1} end
return {#due, math.max(tonumber(first[2]) - now, 0)}
"""

# KEYS: stream
# ARGV: group, consumer, id, ...   -> how many of the ids were still this consumer's
# Resets their idle time, so other consumers do not claim what is in hand.
TOUCH = """
local kept = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  if #redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1, ARGV[2]) == 1 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'JUSTID')
    kept = kept + 1
  end
end
return kept
"""

# KEYS: stream
# ARGV: group, consumer, idle (ms), id, started (0/1), id, started, ...
# -> how many were handed back. Marks them idle for long, so the next claim
# sweep of any consumer takes them; an entry never started does not count
# as a delivery.
HAND_BACK = """
local handed = 0
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  local info = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1, ARGV[2])
  if #info == 1 then
    local count = info[1][4]
    if ARGV[i + 1] == '0' and count > 0 then count = count - 1 end
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'IDLE', ARGV[3],
               'RETRYCOUNT', count, 'JUSTID')
    handed = handed + 1
  end
end
return handed
"""
