-- bgctl's traffic switch inside nginx (nginx.switch: lua). Loaded through
-- lua_package_path; nginx/README.md shows the lines that call it:
--
--   upstream NAME { balancer_by_lua_block { require("bgctl").balance() } ... }
--       (in the upstream file bgctl writes)
--   location = /__bgctl/split { allow 127.0.0.1; deny all;
--       content_by_lua_block { require("bgctl").control() } }
--   location / { ... header_filter_by_lua_block {
--       require("bgctl").header_filter() } }
--
-- A split is one line of text (the same in the upstream file's
-- `map $host $bgctl_split` and in a push):
--
--   gen=12;w=10;id=d-17;stable=127.0.0.1:8081;canary=127.0.0.1:8082;preview=X-Canary;pvh=HEX;sticky=bgctl_canary
--
-- gen: the generation (greater on every change), a decimal digit string
-- (no leading zero, at most 20 digits, at most 2^64-1) compared as a
-- string, never through a Lua number (doubles cannot tell 2^53+1 from
-- 2^53); w: percent of requests on the canary (0..100); id: the rollout,
-- for the sticky cookie; stable, canary: comma-separated HOST:PORT lists
-- (either may be empty); preview: the header that pins a request ("never":
-- stable; the rollout's preview token, whose SHA-1 is pvh: the canary), ""
-- for none; sticky: the cookie that keeps a canary user on the canary, ""
-- for none.
--
-- Who may change it: the upstream file (written by bgctl, root of trust)
-- also carries
--
--   map $host $bgctl_control { default "key=SHA1HEX;allow=H:P,H:P"; }
--
-- the SHA-1 of the service's control key (never the key) and the endpoints
-- a split may name. A push must carry the key in X-Bgctl-Key; nginx
-- compares SHA-1 digests. Without it: 401; a wrong key or an endpoint not
-- allowed: 403; nothing changes. A GET (the read-back) needs no key: it
-- shows the split (no secret: the endpoints are visible in `ss`, pvh is a
-- one-way hash).
--
-- The split nginx serves is the one with the greater generation of two:
-- the last push, kept in `lua_shared_dict bgctl` under the loaded key's
-- hash (shared by all workers, kept across reloads; a split pushed under
-- another key, or by a version of this file before keys, is never read),
-- and the upstream file's, which nginx read when this worker's
-- configuration was loaded (so a restarted nginx serves the file's split).
-- No worker ever writes the file's split into the dict, so a push can
-- never be overwritten by an older file. A file without a split (one bgctl
-- migrated) has its $bgctl_generation: a push older than it is not served.
-- A push flagged X-Bgctl-Takeover may go below the dict's generation (bgctl
-- found nginx ahead of its own state) but never below the loaded file's.
--
-- The canary gets exactly floor(n * w / 100) of the first n weighted
-- requests of a generation, counted across all workers with one atomic
-- shared-dict counter per generation, spread evenly.
local balancer = require("ngx.balancer")

local _M = {}

local DICT_NAME = "bgctl"
local MAX_BODY = 4096
local MAX_GEN = "18446744073709551615"
local PROTOCOL = "2"

local dict = ngx.shared[DICT_NAME]

-- Parsed splits by their text (one or two entries: the file's, the push's).
local cache_text, cache_split = nil, nil
-- This worker's loaded upstream file, read once (a reload makes new
-- workers): its split and its control line. false: not read yet.
local file_text, file_split = false, nil
local file_control = false
local warned_no_dict = false

local function hex(bin)
  return (string.gsub(bin, ".", function(c)
    return string.format("%02x", string.byte(c))
  end))
end

local function sha1_hex(text) return hex(ngx.sha1_bin(text)) end

-- A generation as bgctl writes it: "0", or 1-20 digits without a leading
-- zero, at most 2^64-1.
function _M.valid_gen(s)
  if type(s) ~= "string" then return false end
  if s == "0" then return true end
  if #s > 20 or not string.match(s, "^[1-9]%d*$") then return false end
  return #s < 20 or s <= MAX_GEN
end

-- -1, 0 or 1 as generation a is older than, the same as or newer than b
-- (valid_gen strings: the longer is greater, then digit by digit).
function _M.compare_gen(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  if a == b then return 0 end
  return a < b and -1 or 1
end

local function parse_endpoints(text)
  local list = {}
  if text == "" then return list end
  for item in string.gmatch(text, "[^,]+") do
    local host, port = string.match(item, "^%[?([%x%.:]+)%]?:(%d+)$")
    port = tonumber(port)
    if not host or not port or port < 1 or port > 65535 then
      return nil, "bad endpoint \"" .. item .. "\""
    end
    list[#list + 1] = { host = host, port = port, key = host .. "|" .. port }
  end
  return list
end

local function header_var(name)
  return "http_" .. string.gsub(string.lower(name), "-", "_")
end

local function fields(text)
  local f = {}
  for key, value in string.gmatch(text, "([%a]+)=([^;]*)") do f[key] = value end
  return f
end

-- The split a line describes, or nil and why not.
function _M.parse(text)
  if type(text) ~= "string" or text == "" then return nil, "empty split" end
  local f = fields(text)
  if not _M.valid_gen(f.gen) then return nil, "no generation" end
  local w = string.match(f.w or "", "^%d+$") and tonumber(f.w)
  if not w or w > 100 then return nil, "bad weight" end
  local stable, err = parse_endpoints(f.stable or "")
  if not stable then return nil, err end
  local canary
  canary, err = parse_endpoints(f.canary or "")
  if not canary then return nil, err end
  local id, preview, sticky = f.id or "", f.preview or "", f.sticky or ""
  local pvh = f.pvh or ""
  if not string.match(id, "^[%w%._-]*$") then return nil, "bad id" end
  if not string.match(preview, "^[%w-]*$") then return nil, "bad preview" end
  if not string.match(pvh, "^%x*$") then return nil, "bad pvh" end
  if not string.match(sticky, "^[%w_-]*$") then return nil, "bad sticky" end
  if #canary == 0 then w = 0 elseif #stable == 0 then w = 100 end
  -- The `server` lines bgctl writes into the upstream file for this split
  -- (ServersFor: the sides with a share).
  local servers = (w <= 0 and #stable) or (w >= 100 and #canary) or
                  (#stable + #canary)
  return {
    servers = servers,
    text = text, gen = f.gen, w = w, id = id, stable = stable, canary = canary,
    preview_var = preview ~= "" and header_var(preview) or nil, pvh = pvh,
    sticky = sticky, sticky_var = sticky ~= "" and "cookie_" .. sticky or nil,
  }
end

-- The loaded file's control line: { key = SHA1HEX, allow = {[H|P] = true},
-- text = the line }, or nil when the file carries none (a file from
-- before control keys, or not written for the lua switch).
local function loaded_control()
  if file_control == false then
    file_control = nil
    local text = ngx.var.bgctl_control
    if text and text ~= "" then
      local f = fields(text)
      local allow = parse_endpoints(f.allow or "")
      if f.key and string.match(f.key, "^%x+$") and #f.key == 40 and allow then
        local set = {}
        for _, e in ipairs(allow) do set[e.key] = true end
        file_control = { key = f.key, allow = set, text = text }
      else
        ngx.log(ngx.ERR, "bgctl: cannot read $bgctl_control \"", text, "\"")
      end
    end
  end
  return file_control
end

-- This worker's upstream-file split. nil when the loaded config defines
-- no $bgctl_split or it is empty.
local function from_file()
  if file_text == false then
    file_text = ngx.var.bgctl_split
    if file_text and file_text ~= "" then
      file_split = _M.parse(file_text)
      if not file_split then
        ngx.log(ngx.ERR, "bgctl: cannot read $bgctl_split \"", file_text, "\"")
      end
    end
  end
  return file_split
end

-- The loaded file's generation: its split's, or its $bgctl_generation when
-- it has no split (a file bgctl migrated: its server lines serve, and a
-- push older than it is stale). "0" when neither.
local loaded_gen_value = false
local function loaded_gen()
  if loaded_gen_value == false then
    local fs = from_file()
    loaded_gen_value = fs and fs.gen or ngx.var.bgctl_generation
    if not _M.valid_gen(loaded_gen_value) then loaded_gen_value = "0" end
  end
  return loaded_gen_value
end

-- Where a push under the loaded key is kept; nil without a key.
local function dict_key()
  local c = loaded_control()
  return c and "split:" .. c.key or nil
end

-- The split served now: the push or the file's, whichever is newer (nil:
-- the upstream's server lines).
local function current()
  local fs = from_file()
  local key = dict_key()
  local text = key and dict:get(key)
  if text == nil then return fs end
  if text ~= cache_text then
    local s = _M.parse(text)
    if not s then return fs end
    cache_text, cache_split = text, s
  end
  if _M.compare_gen(loaded_gen(), cache_split.gen) > 0 then return fs end
  return cache_split
end

-- The preview header's value pins to the canary only when it is the
-- rollout's token (its SHA-1 is the split's pvh).
local function is_preview_token(s, value)
  return s.pvh ~= "" and #value == 40 and sha1_hex(value) == s.pvh
end

-- Which side a new request goes to, and whether it is pinned (by the
-- preview header or the sticky cookie) rather than weighted. A pin to a
-- side with no endpoint falls back to the weighted choice.
local function choose(s, ctx)
  if s.preview_var then
    local h = ngx.var[s.preview_var]
    if h == "never" then
      if #s.stable > 0 then return "stable", true end
    elseif h and #s.canary > 0 and is_preview_token(s, h) then
      return "canary", true
    end
  end
  if s.w <= 0 then return "stable", false end
  if s.w >= 100 then return "canary", false end
  if s.sticky_var and s.id ~= "" and ngx.var[s.sticky_var] == s.id then
    return "canary", true
  end
  local n = dict:incr("n" .. s.gen, 1, 0)
  if not n then n = 1 end
  if math.floor(n * s.w / 100) > math.floor((n - 1) * s.w / 100) then
    if s.sticky_var and s.id ~= "" then ctx.bgctl_cookie = s.sticky .. "=" .. s.id end
    return "canary", false
  end
  return "stable", false
end

local function pick(list)
  if #list == 1 then return list[1] end
  local n = dict:incr("rr", 1, 0) or 1
  return list[(n % #list) + 1]
end

-- balancer_by_lua: picks the peer of every try. The first try follows the
-- split; a retry (proxy_next_upstream) goes once to the other side if that
-- side has a share of the weighted traffic, and never to a side without
-- one. Without a split, or without the shared dict (logged once per
-- worker), nginx balances over the upstream's own server lines.
--
-- nginx starts a request with one try per `server` line of the upstream
-- file it loaded, whatever the split served now; set_more_tries tops that
-- up to 2 tries when a retry is wanted (1 otherwise), within
-- proxy_next_upstream_tries. A try beyond those goes to the side already
-- chosen.
function _M.balance()
  if not dict then
    if not warned_no_dict then
      warned_no_dict = true
      ngx.log(ngx.ERR, "bgctl: no lua_shared_dict ", DICT_NAME,
              ": requests are balanced over the upstream's server lines, ",
              "and bgctl cannot move traffic (add \"lua_shared_dict ",
              DICT_NAME, " 1m;\" to the http block)")
    end
    return
  end
  local s = current()
  if not s then return end
  local ctx = ngx.ctx
  local side = ctx.bgctl_side
  if side == nil then
    local pinned
    side, pinned = choose(s, ctx)
    local other = side == "canary" and s.stable or s.canary
    local wanted = 1
    if not pinned and #other > 0 and s.w > 0 and s.w < 100 then
      wanted = 2
      ctx.bgctl_retry = true
    end
    local fs = from_file()
    local more = wanted - (fs and fs.servers or 0)
    if more > 0 then balancer.set_more_tries(more) end
  elseif ctx.bgctl_retry then
    side = side == "canary" and "stable" or "canary"
    ctx.bgctl_retry = false
  end
  ctx.bgctl_side = side
  local list = side == "canary" and s.canary or s.stable
  if #list == 0 then return end
  local e = pick(list)
  local ok, err = balancer.set_current_peer(e.host, e.port)
  if not ok then ngx.log(ngx.ERR, "bgctl: set_current_peer: ", err) end
end

-- header_filter_by_lua: gives a request the balancer put on the canary by
-- weight the sticky cookie (the rollout's id), so its user stays there.
function _M.header_filter()
  local cookie = ngx.ctx.bgctl_cookie
  if not cookie then return end
  cookie = cookie .. "; Path=/; HttpOnly; SameSite=Lax"
  local old = ngx.header["Set-Cookie"]
  if old == nil then
    ngx.header["Set-Cookie"] = cookie
  elseif type(old) == "table" then
    old[#old + 1] = cookie
    ngx.header["Set-Cookie"] = old
  else
    ngx.header["Set-Cookie"] = { old, cookie }
  end
end

local function answer(status, body)
  ngx.status = status
  ngx.header["Content-Type"] = "text/plain"
  ngx.header["Cache-Control"] = "no-store"
  ngx.header["X-Bgctl-Protocol"] = PROTOCOL
  ngx.say(body)
  ngx.exit(status)
  return true
end

-- What the loaded upstream file says, in the answer's headers, so bgctl
-- can tell whether nginx runs the file its switch needs:
--   X-Bgctl-File-Generation  the file's generation (loaded_gen)
--   X-Bgctl-File-Control     SHA-1 of its control line ("none": none)
local function describe_loaded()
  local c = loaded_control()
  ngx.header["X-Bgctl-File-Generation"] = loaded_gen()
  ngx.header["X-Bgctl-File-Control"] = c and sha1_hex(c.text) or "none"
end

-- 401/403 unless the request carries the key whose SHA-1 the loaded file
-- holds; nil when it does.
local function refuse_unauthorized(control)
  local key = ngx.var.http_x_bgctl_key
  if not key or key == "" then
    return answer(401, "refused: no X-Bgctl-Key (only the service's bgctl " ..
      "may move traffic)")
  end
  if #key > 128 or sha1_hex(key) ~= control.key then
    return answer(403, "refused: wrong X-Bgctl-Key")
  end
  return nil
end

-- 403 when `s` names an endpoint the loaded file does not allow.
local function refuse_endpoints(control, s)
  for _, side in ipairs({ s.stable, s.canary }) do
    for _, e in ipairs(side) do
      if not control.allow[e.key] then
        return answer(403, "refused: endpoint " .. e.host .. ":" .. e.port ..
          " is not one of the service's instances")
      end
    end
  end
  return nil
end

-- 409 unless `s` may replace the split served now: a newer generation
-- (or the same split again), never older than the loaded file's; with a
-- takeover, any generation from the loaded file's up.
local function refuse_generation(s, takeover)
  local loaded = loaded_gen()
  if takeover then
    if _M.compare_gen(s.gen, loaded) < 0 then
      return answer(409, "refused: takeover generation " .. s.gen ..
        " is older than the loaded upstream file's generation " .. loaded)
    end
    return nil
  end
  local served = current()
  local floor = served and served.gen or loaded
  local order = _M.compare_gen(s.gen, floor)
  if order < 0 or (order == 0 and served and s.text ~= served.text) then
    return answer(409, "refused: generation " .. s.gen ..
      " is older than the served generation " .. floor)
  end
  return nil
end

local function push(control)
  if refuse_unauthorized(control) then return end
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if not body or #body > MAX_BODY then
    return answer(400, "refused: no split in the body")
  end
  body = string.gsub(body, "%s+$", "")
  local s, err = _M.parse(body)
  if not s then return answer(400, "refused: bad split: " .. err) end
  if refuse_endpoints(control, s) then return end
  local takeover = ngx.var.http_x_bgctl_takeover == "1"
  if refuse_generation(s, takeover) then return end
  local served = current()
  local ok, set_err = dict:set("split:" .. control.key, s.text)
  if not ok then return answer(500, "refused: " .. tostring(set_err)) end
  if not served or served.gen ~= s.gen then
    if served then dict:delete("n" .. served.gen) end
    dict:delete("n" .. s.gen)
  end
  return answer(200, current().text)
end

-- content_by_lua of the loopback-only control location:
--   GET   200 and the split served now ("none" before any); no key needed
--   POST  a split line with X-Bgctl-Key (and X-Bgctl-Takeover: 1 for a
--         takeover): 200 and the split served now when taken; 401/403
--         without the right key or for an endpoint not allowed; 409 when
--         its generation is older than the one served (or the same with
--         other contents); 400 when it cannot be read
-- Both answer 409 when nginx's loaded config has no $bgctl_split (the
-- upstream file it runs was not written for the lua switch), and a POST
-- 409 when it carries no control key (written before control keys): bgctl
-- then migrates the file with one confirmed reload. 500 without the
-- shared dict.
function _M.control()
  if not dict then
    return answer(500, "refused: no lua_shared_dict " .. DICT_NAME)
  end
  if ngx.var.bgctl_split == nil then
    return answer(409, "refused: nginx's loaded upstream file has no " ..
      "$bgctl_split (it was not written for nginx.switch: lua)")
  end
  describe_loaded()
  local method = ngx.req.get_method()
  if method == "GET" then
    local s = current()
    return answer(200, s and s.text or "none")
  end
  if method ~= "POST" then return answer(405, "GET or POST") end
  local control = loaded_control()
  if not control then
    return answer(409, "refused: nginx's loaded upstream file carries no " ..
      "control key ($bgctl_control): it was written before control keys")
  end
  return push(control)
end

return _M
