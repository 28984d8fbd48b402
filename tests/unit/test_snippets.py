"""Snippets on result cards: matched words whole, cut between words, and no OCR noise."""

import pytest

from src.snippets import SNIPPET_CHARS, reads_as_words, snippet

LONG = ("Grand opening of our new downtown bakery this weekend with warm bread, croissants and pastries baked "
        "fresh every single morning, and there is free parking for every customer until midnight on Saturday")


def text_of(pieces) -> str:
    return "".join(piece for piece, _ in pieces)


def marked(pieces) -> list[str]:
    return [piece for piece, match in pieces if match]


def test_the_second_matched_word_is_shown_whole():
    assert LONG.index("parking") + len("parking") > SNIPPET_CHARS  # past the plain window
    pieces = snippet(LONG, "opening parking")
    assert marked(pieces) == ["opening", "parking"]
    assert text_of(pieces).startswith("Grand opening") and text_of(pieces).endswith("…")


def test_a_matched_word_is_never_cut_at_the_window_edge():
    for width in range(20, 60):  # every place the window could end inside "croissants"
        pieces = snippet(LONG, "croissants", width=width)
        assert marked(pieces) == ["croissants"], width


def test_the_window_ends_and_starts_between_words():
    text = "x " * 30 + "unrelated words before the match " + LONG
    pieces = snippet(text, "pastries")
    shown = text_of(pieces).strip("…")
    words = set(text.split())
    assert all(word in words for word in shown.split()), shown  # no piece of a word at either end
    assert marked(pieces) == ["pastries"]


def test_a_text_without_the_query_words_shows_its_start_if_it_reads_as_words():
    pieces = snippet(LONG, "shoes")
    assert marked(pieces) == [] and text_of(pieces).startswith("Grand opening of our new downtown bakery")
    assert len(text_of(pieces)) <= SNIPPET_CHARS + 1 and text_of(pieces).endswith("…")


@pytest.mark.parametrize("noise", ["Ww LL", "x", "Il 1l |", "rrr", "~~ ~= ;:", "AA BB CC DD", "5O% 0FF 12 34"])
def test_ocr_noise_is_not_shown(noise):
    assert not reads_as_words(noise)
    assert snippet(noise, "") == () and snippet(noise, "sale") == ()


@pytest.mark.parametrize("words", ["SALE", "Fresh coffee", "50% OFF everything", "Café crème", "Ww LL Fresh Coffee"])
def test_words_are_shown(words):
    assert reads_as_words(words) and text_of(snippet(words, "")) == words


def test_noise_that_holds_a_query_word_is_shown_with_the_word_marked():
    pieces = snippet("Ww LL x SALE", "sale")
    assert marked(pieces) == ["SALE"]
