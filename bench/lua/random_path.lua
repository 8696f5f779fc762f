-- wrk script: GET a path built from a template and a random line of a file.
-- Usage: wrk ... -s random_path.lua URL -- FILE TEMPLATE [HEADER: VALUE]...
-- e.g. -- /tmp/numbers.txt "/bench/floor/row/%s" "Authorization: Bearer k"
-- A line may hold several tab-separated values for a template with several %s;
-- each is percent-encoded.
-- Prints one JSON line at the end: requests/s, latency percentiles (ms), errors.

local values = {}
local template = "/%s"

local function encode(text)
  return (text:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      local fields = {}
      for field in line:gmatch("[^\t]+") do fields[#fields + 1] = encode(field) end
      values[#values + 1] = fields
    end
  end
  template = args[2] or template
  for i = 3, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    if name then wrk.headers[name] = value end
  end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "1", 16) % 100000)
end

function request()
  local fields = values[math.random(#values)]
  return wrk.format("GET", string.format(template, (table.unpack or unpack)(fields)))
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "seconds": %.3f, "rps": %.1f, "p50_ms": %.3f, "p90_ms": %.3f, ' ..
    '"p99_ms": %.3f, "max_ms": %.3f, "mean_ms": %.3f, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000,
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
