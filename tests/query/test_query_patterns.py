"""Source-URI patterns of get_frames_by_source: exact URIs, folder prefixes and globs."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vstore.datasets.query import compile_source_pattern, literal_prefix
from vstore.errors import InvalidArgumentError, InvalidQueryError

URIS = [
    "/home/folder/a.jpg",
    "/home/folder/sub/b.jpg",
    "/home/folder2/c.jpg",
    "/home/other/folder/d.jpg",
    "https://domain.com/folder/e.png",
    "https://domain.com/folderx/f.png",
    "s3://bucket/folder/g.jpg",
    "s3://bucket/folder/deep/h.jpg",
    "s3://bucket/other/i.jpg",
    "s3://bucket2/folder/j.jpg",
]


def matching(pattern: str) -> list[str]:
    match = compile_source_pattern(pattern)
    return [uri for uri in URIS if match(uri)]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        # The four examples of the seed docstring.
        ("/home/folder/", ["/home/folder/a.jpg", "/home/folder/sub/b.jpg"]),
        ("/folder/*", []),  # a glob is anchored: "/folder/" is not where these URIs start
        ("https://domain.com/folder/*", ["https://domain.com/folder/e.png"]),
        ("s3://bucket/folder/*", ["s3://bucket/folder/g.jpg", "s3://bucket/folder/deep/h.jpg"]),
        # Folder prefixes and exact URIs.
        ("s3://bucket/folder/", ["s3://bucket/folder/g.jpg", "s3://bucket/folder/deep/h.jpg"]),
        ("s3://bucket/", [u for u in URIS if u.startswith("s3://bucket/")]),
        ("s3://bucket/folder/g.jpg", ["s3://bucket/folder/g.jpg"]),
        ("s3://bucket/folder", []),  # no trailing slash, no wildcard: exact only
        # Globs.
        ("*.png", ["https://domain.com/folder/e.png", "https://domain.com/folderx/f.png"]),
        ("*/folder/*", [u for u in URIS if "/folder/" in u]),
        ("s3://bucket?/folder/*", ["s3://bucket2/folder/j.jpg"]),
        ("s3://bucket/folder/?.jpg", ["s3://bucket/folder/g.jpg"]),
        ("s3://bucket/**", [u for u in URIS if u.startswith("s3://bucket/")]),
        ("/home/*/*.jpg", [u for u in URIS if u.startswith("/home/")]),
        ("*", URIS),
    ],
)
def test_pattern_selects(pattern: str, expected: list[str]) -> None:
    assert matching(pattern) == expected


def test_star_crosses_folders_like_a_lucene_wildcard() -> None:
    match = compile_source_pattern("s3://bucket/folder/*")
    assert match("s3://bucket/folder/a/b/c/d.jpg")


def test_double_star_means_the_same_as_star() -> None:
    for uri in URIS:
        assert compile_source_pattern("s3://*/**.jpg")(uri) == compile_source_pattern(
            "s3://*/*.jpg"
        )(uri)


def test_matching_is_case_sensitive() -> None:
    assert not compile_source_pattern("S3://bucket/folder/")("s3://bucket/folder/a.jpg")
    assert not compile_source_pattern("*.JPG")("/a.jpg")


def test_escaped_wildcards_are_literal() -> None:
    match = compile_source_pattern(r"https://x.com/img.jpg\?sig=*")
    assert match("https://x.com/img.jpg?sig=abc")
    assert not match("https://x.com/img.jpgXsig=abc")
    star = compile_source_pattern(r"/data/\*.txt")
    assert star.kind == "exact"
    assert star("/data/*.txt") and not star("/data/a.txt")


def test_other_backslashes_stay_literal() -> None:
    assert compile_source_pattern(r"C:\data\*")(r"C:\data\img.png") is False
    assert compile_source_pattern("C:\\data\\x")("C:\\data\\x")


def test_kind_and_prefix_tell_a_caller_how_to_narrow_a_scan() -> None:
    exact = compile_source_pattern("s3://b/f/a.jpg")
    folder = compile_source_pattern("s3://b/f/")
    glob = compile_source_pattern("s3://b/f/*.jpg")
    assert (exact.kind, exact.prefix) == ("exact", "s3://b/f/a.jpg")
    assert (folder.kind, folder.prefix) == ("prefix", "s3://b/f/")
    assert (glob.kind, glob.prefix) == ("glob", "s3://b/f/")


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("s3://bucket/folder/*", "s3://bucket/folder/"),
        ("/home/folder/", "/home/folder/"),
        ("*.jpg", ""),
        ("s3://b?cket/x", "s3://b"),
        (r"/a\*b/*", "/a*b/"),
        ("https://domain.com/folder/e.png", "https://domain.com/folder/e.png"),
    ],
)
def test_literal_prefix(pattern: str, prefix: str) -> None:
    assert literal_prefix(pattern) == prefix


def test_non_strings_never_match() -> None:
    assert compile_source_pattern("*")(None) is False  # type: ignore[arg-type]


def test_empty_pattern_is_an_invalid_query() -> None:
    with pytest.raises(InvalidQueryError) as caught:
        compile_source_pattern("")
    assert caught.value.position == 0
    with pytest.raises(InvalidQueryError):
        literal_prefix("")


def test_non_string_pattern_is_a_usage_error() -> None:
    with pytest.raises(InvalidArgumentError):
        compile_source_pattern(["s3://b/"])  # type: ignore[arg-type]


def test_hostile_pattern_stays_fast() -> None:
    # A backtracking regex takes exponential time on this; the segment matcher is linear-ish.
    match = compile_source_pattern("*a*a*a*a*a*a*a*a*a*a*a*b")
    started = time.perf_counter()
    assert not match("a" * 20_000)
    assert time.perf_counter() - started < 1.0


def reference_glob(pattern: str, text: str) -> bool:
    """Independent model: translate to a regex (no escapes in the generated patterns)."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(body, text, flags=re.DOTALL) is not None


GLOB_ALPHABET = st.sampled_from(list("ab/.*?"))
TEXT_ALPHABET = st.sampled_from(list("ab/.?*"))


@given(
    st.lists(GLOB_ALPHABET, min_size=1, max_size=10).map("".join),
    st.lists(TEXT_ALPHABET, max_size=12).map("".join),
)
def test_globs_agree_with_a_regex_model(pattern: str, text: str) -> None:
    compiled = compile_source_pattern(pattern)
    if compiled.kind == "glob":
        assert compiled(text) == reference_glob(pattern, text)
    elif compiled.kind == "prefix":
        assert compiled(text) == text.startswith(pattern)
    else:
        assert compiled(text) == (text == pattern)


@given(
    st.lists(GLOB_ALPHABET, min_size=1, max_size=10).map("".join),
    st.lists(TEXT_ALPHABET, max_size=12).map("".join),
)
def test_every_match_starts_with_the_literal_prefix(pattern: str, text: str) -> None:
    if compile_source_pattern(pattern)(text):
        assert text.startswith(literal_prefix(pattern))
