-- wrk script for scripts/load: rotates the kind of token per request and counts the answers
-- per kind and status.
--
-- Kinds, in turn:
--   valid        USER_TOKEN on /whoami and ADMIN_TOKEN on /admin, alternately (expect 2xx)
--   expired      EXPIRED_TOKEN: signed by the issuer, expired an hour ago (expect 401)
--   forged       FORGED_TOKEN: the issuer's kid, another key's signature (expect 401)
--   unknown_kid  made here, a new random kid every time, valid claims, random signature
--                (expect 401; the verifier refetches the JWKS at most once per 30 s for them)
--   random       made here, a random opaque string of 16 to 96 characters (expect 401)
--
-- jwt_api runs with `--echo-header x-load-kind`, so every answer says which kind it was for
-- (wrk's response() callback does not say which request it answers).
--
-- Results: per-kind counts, throughput and latency percentiles on stdout, and a verdict file
-- at $LOAD_RESULT: one "FAIL <reason>" line per failed check, or "OK".

local kinds = { "valid", "expired", "forged", "unknown_kid", "random" }
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local threads = {}

local function b64url(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1 = math.floor(n / 262144) % 64 + 1
    local c2 = math.floor(n / 4096) % 64 + 1
    local c3 = math.floor(n / 64) % 64 + 1
    local c4 = n % 64 + 1
    out[#out + 1] = alphabet:sub(c1, c1) .. alphabet:sub(c2, c2)
    if b then out[#out + 1] = alphabet:sub(c3, c3) end
    if c then out[#out + 1] = alphabet:sub(c4, c4) end
  end
  return table.concat(out)
end

local function random_string(n)
  local out = {}
  for i = 1, n do
    local k = math.random(1, 64)
    out[i] = alphabet:sub(k, k)
  end
  return table.concat(out)
end

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_id", #threads)
end

function init(args)
  local function need(name)
    local value = os.getenv(name)
    if value == nil or value == "" then
      error(name .. " is not set")
    end
    return value
  end
  user_token = need("USER_TOKEN")
  admin_token = need("ADMIN_TOKEN")
  expired_token = need("EXPIRED_TOKEN")
  forged_token = need("FORGED_TOKEN")
  -- The payload of a valid token: plausible claims for the unknown-kid tokens.
  valid_payload = user_token:match("^[^.]+%.([^.]+)%.")
  math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
  sent = 0
  -- Flat "kind status" -> count (wrk copies flat tables between threads reliably).
  counts = {}
end

local function token_for(kind)
  if kind == "valid" then
    if sent % 2 == 0 then
      return "/whoami", user_token
    end
    return "/admin", admin_token
  elseif kind == "expired" then
    return "/whoami", expired_token
  elseif kind == "forged" then
    return "/admin", forged_token
  elseif kind == "unknown_kid" then
    local header = '{"alg":"RS256","typ":"JWT","kid":"' .. random_string(22) .. '"}'
    return "/whoami", b64url(header) .. "." .. valid_payload .. "." .. random_string(342)
  end
  return "/whoami", random_string(math.random(16, 96))
end

function request()
  sent = sent + 1
  local kind = kinds[(sent % #kinds) + 1]
  local path, token = token_for(kind)
  return wrk.format("GET", path, {
    ["Authorization"] = "Bearer " .. token,
    ["x-load-kind"] = kind,
  })
end

function response(status, headers, body)
  local kind = headers["x-load-kind"] or headers["X-Load-Kind"] or "unlabelled"
  local key = kind .. " " .. status
  counts[key] = (counts[key] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts") or {}
    for key, n in pairs(c) do
      totals[key] = (totals[key] or 0) + n
    end
  end

  local failures = {}
  local keys = {}
  for key in pairs(totals) do keys[#keys + 1] = key end
  table.sort(keys)

  local seconds = summary.duration / 1e6
  io.write("\n== load: answers per kind and status\n")
  for _, key in ipairs(keys) do
    local kind, status = key:match("^(%S+) (%d+)$")
    status = tonumber(status)
    io.write(string.format("  %-12s %3d  %10d\n", kind, status, totals[key]))
    if kind == "valid" and (status < 200 or status > 299) then
      failures[#failures + 1] = string.format("%d valid-token requests answered %d", totals[key], status)
    end
    if status >= 500 then
      failures[#failures + 1] = string.format("%d %s requests answered %d", totals[key], kind, status)
    end
    if kind == "unlabelled" then
      failures[#failures + 1] = string.format("%d answers without x-load-kind", totals[key])
    end
  end

  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  io.write(string.format(
    "\n== load: %d requests in %.1f s: %.0f requests/s; latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("== load: socket errors: connect %d, read %d, write %d, timeout %d\n",
    e.connect, e.read, e.write, e.timeout))
  if socket_errors > 0 then
    failures[#failures + 1] = string.format("%d socket errors or timeouts", socket_errors)
  end
  if summary.requests == 0 then
    failures[#failures + 1] = "no request completed"
  end

  local path = os.getenv("LOAD_RESULT")
  if path and path ~= "" then
    local file = assert(io.open(path, "w"))
    if #failures == 0 then
      file:write("OK\n")
    else
      for _, failure in ipairs(failures) do file:write("FAIL " .. failure .. "\n") end
    end
    file:write(string.format("RATE %.0f\nP99_MS %.2f\n", summary.requests / seconds,
      latency:percentile(99) / 1000))
    file:close()
  end
end
