#!/usr/bin/env python3
"""OpenAI's official Python SDK (openai) against gemini-sim's OpenAI-compatible routes, directly
and through gemini-relay.

Usage: openai_sdk.py PATH_TO_GEMINI_SIM [PATH_TO_GEMINI_RELAY]

It starts gemini-sim (two projects of one key each, a per-day quota of 2 on gemini-2.0-flash)
and, when given, gemini-relay in front of it with one relay key; then it points
`openai.OpenAI(base_url=…/v1beta/openai/)` at the simulator (with an upstream key) and at the
relay (with the relay key) and checks, on each, what an OpenAI SDK user sees: a plain and a
streamed chat completion (`data: [DONE]` ending, usage in the last chunk), a system message, n,
stop and max_tokens, a JSON schema answer, a tool call and the tool's result, embeddings (floats
and the SDK's default base64), models list and retrieve, and each error class: 400
BadRequestError, 401 AuthenticationError, 403 PermissionDeniedError, 404 NotFoundError, 429
RateLimitError (with QuotaFailure and RetryInfo; the relay adds Retry-After), 500 and 503 InternalServerError. The SDK's own retries are
off (max_retries=0). It prints one line per check and "N passed, M failed".
"""

import json
import subprocess
import sys
import tempfile
import traceback

import openai

RELAY_KEY = "relay-key-for-openai-sdk-01"
UPSTREAM_KEYS = ["openai-project-a-key-0001", "openai-project-b-key-0002"]
MODEL = "gemini-2.5-flash"
DAILY = "gemini-2.0-flash"  # 2 requests a day per project: the 429 check
EMBEDDING = "gemini-embedding-001"

CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def raises(call, kind, status):
    try:
        call()
    except kind as e:
        expect(e.status_code == status, f"status {e.status_code}, not {status}: {e}")
        return e
    raise AssertionError(f"no {kind.__name__}")


def ask(client, text, **kw):
    return client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": text}], **kw)


@check
def plain_chat(client, where):
    r = ask(client, "Why is the sky blue?")
    expect(r.object == "chat.completion" and r.id, r)
    expect(r.model == MODEL, r.model)
    c = r.choices[0]
    expect(c.message.role == "assistant", c.message)
    expect(c.message.content == "Simulated answer to: Why is the sky blue?", c.message.content)
    expect(c.finish_reason == "stop", c.finish_reason)
    expect(r.usage.prompt_tokens == 5, r.usage)
    expect(r.usage.total_tokens == 5 + r.usage.completion_tokens, r.usage)


@check
def system_message_counts(client, where):
    r = client.chat.completions.create(model=MODEL, messages=[
        {"role": "system", "content": "be very brief"},
        {"role": "user", "content": "one two three"}])
    expect(r.usage.prompt_tokens == 6, r.usage)


@check
def streamed_chat(client, where):
    whole = ask(client, "tell me a short story now").choices[0].message.content
    stream = ask(client, "tell me a short story now", stream=True,
                 stream_options={"include_usage": True})
    chunks = list(stream)
    texts = [c.choices[0].delta.content for c in chunks if c.choices]
    expect(len(texts) >= 3, f"{len(texts)} chunks")
    expect("".join(t or "" for t in texts) == whole, texts)
    expect(chunks[0].choices[0].delta.role == "assistant", chunks[0])
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    expect(finishes[-1] == "stop" and all(f is None for f in finishes[:-1]), finishes)
    expect(chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 6, chunks[-1])
    expect(all(c.object == "chat.completion.chunk" for c in chunks), chunks)


@check
def stream_ends_with_done_once(client, where):
    # The raw bytes: one `data: [DONE]`, last, and nothing after it.
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "count the words"}], stream=True)
    text = raw.http_response.read().decode()
    events = [e.strip() for e in text.replace("\r\n", "\n").split("\n\n") if e.strip()]
    expect(events[-1] == "data: [DONE]", events[-3:])
    expect(sum(e == "data: [DONE]" for e in events) == 1, events)
    expect(raw.http_response.headers["content-type"].startswith("text/event-stream"),
           raw.http_response.headers)


@check
def options_n_stop_and_max_tokens(client, where):
    r = ask(client, "a long answer please", max_tokens=3)
    expect(r.choices[0].finish_reason == "length", r.choices[0])
    expect(len(r.choices[0].message.content.split()) == 3, r.choices[0].message.content)
    r = ask(client, "stop at the colon please", max_completion_tokens=50, stop=[":"])
    expect(r.choices[0].message.content == "Simulated answer to", r.choices[0].message.content)
    r = ask(client, "two of them", n=2)
    expect([c.index for c in r.choices] == [0, 1], r.choices)


@check
def logprobs(client, where):
    r = ask(client, "two words", logprobs=True, top_logprobs=2)
    content = r.choices[0].logprobs.content
    expect(content[0].token == "Simulated" and content[0].logprob < 0, content[0])
    expect(len(content[0].top_logprobs) == 2, content[0].top_logprobs)


@check
def json_schema_answer(client, where):
    schema = {"type": "object", "properties": {"name": {"type": "string"},
              "age": {"type": "integer"}}, "required": ["name", "age"]}
    r = ask(client, "a person", response_format={
        "type": "json_schema", "json_schema": {"name": "person", "schema": schema}})
    person = json.loads(r.choices[0].message.content)
    expect(isinstance(person["name"], str) and isinstance(person["age"], int), person)


@check
def tool_call_and_result(client, where):
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}]
    messages = [{"role": "user", "content": "What is the weather in Oslo?"}]
    r = client.chat.completions.create(model=MODEL, messages=messages, tools=tools,
                                       tool_choice="required")
    c = r.choices[0]
    expect(c.finish_reason == "tool_calls", c)
    call = c.message.tool_calls[0]
    expect(call.type == "function" and call.function.name == "get_weather", call)
    expect(isinstance(json.loads(call.function.arguments)["city"], str), call.function.arguments)
    messages.append(c.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"temp": 3}'})
    r = client.chat.completions.create(model=MODEL, messages=messages, tools=tools)
    expect("get_weather" in r.choices[0].message.content, r.choices[0].message.content)


@check
def gemini_options_in_extra_body(client, where):
    # Gemini's compatibility guide: its own options under extra_body.google.
    r = ask(client, "think before answering", extra_body={"extra_body": {"google": {
        "thinking_config": {"thinking_budget": 512, "include_thoughts": True}}}})
    expect(r.usage.completion_tokens_details.reasoning_tokens > 0, r.usage)
    expect(r.choices[0].message.content == "Simulated answer to: think before answering",
           r.choices[0].message.content)


@check
def embeddings(client, where):
    r = client.embeddings.create(model=EMBEDDING, input=["first text", "second"],
                                 encoding_format="float", dimensions=8)
    expect([d.index for d in r.data] == [0, 1], r.data)
    expect(all(len(d.embedding) == 8 for d in r.data), [len(d.embedding) for d in r.data])
    expect(r.usage.prompt_tokens == 3, r.usage)
    # The SDK asks for base64 by default and decodes it itself.
    r = client.embeddings.create(model=EMBEDDING, input="first text")
    expect(len(r.data[0].embedding) == 3072, len(r.data[0].embedding))
    expect(all(isinstance(v, float) for v in r.data[0].embedding[:4]), r.data[0].embedding[:4])


@check
def models_list_and_retrieve(client, where):
    ids = [m.id for m in client.models.list()]
    expect(f"models/{MODEL}" in ids and f"models/{EMBEDDING}" in ids, ids)
    m = client.models.retrieve(MODEL)
    expect(m.id == f"models/{MODEL}" and m.owned_by == "google", m)
    # By the id the listing gives (`models/…`).
    expect(client.models.retrieve(f"models/{MODEL}").id == m.id, "retrieved by its listed id")
    raises(lambda: client.models.retrieve("no-such-model"), openai.NotFoundError, 404)


@check
def errors_are_the_sdk_classes(client, where):
    e = raises(lambda: ask(client, "[sim:invalid] please"), openai.BadRequestError, 400)
    # The real routes' error body: a google.rpc.Status inside a one-element array.
    expect(isinstance(e.body, list) and e.body[0]["error"]["status"] == "INVALID_ARGUMENT", e.body)
    expect("contents[0].parts[0]" in json.dumps(e.body), e.body)
    raises(lambda: client.chat.completions.create(model=MODEL, messages=[]),
           openai.BadRequestError, 400)
    raises(lambda: ask(client, "[sim:permission] please"), openai.PermissionDeniedError, 403)
    raises(lambda: client.chat.completions.create(
        model="no-such-model", messages=[{"role": "user", "content": "x"}]),
        openai.NotFoundError, 404)
    raises(lambda: ask(client, "[sim:internal] please"), openai.InternalServerError, 500)
    raises(lambda: ask(client, "[sim:overloaded] please"), openai.InternalServerError, 503)


@check
def bad_keys(client, where):
    url = str(client.base_url)
    nobody = openai.OpenAI(api_key="not-a-key-anyone-gave-out", base_url=url, max_retries=0)
    e = raises(lambda: ask(nobody, "hi"), openai.BadRequestError, 400)
    expect("API key not valid" in json.dumps(e.body), e.body)
    # No key at all: 401.
    e = raises(lambda: ask(client, "hi", extra_headers={"Authorization": openai.Omit()}),
               openai.AuthenticationError, 401)
    expect(e.body[0]["error"]["status"] == "UNAUTHENTICATED", e.body)
    # A header that is not `Bearer KEY`.
    raises(lambda: ask(client, "hi", extra_headers={"Authorization": "Basic abc"}),
           openai.BadRequestError, 400)


@check
def per_day_quota_is_a_rate_limit_error(client, where):
    for _ in range(2 if where == "sim" else 4):  # the relay has two projects
        client.chat.completions.create(model=DAILY, messages=[{"role": "user", "content": "x"}])
    e = raises(lambda: client.chat.completions.create(
        model=DAILY, messages=[{"role": "user", "content": "one more"}]),
        openai.RateLimitError, 429)
    body = json.dumps(e.body)
    expect("QuotaFailure" in body and "RetryInfo" in body, body)
    if where == "relay":  # Gemini itself gives the delay in the body only
        expect(int(e.response.headers.get("retry-after", "0")) > 0, e.response.headers)


def start(args):
    p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env={"PATH": "/usr/bin:/bin"})
    url = p.stdout.readline().strip().removeprefix("listening on ")
    if not url.startswith("http://"):
        p.kill()
        raise SystemExit(f"{args[0]} did not start: {url!r}")
    return p, url


def run(where, base, key):
    client = openai.OpenAI(api_key=key, base_url=f"{base}/v1beta/openai/", max_retries=0)
    failed = 0
    for fn in CHECKS:
        try:
            fn(client, where)
            print(f"ok   {where}: {fn.__name__}")
        except Exception:
            failed += 1
            print(f"FAIL {where}: {fn.__name__}")
            traceback.print_exc()
    return failed


def run_example(relay_url):
    """examples/openai_sdk.py against the relay: it runs to its end."""
    example = __file__.rsplit("/relay/", 1)[0] + "/examples/openai_sdk.py"
    done = subprocess.run([sys.executable, example], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "RELAY_URL": relay_url,
                               "RELAY_KEY": RELAY_KEY})
    if done.returncode == 0 and "refused: 400 INVALID_ARGUMENT" in done.stdout:
        print("ok   relay: examples/openai_sdk.py")
        return 0
    print(f"FAIL relay: examples/openai_sdk.py\n{done.stdout}\n{done.stderr}")
    return 1


def main():
    sim_path = sys.argv[1]
    relay_path = sys.argv[2] if len(sys.argv) > 2 else None
    processes = []
    failed = 0
    total = 0
    try:
        # Two simulators: the direct run spends the per-day quota of the first one.
        for where in ["sim"] + (["relay"] if relay_path else []):
            sim, sim_url = start(
                [sim_path, "--port", "0", "--seed", "5",
                 "--project", UPSTREAM_KEYS[0], "--project", UPSTREAM_KEYS[1],
                 "--rpd", f"{DAILY}=2"])
            processes.append(sim)
            if where == "sim":
                failed += run(where, sim_url, UPSTREAM_KEYS[0])
            else:
                config = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
                # Errors come back at once: the SDK's classes are what is checked here.
                config.write('deadline = "10s"\n')
                config.close()
                relay, relay_url = start(
                    [relay_path, "--config", config.name, "--port", "0", "--upstream", sim_url,
                     "--key", UPSTREAM_KEYS[0], "--key", UPSTREAM_KEYS[1],
                     "--relay-key", f"sdk={RELAY_KEY}"])
                processes.append(relay)
                failed += run(where, relay_url, RELAY_KEY)
                total += 1
                failed += run_example(relay_url)
            total += len(CHECKS)
    finally:
        for p in reversed(processes):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    print(f"{total - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
