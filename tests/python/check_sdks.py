"""Black-box check of the Gemini simulator with the official SDKs.

Usage: python check_sdks.py BASE_URL
The simulator must know key test-key-a1 (unlimited) and test-key-r1, whose project allows one
request per minute. Prints one JSON line of findings; exits non-zero on the first mismatch.
"""

import json
import sys

import openai
from google import genai
from google.genai import errors, types

BASE = sys.argv[1].rstrip("/")
MODEL = "gemini-2.5-flash"
found = {}


def client(key):
    return genai.Client(
        api_key=key,
        http_options=types.HttpOptions(base_url=BASE, api_version="v1beta", timeout=10_000),
    )


g = client("test-key-a1")

r = g.models.generate_content(model=MODEL, contents="Say hi")
assert r.text and r.text.startswith("Hello from"), r.text
assert r.usage_metadata.total_token_count == (
    r.usage_metadata.prompt_token_count
    + (r.usage_metadata.candidates_token_count or 0)
    + (r.usage_metadata.thoughts_token_count or 0)
)
found["genai_generate"] = r.text

text = "".join(c.text or "" for c in g.models.generate_content_stream(model=MODEL, contents="Stream"))
assert text == r.text, (text, r.text)
found["genai_stream"] = text

n = g.models.count_tokens(model=MODEL, contents="Say hi")
assert n.total_tokens == r.usage_metadata.prompt_token_count, (n, r.usage_metadata)
found["genai_count_tokens"] = n.total_tokens

names = [m.name for m in g.models.list()]
assert "models/gemini-2.5-flash" in names, names

limited = client("test-key-r1")
limited.models.generate_content(model=MODEL, contents="first")
try:
    limited.models.generate_content(model=MODEL, contents="second")
    raise AssertionError("expected a 429")
except errors.ClientError as e:
    assert e.code == 429, e.code
    assert e.status == "RESOURCE_EXHAUSTED", e.status
    details = e.details["error"]["details"]
    quota = [d for d in details if d["@type"].endswith("QuotaFailure")][0]
    assert quota["violations"][0]["quotaId"].startswith("GenerateRequestsPerMinute"), quota
    retry = [d for d in details if d["@type"].endswith("RetryInfo")][0]
    found["genai_429_retry_delay"] = retry["retryDelay"]

unknown = client("test-key-unknown")  # held: a dropped Client closes its connection pool
try:
    unknown.models.generate_content(model=MODEL, contents="x")
    raise AssertionError("expected a 400")
except errors.ClientError as e:
    assert e.code == 400 and e.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"

o = openai.OpenAI(api_key="test-key-a1", base_url=BASE + "/v1beta/openai/", max_retries=0)
c = o.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Say hi"}])
assert c.choices[0].message.content.startswith("Hello from"), c
found["openai_chat"] = c.choices[0].message.content
parts = [
    ch.choices[0].delta.content or ""
    for ch in o.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Say hi"}], stream=True
    )
    if ch.choices
]
assert "".join(parts) == c.choices[0].message.content, parts
o429 = openai.OpenAI(api_key="test-key-r1", base_url=BASE + "/v1beta/openai/", max_retries=0)
try:
    o429.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    raise AssertionError("expected a 429")
except openai.RateLimitError as e:
    assert e.status_code == 429
    found["openai_429"] = True

print(json.dumps(found))
