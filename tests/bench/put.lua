-- wrk script for bench_server.sh: single-document PUTs with unique ids.
--   wrk ... -s put.lua http://127.0.0.1:PORT -- DB BASIC_AUTH_B64 RUN_TAG
-- Each thread numbers its own requests (put-TAG-THREAD-N), so every PUT
-- creates a new document; done() prints how many answers were 201.
local threads = {}
tid, created, other = 0, 0, 0
local counter, db, hdrs, tag = 0, "puts", {}, "x"
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  db, tag = args[1] or db, args[3] or tag
  hdrs = {["Authorization"] = "Basic " .. (args[2] or ""), ["Content-Type"] = "application/json"}
end
function request()
  counter = counter + 1
  return wrk.format("PUT", string.format("/%s/put-%s-%d-%d", db, tag, tid, counter), hdrs,
    string.format('{"n":%d,"type":"order","customer":"customer-%d","status":"open",' ..
                  '"note":"deliver between nine and five"}', counter, counter % 9973))
end
function response(status, headers, body)
  if status == 201 then created = created + 1 else other = other + 1 end
end
function done(summary, latency, requests)
  local c, o = 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    o = o + t:get("other")
  end
  io.write(string.format("created=%d other=%d\n", c, o))
end
