-- wrk: a mix for the memory run: plain generate, a streamed generate, countTokens, an unknown
-- relay key, and a request whose connection the client closes right after sending it.
local key = os.getenv("KEY")
local body = '{"contents":[{"parts":[{"text":"hello there, how are you today?"}]}]}'
local n = 0
request = function()
  n = n + 1
  local k = n % 10
  local headers = { ["Content-Type"] = "application/json", ["x-goog-api-key"] = key }
  if k == 7 then
    headers["x-goog-api-key"] = "not-a-relay-key-0000000000"
    return wrk.format("POST", "/v1beta/models/gemini-2.5-flash:generateContent", headers, body)
  elseif k == 8 then
    return wrk.format("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", headers, body)
  elseif k == 9 then
    return wrk.format("POST", "/v1beta/models/gemini-2.5-flash:countTokens", headers, body)
  else
    return wrk.format("POST", "/v1beta/models/gemini-2.5-flash:generateContent", headers, body)
  end
end
