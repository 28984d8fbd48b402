"""The labelled real-ads dev set: relevance rules over scene tags and descriptions, the query file for
../shared/ads-sample, and the make target that evaluates it and the before/after comparison (both skip
where the ads are absent)."""

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from evaluation.queries import QUERY_TYPES, load_queries
from evaluation.rules import RuleError, parse_rule
from tests.helpers import ROOT

ADS_SAMPLE = Path(os.environ.get("ADS_SAMPLE", ROOT.parent / "shared" / "ads-sample"))
QUERIES = ROOT / "evaluation" / "ads_sample.yaml"

ROWS = [
    {"file": "1.jpg", "brand": "at&t", "scene_tags": "phone;hand;water-park",
     "description": "A woman running up hills"},
    {"file": "2.jpg", "brand": "a&w", "scene_tags": "burger;water", "description": "Free Wi-Fi and brunch"},
    {"file": "3.jpg", "brand": "", "scene_tags": "woman;shoes", "description": "Girls will be girls, running shoes"},
]


@pytest.mark.parametrize("rule, files", [
    ("scene_tags has water", {"2.jpg"}),  # an item, not part of one ("water-park")
    ("scene_tags has water-park", {"1.jpg"}),
    ("scene_tags~=water", {"1.jpg", "2.jpg"}),  # ~= still finds parts
    ("description has running", {"1.jpg", "3.jpg"}),
    ("description has run", set()),  # whole words: "run" is not in "running", "brunch" holds no "brunch"
    ("description has free wi-fi", {"2.jpg"}),  # a phrase
    ("description has woman running & scene_tags has hand", {"1.jpg"}),
    ("!brand= & description has running", {"1.jpg"}),  # "!": the test must not hold
    ("!scene_tags has water", {"1.jpg", "3.jpg"}),
    ("brand=at&t", {"1.jpg"}),  # "&" inside a value is the value's
    ("brand=a&w | brand=at&t & scene_tags has hand", {"1.jpg", "2.jpg"}),
])
def test_rules_over_tags_and_descriptions(rule, files):
    assert parse_rule(rule, list(ROWS[0])).select(ROWS) == files


@pytest.mark.parametrize("rule, message", [
    ("scene_tags has ", "would match every file"),
    ("tags has car", "names the field 'tags'"),
    ("scene_tags car", "is not FIELD=VALUE"),
])
def test_bad_tag_rules_say_what_is_wrong(rule, message):
    with pytest.raises(RuleError, match=message):
        parse_rule(rule, list(ROWS[0]))


def _need_sample():
    if not (ADS_SAMPLE / "labels.csv").is_file():
        pytest.skip(f"the labelled real ads are not at {ADS_SAMPLE} (set ADS_SAMPLE): dev set not checked")


def test_the_real_ads_query_set_covers_every_type_with_real_files():
    _need_sample()
    queries = load_queries(QUERIES, ADS_SAMPLE / "images", ADS_SAMPLE / "labels.csv")
    types = Counter(q.type for q in queries)
    assert len(queries) >= 30 and set(types) == set(QUERY_TYPES) and min(types.values()) >= 5
    assert all(q.relevant and all((ADS_SAMPLE / "images" / f).is_file() for f in q.relevant) for q in queries)
    # Not every ad is relevant to everything: a rule that selects most of the set measures nothing.
    assert max(len(q.relevant) for q in queries) <= 25


def test_the_make_target_skips_clearly_without_the_real_ads(tmp_path):
    done = subprocess.run(
        ["make", "-s", "evaluate-ads-sample", f"ADS_SAMPLE={tmp_path / 'absent'}"], cwd=ROOT,
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f"skipped: no labelled real ads at {tmp_path / 'absent'}/images" in done.stdout


def test_the_before_after_comparison_skips_clearly_without_the_real_ads(tmp_path):
    done = subprocess.run(
        [sys.executable, "benchmarks/ads_sample_compare.py", "--ads", str(tmp_path / "absent"),
         "--out", str(tmp_path / "compare.md")], cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f"skipped: no labelled real ads at {tmp_path / 'absent'}" in done.stdout
    assert not (tmp_path / "compare.md").exists()
