-- wrk script for bench/ingest.py: realistic, varied beacon events. Every request is a new
-- body: a visitor address through X-Forwarded-For (the server trusts 127.0.0.1 as its proxy),
-- one of a few hundred paths, a referrer, a real browser User-Agent, and a mix of kinds:
-- 80% pageviews, 10% custom events with props, 6% transactions with a postcode, 4% contacts.
local uas = {
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
  "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
}
local referrers = {"", "", "", "https://www.google.com/", "https://www.bing.com/search?q=tea", "https://t.co/abc",
                   "https://duckduckgo.com/", "https://news.ycombinator.com/item?id=1", "https://www.facebook.com/"}
local postcodes = {"SW1A 1AA", "M1 1AE", "EH1 1YZ", "B33 8TH", "LS1 4AP", "CF10 1EP"}
local plans = {"free", "pro", "team"}

local function event()
  local path = "/p/" .. math.random(1, 300)
  local roll = math.random()
  local url = "https://bench.example" .. path
  if roll < 0.05 then url = url .. "?utm_source=newsletter&utm_medium=email&utm_campaign=week-" .. math.random(1, 8) end
  local ref = referrers[math.random(#referrers)]
  if roll < 0.80 then
    return string.format('{"n":"pageview","u":"%s","d":"bench.example","r":"%s"}', url, ref)
  elseif roll < 0.90 then
    return string.format('{"n":"Signup","u":"%s","d":"bench.example","p":{"plan":"%s"}}', url, plans[math.random(#plans)])
  elseif roll < 0.96 then
    return string.format('{"n":"transaction","u":"https://bench.example/checkout","d":"bench.example","order":"o-%d",' ..
      '"revenue":{"amount":"%d.99","currency":"GBP"},"pc":"%s","cc":"GB"}', math.random(1, 1e9), math.random(5, 200),
      postcodes[math.random(#postcodes)])
  else
    return string.format('{"n":"contact","u":"https://bench.example/contact","d":"bench.example","channel":"form"}')
  end
end

request = function()
  local ip = math.random(1, 223) .. "." .. math.random(0, 255) .. "." .. math.random(0, 255) .. "." .. math.random(1, 254)
  local headers = {["Content-Type"] = "text/plain", ["User-Agent"] = uas[math.random(#uas)], ["X-Forwarded-For"] = ip}
  return wrk.format("POST", "/api/event", headers, event())
end

done = function(summary, latency, requests)
  io.write(string.format('WRK_RESULT {"requests":%d,"duration_us":%d,"non2xx":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d}\n', summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
