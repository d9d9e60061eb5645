/**
 * The Redis log's server-side scripts. Each runs atomically on the master
 * that owns the room's slot (all its keys share a hash tag), so a publish is
 * one step: idempotency check, next sequence number, append to the history
 * stream, publish on the room's channel. Presence changes are decided the
 * same way (a nickname is taken or not, in one step) and announced on the
 * same channel.
 *
 * Channel payloads (first byte says what follows):
 *   M<epoch> <seq>\n<encoded event>   a stored message, as every receiver forwards it
 *   A<epoch> <seq> <n>\n<n bytes: encoded RoomAction><encoded event>   a stored room action
 *   J<json {n, j, c}>                 a member joined (nickname, joined at ms, member count)
 *   L<json {n, r, c}>                 a member left (nickname, LeaveReason, member count)
 *   R<json {n, t, c}>                 a claim took over the membership with token hash t (nickname, count)
 *   N<json {f, n, c}>                 a member renamed from f to n (member count)
 *   T<nickname>\n<encoded event>      someone is typing (sent by the node, not a script)
 *
 * The message bytes are assembled here from the halves the publishing node
 * encoded (see wire/message-codec.ts): the sequence number is spliced in, and
 * no node ever encodes the message again.
 */

/** Lua: write protobuf varints (numbers below 2^53 are exact in Lua's doubles). */
const VARINT = `
local function varint(n)
  local out = {}
  while n >= 128 do
    out[#out + 1] = string.char(n % 128 + 128)
    n = math.floor(n / 128)
  end
  out[#out + 1] = string.char(n)
  return table.concat(out)
end
`;

/** Lua: publish on the room's channel, sharded in cluster mode. */
const PUBLISH = `
local function announce(channel, sharded, payload)
  if sharded == '1' then redis.call('SPUBLISH', channel, payload) else redis.call('PUBLISH', channel, payload) end
end
`;

/**
 * Lua: the room's counter is behind a number a node already delivered in the
 * same epoch (Redis failed over to a replica that lagged, or was restored
 * from an older snapshot). Reusing those numbers would make every node drop
 * the new messages as already delivered, so the room starts a new epoch
 * instead, numbering on from the highest delivered number (never reused);
 * what it was is kept in meta (behind*) for every node's log line.
 * Returns the room's epoch after the check.
 */
const REBASE = `
local function rebase(meta, epoch, knownEpoch, knownSeq, newEpoch)
  local counter = tonumber(redis.call('HGET', meta, 'seq') or '0')
  if epoch ~= knownEpoch or knownSeq <= counter then return epoch end
  redis.call('HSET', meta, 'epoch', newEpoch, 'seq', knownSeq, 'behindEpoch', knownEpoch, 'behindAt', counter, 'behindOf', knownSeq)
  return newEpoch
end
`;

/**
 * Lua: whether a room exists in any form (state, members, history): what a
 * create must find free. An epoch alone (a subscription) is not a room.
 */
const ROOM_EXISTS = `
local function roomExists(state, meta, members, log)
  return redis.call('EXISTS', state) == 1 or redis.call('HLEN', members) > 0
    or tonumber(redis.call('HGET', meta, 'seq') or '0') > 0 or redis.call('XLEN', log) > 0
end
`;

/**
 * Lua: what publish and act share, so a room action is numbered, stored,
 * deduplicated and announced exactly like a message. A is the scripts'
 * common ARGV:
 *   1 sender (the idempotency key's owner), 2 clientMsgId, 3 textHash, 4 head, 5 tail, 6 sentAtMs,
 *   7 maxLen, 8 maxAgeMs, 9 idWindowMs, 10 maxIds, 11 newEpoch, 12 sharded, 13 nowMs,
 *   14 knownEpoch, 15 knownSeq (the room as the calling node delivered it; '' and 0 for unknown),
 *   16 confirm ('1': the node WAITs for replicas before anyone sees the entry, so
 *      the script does not announce it but returns the channel payload for the
 *      node to publish once confirmed; and a duplicate writes too, so a WAIT
 *      after it covers the original)
 */
const APPEND = `${VARINT}${PUBLISH}${REBASE}
local function openEpoch(meta, A)
  local epoch = redis.call('HGET', meta, 'epoch')
  if not epoch then
    redis.call('HSET', meta, 'epoch', A[11], 'seq', 0)
    return A[11]
  end
  return rebase(meta, epoch, A[14], tonumber(A[15]), A[11])
end

-- Returns the idempotency key (nil for none) and, when the key was used
-- within its window, the answer: {'dup', seq, sentAtMs, epoch} or {'conflict'}.
local function checkKey(meta, ids, epoch, A)
  if A[2] == '' then return nil, nil end
  local idKey = A[1] .. '\\0' .. A[2]
  local rec = redis.call('HGET', ids, idKey)
  if rec then
    local s, t, h = string.match(rec, '^(%d+):(%d+):(%x+)$')
    if s and tonumber(t) >= tonumber(A[13]) - tonumber(A[9]) then
      if h ~= A[3] then return idKey, {'conflict'} end
      if A[16] == '1' then redis.call('HSET', meta, 'dupAt', A[13]) end
      return idKey, {'dup', s, t, epoch}
    end
  end
  return idKey, nil
end

-- Number, store and announce the entry whose halves are A[4], A[5]; action:
-- the encoded RoomAction of an action entry ('' for a message), kept beside
-- the event (stream field a, channel payload A) so nodes need not decode.
-- mark: for a message, nil or one more stream field and its value (r: a reply's
-- target, c: an edit's or delete's target; see CHANGE_SCRIPT).
-- Returns {'ok', seq, epoch[, payload]}.
local function append(meta, log, ids, idt, channel, epoch, idKey, A, action, mark)
  local now = tonumber(A[13])
  local window = tonumber(A[9])
  local seq = redis.call('HINCRBY', meta, 'seq', 1)
  local chat = A[4] .. string.char(16) .. varint(seq) .. A[5]
  local inner = string.char(18) .. varint(#chat) .. chat
  local event = string.char(10) .. varint(#inner) .. inner
  if action ~= '' then
    redis.call('XADD', log, 'MAXLEN', A[7], seq .. '-0', 'e', event, 't', A[6], 'a', action)
  elseif mark then
    redis.call('XADD', log, 'MAXLEN', A[7], seq .. '-0', 'e', event, 't', A[6], mark[1], mark[2])
  else
    redis.call('XADD', log, 'MAXLEN', A[7], seq .. '-0', 'e', event, 't', A[6])
  end
  if idKey then
    redis.call('HSET', ids, idKey, seq .. ':' .. A[6] .. ':' .. A[3])
    redis.call('ZADD', idt, A[6], idKey)
    -- Forget keys past their window or over the count, a bounded number per entry.
    local expired = redis.call('ZRANGEBYSCORE', idt, '-inf', '(' .. (now - window), 'LIMIT', 0, 64)
    for _, k in ipairs(expired) do
      redis.call('HDEL', ids, k)
      redis.call('ZREM', idt, k)
    end
    local excess = redis.call('ZCARD', idt) - tonumber(A[10])
    if excess > 0 then
      local popped = redis.call('ZPOPMIN', idt, math.min(excess, 64))
      for i = 1, #popped, 2 do redis.call('HDEL', ids, popped[i]) end
    end
  end
  local maxAge = tonumber(A[8])
  if maxAge > 0 then
    -- Age retention on the oldest entries, a bounded number per entry.
    local cutoff = now - maxAge
    local oldest = redis.call('XRANGE', log, '-', '+', 'COUNT', 64)
    local keep = nil
    for _, e in ipairs(oldest) do
      if tonumber(e[2][4]) >= cutoff then keep = e[1]; break end
    end
    if keep then
      redis.call('XTRIM', log, 'MINID', keep)
    elseif #oldest > 0 then
      local last = string.match(oldest[#oldest][1], '^(%d+)')
      redis.call('XTRIM', log, 'MINID', (tonumber(last) + 1) .. '-0')
    end
  end
  local payload
  if action == '' then
    payload = 'M' .. epoch .. ' ' .. seq .. '\\n' .. event
  else
    payload = 'A' .. epoch .. ' ' .. seq .. ' ' .. #action .. '\\n' .. action .. event
  end
  if A[16] == '1' then return {'ok', seq, epoch, payload} end
  announce(channel, A[12], payload)
  return {'ok', seq, epoch}
end
`;

/**
 * Lua: the access checks of rooms/room-state.ts (mayJoin, mayPost) on the
 * room's access hash, one HMGET. A room without state has no hash: nothing
 * is refused. Returns nil when allowed, else {'refused', p, ban, mute, role}
 * (the raw fields, from which the node words the refusal with the same rules).
 */
const ACCESS = `
local function restricted(v, now)
  if not v then return false end
  local untilMs = tonumber(string.match(v, '^(%d+)'))
  return untilMs == 0 or untilMs > now
end

local function refusal(access, userId, grant, now, posting)
  local a = redis.call('HMGET', access, 'p', 'b:' .. userId, 'm:' .. userId, 'r:' .. userId)
  local role = math.max(tonumber(a[4] or '0'), tonumber(grant))
  if restricted(a[2], now) or (posting and restricted(a[3], now)) or (a[1] == '1' and role < 1) then
    return {'refused', a[1] or '', a[2] or '', posting and a[3] or '', a[4] or ''}
  end
  return nil
end
`;

/** Lua: the encoded event (field e) of the stream entry numbered seq, or '' when the stream does not hold it. */
const EVENT_AT = `
local function eventAt(log, seq)
  local id = seq .. '-0'
  local found = redis.call('XRANGE', log, id, id)
  if #found == 0 then return '' end
  local f = found[1][2]
  for i = 1, #f, 2 do
    if f[i] == 'e' then return f[i + 1] end
  end
  return ''
end
`;

/**
 * KEYS: meta, log, ids, idTimes, channel, access
 * ARGV: APPEND's 1-16, then 17 senderId ('' for a trusted sender: not checked), 18 the token's grant (RoomRole),
 *       19 the number of the message it replies to ('0': none), 20 that message's encoded event as the node
 *       read it to quote it (an edit or delete since makes the quote stale: {'stale'}, the node reads it again)
 * Returns {'ok', seq, epoch[, payload]} | {'dup', seq, sentAtMs, epoch} | {'conflict'} | {'refused', p, ban, mute, role} | {'stale'}
 */
export const PUBLISH_SCRIPT = `${APPEND}${ACCESS}${EVENT_AT}
local meta, log, ids, idt, channel = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local epoch = openEpoch(meta, ARGV)
local idKey, answer = checkKey(meta, ids, epoch, ARGV)
if answer then return answer end
-- Checked in the step that stores: a send after a ban entry is never stored.
if ARGV[17] ~= '' then
  local refused = refusal(KEYS[6], ARGV[17], ARGV[18], tonumber(ARGV[13]), true)
  if refused then return refused end
end
local mark = nil
if (ARGV[19] or '0') ~= '0' then
  if eventAt(log, ARGV[19]) ~= ARGV[20] then return {'stale'} end
  mark = {'r', ARGV[19]}
end
return append(meta, log, ids, idt, channel, epoch, idKey, ARGV, '', mark)
`;

/**
 * Record an edit or delete, decided by the node (log/message-changes.ts
 * decideChange()) against the room as it read it, as the room's next entry,
 * and rewrite the history with the entries it changes (its target, and for a
 * delete the edits of it; the replies quoting it) in their new state: only if
 * the room is still as read, else {'stale'} and the node decides again. Still
 * as read: the same epoch, and whatever was appended since is plain messages
 * (no room action, which may change who may do what; no edit or delete, which
 * may have rewritten the same entries; no reply to the target, which the
 * rewrite would miss). Stream fields say so without decoding: a (action),
 * c (edit or delete), r (reply, with its target's number).
 *
 * The whole stream is copied to a new key with those entries replaced, and
 * renamed over the old one. XDEL would not do: it only flags an entry in its
 * node (a listpack of up to stream-node-max-entries), whose bytes stay in
 * memory, DUMP and RDB files until every entry of the node is gone. The copy
 * holds nothing else, so a deleted text is gone from Redis (an append-only
 * file keeps it until its next rewrite). It costs one pass over the kept
 * history (bounded by --history-limit) per change.
 * A delete also drops its target's reactions (a deleted message has none).
 * KEYS: meta, log, ids, idTimes, channel, rewrite, reactions
 * ARGV: APPEND's 1-16, then 17 the epoch and 18 the last number the node read, 19 the target's number,
 *       20 n, then n pairs: number, encoded event (the entry in its new state), then '1' for a delete
 * Returns APPEND's replies | {'dup', ...} | {'conflict'} | {'stale'}
 */
export const CHANGE_SCRIPT = `${APPEND}${EVENT_AT}
local meta, log, ids, idt, channel, rewrite, reactions = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local epoch = openEpoch(meta, ARGV)
local idKey, answer = checkKey(meta, ids, epoch, ARGV)
if answer then return answer end
if epoch ~= ARGV[17] then return {'stale'} end
local counter, known = tonumber(redis.call('HGET', meta, 'seq') or '0'), tonumber(ARGV[18])
if counter < known or counter - known > 256 then return {'stale'} end
if counter > known then
  for _, e in ipairs(redis.call('XRANGE', log, (known + 1) .. '-0', '+')) do
    local f = e[2]
    for i = 1, #f, 2 do
      if f[i] == 'a' or f[i] == 'c' or (f[i] == 'r' and f[i + 1] == ARGV[19]) then return {'stale'} end
    end
  end
end
-- Dropped by retention meanwhile: decided again, it is refused as beyond retention.
if eventAt(log, ARGV[19]) == '' then return {'stale'} end
local changed = {}
for i = 21, 20 + 2 * tonumber(ARGV[20]), 2 do changed[ARGV[i]] = ARGV[i + 1] end
-- The rewrite first: a script that fails half-way (out of memory) leaves the history as it was
-- and records nothing (a half-written copy is dropped by the next change or the room's delete).
local ttl = redis.call('PTTL', log)
redis.call('DEL', rewrite)
local from = '-'
while true do
  local page = redis.call('XRANGE', log, from, '+', 'COUNT', 512)
  for _, e in ipairs(page) do
    local f = e[2]
    local newer = changed[string.match(e[1], '^(%d+)')]
    if newer then
      for i = 1, #f, 2 do
        if f[i] == 'e' then f[i + 1] = newer end
      end
    end
    redis.call('XADD', rewrite, e[1], unpack(f))
  end
  if #page < 512 then break end
  from = (tonumber(string.match(page[#page][1], '^(%d+)')) + 1) .. '-0'
end
redis.call('RENAME', rewrite, log)
-- RENAME gives the log the copy's (absent) expiry: an empty room's history keeps its own.
if ttl > 0 then redis.call('PEXPIRE', log, ttl) end
if ARGV[21 + 2 * tonumber(ARGV[20])] == '1' then redis.call('HDEL', reactions, ARGV[19]) end
return append(meta, log, ids, idt, channel, epoch, idKey, ARGV, '', {'c', ARGV[19]})
`;

/**
 * Record a reaction, decided by the node (log/reactions.ts decideReaction())
 * against the room as it read it, as the room's next entry, and write its
 * target's reactions as they are after it (the node computed them with
 * applyReaction()) in the room's reactions hash, in the same step: only if
 * what the decision rests on is unchanged (compare-and-set), else {'stale'}
 * and the node decides again. That is the epoch, the target's entry (an edit
 * or delete rewrites it; retention drops it), the target's reactions (another
 * reaction to it), and the state's version (a mute or ban since). Entries to
 * other messages do not matter: nothing is scanned. The hash's fields of
 * messages retention dropped go when it holds more fields than twice the
 * history's length (maxLen) (one pass, so amortised O(1) per reaction); it expires with the log.
 * KEYS: meta, log, ids, idTimes, channel, reactions, access
 * ARGV: APPEND's 1-16, then 17 the epoch, 18 the target's number, 19 its encoded event as read,
 *       20 its reactions as read ('' none), 21 the state version as read ('' none),
 *       22 its reactions after this one ('' none)
 * Returns APPEND's replies | {'dup', ...} | {'conflict'} | {'stale'}
 */
export const REACT_SCRIPT = `${APPEND}${EVENT_AT}
local meta, log, ids, idt, channel, reactions, access = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local epoch = openEpoch(meta, ARGV)
local idKey, answer = checkKey(meta, ids, epoch, ARGV)
if answer then return answer end
if epoch ~= ARGV[17] or eventAt(log, ARGV[18]) ~= ARGV[19] then return {'stale'} end
if (redis.call('HGET', reactions, ARGV[18]) or '') ~= ARGV[20] then return {'stale'} end
if (redis.call('HGET', access, 'v') or '') ~= ARGV[21] then return {'stale'} end
if ARGV[22] == '' then redis.call('HDEL', reactions, ARGV[18]) else redis.call('HSET', reactions, ARGV[18], ARGV[22]) end
local keep = 2 * tonumber(ARGV[7])
if redis.call('HLEN', reactions) > keep then
  local first = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
  local firstSeq = #first > 0 and tonumber(string.match(first[1][1], '^(%d+)')) or math.huge
  for _, field in ipairs(redis.call('HKEYS', reactions)) do
    if tonumber(field) < firstSeq then redis.call('HDEL', reactions, field) end
  end
end
local ttl = redis.call('PTTL', log)
if ttl > 0 then redis.call('PEXPIRE', reactions, ttl) else redis.call('PERSIST', reactions) end
return append(meta, log, ids, idt, channel, epoch, idKey, ARGV, '', nil)
`;

/**
 * Record a room action (decided by the node against the state version it
 * read) as the room's next entry, and write the state it leads to, only if
 * the state is still that version (compare-and-set; else {'stale'}: the node
 * decides again).
 * KEYS: meta, log, ids, idTimes, channel, state, access, members, order, nodes, users, reads, rewrite (see CHANGE_SCRIPT), reactions
 * ARGV: APPEND's 1-16, then 17 action (encoded RoomAction), 18 expected version ('' for no state),
 *       19 whether the room existed when the action was decided ('1' or '0': a create or delete decided on it
 *       is stale if that changed), 20 next state JSON ('' deletes the room),
 *       21 lifetimeMs of an empty room's history (0: kept), 22 the node member sets' key prefix,
 *       23 a new epoch and 24 its ttlMs (a deleted room starts again there, as a subscription's ENSURE would),
 *       25 n, then n field/value pairs to set in the access hash (v included), then fields to delete
 * Returns APPEND's replies | {'dup', ...} | {'conflict'} | {'stale'}
 */
export const ACT_SCRIPT = `${APPEND}${ROOM_EXISTS}
local meta, log, ids, idt, channel, state, access, members, order, nodes, users, reads, rewrite, reactions =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12], KEYS[13], KEYS[14]
local epoch = openEpoch(meta, ARGV)
local idKey, answer = checkKey(meta, ids, epoch, ARGV)
if answer then return answer end
if (redis.call('HGET', access, 'v') or '') ~= ARGV[18] then return {'stale'} end
if (ARGV[19] == '1') ~= roomExists(state, meta, members, log) then return {'stale'} end
local reply = append(meta, log, ids, idt, channel, epoch, idKey, ARGV, ARGV[17])
if ARGV[20] == '' then
  -- Deleted: the entry went out above (or goes with the reply); state, history and
  -- members go now. Idempotency keys stay for their window, so a retried delete is a duplicate.
  for _, node in ipairs(redis.call('SMEMBERS', nodes)) do redis.call('DEL', ARGV[22] .. node) end
  redis.call('DEL', state, access, members, order, nodes, users, reads, log, meta, rewrite, reactions)
  -- A new history at once, so every node resets its subscription to it (nobody's position means anything now).
  redis.call('HSET', meta, 'epoch', ARGV[23], 'seq', 0)
  redis.call('PEXPIRE', meta, ARGV[24])
  if redis.call('EXISTS', ids) == 1 then
    redis.call('PEXPIRE', ids, ARGV[9])
    redis.call('PEXPIRE', idt, ARGV[9])
  end
  return reply
end
redis.call('SET', state, ARGV[20])
if ARGV[18] == '' then redis.call('DEL', access) end
local n = tonumber(ARGV[25])
local set = {}
for i = 26, 25 + 2 * n do set[#set + 1] = ARGV[i] end
redis.call('HSET', access, unpack(set))
for i = 26 + 2 * n, #ARGV do redis.call('HDEL', access, ARGV[i]) end
-- A room with state is kept; its history (in an empty room) follows the rules of vacate.
local lifetime = tonumber(ARGV[21])
local expires = lifetime > 0 and redis.call('HLEN', members) == 0
for _, k in ipairs({meta, log, ids, idt, reactions}) do
  if expires then redis.call('PEXPIRE', k, lifetime) else redis.call('PERSIST', k) end
end
return reply
`;

/**
 * What a node needs to decide an action: the room's state, whether the room
 * exists in any form, and whether the action's idempotency key was used.
 * KEYS: state, meta, members, log, ids
 * ARGV: idKey ('' for none), fingerprint, nowMs, idWindowMs
 * Returns {stateJson or '', exists ('1' or '0'), used ('' | 'dup' | 'conflict'), seq, sentAtMs}
 */
export const ROOM_READ_SCRIPT = `${ROOM_EXISTS}
local state, meta, members, log, ids = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local used, seq, sentAt = '', '0', '0'
if ARGV[1] ~= '' then
  local rec = redis.call('HGET', ids, ARGV[1])
  if rec then
    local s, t, h = string.match(rec, '^(%d+):(%d+):(%x+)$')
    if s and tonumber(t) >= tonumber(ARGV[3]) - tonumber(ARGV[4]) then
      used = (h == ARGV[2]) and 'dup' or 'conflict'
      seq, sentAt = s, t
    end
  end
end
local exists = roomExists(state, meta, members, log) and '1' or '0'
return {redis.call('GET', state) or '', exists, used, seq, sentAt}
`;

/**
 * A member is stored as json {n: nickname, j: joined at ms, node, o: join
 * order, t: token hash, u: user id}; a release or rename acts only on the
 * same n, j, node and t, so a membership that was taken over is not touched
 * by its old node. A shared membership (a signed-in user's, found through the
 * users hash whatever its nickname) also has h: {token hash: node} for each
 * session holding it, on any node; it acts by u and the session's t, and it
 * leaves when h empties.
 */
const SHARED = `
local function sharedOf(users, members, userId)
  local skeleton = redis.call('HGET', users, userId)
  local held = skeleton and redis.call('HGET', members, skeleton)
  if not held then return nil end
  local m = cjson.decode(held)
  if m.u ~= userId or type(m.h) ~= 'table' then return nil end
  return m, skeleton
end

-- Whether a session on this node still holds the shared membership.
local function heldOn(m, node)
  for _, n in pairs(m.h) do if n == node then return true end end
  return false
end
`;

/**
 * KEYS: meta, members, order, nodeMembers, nodes, channel, log, ids, idTimes, access, users, reactions
 * ARGV: skeleton, nickname, joinedAtMs, nodeId, maxMembers, newEpoch, sharded, announce ('1' or '0'),
 *       tokenHash, resumeTokenHash ('' for none), userId ('' for no access check), grant (RoomRole), nowMs,
 *       shared ('1': the user's membership, see SHARED)
 * Returns {'claimed', count} | {'replaced', count, joinedAtMs} | {'taken', holder} | {'full'}
 *       | {'shared', count, nickname, skeleton, joinedAtMs} | {'refused', p, ban, '', role} (see ACCESS)
 */
export const CLAIM_SCRIPT = `${PUBLISH}${ACCESS}${SHARED}
local meta, members, order, mine, nodes, channel, users = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[11]
if ARGV[11] ~= '' then
  local refused = refusal(KEYS[10], ARGV[11], ARGV[12], tonumber(ARGV[13]), false)
  if refused then return refused end
end
if ARGV[14] == '1' then
  local m, skeleton = sharedOf(users, members, ARGV[11])
  if m then
    -- The user is here already (another session, any node): this session holds it too.
    m.h[ARGV[9]] = ARGV[4]
    redis.call('HSET', members, skeleton, cjson.encode(m))
    redis.call('SADD', mine, skeleton)
    redis.call('SADD', nodes, ARGV[4])
    return {'shared', redis.call('HLEN', members), m.n, skeleton, m.j}
  end
end
local held = redis.call('HGET', members, ARGV[1])
if held then
  local m = cjson.decode(held)
  if m.n == ARGV[2] and m.j == ARGV[3] and m.node == ARGV[4] and (m.t or '') == ARGV[9] then return {'claimed', redis.call('HLEN', members)} end
  if ARGV[10] == '' or m.n ~= ARGV[2] or (m.t or '') ~= ARGV[10] then return {'taken', m.n} end
  -- The joiner proved it owns this membership: take it over in place (order and join time kept).
  local old = m.t
  m.node = ARGV[4]
  m.t = ARGV[9]
  redis.call('HSET', members, ARGV[1], cjson.encode(m))
  redis.call('SADD', mine, ARGV[1])
  redis.call('SADD', nodes, ARGV[4])
  local n = redis.call('HLEN', members)
  announce(channel, ARGV[7], 'R' .. cjson.encode({n = ARGV[2], t = old, c = n}))
  return {'replaced', n, m.j}
end
local count = redis.call('HLEN', members)
if count >= tonumber(ARGV[5]) then return {'full'} end
if redis.call('HSETNX', meta, 'epoch', ARGV[6]) == 1 then redis.call('HSET', meta, 'seq', 0) end
local o = redis.call('HINCRBY', meta, 'morder', 1)
local record = {n = ARGV[2], j = ARGV[3], node = ARGV[4], o = o, t = ARGV[9]}
if ARGV[11] ~= '' then record.u = ARGV[11] end
if ARGV[14] == '1' then
  record.h = {[ARGV[9]] = ARGV[4]}
  redis.call('HSET', users, ARGV[11], ARGV[1])
end
redis.call('HSET', members, ARGV[1], cjson.encode(record))
redis.call('ZADD', order, o, ARGV[1])
redis.call('SADD', mine, ARGV[1])
redis.call('SADD', nodes, ARGV[4])
-- A room with members keeps its history: undo the expiry set when it emptied.
for i = 7, 9 do redis.call('PERSIST', KEYS[i]) end
redis.call('PERSIST', meta)
redis.call('PERSIST', KEYS[12])
count = count + 1
if ARGV[8] == '1' then announce(channel, ARGV[7], 'J' .. cjson.encode({n = ARGV[2], j = ARGV[3], c = count, u = record.u})) end
return {'claimed', count}
`;

/** Lua: remove one member (already known to be there) and announce it. */
const REMOVE_MEMBER = `
local function remove(members, order, mine, skeleton, nickname, reason, channel, sharded, users, userId)
  redis.call('HDEL', members, skeleton)
  if userId then redis.call('HDEL', users, userId) end
  redis.call('ZREM', order, skeleton)
  redis.call('SREM', mine, skeleton)
  local count = redis.call('HLEN', members)
  announce(channel, sharded, 'L' .. cjson.encode({n = nickname, r = reason, c = count}))
  return count
end

-- The room emptied: a room that never stored anything leaves nothing behind;
-- the history of one that did expires after its lifetime (0: kept).
local function vacate(meta, log, ids, idt, lifetimeMs, reactions)
  local seq = tonumber(redis.call('HGET', meta, 'seq') or '0')
  if seq == 0 and redis.call('EXISTS', ids) == 0 then
    redis.call('DEL', meta)
  elseif lifetimeMs > 0 then
    for _, k in ipairs({meta, log, ids, idt, reactions}) do redis.call('PEXPIRE', k, lifetimeMs) end
  end
end
`;

/**
 * KEYS: meta, members, order, nodeMembers, nodes, channel, log, ids, idTimes, users, reactions
 * ARGV: skeleton, nickname, joinedAtMs, nodeId, reason, sharded, lifetimeMs, tokenHash,
 *       userId of a shared membership ('' for none)
 * Returns the member count, or -1 when that member (session) was not there.
 */
export const RELEASE_SCRIPT = `${PUBLISH}${REMOVE_MEMBER}${SHARED}
local meta, members, order, mine, nodes, channel, users = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[10]
if ARGV[9] ~= '' then
  local m, skeleton = sharedOf(users, members, ARGV[9])
  if not m or m.h[ARGV[8]] == nil then return -1 end
  m.h[ARGV[8]] = nil
  local count
  if next(m.h) == nil then
    count = remove(members, order, mine, skeleton, m.n, tonumber(ARGV[5]), channel, ARGV[6], users, m.u)
    if count == 0 then vacate(meta, KEYS[7], KEYS[8], KEYS[9], tonumber(ARGV[7]), KEYS[11]) end
  else
    -- Its other sessions keep it: nobody is told.
    redis.call('HSET', members, skeleton, cjson.encode(m))
    if not heldOn(m, ARGV[4]) then redis.call('SREM', mine, skeleton) end
    count = redis.call('HLEN', members)
  end
  if redis.call('SCARD', mine) == 0 then redis.call('SREM', nodes, ARGV[4]) end
  return count
end
local held = redis.call('HGET', members, ARGV[1])
local m = held and cjson.decode(held)
if not m or m.node ~= ARGV[4] then
  -- Not ours (any more: taken over by another node): forget it in this node's set.
  redis.call('SREM', mine, ARGV[1])
  if redis.call('SCARD', mine) == 0 then redis.call('SREM', nodes, ARGV[4]) end
  return -1
end
if m.n ~= ARGV[2] or m.j ~= ARGV[3] or (m.t or '') ~= ARGV[8] then return -1 end
local count = remove(members, order, mine, ARGV[1], ARGV[2], tonumber(ARGV[5]), channel, ARGV[6])
if redis.call('SCARD', mine) == 0 then redis.call('SREM', nodes, ARGV[4]) end
if count == 0 then vacate(meta, KEYS[7], KEYS[8], KEYS[9], tonumber(ARGV[7]), KEYS[11]) end
return count
`;

/**
 * Rename a member in place (order, join time, node and token kept). A shared
 * membership is found by its user and renamed for all its sessions: each
 * holding node's set follows.
 * KEYS: members, order, nodeMembers, channel, users
 * ARGV: skeleton, nickname, joinedAtMs, nodeId, tokenHash, newSkeleton, newNickname, sharded,
 *       userId of a shared membership ('' for none), nodeMembers key prefix (the node id follows)
 * Returns {'renamed', count} | {'taken', holder} | {'gone'}
 */
export const RENAME_SCRIPT = `${PUBLISH}${SHARED}
local members, order, mine, channel, users = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local m, skeleton
if ARGV[9] ~= '' then
  m, skeleton = sharedOf(users, members, ARGV[9])
  if not m or m.h[ARGV[5]] == nil then return {'gone'} end
else
  skeleton = ARGV[1]
  local held = redis.call('HGET', members, skeleton)
  if not held then return {'gone'} end
  m = cjson.decode(held)
  if m.n ~= ARGV[2] or m.j ~= ARGV[3] or m.node ~= ARGV[4] or (m.t or '') ~= ARGV[5] then return {'gone'} end
end
local holders = {}
if m.h then
  for _, n in pairs(m.h) do holders[#holders + 1] = ARGV[10] .. n end
else
  holders[1] = mine
end
if ARGV[6] ~= skeleton then
  local other = redis.call('HGET', members, ARGV[6])
  if other then return {'taken', cjson.decode(other).n} end
  redis.call('HDEL', members, skeleton)
  redis.call('ZREM', order, skeleton)
  redis.call('ZADD', order, m.o, ARGV[6])
  for _, set in ipairs(holders) do
    redis.call('SREM', set, skeleton)
    redis.call('SADD', set, ARGV[6])
  end
  if m.h then redis.call('HSET', users, m.u, ARGV[6]) end
end
local from = m.n
m.n = ARGV[7]
redis.call('HSET', members, ARGV[6], cjson.encode(m))
local count = redis.call('HLEN', members)
announce(channel, ARGV[8], 'N' .. cjson.encode({f = from, n = ARGV[7], c = count, s = ARGV[6]}))
return {'renamed', count}
`;

/**
 * A dead node's members leave, up to a batch per call (the caller repeats
 * until it returns 0). A shared membership only loses the dead node's
 * sessions, and leaves if no other holds it.
 * KEYS: meta, members, order, nodeMembers(dead), nodes, channel, log, ids, idTimes, users, reactions
 * ARGV: deadNodeId, reason, sharded, lifetimeMs, batch
 * Returns how many members were removed (or kept by other nodes' sessions).
 */
export const EVICT_SCRIPT = `${PUBLISH}${REMOVE_MEMBER}
local meta, members, order, theirs, nodes, channel, users = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[10]
local batch = redis.call('SPOP', theirs, tonumber(ARGV[5]))
local removed = 0
local count = -1
for _, skeleton in ipairs(batch) do
  local held = redis.call('HGET', members, skeleton)
  if held then
    local m = cjson.decode(held)
    if type(m.h) == 'table' then
      for t, n in pairs(m.h) do if n == ARGV[1] then m.h[t] = nil end end
      if next(m.h) == nil then
        count = remove(members, order, theirs, skeleton, m.n, tonumber(ARGV[2]), channel, ARGV[3], users, m.u)
      else
        redis.call('HSET', members, skeleton, cjson.encode(m))
      end
      removed = removed + 1
    elseif m.node == ARGV[1] then
      count = remove(members, order, theirs, skeleton, m.n, tonumber(ARGV[2]), channel, ARGV[3])
      removed = removed + 1
    end
  end
end
if redis.call('SCARD', theirs) == 0 then redis.call('SREM', nodes, ARGV[1]) end
if count == 0 then vacate(meta, KEYS[7], KEYS[8], KEYS[9], tonumber(ARGV[4]), KEYS[11]) end
return removed
`;

/**
 * Move a user's read position forward, never back.
 * KEYS: reads
 * ARGV: userId, seq
 * Returns the position now stored.
 */
export const MARK_READ_SCRIPT = `
local now = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local seq = tonumber(ARGV[2])
if seq > now then
  redis.call('HSET', KEYS[1], ARGV[1], seq)
  now = seq
end
return now
`;

/**
 * Age retention for a room nobody writes to.
 * KEYS: log, ids, idTimes
 * ARGV: cutoffMs (messages sent before go), idCutoffMs (keys used before go)
 */
export const TRIM_SCRIPT = `
local log, ids, idt = KEYS[1], KEYS[2], KEYS[3]
local cutoff = tonumber(ARGV[1])
if cutoff > 0 then
  local oldest = redis.call('XRANGE', log, '-', '+', 'COUNT', 256)
  local keep = nil
  for _, e in ipairs(oldest) do
    if tonumber(e[2][4]) >= cutoff then keep = e[1]; break end
  end
  if keep then
    redis.call('XTRIM', log, 'MINID', keep)
  elseif #oldest > 0 then
    local last = string.match(oldest[#oldest][1], '^(%d+)')
    redis.call('XTRIM', log, 'MINID', (tonumber(last) + 1) .. '-0')
  end
end
local expired = redis.call('ZRANGEBYSCORE', idt, '-inf', '(' .. ARGV[2], 'LIMIT', 0, 1024)
for _, k in ipairs(expired) do
  redis.call('HDEL', ids, k)
  redis.call('ZREM', idt, k)
end
return #expired
`;

/**
 * Make sure the room has an epoch before anyone joins it, so every node
 * tells its joiners the same one. A room that gets no member soon after
 * (the join failed) lets it expire: a mere subscription leaves nothing behind.
 * KEYS: meta, members
 * ARGV: newEpoch, ttlMs
 * Returns {epoch, seq}
 */
export const ENSURE_SCRIPT = `
local meta, members = KEYS[1], KEYS[2]
if redis.call('HSETNX', meta, 'epoch', ARGV[1]) == 1 then
  redis.call('HSET', meta, 'seq', 0)
  if redis.call('EXISTS', members) == 0 then redis.call('PEXPIRE', meta, ARGV[2]) end
end
return redis.call('HMGET', meta, 'epoch', 'seq')
`;

/**
 * The check of REBASE on its own, for a node that finds the counter behind
 * while nobody publishes (its regular sweep, a reconnect).
 * KEYS: meta
 * ARGV: knownEpoch, knownSeq, newEpoch
 * Returns the room's epoch after the check ('' for a room Redis does not know).
 */
export const REBASE_SCRIPT = `${REBASE}
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then return '' end
return rebase(KEYS[1], epoch, ARGV[1], tonumber(ARGV[2]), ARGV[3])
`;

/**
 * With --redis-min-replicas: the highest number a WAIT confirmed (replication
 * is in order, so every number below it is on the replicas too). Nodes catch
 * up to it, not to the counter, so nobody is handed a message no replica has.
 * KEYS: meta
 * ARGV: seq
 */
export const CONFIRM_SCRIPT = `
local seq = tonumber(ARGV[1])
if seq > tonumber(redis.call('HGET', KEYS[1], 'confirmed') or '0') then redis.call('HSET', KEYS[1], 'confirmed', seq) end
return 1
`;

/**
 * A user's room index (keys.ts userRoomsKey): record the user's role in a
 * room as of the state (createdAtMs, version), unless the index already
 * holds a later one. Role 0 records that the role is gone (a tombstone, so a
 * late write of an older state cannot bring it back).
 * KEYS: userRooms
 * ARGV: room, role, createdAtMs, version, nowMs
 */
export const USER_INDEX_SCRIPT = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local c, v = string.match(cur, '^%d+ (%d+) (%d+)')
  local nc, nv, oc, ov = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(c), tonumber(v)
  if nc < oc or (nc == oc and nv <= ov) then return 0 end
elseif ARGV[2] == '0' then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4] .. ' ' .. ARGV[5])
return 1
`;

/**
 * Forget index entries (old tombstones) that still hold the value the node saw.
 * KEYS: userRooms
 * ARGV: room, value, room, value, ...
 */
export const USER_PRUNE_SCRIPT = `
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then n = n + redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return n
`;
