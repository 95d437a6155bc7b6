"""Retrieval evaluation: labelled sets built from a real repository, exact metrics, the weight sweep, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from service.adapters.embeddings.fake import HashingEmbedder
from service.adapters.knowledge.memory import InMemoryChunkIndex
from service.cli import app
from service.container import Container, build_container
from service.domain.knowledge import IndexedChunk, Repository, ScoredChunk
from service.errors import InvalidInput
from service.knowledge_base.embedding import embed_pending
from service.knowledge_base.evaluation import (
    QueryRun,
    Scores,
    best_points,
    evaluate,
    first_hit_rank,
    lexical_share,
    score_ranks,
    shared_fusions,
    sweep,
)
from service.knowledge_base.evaluation_index import build_scratch_index, git_blob_sha
from service.knowledge_base.evaluation_run import SETS, EvalRequest, evaluate_repository
from service.knowledge_base.fusion import FUSION_METHODS, Fusion
from service.knowledge_base.indexer import sync_repository
from service.knowledge_base.labelled_sets import (
    LabelledQuery,
    Target,
    commit_queries,
    docstring_corpus,
    first_paragraph,
    function_corpus,
    sample,
    split,
    strip_docstrings,
)
from service.knowledge_base.sources import GitReader, resolve_source
from service.settings import Settings
from tests.knowledge_fakes import CountingEmbedder

GEOMETRY = '''"""Shapes."""

import math


def circle_area(radius):
    """Compute the area of a circle from its radius.

    Uses pi from the math module.
    """
    return math.pi * radius ** 2


class Polygon:
    """A closed shape with straight sides."""

    def perimeter(self, sides):
        """Add up the lengths of every side."""
        return sum(sides)

    def abstract(self):
        """Subclasses say what this is."""

    def short(self):
        """Too short."""
        return 1
'''

GEOMETRY_STRIPPED = '''"""Shapes."""

import math


def circle_area(radius):
    return math.pi * radius ** 2


class Polygon:
    """A closed shape with straight sides."""

    def perimeter(self, sides):
        return sum(sides)

    def abstract(self):
        pass

    def short(self):
        return 1
'''

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def git(root: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True, env=os.environ | GIT_ENV
    )
    return completed.stdout.strip()


def commit_file(root: Path, path: str, text: str, message: str) -> str:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(text, encoding="utf-8")
    git(root, "add", path)
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit_file(root, "shapes/geometry.py", GEOMETRY, "Add geometry helpers for circles")
    commit_file(root, "README.md", "# Shapes\n", "readme")
    commit_file(root, "shapes/units.py", "def metres(x):\n    return x\n", "Convert lengths to metres everywhere")
    git(root, "checkout", "-q", "-b", "side")
    commit_file(root, "shapes/side.py", "X = 1\n", "Side branch adds a constant")
    git(root, "checkout", "-q", "main")
    commit_file(root, "shapes/units.py", "def metres(x):\n    return x * 1.0\n", "Return floats from metres conversion")
    git(root, "merge", "-q", "--no-ff", "side", "-m", "Merge branch side into main")
    return root


def chunk(path: str, start: int, end: int) -> IndexedChunk:
    return IndexedChunk(
        chunk_id=f"{path}:{start}",
        repository="r",
        path=path,
        language="python",
        kind="function",
        symbol="",
        start_line=start,
        end_line=end,
        header="",
        text="",
        embedding_key=f"{path}{start}",
        blob_sha="0" * 40,
        commit="0" * 40,
    )


# --- labelled sets ---------------------------------------------------------------------------------------------


def test_docstrings_are_removed_and_pairs_point_at_the_stripped_lines() -> None:
    stripped, queries = strip_docstrings("shapes/geometry.py", GEOMETRY)
    assert stripped == GEOMETRY_STRIPPED
    assert [(q.label, q.query) for q in queries] == [
        ("shapes/geometry.py:circle_area", "Compute the area of a circle from its radius."),
        ("shapes/geometry.py:Polygon.perimeter", "Add up the lengths of every side."),
    ]
    lines = stripped.splitlines()
    circle, perimeter = (q.targets[0] for q in queries)
    assert (circle.start_line, circle.end_line) == (6, 7)
    assert lines[circle.start_line - 1] == "def circle_area(radius):"
    assert (perimeter.start_line, perimeter.end_line) == (13, 14)
    assert lines[perimeter.start_line - 1 : perimeter.end_line] == [
        "    def perimeter(self, sides):",
        "        return sum(sides)",
    ]


def test_docstrings_sharing_a_line_with_code_stay_and_give_no_pair() -> None:
    text = 'def f(): "Return one from here."; return 1\n\n\ndef g():\n    """Return two from here."""\n    return 2\n'
    stripped, queries = strip_docstrings("m.py", text)
    assert stripped == 'def f(): "Return one from here."; return 1\n\n\ndef g():\n    return 2\n'
    assert [q.label for q in queries] == ["m.py:g"]
    assert queries[0].targets == (Target("m.py", 4, 5),)


def test_files_that_do_not_parse_are_left_alone() -> None:
    assert strip_docstrings("bad.py", "def f(:\n") == ("def f(:\n", [])


def test_first_paragraph_joins_lines_and_stops_at_a_blank_line() -> None:
    assert first_paragraph("  Read the\n    config file.\n\n  Details.") == "Read the config file."


def test_docstring_corpus_keeps_only_changed_python_files() -> None:
    corpus = docstring_corpus({"a.py": GEOMETRY, "b.py": "X = 1\n", "doc.md": '"""no"""\n'})
    assert list(corpus.files) == ["a.py"]
    assert len(corpus.queries) == 2


def test_commit_pairs_skip_merges_short_subjects_and_unindexed_files(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    indexed = {"shapes/geometry.py", "shapes/units.py", "README.md"}
    queries = commit_queries(repo, commit=head, indexed_paths=indexed)
    assert [(q.query, q.targets) for q in queries] == [
        ("Return floats from metres conversion", (Target("shapes/units.py"),)),
        ("Convert lengths to metres everywhere", (Target("shapes/units.py"),)),
        ("Add geometry helpers for circles", (Target("shapes/geometry.py"),)),
    ]
    assert all(len(q.label) == 40 for q in queries)
    assert commit_queries(repo, commit=head, indexed_paths=indexed, max_files=0) == []


def test_commit_pairs_need_git_history(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as raised:
        commit_queries(tmp_path, commit="HEAD", indexed_paths=())
    assert "--set docstrings" in (raised.value.hint or "")


def test_sampling_is_deterministic_and_split_is_disjoint() -> None:
    queries = [LabelledQuery("docstrings", f"q{i}", (Target("a.py"),), f"a.py:f{i}") for i in range(100)]
    first = sample(queries, limit=10, seed=7)
    assert first == sample(queries, limit=10, seed=7)
    assert first != sample(queries, limit=10, seed=8)
    assert [q.label for q in first] == sorted((q.label for q in first), key=lambda label: int(label[6:]))
    assert sample(queries, limit=None, seed=1) == queries
    tune, test = split(queries, first=30, seed=3)
    assert (len(tune), len(test)) == (30, 70)
    assert not {q.label for q in tune} & {q.label for q in test}


def test_scratch_index_holds_the_stripped_code(tmp_path: Path) -> None:
    index = InMemoryChunkIndex()
    corpus = docstring_corpus({"shapes/geometry.py": GEOMETRY})
    count = build_scratch_index(index, repository="eval", files=corpus.files)
    chunks = index.chunks_for_path(repository="eval", path="shapes/geometry.py")
    assert count == len(chunks) > 0
    assert "Compute the area" not in "".join(c.text for c in chunks)
    assert index.file_blobs(repository="eval") == {"shapes/geometry.py": git_blob_sha(GEOMETRY_STRIPPED.encode())}
    circle = corpus.queries[0]
    assert any(circle.is_hit(c) and "math.pi" in c.text for c in chunks)


# --- metrics ---------------------------------------------------------------------------------------------------


def test_scores_of_hand_computed_ranks() -> None:
    scores = score_ranks([1, 3, None, 12, 5])
    assert scores == Scores(5, {1: 0.2, 5: 0.6, 10: 0.6}, round((1 + 1 / 3 + 1 / 5) / 5, 4))
    assert score_ranks([]) == Scores(0, {1: 0.0, 5: 0.0, 10: 0.0}, 0.0)


def test_first_hit_rank_uses_line_overlap_and_whole_files() -> None:
    function = LabelledQuery("docstrings", "q", (Target("a.py", 10, 20),), "a.py:f")
    ranking = [chunk("b.py", 10, 20), chunk("a.py", 1, 9), chunk("a.py", 18, 30)]
    assert first_hit_rank(function, ranking) == 3
    whole = LabelledQuery("commits", "q", (Target("b.py"), Target("c.py")), "sha")
    assert first_hit_rank(whole, ranking) == 1
    assert first_hit_rank(whole, ranking[1:]) is None


def weighted_sum(
    lexical: Sequence[ScoredChunk], dense: Sequence[ScoredChunk], *, lexical_weight: float
) -> list[ScoredChunk]:
    """A plain weighted sum of raw scores: enough to check that the sweep finds the best weight."""
    totals: dict[str, float] = {}
    chunks: dict[str, IndexedChunk] = {}
    for weight, results in ((lexical_weight, lexical), (1 - lexical_weight, dense)):
        for item in results:
            chunks[item.chunk.chunk_id] = item.chunk
            totals[item.chunk.chunk_id] = totals.get(item.chunk.chunk_id, 0.0) + weight * item.score
    order = sorted(totals, key=lambda cid: -totals[cid])
    return [ScoredChunk(chunks[cid], totals[cid]) for cid in order]


def test_sweep_picks_the_weight_that_ranks_the_answers_first() -> None:
    target, other = chunk("t.py", 1, 5), chunk("o.py", 1, 5)
    query = LabelledQuery("docstrings", "q", (Target("t.py", 1, 5),), "t.py:f")
    # Lexical alone ranks the target 2nd (0.6 vs 1.0), dense ranks it 1st (0.9 vs 0.1): at lexical weight w
    # the target wins when 0.6w + 0.9(1-w) > 1.0w + 0.1(1-w), i.e. w < 2/3.
    run = QueryRun(
        query,
        lexical=[ScoredChunk(other, 1.0), ScoredChunk(target, 0.6)],
        dense=[ScoredChunk(target, 0.9), ScoredChunk(other, 0.1)],
    )
    points = sweep([run], {"sum": weighted_sum}, weights=[0.0, 0.5, 0.6, 0.7, 1.0])
    assert [p.scores.mrr_at_10 for p in points] == [1.0, 1.0, 1.0, 0.5, 0.5]
    assert best_points(points)["sum"].lexical_weight == 0.5  # of the tied best, the one nearest an even split
    result = evaluate("docstrings", [run], {"sum": weighted_sum}, method="sum", lexical_weight=1.0, weights=[0.6])
    assert (result.lexical.mrr_at_10, result.dense.mrr_at_10, result.hybrid.mrr_at_10) == (0.5, 1.0, 0.5)
    assert result.as_dict()["best"] == {
        "sum": {
            "lexical_weight": 0.6,
            "queries": 1,
            "recall@1": 1.0,
            "recall@5": 1.0,
            "recall@10": 1.0,
            "mrr@10": 1.0,
            "settings": {
                "TICKETSMITH_KNOWLEDGE_BASE__FUSION": "sum",
                "TICKETSMITH_KNOWLEDGE_BASE__LEXICAL_WEIGHT": 0.6,
                "TICKETSMITH_KNOWLEDGE_BASE__DENSE_WEIGHT": 0.4,
            },
        }
    }


# --- a whole indexed repository ----------------------------------------------------------------------------------


def test_evaluate_repository_searches_a_stripped_scratch_copy_and_the_history(repo: Path, tmp_path: Path) -> None:
    index, scratch, embedder = InMemoryChunkIndex(), InMemoryChunkIndex(), CountingEmbedder()
    source = resolve_source(str(repo), ref=None, name="shapes", data_dir=tmp_path / "data")
    sync_repository(index, source)
    embed_pending(index, embedder, "shapes")
    before = {c.chunk_id: c.text for c in index.chunks_for_path(repository="shapes", path="shapes/geometry.py")}
    request = EvalRequest(sets=SETS, methods={"sum": weighted_sum}, method="sum", lexical_weight=0.5, limit=10)
    phases: set[str] = set()
    with GitReader(repo) as reader:
        result = evaluate_repository(
            index=index,
            scratch=scratch,
            embedder=embedder,
            repository=index.get_repository(name="shapes"),
            read_blobs=reader.read_blobs,
            request=request,
            progress=lambda phase, done, total: phases.add(phase),
        )
    report = result.as_dict()
    sets = report["sets"]
    assert isinstance(sets, dict)
    assert sets["docstrings"]["queries"] == 2
    assert sets["docstrings"]["pairs_found"] == 2
    assert sets["commits"]["queries"] == 4  # the three on main and the one merged from the side branch
    assert sets["commits"]["dense_coverage"][0] == sets["commits"]["dense_coverage"][1] > 0
    assert {"indexing", "embedding", "searching docstrings", "searching commits"} <= phases
    # The user's index is untouched; the scratch copy holds the code without its docstrings, README included.
    assert {c.chunk_id: c.text for c in index.chunks_for_path(repository="shapes", path="shapes/geometry.py")} == before
    stripped = "".join(c.text for c in scratch.chunks_for_path(repository="eval-shapes", path="shapes/geometry.py"))
    assert "Compute the area" not in stripped
    assert "math.pi" in stripped
    assert scratch.chunks_for_path(repository="eval-shapes", path="README.md")
    # Plain lexical search finds "perimeter" by its name, so the lexical score is at least one hit in the top 10.
    assert sets["docstrings"]["lexical"]["recall@10"] > 0


def test_evaluation_needs_an_indexed_commit_and_known_sets() -> None:
    with pytest.raises(InvalidInput):
        EvalRequest(sets=("nope",), methods={"sum": weighted_sum}, method="sum", lexical_weight=0.5)
    with pytest.raises(InvalidInput):
        EvalRequest(sets=SETS, methods={"sum": weighted_sum}, method="rrf", lexical_weight=0.5)
    unindexed = Repository(name="x", source="x", path="x", ref=None, commit=None, indexed_at=None)
    with pytest.raises(InvalidInput):
        evaluate_repository(
            index=InMemoryChunkIndex(),
            scratch=InMemoryChunkIndex(),
            embedder=CountingEmbedder(),
            repository=unindexed,
            read_blobs=lambda shas: iter(()),
            request=EvalRequest(sets=SETS, methods={"sum": weighted_sum}, method="sum", lexical_weight=0.5),
        )


# --- the CLI ---------------------------------------------------------------------------------------------------


class Backends:
    """One index and the in-package fake embedder, handed to every command's container."""

    def __init__(self) -> None:
        self.index = InMemoryChunkIndex()
        self.embedder = HashingEmbedder()

    def __call__(self, settings: Settings) -> Container:
        return build_container(settings, chunk_index=self.index, embedder=self.embedder)

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(app, list(args), obj={"container_factory": self})


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TICKETSMITH_API_KEYS", raising=False)
    monkeypatch.setenv("TICKETSMITH_DATA_DIR", str(tmp_path / "data"))


@pytest.mark.usefixtures("cli_env")
def test_cli_eval_retrieval_json(repo: Path) -> None:
    backends = Backends()
    indexed = backends.run("index", str(repo), "--name", "shapes", "--json")
    assert indexed.exit_code == 0, indexed.output
    result = backends.run("eval", "retrieval", "--repo", "shapes", "--limit", "3", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["repository"] == "shapes"
    assert report["commit"] == git(repo, "rev-parse", "HEAD")
    docstrings, commits = report["sets"]["docstrings"], report["sets"]["commits"]
    assert (docstrings["queries"], docstrings["pairs_found"]) == (2, 2)
    assert (commits["queries"], commits["pairs_found"]) == (3, 4)
    for measured in (docstrings, commits):
        for retriever in ("lexical", "dense", "hybrid"):
            assert set(measured[retriever]) >= {"recall@1", "recall@5", "recall@10", "mrr@10"}
            assert 0 <= measured[retriever]["recall@1"] <= measured[retriever]["recall@10"] <= 1
        assert set(measured["best"]) == set(FUSION_METHODS)
        assert len(measured["sweep"]) == len(FUSION_METHODS) * 21
    # Only the docstring set asked: no history read, and the user's index still holds the original code.
    only = backends.run("eval", "retrieval", "--repo", "shapes", "--set", "docstrings", "--json")
    assert list(json.loads(only.output)["sets"]) == ["docstrings"]
    texts = "".join(c.text for c in backends.index.chunks_for_path(repository="shapes", path="shapes/geometry.py"))
    assert "Compute the area of a circle" in texts


@pytest.mark.usefixtures("cli_env")
def test_cli_eval_retrieval_errors(repo: Path) -> None:
    backends = Backends()
    missing = backends.run("eval", "retrieval", "--repo", "nope", "--json")
    assert missing.exit_code == 1
    assert json.loads(missing.output)["error"]["code"] == "not_found"
    backends.run("index", str(repo), "--name", "shapes", "--json")
    bad = backends.run("eval", "retrieval", "--repo", "shapes", "--set", "tickets", "--json")
    assert bad.exit_code == 2
    assert "--set" in json.loads(bad.output)["error"]["hint"]


@pytest.mark.usefixtures("cli_env")
def test_cli_eval_retrieval_prints_a_table(repo: Path) -> None:
    backends = Backends()
    backends.run("index", str(repo), "--name", "shapes", "--json")
    result = backends.run("eval", "retrieval", "--repo", "shapes", "--set", "commits")
    assert result.exit_code == 0, result.output
    assert "commits: 4 queries" in result.output
    assert "MRR@10" in result.output
    assert "best rrf" in result.output


def test_shared_fusions_rank_as_search_does_with_the_same_weights() -> None:
    a, b, c = chunk("a.py", 1, 2), chunk("b.py", 1, 2), chunk("c.py", 1, 2)
    lexical = [ScoredChunk(a, 10.0), ScoredChunk(b, 5.0), ScoredChunk(c, 0.0)]
    dense = [ScoredChunk(c, 0.9), ScoredChunk(a, 0.5)]
    fusers = shared_fusions(rrf_k=60)
    assert set(fusers) == set(FUSION_METHODS)
    # minmax: lexical a=1, b=0.5, c=0; dense c=1, a=0 (b, not returned, gets the floor 0). At w=0.4:
    # a=0.4, b=0.2, c=0.6.
    minmax = fusers["minmax"](lexical, dense, lexical_weight=0.4)
    assert [(h.chunk.path, round(h.score, 6)) for h in minmax] == [("c.py", 0.6), ("a.py", 0.4), ("b.py", 0.2)]
    # RRF at w=0.5: a = .5/61 + .5/62 beats c = .5/63 + .5/61; b = .5/62 alone.
    rrf = fusers["rrf"](lexical, dense, lexical_weight=0.5)
    assert [h.chunk.path for h in rrf] == ["a.py", "c.py", "b.py"]
    assert rrf[0].score == pytest.approx(0.5 / 61 + 0.5 / 62)
    setting = Fusion(method="rrf", lexical_weight=1.0, dense_weight=1.0, rrf_k=60)
    equal = fusers["rrf"](lexical, dense, lexical_weight=lexical_share(lexical_weight=1.0, dense_weight=1.0))
    assert [h.chunk.chunk_id for h in setting.fuse(lexical, dense, 10)] == [h.chunk.chunk_id for h in equal]


def test_sweep_with_the_shared_minmax_fusion_finds_where_the_answer_leads() -> None:
    target, other = chunk("t.py", 1, 5), chunk("o.py", 1, 5)
    query = LabelledQuery("docstrings", "q", (Target("t.py", 1, 5),), "t.py:f")
    # Normalised, lexical gives other 1 and target 0, dense the reverse: the target leads while w < 0.5; at 0.5
    # the tie goes to the lower chunk id (o.py), so it is second.
    run = QueryRun(
        query,
        lexical=[ScoredChunk(other, 7.0), ScoredChunk(target, 3.0)],
        dense=[ScoredChunk(target, 0.8), ScoredChunk(other, 0.2)],
    )
    points = sweep([run], {"minmax": shared_fusions()["minmax"]}, weights=[0.0, 0.25, 0.5, 0.75, 1.0])
    assert [p.scores.mrr_at_10 for p in points] == [1.0, 1.0, 0.5, 0.5, 0.5]
    assert best_points(points)["minmax"].lexical_weight == 0.25


def test_function_corpus_holds_each_queried_function_alone() -> None:
    corpus = docstring_corpus({"shapes/geometry.py": GEOMETRY})
    files, queries = function_corpus(corpus, corpus.queries)
    assert files == {
        "shapes/geometry.py/circle_area.py": "def circle_area(radius):\n    return math.pi * radius ** 2\n",
        "shapes/geometry.py/Polygon.perimeter.py": "def perimeter(self, sides):\n    return sum(sides)\n",
    }
    assert [q.targets for q in queries] == [
        (Target("shapes/geometry.py/circle_area.py"),),
        (Target("shapes/geometry.py/Polygon.perimeter.py"),),
    ]
    assert [q.query for q in queries] == [q.query for q in corpus.queries]


def test_function_corpus_keeps_two_definitions_of_one_name_apart() -> None:
    text = (
        'import sys\n\nif sys.platform == \'win32\':\n    def home():\n        """Find the home directory here."""\n'
        '        return \'C:\'\nelse:\n    def home():\n        """Find the home directory there."""\n'
        "        return '/'\n"
    )
    corpus = docstring_corpus({"paths.py": text})
    files, queries = function_corpus(corpus, corpus.queries)
    assert files == {
        "paths.py/home.py": "def home():\n    return 'C:'\n",
        "paths.py/home@7.py": "def home():\n    return '/'\n",
    }
    assert [q.targets[0].path for q in queries] == ["paths.py/home.py", "paths.py/home@7.py"]
