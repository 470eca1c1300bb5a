#!/usr/bin/env python3
"""OpenAI's Python SDK, unchanged but for its base URL, calling Gemini through gemini-relay.

Run a relay (in front of Gemini, or of gemini-sim for a try without a key):

    cargo run -p steadfast-relay --bin gemini-relay -- --demo
    # prints: listening on http://127.0.0.1:PORT, and the demo's relay key

then:

    pip install openai
    RELAY_URL=http://127.0.0.1:PORT RELAY_KEY=... python3 examples/openai_sdk.py

The relay key is sent as the SDK sends any key (`Authorization: Bearer`); the relay spends the
pool's Gemini keys, counts the call against the model named in the body, waits for or refuses
what the quotas do not allow (a 429 with Retry-After, which the SDK's own retries honour), and
falls back to the next model when one is overloaded (with `--demo`, gemini-2.0-flash; an
unknown model is answered by it too). Errors are the SDK's own classes.
"""

import os
import sys

import openai

url = os.environ.get("RELAY_URL", "http://127.0.0.1:8080").rstrip("/")
key = os.environ.get("RELAY_KEY")
if not key:
    sys.exit("set RELAY_KEY to a relay key (gemini-relay --demo prints one)")
model = os.environ.get("MODEL", "gemini-2.5-flash")

client = openai.OpenAI(api_key=key, base_url=f"{url}/v1beta/openai/")

# A plain chat completion.
answer = client.chat.completions.create(
    model=model,
    messages=[{"role": "system", "content": "Answer in one sentence."},
              {"role": "user", "content": "Why is the sky blue?"}])
print("chat:", answer.choices[0].message.content)
print("usage:", answer.usage.prompt_tokens, "in,", answer.usage.completion_tokens, "out")

# A streamed one: chunks as they come, `data: [DONE]` at the end (the SDK stops there).
print("stream: ", end="")
for chunk in client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Tell me a short story."}],
        stream=True):
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
print()

# Embeddings and the model list.
vectors = client.embeddings.create(model="gemini-embedding-001", input=["steadfast", "relay"])
print("embeddings:", [len(d.embedding) for d in vectors.data])
print("models:", [m.id for m in client.models.list()][:3], "…")

# What a refusal looks like to the SDK: its own class, with Gemini's error inside (a list of
# one error object, as Gemini's OpenAI-compatible routes answer).
try:
    client.chat.completions.create(model=model, messages=[])
except openai.BadRequestError as e:
    print("refused:", e.status_code, e.body[0]["error"]["status"])
