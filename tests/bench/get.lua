-- wrk script for bench_server.sh: GET of random documents.
--   wrk ... -s get.lua http://127.0.0.1:PORT -- DB NDOCS
-- Ids are DB/doc-0000000 .. doc-(NDOCS-1), as bench_bulk seeds them.
local db, ndocs = "bench", 10000
function init(args)
  db = args[1] or db
  ndocs = tonumber(args[2] or ndocs)
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
end
function request()
  return wrk.format("GET", string.format("/%s/doc-%07d", db, math.random(0, ndocs - 1)))
end
