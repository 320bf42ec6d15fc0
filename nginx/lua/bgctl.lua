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
--   gen=12;w=10;id=d-17;stable=127.0.0.1:8081;canary=127.0.0.1:8082;preview=X-Canary;sticky=bgctl_canary
--
-- gen: the generation (greater on every change); w: percent of requests on
-- the canary (0..100); id: the rollout, for the sticky cookie; stable,
-- canary: comma-separated HOST:PORT lists (either may be empty); preview:
-- the header that pins a request ("always": canary, "never": stable), ""
-- for none; sticky: the cookie that keeps a canary user on the canary, ""
-- for none.
--
-- The split nginx serves is the one with the greater generation of two:
-- the last push, kept in `lua_shared_dict bgctl` (shared by all workers,
-- kept across reloads), and the upstream file's, which nginx read when this
-- worker's configuration was loaded (so a restarted nginx serves the file's
-- split). No worker ever writes the file's split into the dict, so a push
-- can never be overwritten by an older file.
--
-- The canary gets exactly floor(n * w / 100) of the first n weighted
-- requests of a generation, counted across all workers with one atomic
-- shared-dict counter per generation, spread evenly.
local balancer = require("ngx.balancer")

local _M = {}

local DICT_NAME = "bgctl"
local MAX_BODY = 4096

local dict = ngx.shared[DICT_NAME]

-- Parsed splits by their text (one or two entries: the file's, the push's).
local cache_text, cache_split = nil, nil
local file_text, file_split = false, nil -- false: not read yet

local function parse_endpoints(text)
  local list = {}
  if text == "" then return list end
  for item in string.gmatch(text, "[^,]+") do
    local host, port = string.match(item, "^%[?([%x%.:]+)%]?:(%d+)$")
    port = tonumber(port)
    if not host or not port or port < 1 or port > 65535 then
      return nil, "bad endpoint \"" .. item .. "\""
    end
    list[#list + 1] = { host = host, port = port }
  end
  return list
end

local function header_var(name)
  return "http_" .. string.gsub(string.lower(name), "-", "_")
end

-- The split a line describes, or nil and why not.
function _M.parse(text)
  if type(text) ~= "string" or text == "" then return nil, "empty split" end
  local f = {}
  for key, value in string.gmatch(text, "([%a]+)=([^;]*)") do f[key] = value end
  local gen, w = tonumber(f.gen), tonumber(f.w)
  if not gen or gen < 0 or gen ~= math.floor(gen) then
    return nil, "no generation"
  end
  if not w or w < 0 or w > 100 or w ~= math.floor(w) then
    return nil, "bad weight"
  end
  local stable, err = parse_endpoints(f.stable or "")
  if not stable then return nil, err end
  local canary
  canary, err = parse_endpoints(f.canary or "")
  if not canary then return nil, err end
  local id, preview, sticky = f.id or "", f.preview or "", f.sticky or ""
  if not string.match(id, "^[%w%._-]*$") then return nil, "bad id" end
  if not string.match(preview, "^[%w-]*$") then return nil, "bad preview" end
  if not string.match(sticky, "^[%w_-]*$") then return nil, "bad sticky" end
  if #canary == 0 then w = 0 elseif #stable == 0 then w = 100 end
  -- The `server` lines bgctl writes into the upstream file for this split
  -- (ServersFor: the sides with a share).
  local servers = (w <= 0 and #stable) or (w >= 100 and #canary) or
                  (#stable + #canary)
  return {
    servers = servers,
    text = text, gen = gen, w = w, id = id, stable = stable, canary = canary,
    preview_var = preview ~= "" and header_var(preview) or nil,
    sticky = sticky, sticky_var = sticky ~= "" and "cookie_" .. sticky or nil,
  }
end

-- This worker's upstream-file split (read once: a reload makes new workers).
-- nil when the loaded config defines no $bgctl_split or it is empty.
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

-- The split served now: the push or the file's, whichever is newer.
local function current()
  local fs = from_file()
  local text = dict:get("split")
  if text == nil then return fs end
  if text ~= cache_text then
    local s = _M.parse(text)
    if not s then return fs end
    cache_text, cache_split = text, s
  end
  if fs and fs.gen > cache_split.gen then return fs end
  return cache_split
end

-- Which side a new request goes to, and whether it is pinned (by the
-- preview header or the sticky cookie) rather than weighted.
local function choose(s, ctx)
  if s.preview_var then
    local h = ngx.var[s.preview_var]
    if h == "always" and #s.canary > 0 then return "canary", true end
    if h == "never" and #s.stable > 0 then return "stable", true end
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
-- one. Without a split the upstream's own servers are used (the
-- placeholder's `down` server: 502).
--
-- nginx starts a request with one try per `server` line of the upstream
-- file it loaded (0 for the placeholder), whatever the split served now;
-- set_more_tries tops that up to 2 tries when a retry is wanted (1
-- otherwise), within proxy_next_upstream_tries. A try beyond those goes to
-- the side already chosen.
function _M.balance()
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
  ngx.say(body)
  return ngx.exit(status)
end

-- content_by_lua of the loopback-only control location:
--   GET   200 and the split served now ("none" before any)
--   POST  a split line: 200 and the split served now when taken; 409 when
--         its generation is older than the one served (or the same with
--         other contents); 400 when it cannot be read
-- Both answer 409 when nginx's loaded config has no $bgctl_split (the
-- upstream file it runs was not written for the lua switch).
function _M.control()
  if not dict then
    return answer(500, "refused: no lua_shared_dict " .. DICT_NAME)
  end
  if ngx.var.bgctl_split == nil then
    return answer(409, "refused: nginx's loaded upstream file has no " ..
      "$bgctl_split (it was not written for nginx.switch: lua)")
  end
  local method = ngx.req.get_method()
  if method == "GET" then
    local s = current()
    return answer(200, s and s.text or "none")
  end
  if method ~= "POST" then return answer(405, "GET or POST") end
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if not body or #body > MAX_BODY then
    return answer(400, "refused: no split in the body")
  end
  body = string.gsub(body, "%s+$", "")
  local s, err = _M.parse(body)
  if not s then return answer(400, "refused: bad split: " .. err) end
  local served = current()
  if served and (s.gen < served.gen or
                 (s.gen == served.gen and s.text ~= served.text)) then
    return answer(409, "refused: generation " .. s.gen ..
      " is older than the served generation " .. served.gen)
  end
  local ok, set_err = dict:set("split", s.text)
  if not ok then return answer(500, "refused: " .. tostring(set_err)) end
  if served and served.gen ~= s.gen then dict:delete("n" .. served.gen) end
  return answer(200, current().text)
end

return _M
