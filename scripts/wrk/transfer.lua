-- wrk script: every request is one `transfer` mutation of 0.01 between two
-- random accounts (ids from the file in WRK_IDS), with a fresh idempotency
-- key. Responses without a transfer id count as errors (reported at the end).

local threads = {}
local run = os.getenv("WRK_RUN") or tostring(os.time())

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  ids = {}
  for line in io.lines(os.getenv("WRK_IDS")) do
    if #line > 0 then ids[#ids + 1] = line end
  end
  math.randomseed(os.time() * 1000 + tid)
  counter = 0
  errors = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  local key = os.getenv("WRK_API_KEY")
  if key and #key > 0 then wrk.headers["Authorization"] = "Bearer " .. key end
end

function request()
  counter = counter + 1
  local a = ids[math.random(#ids)]
  local b = a
  while b == a do b = ids[math.random(#ids)] end
  local body = string.format(
    '{"query":"mutation($i: TransferInput!) { transfer(input: $i) { id } }","variables":{"i":'
      .. '{"fromAccountId":"%s","toAccountId":"%s","amount":"0.01","idempotencyKey":"wrk-%s-%d-%d"}}}',
    a, b, run, tid, counter)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"transfer":{"id"', 1, true) then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, t in ipairs(threads) do failed = failed + (t:get("errors") or 0) end
  io.write(string.format("WRK requests=%d seconds=%.2f errors=%d p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, summary.duration / 1e6, failed,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
