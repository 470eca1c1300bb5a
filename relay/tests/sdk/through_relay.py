#!/usr/bin/env python3
"""Google's official GenAI SDK (google-genai) through gemini-relay in front of gemini-sim.

Usage: through_relay.py PATH_TO_GEMINI_SIM PATH_TO_GEMINI_RELAY

It starts gemini-sim (two projects of one key each, a small per-day quota on gemini-2.0-flash,
occasional 503s) and gemini-relay in front of it with one relay key, points the SDK at the relay
with the relay key, and checks what a user of the SDK sees: plain, streamed, JSON-mode and
function-calling generation, count_tokens, embeddings, models, files, a cached content and
batches used through the project that holds them, errors raised as the SDK's own
classes with the right codes (a bad relay key, an invalid request, a per-day quota gone with its
Retry-After), and the relay's route headers. The SDK's own retries stay off, as by default: the
injected 503s must never reach it. It prints one line per check and "N passed, M failed".
"""

import json
import subprocess
import sys
import tempfile
import traceback

import pydantic
from google import genai
from google.genai import errors, types

RELAY_KEY = "relay-key-for-the-sdk-0000001"
UPSTREAM_KEYS = ["sdk-project-a-key-000001", "sdk-project-b-key-000002"]
MODEL = "gemini-2.5-flash"
DAILY = "gemini-2.0-flash"  # 2 requests a day per project: the per-day check
BUSY = "gemini-2.5-pro"  # 3 requests a (2-second) minute per project: the burst check

CHECKS = []
BASE_URL = []


def check(fn):
    CHECKS.append(fn)
    return fn


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


@check
def plain_generation(client):
    r = client.models.generate_content(model=MODEL, contents="Why is the sky blue?")
    expect(r.text == "Simulated answer to: Why is the sky blue?", r.text)
    expect(r.usage_metadata.prompt_token_count == 5, r.usage_metadata)


@check
def streamed_generation(client):
    whole = client.models.generate_content(model=MODEL, contents="tell me a short story now").text
    chunks = list(client.models.generate_content_stream(
        model=MODEL, contents="tell me a short story now"))
    expect(len(chunks) >= 3, f"{len(chunks)} chunks")
    expect("".join(c.text for c in chunks) == whole, [c.text for c in chunks])


class Recipe(pydantic.BaseModel):
    name: str
    minutes: int


@check
def json_mode(client):
    r = client.models.generate_content(
        model=MODEL, contents="a recipe",
        config=types.GenerateContentConfig(response_mime_type="application/json",
                                           response_schema=Recipe))
    expect(isinstance(r.parsed, Recipe), r.text)


@check
def function_calling(client):
    seen = []

    def get_time(zone: str) -> dict:
        """The time in a time zone."""
        seen.append(zone)
        return {"time": "12:00"}

    chat = client.chats.create(model=MODEL, config=types.GenerateContentConfig(tools=[get_time]))
    r = chat.send_message("Please call get_time for me.")
    expect(len(seen) == 1 and "12:00" in r.text, (seen, r.text))


@check
def count_tokens(client):
    expect(client.models.count_tokens(model=MODEL, contents="one two three four").total_tokens == 4,
           "four tokens")


@check
def embeddings(client):
    r = client.models.embed_content(model="gemini-embedding-001", contents=["a", "b"],
                                    config=types.EmbedContentConfig(output_dimensionality=64))
    expect([len(e.values) for e in r.embeddings] == [64, 64], r.embeddings)


@check
def models(client):
    names = [m.name for m in client.models.list()]
    expect("models/gemini-2.5-flash" in names, names)
    expect(client.models.get(model="gemini-2.5-pro").name == "models/gemini-2.5-pro", "get")


def raises(call, cls, code):
    try:
        call()
    except cls as e:
        expect(e.code == code, f"got {e.code} {e.status}: {e}")
        return e
    except errors.APIError as e:
        raise AssertionError(f"{type(e).__name__} {e.code}, wanted {cls.__name__} {code}")
    raise AssertionError(f"no error, wanted {cls.__name__} {code}")


@check
def files_stay_with_the_project_that_took_them(client):
    # Three uploads spread over both projects by headroom; each file is used, read and deleted
    # through the project that holds it (another project's key would get a 403).
    import io
    files = [client.files.upload(
        file=io.BytesIO(f"file number {i} has these words".encode()),
        config=types.UploadFileConfig(mime_type="text/plain", display_name=f"notes-{i}"))
        for i in range(3)]
    for f in files:
        expect(f.name.startswith("files/") and f.state == types.FileState.ACTIVE, f)
        for _ in range(3):
            r = client.models.generate_content(model=MODEL, contents=[f, "Summarise"])
            expect(r.text.startswith("Simulated answer"), r.text)
        expect(client.files.get(name=f.name).uri == f.uri, "get")
        client.files.delete(name=f.name)


@check
def a_cached_content_stays_with_its_project(client):
    doc = " ".join(f"w{i}" for i in range(1100))
    c = client.caches.create(model=MODEL, config=types.CreateCachedContentConfig(
        contents=[doc], ttl="600s", display_name="doc"))
    expect(c.name.startswith("cachedContents/"), c)
    for _ in range(4):
        r = client.models.generate_content(
            model=MODEL, contents="what does it say",
            config=types.GenerateContentConfig(cached_content=c.name))
        expect(r.usage_metadata.cached_content_token_count == 1100, r.usage_metadata)
    u = client.caches.update(name=c.name, config=types.UpdateCachedContentConfig(ttl="60s"))
    expect(u.expire_time < c.expire_time, (u.expire_time, c.expire_time))
    client.caches.delete(name=c.name)


@check
def batches_stay_with_the_project_that_created_them(client):
    # Four batches spread over both projects; every poll goes to the batch's own project
    # (another project's key would get a 404), until each has its results.
    import time
    jobs = [client.batches.create(model=MODEL, src=[
        {"contents": [{"parts": [{"text": f"batch {i} first"}]}], "metadata": {"key": "a"}},
        {"contents": [{"parts": [{"text": f"batch {i} second"}]}], "metadata": {"key": "b"}}])
        for i in range(4)]
    for i, job in enumerate(jobs):
        while True:
            j = client.batches.get(name=job.name)
            if j.state == types.JobState.JOB_STATE_SUCCEEDED:
                break
            expect(j.state in (types.JobState.JOB_STATE_PENDING, types.JobState.JOB_STATE_RUNNING),
                   j.state)
            time.sleep(0.1)
        texts = [r.response.text for r in j.dest.inlined_responses]
        expect(texts == [f"Simulated answer to: batch {i} first",
                         f"Simulated answer to: batch {i} second"], texts)
        client.batches.delete(name=job.name)


@check
def a_bad_relay_key_is_the_apis_invalid_key(client):
    wrong = genai.Client(api_key="not-a-relay-key", http_options=types.HttpOptions(base_url=BASE_URL[0]))
    e = raises(lambda: wrong.models.generate_content(model=MODEL, contents="hi"), errors.ClientError, 400)
    expect("API_KEY_INVALID" in json.dumps(e.details), e.details)
    expect(UPSTREAM_KEYS[0] not in str(e) and RELAY_KEY not in str(e), "no key echoed")


@check
def an_invalid_request_is_a_client_error(client):
    raises(lambda: client.models.generate_content(model=MODEL, contents="[sim:invalid]"),
           errors.ClientError, 400)


@check
def injected_503s_never_reach_the_sdk(client):
    # The simulator answers 503 to one generate request in six; the relay's pool retries them
    # before the first byte, so the SDK (no retries of its own) sees none.
    for i in range(12):
        client.models.generate_content(model=MODEL, contents=f"question {i}")


@check
def a_burst_of_three_times_the_minute_is_served_without_a_429(client):
    # 18 calls where both projects together allow 6 a minute: the relay's pool paces them by
    # what it learns from the 429s and waits for slots within the request's deadline, so the
    # SDK (no retries of its own) sees no error.
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(
            lambda i: client.models.generate_content(model=BUSY, contents=f"burst {i}").text,
            range(18)))
    expect(all(a.startswith("Simulated answer") for a in answers), answers)


@check
def a_quota_gone_for_the_day_everywhere_is_a_429_with_retry_after(client):
    # Two projects, two requests a day each: four answers, then the 429 for both.
    for i in range(4):
        client.models.generate_content(model=DAILY, contents=f"daily {i}")
    e = raises(lambda: client.models.generate_content(model=DAILY, contents="one more"),
               errors.ClientError, 429)
    headers = {k.lower(): v for k, v in (e.response.headers or {}).items()}
    expect(int(headers.get("retry-after", "0")) > 0, headers)
    expect("QuotaFailure" in json.dumps(e.details), e.details)


def main():
    sim_path, relay_path = sys.argv[1], sys.argv[2]
    sim = subprocess.Popen(
        [sim_path, "--port", "0", "--seed", "5", "--fault", "503=0.15",
         "--project", UPSTREAM_KEYS[0], "--project", UPSTREAM_KEYS[1], "--rpd", f"{DAILY}=2",
         "--rpm", f"{BUSY}=3", "--minute", "2s"],
        stdout=subprocess.PIPE, text=True)
    relay = None
    failed = 0
    try:
        sim_url = sim.stdout.readline().strip().removeprefix("listening on ")
        # The simulator's minute is 2 s: the relay must count per-minute limits in it too.
        config = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
        config.write('quota_minute = "2s"\n')
        config.close()
        relay = subprocess.Popen(
            [relay_path, "--config", config.name, "--port", "0", "--upstream", sim_url,
             "--key", UPSTREAM_KEYS[0], "--key", UPSTREAM_KEYS[1],
             "--relay-key", f"sdk={RELAY_KEY}"],
            stdout=subprocess.PIPE, text=True, env={"PATH": "/usr/bin:/bin"})
        relay_url = relay.stdout.readline().strip().removeprefix("listening on ")
        if not relay_url.startswith("http://"):
            raise SystemExit(f"gemini-relay did not start: {relay_url!r}")
        BASE_URL.append(relay_url)
        client = genai.Client(api_key=RELAY_KEY, http_options=types.HttpOptions(base_url=relay_url))
        for fn in CHECKS:
            try:
                fn(client)
                print(f"ok   {fn.__name__}")
            except Exception:
                failed += 1
                print(f"FAIL {fn.__name__}")
                traceback.print_exc()
    finally:
        for p in (relay, sim):
            if p is not None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
    print(f"{len(CHECKS) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
