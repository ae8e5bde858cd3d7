package redis_test

import goredis "github.com/redis/go-redis/v9"

// The put and delete scripts as they were before they ran the writes of a
// shard in one call (git show 2137948:backends/redis/scripts.go): the
// reference TestBatchMatchesSingle holds the new ones to, key by key, and
// the other side of BenchmarkScriptCost. One change: the LRU victim scan
// of oldPut passes over entries it cannot read (pcall, times), as the new
// script does, where it raised an error (a comparison with nil, or
// WRONGTYPE) that failed every write of a new key while such an entry
// was among the least recently used.

// oldPut: ARGV tag, key, value, deadline, keepTTL, conditional, ifVersion,
// now, maxKeys, lru, reclaimMs, wantPrev, holder, group, idle.
var oldPut = goredis.NewScript(oldPrelude + `
-- hold moves an expired entry to the held stream, claimed by consumer:
-- XCLAIM FORCE files it in the group's pending list as if consumer had
-- read it. Nobody reads the held stream with '>': its events reach other
-- consumers only by XAUTOCLAIM, once idle for a claim lease, so one whose
-- holder died unacknowledged is delivered again.
local function hold(key, v, d, consumer, grp)
	local held = tag .. ':held'
	redis.pcall('XGROUP', 'CREATE', held, grp, '0', 'MKSTREAM') -- BUSYGROUP when it exists
	local id = redis.call('XADD', held, '*', 'k', key, 'v', v, 'd', d)
	redis.call('XCLAIM', held, grp, consumer, 0, id, 'FORCE', 'JUSTID')
	redis.call('DEL', ek(key))
	unindex(key)
	return id
end

local key, now = ARGV[2], tonumber(ARGV[8])
local cur = redis.pcall('HMGET', ek(key), 'd', 'n', 'i')
local bad = unreadable(cur, 1, 2, 3)
if bad then
	-- A record that cannot be read: a write that needs it (KeepTTL, a
	-- version condition) fails; any other replaces it, reported by code 4.
	if ARGV[5] == '1' or ARGV[6] == '1' then return {3, bad} end
	redis.call('DEL', ek(key))
	unindex(key)
	cur = {false, false, false}
end
local exists = cur[1] ~= false
local res = {0, 0, '', '', 0, 0, '', 0, 0, 0}
if bad then res[1], res[4] = 4, bad end
if exists and expired(tonumber(cur[1]), now) then
	local v = redis.call('HGET', ek(key), 'v')
	if ARGV[13] ~= '' then
		res[3], res[4], res[5] = hold(key, v, cur[1], ARGV[13], ARGV[14]), v, tonumber(cur[1])
	else
		expire_to_outbox(key, v, cur[1])
	end
	res[2], exists = 1, false
end
if ARGV[6] == '1' then
	local have = 0
	if exists then have = tonumber(cur[2]) end
	if have ~= tonumber(ARGV[7]) then
		res[1] = 1
		return res
	end
end
local max = tonumber(ARGV[9])
if not exists and max > 0 then
	local n = live_count(now)
	if n >= max then
		if ARGV[10] ~= '1' then
			res[1] = 2
			return res
		end
		local need, pos, victims = n - max + 1, 0, {}
		while need > 0 do
			local batch = redis.call('ZRANGE', tag .. ':lru', pos, pos + 63)
			if #batch == 0 then break end
			for _, k in ipairs(batch) do
				if need > 0 then
					local e = redis.pcall('HMGET', ek(k), 'v', 'd', 'n', 'i')
					if not e.err and e[1] ~= false and times(e, 2) and not expired(tonumber(e[2]), now) then
						table.insert(victims, {k, e[1], tonumber(e[2]), tonumber(e[3]), tonumber(e[4]) or 0})
						need = need - 1
					end
				end
			end
			pos = pos + #batch
		end
		for _, vic in ipairs(victims) do
			redis.call('DEL', ek(vic[1]))
			unindex(vic[1])
			for _, x in ipairs(vic) do table.insert(res, x) end
		end
	end
end
local deadline, idle = tonumber(ARGV[4]), tonumber(ARGV[15])
if exists then
	local curIdle = tonumber(cur[3]) or 0
	if ARGV[12] == '1' then
		res[6], res[7], res[8], res[9], res[10] = 1, redis.call('HGET', ek(key), 'v'), tonumber(cur[1]), tonumber(cur[2]), curIdle
	end
	if ARGV[5] == '1' then deadline, idle = tonumber(cur[1]), curIdle end
end
local version = redis.call('INCR', tag .. ':seq')
if idle > 0 then
	redis.call('HSET', ek(key), 'v', ARGV[3], 'd', deadline, 'n', version, 'i', idle)
else
	redis.call('HSET', ek(key), 'v', ARGV[3], 'd', deadline, 'n', version)
	-- Only a hash read with i has one to drop: a fixed write ends sliding.
	if cur[3] then redis.call('HDEL', ek(key), 'i') end
end
redis.call('ZADD', tag .. ':idx', 0, key)
place(key, deadline, tonumber(ARGV[11]), now)
if ARGV[10] == '1' then touch(key) end
return res
`)

// oldDelete: ARGV tag, key, now, ifVersion (0: any).
var oldDelete = goredis.NewScript(oldPrelude + `
local key, now, want = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local e = redis.pcall('HMGET', ek(key), 'v', 'd', 'n', 'i')
if not e.err and e[1] == false then return {} end
local d, n, i = times(e, 2)
if not d then
	if want ~= 0 then return {} end
	redis.call('DEL', ek(key))
	unindex(key)
	return unread(e, 2)
end
if expired(d, now) then return {} end
if want ~= 0 and n ~= want then return {} end
redis.call('DEL', ek(key))
unindex(key)
return {e[1], d, n, i}
`)

const oldPrelude = `
local tag = ARGV[1]
local function ek(key) return tag .. ':e:' .. key end

local function unindex(key)
	redis.call('ZREM', tag .. ':idx', key)
	redis.call('ZREM', tag .. ':dl', key)
	redis.call('ZREM', tag .. ':lru', key)
end

-- expire_to_outbox moves an expired entry (v, d already read) to the
-- outbox stream, in the same script as its removal.
local function expire_to_outbox(key, v, d)
	redis.call('XADD', tag .. ':out', '*', 'k', key, 'v', v, 'd', d)
	redis.call('DEL', ek(key))
	unindex(key)
end

local function expired(d, now) return d > 0 and d <= now end

-- num reads a number field by the rule of Go's field (bucket.go):
-- decimal digits, few enough to be exact in a Lua number. One rule in both
-- places makes a script and Get agree on which entries can be read.
local function num(s)
	if s and #s <= 15 and string.find(s, '^%d+$') then return tonumber(s) end
	return nil
end

-- unreadable says why an entry cannot be read, from e, the reply of
-- redis.pcall('HMGET', ...) on it, where fields d, n and i (n and i
-- optional) are its deadline, version and idle time: another type in the
-- entry's key (WRONGTYPE), or a field that is not a number. It returns nil
-- for a readable or absent entry.
local function not_num(what, v)
	if v and num(v) == nil then
		return what .. ' ' .. string.format('%q', string.sub(v, 1, 40)) .. ' is not a number'
	end
	return nil
end

local function unreadable(e, d, n, i)
	if e.err then return e.err end
	return not_num('deadline', e[d]) or n and not_num('version', e[n]) or i and not_num('idle', e[i]) or nil
end

-- times reads the deadline, version and idle time of an entry whose value
-- is there, from e, a reply of redis.pcall('HMGET', ...) whose fields from
-- position at are d, n and i, as Go's readEntry does: d and n must be
-- numbers, i a number or absent (0). It returns nil when they are not.
local function times(e, at)
	if e.err then return nil end
	local d, n, i = num(e[at]), num(e[at + 1]), 0
	if e[at + 2] then i = num(e[at + 2]) end
	if d and n and i then return d, n, i end
	return nil
end

-- unread is the reply of a script for an entry times refused: a table
-- holding one table, so that it is never taken for an entry, of the Redis
-- error (another type in the entry's key) or of '' and the raw d, n and i,
-- from which Go tells why (badEntry) in the words Get uses.
local function unread(e, at)
	if e.err then return {{e.err}} end
	return {{'', e[at], e[at + 1], e[at + 2]}}
end

local function live_count(now)
	return redis.call('ZCARD', tag .. ':idx') - redis.call('ZCOUNT', tag .. ':dl', 1, now)
end

local function touch(key)
	redis.call('ZADD', tag .. ':lru', redis.call('INCR', tag .. ':seq'), key)
end

-- place files key under deadline d (0: none) in the deadline index and
-- sets when Redis itself reclaims the entry: reclaim ms after d, or after
-- now for a deadline already past (a Retime that expires the entry), so
-- that Redis never deletes an entry the sweep has not had the time to
-- move to the outbox.
local function place(key, d, reclaim, now)
	if d > 0 then
		redis.call('ZADD', tag .. ':dl', d, key)
		if reclaim > 0 then redis.call('PEXPIREAT', ek(key), math.max(d, now) + reclaim) end
	else
		redis.call('ZREM', tag .. ':dl', key)
		redis.call('PERSIST', ek(key))
	end
end
`
