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

// putScript runs the writes of one shard, in order, each as Put runs it
// on its own (a batch is not a transaction across keys; each write is
// atomic, and so is the call as a whole): ARGV tag, maxKeys, lru,
// reclaimMs, group, then putWidth arguments per write: key, value,
// deadline, idle, now, flags (1 keepTTL, 2 conditional, 4 wantPrev),
// ifVersion, holder (a consumer name, or empty).
//
// The reply holds one element per write: 0 when the write succeeded with
// nothing more to say (no previous entry asked for or none there, nothing
// displaced, evicted or replaced), else {code, moved, heldID, heldV,
// heldD, existed, prevV, prevD, prevN, prevI, evicted key, v, d, n, i
// ...}; code 0 ok, 1 version conflict, 2 limit (the first five fields are
// set then too: a displaced entry moved before the check), 4 ok after
// replacing an entry that could not be read (heldV is why). {3, why} is a
// KeepTTL or conditional write refused on an entry that cannot be read. The
// previous value is read and returned only when wantPrev is set. An
// expired entry the write displaces goes to the outbox, or, when holder
// is given, to the shard's held stream, pending for holder in group: see
// the comment at hold below.
//
// The script is written for what it costs Redis per call: no helper
// closures on the way of a plain write, one pattern match for the three
// number fields, one INCRBY for the versions of every write of the call,
// and index updates only where they change something. An entry that
// exists is in the key index already, and in the deadline index under
// its deadline with Redis' own expiry at that deadline plus reclaim (every
// write and Retime keeps them so, in the same script), so a write that
// keeps the deadline leaves them alone. Without a key limit, the index
// updates of a call with several writes go out at its end, one ZADD or
// ZREM for all (no write in between reads the indexes); with a limit each
// write's go at once, as the next write counts the live keys.
var putScript = goredis.NewScript(`
local tag, idx = ARGV[1], KEYS[1]
local max, lru, reclaim, grp = tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4]), ARGV[5]
local call, find = redis.call, string.find
local ekp = tag .. ':e:'
-- The other keys of the shard are named where a write needs them.
local dl, lruk
local n = (#ARGV - 5) / 8
local version = call('INCRBY', tag .. ':seq', n) - n
-- Index changes held for the end of the call: keys new to the key index,
-- and the deadline index's score (or false: out) by key.
local batched = n > 1 and max == 0
local newKeys, dls
if batched then newKeys, dls = {}, {} end
local out = {}
for a = 6, #ARGV, 8 do
	local key, value, dd, ii, now, flags = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4]), ARGV[a + 5]
	local keep, cond, want = false, false, false
	if flags ~= '0' then
		local f = tonumber(flags)
		keep, cond, want = f % 2 == 1, f % 4 >= 2, f % 8 >= 4
	end
	local ek = ekp .. key
	version = version + 1
	local cur = redis.pcall('HMGET', ek, 'd', 'n', 'i')
	local cd, cn, ci = cur[1], cur[2], cur[3]
	local code, moved, hid, hv, hd = 0, 0, '', '', 0
	local r
	repeat
		-- A field must be decimal digits, at most 15 (Go's field, the
		-- prelude's num): one match checks the three.
		local bad
		if cur.err then
			bad = cur.err
		elseif (cd or cn or ci) and not ((not cd or #cd <= 15) and (not cn or #cn <= 15) and (not ci or #ci <= 15)
			and find((cd or '0') .. ' ' .. (cn or '0') .. ' ' .. (ci or '0'), '^%d+ %d+ %d+$')) then
			local function nn(what, v)
				if v and not (#v <= 15 and find(v, '^%d+$')) then
					return what .. ' ' .. string.format('%q', string.sub(v, 1, 40)) .. ' is not a number'
				end
			end
			bad = nn('deadline', cd) or nn('version', cn) or nn('idle', ci)
		end
		if bad then
			-- A record that cannot be read: a write that needs it (KeepTTL,
			-- a version condition) fails; any other replaces it (code 4).
			if keep or cond then
				r = {3, bad}
				break
			end
			dl, lruk = tag .. ':dl', tag .. ':lru'
			call('DEL', ek)
			call('ZREM', idx, key)
			call('ZREM', dl, key)
			call('ZREM', lruk, key)
			if batched then newKeys[key], dls[key] = nil, nil end
			cd, cn, ci = false, false, false
			code, hv = 4, bad
		end
		local exists = cd ~= false
		local d = exists and tonumber(cd)
		if exists and d > 0 and d <= now then
			-- The key holds an expired entry: it moves out first.
			local v = call('HGET', ek, 'v')
			local holder = ARGV[a + 7]
			if holder ~= '' then
				-- hold: the entry goes to the held stream, claimed by holder.
				-- XCLAIM FORCE files it in the group's pending list as if
				-- holder had read it. Nobody reads the held stream with '>':
				-- its events reach other consumers only by XAUTOCLAIM, once
				-- idle for a claim lease, so one whose holder died
				-- unacknowledged is delivered again.
				local held = tag .. ':held'
				redis.pcall('XGROUP', 'CREATE', held, grp, '0', 'MKSTREAM') -- BUSYGROUP when it exists
				hid = call('XADD', held, '*', 'k', key, 'v', v, 'd', cd)
				call('XCLAIM', held, grp, holder, 0, hid, 'FORCE', 'JUSTID')
				hv, hd = v, d
			else
				call('XADD', tag .. ':out', '*', 'k', key, 'v', v, 'd', cd)
			end
			dl, lruk = tag .. ':dl', tag .. ':lru'
			call('DEL', ek)
			call('ZREM', idx, key)
			call('ZREM', dl, key)
			call('ZREM', lruk, key)
			if batched then newKeys[key], dls[key] = nil, nil end
			moved, exists, cd, cn, ci = 1, false, false, false, false
		end
		if cond then
			local have = 0
			if exists then have = tonumber(cn) end
			if have ~= tonumber(ARGV[a + 6]) then
				code = 1
				break
			end
		end
		local ev
		if not exists and max > 0 then
			dl, lruk = tag .. ':dl', tag .. ':lru'
			local live = call('ZCARD', idx) - call('ZCOUNT', dl, 1, now)
			if live >= max then
				if not lru then
					code = 2
					break
				end
				local need, pos, victims = live - max + 1, 0, {}
				while need > 0 do
					local page = call('ZRANGE', lruk, pos, pos + 63)
					if #page == 0 then break end
					for _, k in ipairs(page) do
						if need > 0 then
							-- Entries that are gone, expired, or cannot be
							-- read are passed over, as Get passes them.
							local e = redis.pcall('HMGET', ekp .. k, 'v', 'd', 'n', 'i')
							if not e.err and e[1] ~= false and e[2] and e[3] and #e[2] <= 15 and #e[3] <= 15 and (not e[4] or #e[4] <= 15)
								and find(e[2] .. ' ' .. e[3] .. ' ' .. (e[4] or '0'), '^%d+ %d+ %d+$') then
								local vd = tonumber(e[2])
								if not (vd > 0 and vd <= now) then
									table.insert(victims, {k, e[1], vd, tonumber(e[3]), tonumber(e[4]) or 0})
									need = need - 1
								end
							end
						end
					end
					pos = pos + #page
				end
				ev = {}
				for _, vic in ipairs(victims) do
					call('DEL', ekp .. vic[1])
					call('ZREM', idx, vic[1])
					call('ZREM', dl, vic[1])
					call('ZREM', lruk, vic[1])
					for _, x in ipairs(vic) do table.insert(ev, x) end
				end
			end
		end
		local prev
		if exists then
			if want then prev = {redis.call('HGET', ek, 'v'), d, tonumber(cn), tonumber(ci) or 0} end
			if keep then dd, ii = cd, ci or '0' end
		end
		local dn, idle = tonumber(dd), tonumber(ii)
		local same = exists and dn == d
		if same then
			if idle > 0 then call('HSET', ek, 'v', value, 'n', version, 'i', ii)
			else call('HSET', ek, 'v', value, 'n', version) end
		else
			if idle > 0 then call('HSET', ek, 'v', value, 'd', dd, 'n', version, 'i', ii)
			else call('HSET', ek, 'v', value, 'd', dd, 'n', version) end
		end
		-- Only a hash read with i has one to drop: a fixed write ends sliding.
		if idle == 0 and ci then call('HDEL', ek, 'i') end
		if not exists then
			if batched then newKeys[key] = true else call('ZADD', idx, 0, key) end
		end
		if not same then
			dl = dl or tag .. ':dl'
			-- place: the deadline index, and Redis' own reclaim of the
			-- entry reclaim ms after its deadline (or after now for one
			-- already past), so that Redis never deletes an entry the sweep
			-- has not had the time to move to the outbox.
			if dn > 0 then
				if batched then dls[key] = dd else call('ZADD', dl, dd, key) end
				if reclaim > 0 then call('PEXPIREAT', ek, math.max(dn, now) + reclaim) end
			else
				-- A new key may have a stale member from an entry Redis
				-- reclaimed; an entry that had a deadline has an expiry.
				if batched then dls[key] = false else call('ZREM', dl, key) end
				if exists then call('PERSIST', ek) end
			end
		end
		if lru then call('ZADD', tag .. ':lru', call('INCR', tag .. ':seq'), key) end
		if code ~= 0 or moved ~= 0 or prev or ev then
			r = {code, moved, hid, hv, hd, 0, '', 0, 0, 0}
			if prev then r[6], r[7], r[8], r[9], r[10] = 1, prev[1], prev[2], prev[3], prev[4] end
			if ev then for _, x in ipairs(ev) do table.insert(r, x) end end
		end
	until true
	if code ~= 0 and not r then r = {code, moved, hid, hv, hd, 0, '', 0, 0, 0} end
	out[#out + 1] = r or 0
end
if batched then
	local function flush(cmd, k, args)
		for i = 1, #args, 512 do call(cmd, k, unpack(args, i, math.min(i + 511, #args))) end
	end
	local add, dladd, dlrem = {}, {}, {}
	for k in pairs(newKeys) do add[#add + 1] = 0; add[#add + 1] = k end
	for k, s in pairs(dls) do
		if s then dladd[#dladd + 1] = s; dladd[#dladd + 1] = k else dlrem[#dlrem + 1] = k end
	end
	dl = tag .. ':dl'
	flush('ZADD', idx, add)
	flush('ZADD', dl, dladd)
	flush('ZREM', dl, dlrem)
end
return out
`)

// putWidth is how many arguments putScript takes per write.
const putWidth = 8

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

// deleteScript runs the deletes of one shard, in order, each as Delete
// runs it on its own: ARGV tag, then deleteWidth arguments per delete:
// key, now, ifVersion (0: any). An expired entry is left for the sweep.
// The reply holds one element per delete: 0 when it deleted nothing,
// {v, d, n, i} of the entry it deleted, or unread's reply (see the
// prelude) when it deleted an entry it could not read (a version condition
// never matches one). The keys leave the indexes at the end, in one ZREM
// per index.
var deleteScript = goredis.NewScript(`
local tag = ARGV[1]
local call, find = redis.call, string.find
local ekp = tag .. ':e:'
local out, gone = {}, {}
for a = 2, #ARGV, 3 do
	local key, now, want = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
	local ek = ekp .. key
	local e = redis.pcall('HMGET', ek, 'v', 'd', 'n', 'i')
	local r = 0
	if e.err or e[1] ~= false then
		-- times (the prelude's): d and n decimal digits, at most 15, and i
		-- one too or absent.
		local d, n, i
		local sd, sn, si = e[2], e[3], e[4]
		if not e.err and sd and sn and #sd <= 15 and #sn <= 15 and (not si or #si <= 15)
			and find(sd .. ' ' .. sn .. ' ' .. (si or '0'), '^%d+ %d+ %d+$') then
			d, n, i = tonumber(sd), tonumber(sn), tonumber(si) or 0
		end
		if not d then
			if want == 0 then
				call('DEL', ek)
				gone[#gone + 1] = key
				if e.err then r = {{e.err}} else r = {{'', sd, sn, si}} end
			end
		elseif not (d > 0 and d <= now) and (want == 0 or n == want) then
			call('DEL', ek)
			gone[#gone + 1] = key
			r = {e[1], d, n, i}
		end
	end
	out[#out + 1] = r
end
if #gone > 0 then
	for _, s in ipairs({':idx', ':dl', ':lru'}) do
		for i = 1, #gone, 512 do call('ZREM', tag .. s, unpack(gone, i, math.min(i + 511, #gone))) end
	end
end
return out
`)

// deleteWidth is how many arguments deleteScript takes per delete.
const deleteWidth = 3

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
// without a deadline too, as the memory backend does). Retime sets both,
// as given. Either stamps the access in an EvictLRU bucket, as the other
// backends count it (a touch stands for a read, a retime for a write),
// refiles the deadline and the reclaim time as putScript does, and leaves
// v and n alone. Returns 1 when the entry was
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
if ARGV[5] == '1' then touch(key) end
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
