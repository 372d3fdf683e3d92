/**
 * The Lua scripts of SharedLimits. Redis runs each one atomically, so two replicas' admissions
 * of one key never both see the last free request or slot. Times are Redis's clock (TIME), so
 * replicas' clocks need not agree on when a slot expires. Standalone Redis: the refresh script
 * touches keys it does not declare.
 */

/**
 * KEYS: the minute's counts (hash r, t), the in-flight slots (sorted set), the spend counter.
 * ARGV: rpm, tpm, parallel limits (-1: none); the budget line ('' : no budget); the slot id
 * ('' : none); the slot TTL (ms); the minute hash's TTL (s).
 * Returns {'ok', spend}, {'budget', spend}, {'seed'}, {'rpm'}, {'tpm'} or {'parallel'}. Spend is
 * compared as a decimal string (length, then digits): Lua's numbers are doubles, exact only
 * below 2^53 pico-dollars ($9,007).
 */
export const ADMIT_SCRIPT = `
local rpm, tpm, par = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local line, slot, slotTtl = ARGV[4], ARGV[5], tonumber(ARGV[6])
local spend = ''
if line ~= '' then
  spend = redis.call('GET', KEYS[3])
  if not spend then return {'seed'} end
  if #spend > #line or (#spend == #line and spend >= line) then return {'budget', spend} end
end
if rpm >= 0 or tpm >= 0 then
  local c = redis.call('HMGET', KEYS[1], 'r', 't')
  if rpm >= 0 and tonumber(c[1] or '0') >= rpm then return {'rpm', spend} end
  if tpm >= 0 and tonumber(c[2] or '0') >= tpm then return {'tpm', spend} end
end
if par >= 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= par then return {'parallel', spend} end
  redis.call('ZADD', KEYS[2], now + slotTtl, slot)
  redis.call('PEXPIRE', KEYS[2], slotTtl)
end
if rpm >= 0 or tpm >= 0 then
  redis.call('HINCRBY', KEYS[1], 'r', 1)
  redis.call('EXPIRE', KEYS[1], ARGV[7])
end
return {'ok', spend}`;

/**
 * KEYS: a spend counter; ARGV: pico-dollars, TTL (s). Adds only to a seeded counter: an
 * unseeded one is seeded from the ledger. Past 2^63 the counter stays where it is (-1), not an
 * error: the key is over any budget a counter that large would hold.
 */
export const BOOK_SPEND_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local added = redis.pcall('INCRBY', KEYS[1], ARGV[1])
if type(added) == 'table' and added['err'] then return -1 end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1`;

/**
 * ARGV: n, then n slot sets, the slot TTL (ms), then the n slot ids. Moves each slot's expiry
 * to TTL from now, if it is still there (XX: a slot freed meanwhile stays freed).
 */
export const REFRESH_SLOTS_SCRIPT = `
local n = tonumber(ARGV[1])
local ttl = tonumber(ARGV[n + 2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, n do
  redis.call('ZADD', ARGV[i + 1], 'XX', now + ttl, ARGV[n + 2 + i])
  redis.call('PEXPIRE', ARGV[i + 1], ttl)
end
return n`;
