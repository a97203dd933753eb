-- The key-value REST cycle: 80% GET and 20% PUT of small JSON documents over 100 keys.
-- Every key is written once first (by the first 100 requests), so every GET finds its document.
local counter = 0
request = function()
  counter = counter + 1
  local key = counter % 100
  if counter <= 100 or math.random() < 0.2 then
    local body = string.format('{"name": "item %d", "tags": ["a", "b"], "count": %d}', key, counter)
    return wrk.format("PUT", "/kv/key" .. key, {["Content-Type"] = "application/json"}, body)
  end
  return wrk.format("GET", "/kv/key" .. key)
end
