-- wrk script for bench/run.sh --loadgen wrk: POSTs a JSON body and checks every answer.
--
--   WRK_BODY='{"model":"m","input":"hi"}' wrk -t2 -c16 -d10s -s bench/wrk.lua URL -- KIND BYTES [SHAPE]
--
-- KIND is "json" or "stream"; BYTES is the size of a complete answer's body (0: unknown); SHAPE
-- is "openai" (default: the gateway's answers) or "native" (Mastra's native agent stream, what
-- the fake and the floors answer to either kind). Each answer counts as incomplete unless it is
-- a 2xx whose body looks whole: openai: a JSON response object ending in "}", or an SSE stream
-- whose last event is `response.completed` ending in a blank line; native: a chunk stream whose
-- `finish` chunk is followed only by `data: [DONE]` and a blank line; and, given BYTES, its size
-- is within 1 % of BYTES (a truncated stream is shorter).
--
-- done() prints one line of JSON, shaped like oha's --output-format json where they overlap
-- (summary.requestsPerSec / totalData, latencyPercentiles in seconds, statusCodeDistribution,
-- errorDistribution) plus "loadgen":"wrk" and "incomplete"; no first-byte times (wrk has none).

wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY") or '{"model":"support-agent","input":"hello"}'
wrk.headers["Content-Type"] = "application/json"

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

-- Per thread (each has its own Lua state); done() collects them with thread:get.
kind = "json"
shape = "openai"
expect = 0
codes = {}
incomplete = 0
body_bytes = 0
answers = 0
min_bytes = -1
max_bytes = 0
first_bad = ""

function init(args)
    kind = args[1] or "json"
    expect = tonumber(args[2] or "0") or 0
    shape = args[3] or "openai"
end

local function whole(status, body)
    if status < 200 or status > 299 then
        return true -- counted as non-2xx instead
    end
    local n = #body
    if expect > 0 and math.abs(n - expect) > 0.01 * expect then
        return false
    end
    if shape == "native" then
        local tail = "\n\ndata: [DONE]\n\n"
        if n < #tail or string.sub(body, -#tail) ~= tail then return false end
        -- the finish chunk is the one before [DONE]
        local last = n - #tail
        local from = last > 65536 and (last - 65536) or 1
        local at = nil
        local i = from
        while true do
            local j = string.find(body, "\ndata: ", i, true)
            if not j or j > last then break end
            at = j
            i = j + 1
        end
        if not at and string.sub(body, 1, 6) == "data: " then at = 0 end
        if not at then return false end
        return string.find(string.sub(body, at + 1, at + 200), '"type":"finish"', 1, true) ~= nil
    end
    if kind == "stream" then
        local from = n > 65536 and (n - 65536) or 1
        local at = nil
        local i = from
        while true do
            local j = string.find(body, "event: response.completed\n", i, true)
            if not j then break end
            at = j
            i = j + 1
        end
        if not at then return false end
        -- nothing after the completed event but its data line(s) and the closing blank line
        if string.find(body, "\nevent:", at + 1, true) then return false end
        return string.sub(body, -2) == "\n\n"
    end
    local last = string.match(body, "(%S)%s*$")
    return last == "}" and string.find(body, '"object":"response"', 1, true) ~= nil
end

function response(status, headers, body)
    local k = tostring(status)
    codes[k] = (codes[k] or 0) + 1
    local n = #body
    answers = answers + 1
    body_bytes = body_bytes + n
    if min_bytes < 0 or n < min_bytes then min_bytes = n end
    if n > max_bytes then max_bytes = n end
    if not whole(status, body) then
        incomplete = incomplete + 1
        if first_bad == "" then
            first_bad = string.format("HTTP %d, %d bytes, ends %q", status, n, string.sub(body, -80))
        end
    end
end

local function quote(s)
    s = string.gsub(s, '[%c"\\]', function(c)
        if c == '"' then return '\\"' end
        if c == "\\" then return "\\\\" end
        return string.format("\\u%04x", string.byte(c))
    end)
    return '"' .. s .. '"'
end

function done(summary, latency, requests)
    local all_codes = {}
    local inc, bytes, n, lo, hi, bad = 0, 0, 0, -1, 0, ""
    for _, t in ipairs(threads) do
        local c = t:get("codes") or {}
        for k, v in pairs(c) do all_codes[k] = (all_codes[k] or 0) + v end
        inc = inc + (t:get("incomplete") or 0)
        bytes = bytes + (t:get("body_bytes") or 0)
        n = n + (t:get("answers") or 0)
        local tl = t:get("min_bytes") or -1
        if tl >= 0 and (lo < 0 or tl < lo) then lo = tl end
        local th = t:get("max_bytes") or 0
        if th > hi then hi = th end
        if bad == "" then bad = t:get("first_bad") or "" end
    end
    local secs = summary.duration / 1e6
    local e = summary.errors
    local parts = {}
    for k, v in pairs(all_codes) do table.insert(parts, string.format('"%s":%d', k, v)) end
    local errs, nerr = {}, 0
    for _, name in ipairs({ "connect", "read", "write", "timeout" }) do
        if (e[name] or 0) > 0 then
            table.insert(errs, string.format('"%s":%d', name, e[name]))
            nerr = nerr + e[name]
        end
    end
    local function pct(p)
        return string.format("%.6f", latency:percentile(p) / 1e6)
    end
    local ok = 0
    for k, v in pairs(all_codes) do
        if string.sub(k, 1, 1) == "2" then ok = ok + v end
    end
    io.write(string.format(
        '{"loadgen":"wrk","summary":{"successRate":%.6f,"total":%.6f,"requestsPerSec":%.3f,' ..
        '"totalData":%d,"sizePerRequest":%d,"minBytes":%d,"maxBytes":%d,"socketBytes":%d},' ..
        '"latencyPercentiles":{"p50":%s,"p90":%s,"p99":%s,"p99.9":%s},' ..
        '"latencyMin":%.6f,"latencyMax":%.6f,"latencyMean":%.6f,' ..
        '"statusCodeDistribution":{%s},"errorDistribution":{%s},"incomplete":%d,' ..
        '"wrkStatusErrors":%d,"firstBad":%s,"firstBytePercentiles":null}\n',
        (n + nerr) > 0 and ok / (n + nerr) or 0, secs, summary.requests / secs,
        bytes, n > 0 and math.floor(bytes / n) or 0, lo < 0 and 0 or lo, hi, summary.bytes,
        pct(50), pct(90), pct(99), pct(99.9),
        latency.min / 1e6, latency.max / 1e6, latency.mean / 1e6,
        table.concat(parts, ","), table.concat(errs, ","), inc,
        e.status or 0, quote(bad)))
end
