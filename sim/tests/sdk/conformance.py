#!/usr/bin/env python3
"""Conformance of gemini-sim with a client nobody here wrote: Google's official GenAI SDK.

Usage: conformance.py PATH_TO_GEMINI_SIM

It starts gemini-sim on a free port, points google-genai at it, checks every endpoint the SDK
calls for a Gemini API user (plain and streamed generation, generation config, JSON mode,
function calls, count_tokens, embed_content, models.list and models.get, files upload, get, list
and delete, cached contents create, use, update and delete, batches inlined and from a
file, listed, cancelled and deleted) and that error answers
raise the SDK's own error classes with the right code and status. It prints one line per check
and a closing "N passed, M failed" line, and exits non-zero on any failure.
"""

import asyncio
import json
import subprocess
import sys
import traceback

import pydantic
from google import genai
from google.genai import errors, types

KEY = "sdk-conformance-key-0001"
MODEL = "gemini-2.5-flash"
LIMITED = "gemini-2.0-flash"  # one request per (simulated) minute: the 429 check

CHECKS = []
BASE_URL = []  # set once gemini-sim prints it


def check(fn):
    CHECKS.append(fn)
    return fn


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


@check
def plain_generation(client):
    r = client.models.generate_content(model=MODEL, contents="Why is the sky blue?")
    expect(r.text == "Simulated answer to: Why is the sky blue?", f"text {r.text!r}")
    expect(r.candidates[0].finish_reason == types.FinishReason.STOP, r.candidates[0].finish_reason)
    expect(r.usage_metadata.prompt_token_count == 5, r.usage_metadata)
    expect(r.usage_metadata.total_token_count == 5 + r.usage_metadata.candidates_token_count,
           r.usage_metadata)
    expect(r.model_version == MODEL and r.response_id, (r.model_version, r.response_id))


@check
def system_instruction_counts_in_usage(client):
    r = client.models.generate_content(
        model=MODEL, contents="one two three",
        config=types.GenerateContentConfig(system_instruction="be very brief"))
    expect(r.usage_metadata.prompt_token_count == 6, r.usage_metadata)


@check
def streamed_generation(client):
    whole = client.models.generate_content(model=MODEL, contents="tell me a short story now").text
    chunks = list(client.models.generate_content_stream(
        model=MODEL, contents="tell me a short story now"))
    expect(len(chunks) >= 3, f"{len(chunks)} chunks")
    expect(all(c.text for c in chunks), [c.text for c in chunks])
    expect("".join(c.text for c in chunks) == whole, [c.text for c in chunks])
    expect(len({c.response_id for c in chunks}) == 1 and chunks[0].response_id, "one response id")
    expect(chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP, chunks[-1])
    expect(chunks[-1].usage_metadata.candidates_token_count > 0, chunks[-1].usage_metadata)


@check
def max_output_tokens_is_max_tokens(client):
    r = client.models.generate_content(
        model=MODEL, contents="a long answer please",
        config=types.GenerateContentConfig(max_output_tokens=3))
    expect(r.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS,
           r.candidates[0].finish_reason)
    expect(len(r.text.split()) == 3, r.text)


@check
def top_k_sent_as_a_float_is_accepted(client):
    # The SDK sends every top_k as a float (20.0); the real API reads it into an int32.
    r = client.models.generate_content(
        model=MODEL, contents="hi", config=types.GenerateContentConfig(top_k=20, top_p=0.9))
    expect(r.text, r)


@check
def thoughts_when_asked_for(client):
    r = client.models.generate_content(
        model=MODEL, contents="why is the sky blue",
        config=types.GenerateContentConfig(thinking_config=types.ThinkingConfig(
            include_thoughts=True, thinking_budget=1024)))
    parts = r.candidates[0].content.parts
    expect(parts[0].thought is True and parts[0].text, parts)
    expect(not parts[1].thought, parts)
    expect(r.text == "Simulated answer to: why is the sky blue", r.text)
    u = r.usage_metadata
    expect(u.thoughts_token_count and u.thoughts_token_count > 0, u)
    expect(u.total_token_count == u.prompt_token_count + u.candidates_token_count
           + u.thoughts_token_count, u)


@check
def logprobs_when_asked_for(client):
    r = client.models.generate_content(
        model=MODEL, contents="one two three",
        config=types.GenerateContentConfig(response_logprobs=True, logprobs=3))
    c = r.candidates[0]
    expect(c.logprobs_result and c.logprobs_result.chosen_candidates, c)
    expect(len(c.logprobs_result.chosen_candidates) == len(r.text.split()), c.logprobs_result)
    expect(len(c.logprobs_result.top_candidates[0].candidates) == 3, c.logprobs_result)
    expect(c.avg_logprobs is not None and c.avg_logprobs < 0, c.avg_logprobs)


@check
def google_search_grounding(client):
    r = client.models.generate_content(
        model=MODEL, contents="who won the match",
        config=types.GenerateContentConfig(tools=[types.Tool(google_search=types.GoogleSearch())]))
    g = r.candidates[0].grounding_metadata
    expect(g and g.web_search_queries == ["who won the match"], g)
    expect(g.grounding_chunks[0].web.uri.startswith("https://"), g)
    expect(g.grounding_supports[0].grounding_chunk_indices == [0], g)


@check
def stop_sequences_and_candidate_count(client):
    r = client.models.generate_content(
        model=MODEL, contents="first. second",
        config=types.GenerateContentConfig(stop_sequences=["."], candidate_count=2))
    expect(len(r.candidates) == 2, len(r.candidates))
    expect(all("." not in c.content.parts[0].text for c in r.candidates), r.candidates)


class Recipe(pydantic.BaseModel):
    recipe_name: str
    minutes: int
    ingredients: list[str]


@check
def json_mode_parsed(client):
    r = client.models.generate_content(
        model=MODEL, contents="List two cookie recipes.",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_schema=list[Recipe]))
    expect(isinstance(r.parsed, list) and r.parsed, f"parsed {r.parsed!r} from {r.text!r}")
    expect(all(isinstance(x, Recipe) for x in r.parsed), r.parsed)
    json.loads(r.text)


@check
def json_mode_with_a_json_schema(client):
    r = client.models.generate_content(
        model=MODEL, contents="One recipe.",
        config=types.GenerateContentConfig(
            response_mime_type="application/json",
            response_json_schema=Recipe.model_json_schema()))
    recipe = Recipe.model_validate_json(r.text)
    expect(recipe.ingredients, recipe)


WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="The weather in a city",
    parameters=types.Schema(
        type=types.Type.OBJECT,
        properties={"city": types.Schema(type=types.Type.STRING),
                    "unit": types.Schema(type=types.Type.STRING, enum=["C", "F"])},
        required=["city"]),
)


@check
def function_call_with_mode_any(client):
    r = client.models.generate_content(
        model=MODEL, contents="What's the weather like in Paris?",
        config=types.GenerateContentConfig(
            tools=[types.Tool(function_declarations=[WEATHER])],
            tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(
                mode=types.FunctionCallingConfigMode.ANY))))
    calls = r.function_calls
    expect(calls and calls[0].name == "get_weather", r)
    expect(isinstance(calls[0].args["city"], str) and calls[0].args["unit"] in ("C", "F"),
           calls[0].args)


@check
def automatic_function_calling_sends_the_result_back(client):
    seen = []

    def get_time(zone: str) -> dict:
        """The time in a time zone."""
        seen.append(zone)
        return {"time": "12:00"}

    chat = client.chats.create(model=MODEL, config=types.GenerateContentConfig(tools=[get_time]))
    r = chat.send_message("Please call get_time for me.")
    expect(len(seen) == 1, f"the function ran {len(seen)} times")
    expect("get_time" in r.text and "12:00" in r.text, r.text)


@check
def count_tokens(client):
    r = client.models.count_tokens(model=MODEL, contents="one two three four")
    expect(r.total_tokens == 4, r)


@check
def embed_content(client):
    r = client.models.embed_content(model="gemini-embedding-001", contents="hello world")
    expect(len(r.embeddings) == 1 and len(r.embeddings[0].values) == 3072,
           len(r.embeddings[0].values))
    r = client.models.embed_content(
        model="gemini-embedding-001", contents=["hello", "world"],
        config=types.EmbedContentConfig(output_dimensionality=256))
    expect([len(e.values) for e in r.embeddings] == [256, 256], r.embeddings)
    expect(r.embeddings[0].values != r.embeddings[1].values, "different texts differ")


@check
def models_list_pages(client):
    pager = client.models.list(config={"page_size": 2})
    expect(pager.page_size == 2 and len(pager.page) == 2, pager.page)
    names = [m.name for m in pager]
    expect(names == ["models/gemini-2.5-flash", "models/gemini-2.5-pro",
                     "models/gemini-2.0-flash", "models/gemini-embedding-001",
                     "models/text-embedding-004"], names)


@check
def models_get(client):
    m = client.models.get(model="gemini-2.5-pro")
    expect(m.name == "models/gemini-2.5-pro", m.name)
    expect((m.input_token_limit, m.output_token_limit) == (1048576, 65536), m)
    expect("generateContent" in m.supported_actions, m.supported_actions)


def raises(call, cls, code, status):
    try:
        call()
    except cls as e:
        expect(e.code == code and e.status == status, f"got {e.code} {e.status}: {e}")
        return e
    except errors.APIError as e:
        raise AssertionError(f"{type(e).__name__} {e.code} {e.status}, wanted {cls.__name__}")
    raise AssertionError(f"no error, wanted {cls.__name__} {code}")


def ask(client, prompt, model=MODEL):
    return lambda: client.models.generate_content(model=model, contents=prompt)


@check
def error_429(client):
    client.models.generate_content(model=LIMITED, contents="first")
    e = raises(ask(client, "second", LIMITED), errors.ClientError, 429, "RESOURCE_EXHAUSTED")
    kinds = [d.get("@type", "") for d in e.details["error"]["details"]]
    expect(any(k.endswith("RetryInfo") for k in kinds)
           and any(k.endswith("QuotaFailure") for k in kinds), kinds)


@check
def error_400(client):
    raises(ask(client, "[sim:invalid]"), errors.ClientError, 400, "INVALID_ARGUMENT")


@check
def async_client_concurrent_calls(client):
    async def many():
        calls = [client.aio.models.generate_content(model=MODEL, contents=f"question {i}")
                 for i in range(20)]
        return await asyncio.gather(*calls)

    answers = asyncio.run(many())
    expect([a.text for a in answers] == [f"Simulated answer to: question {i}" for i in range(20)],
           [a.text for a in answers])


@check
def error_400_invalid_key(client):
    wrong = genai.Client(api_key="not-a-key", http_options=types.HttpOptions(base_url=BASE_URL[0]))
    e = raises(ask(wrong, "hi"), errors.ClientError, 400, "INVALID_ARGUMENT")
    expect("API key not valid" in e.message, e.message)


@check
def error_403(client):
    raises(ask(client, "[sim:permission]"), errors.ClientError, 403, "PERMISSION_DENIED")


@check
def error_404(client):
    raises(ask(client, "hi", "gemini-0.1-nonexistent"), errors.ClientError, 404, "NOT_FOUND")


@check
def error_500(client):
    raises(ask(client, "[sim:internal]"), errors.ServerError, 500, "INTERNAL")


@check
def error_503(client):
    raises(ask(client, "[sim:overloaded]"), errors.ServerError, 503, "UNAVAILABLE")


@check
def error_in_a_stream_request(client):
    raises(lambda: list(client.models.generate_content_stream(model=MODEL, contents="[sim:overloaded]")),
           errors.ServerError, 503, "UNAVAILABLE")


@check
def files_upload_get_list_use_delete(client):
    import io
    f = client.files.upload(
        file=io.BytesIO(b"five words in this file"),
        config=types.UploadFileConfig(mime_type="text/plain", display_name="notes"))
    expect(f.name.startswith("files/") and f.size_bytes == 23, f)
    expect(f.state == types.FileState.ACTIVE and f.display_name == "notes", f)
    expect(client.files.get(name=f.name).uri == f.uri, "get")
    expect(f.name in [x.name for x in client.files.list()], "listed")
    r = client.models.generate_content(model=MODEL, contents=[f, "Summarise"])
    expect(r.usage_metadata.prompt_token_count == 6, r.usage_metadata)
    client.files.delete(name=f.name)
    raises(lambda: client.files.get(name=f.name), errors.ClientError, 403, "PERMISSION_DENIED")


@check
def cached_content_create_use_update_delete(client):
    doc = " ".join(f"w{i}" for i in range(1100))
    c = client.caches.create(model=MODEL, config=types.CreateCachedContentConfig(
        contents=[doc], system_instruction="be brief", ttl="600s", display_name="doc"))
    expect(c.name.startswith("cachedContents/"), c)
    expect(c.usage_metadata.total_token_count == 1102, c.usage_metadata)
    r = client.models.generate_content(
        model=MODEL, contents="what does it say",
        config=types.GenerateContentConfig(cached_content=c.name))
    expect(r.usage_metadata.cached_content_token_count == 1102, r.usage_metadata)
    expect(r.usage_metadata.prompt_token_count == 1102 + 4, r.usage_metadata)
    u = client.caches.update(name=c.name, config=types.UpdateCachedContentConfig(ttl="60s"))
    expect(u.expire_time < c.expire_time, (u.expire_time, c.expire_time))
    expect(c.name in [x.name for x in client.caches.list()], "listed")
    client.caches.delete(name=c.name)
    raises(lambda: client.caches.get(name=c.name), errors.ClientError, 403, "PERMISSION_DENIED")
    raises(lambda: client.models.generate_content(
        model=MODEL, contents="again", config=types.GenerateContentConfig(cached_content=c.name)),
        errors.ClientError, 403, "PERMISSION_DENIED")


@check
def batches_inlined_and_from_a_file(client):
    import io
    import time
    job = client.batches.create(model=MODEL, src=[
        {"contents": [{"parts": [{"text": "first"}], "role": "user"}], "metadata": {"key": "a"}},
        {"contents": [{"parts": [{"text": "[sim:invalid] second"}], "role": "user"}],
         "metadata": {"key": "b"}}], config={"display_name": "two"})
    expect(job.name.startswith("batches/") and job.display_name == "two", job)
    expect(job.state == types.JobState.JOB_STATE_PENDING, job.state)
    seen = []
    while True:
        j = client.batches.get(name=job.name)
        if not seen or seen[-1] != j.state:
            seen.append(j.state)
        if j.state == types.JobState.JOB_STATE_SUCCEEDED:
            break
        time.sleep(0.1)
    expect(seen[0] == types.JobState.JOB_STATE_PENDING, seen)
    first, second = j.dest.inlined_responses
    expect(first.metadata == {"key": "a"} and first.response.text == "Simulated answer to: first",
           first)
    expect(second.error is not None and second.error.code == 3, second)  # INVALID_ARGUMENT
    expect(job.name in [b.name for b in client.batches.list()], "listed")
    f = client.files.upload(
        file=io.BytesIO(b'{"key":"k1","request":{"contents":[{"parts":[{"text":"from a file"}]}]}}\n'),
        config=types.UploadFileConfig(mime_type="application/jsonl"))
    from_file = client.batches.create(model=MODEL, src=f.name)
    while client.batches.get(name=from_file.name).state != types.JobState.JOB_STATE_SUCCEEDED:
        time.sleep(0.1)
    out = client.batches.get(name=from_file.name).dest.file_name
    line = json.loads(client.files.download(file=out))
    expect(line["key"] == "k1" and "from a file" in json.dumps(line["response"]), line)
    pending = client.batches.create(model=MODEL, src=[{"contents": [{"parts": [{"text": "x"}]}]}])
    client.batches.cancel(name=pending.name)
    expect(client.batches.get(name=pending.name).state == types.JobState.JOB_STATE_CANCELLED,
           "cancelled")
    client.batches.delete(name=pending.name)
    raises(lambda: client.batches.get(name=pending.name), errors.ClientError, 404, "NOT_FOUND")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    sim = subprocess.Popen(
        [sys.argv[1], "--port", "0", "--key", KEY, "--rpm", f"{LIMITED}=1"],
        stdout=subprocess.PIPE, text=True)
    try:
        line = sim.stdout.readline().strip()
        if not line.startswith("listening on "):
            print(f"gemini-sim did not start: {line!r}")
            return 1
        base_url = line.removeprefix("listening on ")
        BASE_URL.append(base_url)
        print(f"google-genai against {base_url}")
        client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=base_url))
        passed = failed = 0
        for fn in CHECKS:
            try:
                fn(client)
                passed += 1
                print(f"ok   {fn.__name__}")
            except Exception as e:  # noqa: BLE001 - every failure is reported, then counted
                failed += 1
                print(f"FAIL {fn.__name__}: {type(e).__name__}: {e}")
                traceback.print_exc(limit=3)
    finally:
        sim.terminate()
        try:
            code = sim.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sim.kill()
            code = "killed"
    if code != 0:
        failed += 1
        print(f"FAIL gemini-sim exited with {code} on SIGTERM")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
