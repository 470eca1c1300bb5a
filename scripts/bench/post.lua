-- wrk: POST a small generateContent body with the key in KEY (an environment variable).
wrk.method = "POST"
wrk.body = '{"contents":[{"parts":[{"text":"hello there, how are you today?"}]}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-goog-api-key"] = os.getenv("KEY")
