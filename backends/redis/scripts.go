package redis

import goredis "github.com/redis/go-redis/v9"

// The Lua scripts run every read-then-write of a shard atomically in Redis.
// Each takes the shard's index key as KEYS[1] (so a cluster client routes
// it to the right node) and the shard's key tag as ARGV[1]; every key a
// script builds from the tag hashes to the same slot. Values are opaque
// binary strings to Lua. Numbers come back as integers.
//
// An entry is a hash: v (value), d (deadline, Unix ms, 0 for none), n (its
// version) and, for a sliding entry only, i (its idle time in ms; absent
// means 0, so entries written before sliding expiry read as fixed). The
// shard's sorted sets index it: idx (every key, score 0, so it pages by
// key), dl (keys with a deadline, by deadline) and lru (EvictLRU buckets
// only, by access stamp). Expired entries go, with their value, to
// the shard's out stream, or, when a write claims the one it displaces, to
// its held stream (see putScript).

// prelude holds the helpers every script shares.
const prelude = `
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

// putScript: ARGV tag, key, value, deadline, keepTTL, conditional,
// ifVersion, now, maxKeys, lru, reclaimMs, wantPrev, holder, group, idle.
// Returns {code, moved, heldID, heldV, heldD, existed, prevV, prevD, prevN,
// prevI, evicted key, v, d, n, i ...}; code 0 ok, 1 version conflict, 2
// limit (the first three fields are set then too: a displaced entry moved
// before the check). The previous value is read and returned only when wantPrev is 1.
// An expired entry the write displaces goes to the outbox, or, when holder
// (a consumer name) is given, to the shard's held stream, pending for
// holder in group: see hold.
var putScript = goredis.NewScript(prelude + `
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
					local e = redis.call('HMGET', ek(k), 'v', 'd', 'n', 'i')
					if e[1] ~= false and not expired(tonumber(e[2]), now) then
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

// getTouchScript is Get in an EvictLRU bucket: ARGV tag, key, now.
// Returns {}, {v, d, n, i}, or unread's reply for an entry it cannot read.
var getTouchScript = goredis.NewScript(prelude + `
local key, now = ARGV[2], tonumber(ARGV[3])
local e = redis.pcall('HMGET', ek(key), 'v', 'd', 'n', 'i')
if not e.err and e[1] == false then return {} end
local d, n, i = times(e, 2)
if not d then return unread(e, 2) end
if expired(d, now) then return {} end
touch(key)
return {e[1], d, n, i}
`)

// deleteScript: ARGV tag, key, now, ifVersion (0: any). An expired entry is
// left for the sweep. Returns {} or {v, d, n, i} of the deleted entry, or
// unread's reply when it deleted an entry it could not read (a version
// condition never matches one).
var deleteScript = goredis.NewScript(prelude + `
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

// sweepScript moves up to max due entries to the outbox: ARGV tag, now,
// max. Index members whose entry Redis already reclaimed are dropped from
// the indexes. An entry that cannot be read is left in place and taken off
// the deadline index only, so that it holds back neither this sweep nor
// the next deadline. Returns {moved, key, why, key, why ...} with the keys
// it skipped.
var sweepScript = goredis.NewScript(prelude + `
local now = tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', tag .. ':dl', 1, now, 'LIMIT', 0, tonumber(ARGV[3]))
local res = {0}
local moved = 0
for _, key in ipairs(due) do
	local e = redis.pcall('HMGET', ek(key), 'v', 'd')
	local bad = unreadable(e, 2)
	if bad then
		redis.call('ZREM', tag .. ':dl', key)
		table.insert(res, key)
		table.insert(res, bad)
	elseif e[1] == false then
		unindex(key)
	elseif expired(tonumber(e[2]), now) then
		expire_to_outbox(key, e[1], e[2])
		moved = moved + 1
	end
end
res[1] = moved
return res
`)

// retimeScript is Touch and Retime: ARGV tag, key, now, reclaimMs, lru,
// then for Retime the new deadline and idle time (none for Touch). On the
// live entry of key, Touch moves the deadline to now + the entry's idle
// time when it is sliding and that is later (for an idle time on an entry
// without a deadline too, as the memory backend does), and stamps the
// access in an EvictLRU bucket: a touch stands for a read. Retime sets
// both, as given. Either refiles the deadline and the reclaim time as
// putScript does, and leaves v and n alone. Returns 1 when the entry was
// live, 0 when not, or unread's reply for an entry it cannot read (then it
// changed nothing).
var retimeScript = goredis.NewScript(prelude + `
local key, now, reclaim = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local e = redis.pcall('HMGET', ek(key), 'd', 'n', 'i')
-- Get reads no value as no entry, whatever the other fields hold.
if not e.err and redis.call('HEXISTS', ek(key), 'v') == 0 then return 0 end
local d, _, i = times(e, 1)
if not d then return unread(e, 1) end
if expired(d, now) then return 0 end
if ARGV[6] then
	local nd, ni = tonumber(ARGV[6]), tonumber(ARGV[7])
	if ni > 0 then
		redis.call('HSET', ek(key), 'd', nd, 'i', ni)
	else
		redis.call('HSET', ek(key), 'd', nd)
		redis.call('HDEL', ek(key), 'i')
	end
	place(key, nd, reclaim, now)
elseif i > 0 and now + i > d then
	redis.call('HSET', ek(key), 'd', now + i)
	place(key, now + i, reclaim, now)
end
if ARGV[5] == '1' and not ARGV[6] then touch(key) end
return 1
`)

// clearScript deletes up to batch entries of the shard, expired or not,
// then up to batch outbox events that no consumer of group has read yet
// (those after the group's last delivered ID; all of them if the group is
// gone), without reporting any: ARGV tag, batch, group.
// Returns the number of entries and events it deleted.
var clearScript = goredis.NewScript(prelude + `
local batch = tonumber(ARGV[2])
local keys = redis.call('ZRANGE', tag .. ':idx', 0, batch - 1)
for _, key in ipairs(keys) do
	redis.call('DEL', ek(key))
	unindex(key)
end
local n = #keys
if n == batch then return n end
local out = tag .. ':out'
local last = '0-0'
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', out)
if ok then
	for _, g in ipairs(groups) do
		local name, id
		for i = 1, #g, 2 do
			if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then id = g[i + 1] end
		end
		if name == ARGV[3] and id then last = id end
	end
end
local evs = redis.call('XRANGE', out, '(' .. last, '+', 'COUNT', batch - n)
for _, e in ipairs(evs) do
	redis.call('XDEL', out, e[1])
end
return n + #evs
`)

// A lock is a string "until owner" (until in Unix ms of the callers'
// clock), written with PX so that Redis reclaims it lockGrace after the
// lease; the lease itself is decided by until, so that every process judges
// it by the same clock the store uses.

// tryLockScript: ARGV tag, key, owner, leaseMs, now, pxMs.
// Returns {1, fence} or {0, heldUntil}.
var tryLockScript = goredis.NewScript(prelude + `
local lk = tag .. ':l:' .. ARGV[2]
local now = tonumber(ARGV[5])
local cur = redis.call('GET', lk)
if cur then
	local untilMs = tonumber(string.match(cur, '^(%d+) '))
	if untilMs and untilMs > now then return {0, untilMs} end
end
local fence = redis.call('INCR', tag .. ':fence')
redis.call('SET', lk, (now + tonumber(ARGV[4])) .. ' ' .. ARGV[3], 'PX', tonumber(ARGV[6]))
return {1, fence}
`)

// unlockScript: ARGV tag, key, owner, now, extendMs (0: release),
// pxMs. Returns 1 when owner held a live lease, else 0 (lost).
var unlockScript = goredis.NewScript(prelude + `
local lk = tag .. ':l:' .. ARGV[2]
local now = tonumber(ARGV[4])
local cur = redis.call('GET', lk)
if not cur then return 0 end
local untilMs, owner = string.match(cur, '^(%d+) (.*)$')
if owner ~= ARGV[3] then return 0 end
local ok = 0
if tonumber(untilMs) > now then ok = 1 end
local extend = tonumber(ARGV[5])
if extend == 0 then
	redis.call('DEL', lk)
elseif ok == 1 then
	redis.call('SET', lk, (now + extend) .. ' ' .. owner, 'PX', tonumber(ARGV[6]))
end
return ok
`)

// closeScript removes this handle's consumer from the groups of the
// shard's outbox and held streams where nothing is pending for it: ARGV
// tag, group, consumer.
var closeScript = goredis.NewScript(prelude + `
for _, stream in ipairs({tag .. ':out', tag .. ':held'}) do
	local ok, pending = pcall(redis.call, 'XPENDING', stream, ARGV[2], '-', '+', 1, ARGV[3])
	if ok and #pending == 0 then
		redis.call('XGROUP', 'DELCONSUMER', stream, ARGV[2], ARGV[3])
	end
end
return 0
`)

// extendScript renews the claim of consumer on the given pending entries
// of one stream of the shard: XCLAIM with JUSTID resets an entry's idle
// time, which XAUTOCLAIM compares with the claim lease, and leaves its
// delivery count alone. Entries another consumer took over meanwhile, or
// that were acknowledged, are left alone. Running it twice is running it
// once. ARGV tag, stream suffix, group, consumer, then the entry IDs.
var extendScript = goredis.NewScript(prelude + `
local stream, grp, consumer = tag .. ARGV[2], ARGV[3], ARGV[4]
local n = 0
for i = 5, #ARGV do
	local p = redis.call('XPENDING', stream, grp, ARGV[i], ARGV[i], 1, consumer)
	if #p > 0 then
		redis.call('XCLAIM', stream, grp, consumer, 0, ARGV[i], 'JUSTID')
		n = n + 1
	end
end
return n
`)

var allScripts = []*goredis.Script{putScript, getTouchScript, deleteScript, retimeScript, sweepScript, clearScript, tryLockScript, unlockScript, closeScript, extendScript}
