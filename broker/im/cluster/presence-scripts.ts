/**
 * The Lua scripts behind cluster presence: each runs atomically in Redis, so
 * two nodes changing one user's devices at once agree on who announces what.
 *
 * Keys (prefix P):
 *   P nodes              hash  node id -> its last heartbeat (ms)
 *   P node:{id}          string, expiring: the node is alive while it exists
 *   P node:{id}:devices  set   "user\nconn" of the node's connections
 *   P node:{id}:pending  hash  user -> last seen, for users whose last device
 *                              left this node and whose offline is not yet told
 *   P devices:{user}     set   "node\nconn" of the user's connections, all nodes
 *   P chosen             hash  user -> away | busy
 *   P announced          hash  user -> the status last announced (online once)
 * User names and node ids contain no newline (protocol/names.ts).
 */

/** KEYS: devices:{user}, node devices, chosen, announced, node pending. ARGV: user, node\nconn, user\nconn. Returns the status to announce, or nil. */
export const CONNECT = `
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('HDEL', KEYS[5], ARGV[1])
local status = redis.call('HGET', KEYS[3], ARGV[1]) or 'online'
if redis.call('HGET', KEYS[4], ARGV[1]) ~= status then
  redis.call('HSET', KEYS[4], ARGV[1], status)
  return status
end
return false
`

/** KEYS: devices:{user}, node devices, node pending. ARGV: user, node\nconn, user\nconn, now. Returns the user's devices left. */
export const DISCONNECT = `
redis.call('SREM', KEYS[1], ARGV[2])
redis.call('SREM', KEYS[2], ARGV[3])
local left = redis.call('SCARD', KEYS[1])
if left == 0 then redis.call('HSET', KEYS[3], ARGV[1], ARGV[4]) end
return left
`

/** After the debounce. KEYS: devices:{user}, announced, node pending. ARGV: user. Returns 1 when offline is to be announced. */
export const OFFLINE = `
redis.call('HDEL', KEYS[3], ARGV[1])
if redis.call('SCARD', KEYS[1]) > 0 then return 0 end
if redis.call('HGET', KEYS[2], ARGV[1]) == 'offline' then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], 'offline')
return 1
`

/** KEYS: devices:{user}, chosen, announced. ARGV: user, status. Returns the status to announce, or nil. */
export const CHOOSE = `
if ARGV[2] == 'online' then redis.call('HDEL', KEYS[2], ARGV[1]) else redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
if redis.call('SCARD', KEYS[1]) == 0 then return false end
if redis.call('HGET', KEYS[3], ARGV[1]) == ARGV[2] then return false end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return ARGV[2]
`

/** KEYS: nodes, node:{id}. ARGV: id, now, ttl ms. Returns 1 when the node was registered still, 0 when it had been reaped (or is new). */
export const HEARTBEAT = `
local known = redis.call('HEXISTS', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return known
`

/**
 * A node whose liveness key expired: its connections are gone. KEYS: nodes,
 * node:{id}, node devices, node pending, announced. ARGV: prefix, id.
 * Returns [user, lastSeen, ...] of users now offline (to announce).
 */
export const REAP = `
if redis.call('EXISTS', KEYS[2]) == 1 then return {} end
local lastSeen = redis.call('HGET', KEYS[1], ARGV[2]) or '0'
local users = {}
for _, entry in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local at = string.find(entry, '\\n', 1, true)
  if at then
    local user = string.sub(entry, 1, at - 1)
    redis.call('SREM', ARGV[1] .. 'devices:' .. user, ARGV[2] .. '\\n' .. string.sub(entry, at + 1))
    users[user] = lastSeen
  end
end
local pending = redis.call('HGETALL', KEYS[4])
for i = 1, #pending, 2 do users[pending[i]] = pending[i + 1] end
local gone = {}
for user, at in pairs(users) do
  if redis.call('SCARD', ARGV[1] .. 'devices:' .. user) == 0 and redis.call('HGET', KEYS[5], user) ~= 'offline' then
    redis.call('HSET', KEYS[5], user, 'offline')
    table.insert(gone, user)
    table.insert(gone, at)
  end
end
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('HDEL', KEYS[1], ARGV[2])
return gone
`
