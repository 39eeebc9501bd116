"""The official SDKs against `botforge serve`, which sits in front of the simulator.

Usage: python gateway_sdks.py BASE_URL TOKEN
The SDKs are given the gateway token where they expect a Gemini or OpenAI key. Prints one JSON
line of findings; exits non-zero on the first mismatch.
"""

import io
import json
import sys

import openai
from google import genai
from google.genai import errors, types

BASE, TOKEN = sys.argv[1].rstrip("/"), sys.argv[2]
MODEL = "gemini-2.5-flash"
found = {}


def gclient(key):
    return genai.Client(
        api_key=key,
        http_options=types.HttpOptions(base_url=BASE, api_version="v1beta", timeout=20_000),
    )


g = gclient(TOKEN)
for i in range(4):
    r = g.models.generate_content(model=MODEL, contents=f"Say hi {i}")
    assert r.text and r.text.startswith("Hello from"), r.text
found["genai_generate"] = True

chunks = list(g.models.generate_content_stream(model=MODEL, contents="Stream please"))
assert chunks and "".join(c.text or "" for c in chunks).startswith("Hello from"), chunks
found["genai_stream_chunks"] = len(chunks)

n = g.models.count_tokens(model=MODEL, contents="count these words")
assert n.total_tokens and n.total_tokens > 0, n
found["genai_count_tokens"] = n.total_tokens

EMBED = "gemini-embedding-001"
e = g.models.embed_content(
    model=EMBED,
    contents=["first text", "second text"],
    config=types.EmbedContentConfig(output_dimensionality=32),
)
assert len(e.embeddings) == 2 and all(len(x.values) == 32 for x in e.embeddings), e
assert e.embeddings[0].values != e.embeddings[1].values
found["genai_embeddings"] = len(e.embeddings)

# Files: the SDK's resumable upload (its session URL rewritten to the gateway), then generation
# with the file and a cache made from it, each served by a key of the file's project.

uploaded = g.files.upload(
    file=io.BytesIO(b"date,close\n2024-01-02,101.5\n2024-01-03,102.25\n"),
    config=types.UploadFileConfig(mime_type="text/csv", display_name="prices"),
)
assert uploaded.name.startswith("files/") and uploaded.size_bytes == 46, uploaded
assert g.files.get(name=uploaded.name).name == uploaded.name
assert uploaded.name in [f.name for f in g.files.list()]
for i in range(3):
    r = g.models.generate_content(
        model=MODEL,
        contents=[
            types.Part.from_uri(file_uri=uploaded.uri, mime_type="text/csv"),
            f"What is the last close? {i}",
        ],
    )
    assert r.text and r.text.startswith("Hello from"), r.text
found["genai_file_generate"] = True
cache = g.caches.create(
    model=MODEL,
    config=types.CreateCachedContentConfig(
        contents=[types.Content(role="user", parts=[types.Part.from_uri(file_uri=uploaded.uri, mime_type="text/csv")])],
        ttl="600s",
    ),
)
assert cache.name.startswith("cachedContents/"), cache
r = g.models.generate_content(
    model=MODEL,
    contents="Summarize the prices.",
    config=types.GenerateContentConfig(cached_content=cache.name),
)
assert r.text and r.text.startswith("Hello from"), r.text
g.caches.delete(name=cache.name)
g.files.delete(name=uploaded.name)
found["genai_file"] = uploaded.name
found["genai_cache"] = cache.name

# A batch of inline requests, then its results, through the gateway.
job = g.batches.create(
    model=MODEL,
    src=[
        {"contents": [{"parts": [{"text": "first"}], "role": "user"}]},
        {"contents": [{"parts": [{"text": "second"}], "role": "user"}]},
    ],
    config={"display_name": "sdk-batch"},
)
assert job.name.startswith("batches/"), job
job = g.batches.get(name=job.name)
assert job.state.name == "JOB_STATE_SUCCEEDED", job.state
answers = job.dest.inlined_responses
assert len(answers) == 2 and answers[0].response.text.startswith("Hello from"), answers
assert job.name in [b.name for b in g.batches.list()]
found["genai_batch"] = job.name

# The Interactions API: a follow-up names the previous interaction (kept by one project).
first = g.interactions.create(model=MODEL, input="Name a trend indicator.")
assert first.status == "completed" and first.id, first
second = g.interactions.create(model=MODEL, input="And a faster one?", previous_interaction_id=first.id)
assert second.status == "completed" and second.previous_interaction_id == first.id, second
found["genai_interactions"] = [first.id, second.id]

bad = gclient("wrong-token")  # kept: a client collected mid-call closes its connection
try:
    bad.models.generate_content(model=MODEL, contents="hi")
    raise AssertionError("a wrong token was accepted")
except errors.APIError as e:
    assert e.code == 403, e
    found["genai_wrong_token"] = e.code

o = openai.OpenAI(base_url=BASE + "/v1", api_key=TOKEN, timeout=20, max_retries=0)
c = o.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Say hi"}])
assert c.choices[0].message.content.startswith("Hello from"), c
found["openai_chat"] = True

parts = []
for ev in o.chat.completions.create(
    model=MODEL, messages=[{"role": "user", "content": "Say hi"}], stream=True
):
    if ev.choices and ev.choices[0].delta.content:
        parts.append(ev.choices[0].delta.content)
assert "".join(parts).startswith("Hello from"), parts
found["openai_stream"] = True

emb = o.embeddings.create(model=EMBED, input=["one", "two", "three"], dimensions=16)
assert [d.index for d in emb.data] == [0, 1, 2] and len(emb.data[0].embedding) == 16, emb
assert emb.usage.prompt_tokens > 0, emb.usage
found["openai_embeddings"] = len(emb.data)

models = [m.id for m in o.models.list()]
assert MODEL in models, models
found["openai_models"] = models

try:
    openai.OpenAI(base_url=BASE + "/v1", api_key="wrong-token", max_retries=0).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    raise AssertionError("a wrong token was accepted")
except openai.PermissionDeniedError as e:
    found["openai_wrong_token"] = e.status_code

print(json.dumps(found))
