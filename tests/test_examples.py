"""The bundled examples and starters: documented bodies exactly, campaigns cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from linepress import Compiler, compile_file
from linepress.cli.main import main

ROOT = Path(__file__).parent.parent
DOC_BODIES = Path(__file__).parent / "data" / "doc-bodies"
CAMPAIGN = ROOT / "examples" / "campaign"
STARTERS = sorted((ROOT / "templates" / "starters").glob("*.yaml"))


@pytest.mark.parametrize("expected", sorted(DOC_BODIES.glob("*.json")), ids=lambda p: p.stem)
def test_each_documented_example_compiles_to_exactly_the_documented_body(expected: Path) -> None:
    result = Compiler(ROOT / "examples" / "doc" / f"{expected.stem}.yaml").compile()
    assert result.ok, result.problems
    documented = json.loads(expected.read_text())
    assert json.loads(result.json()) == documented
    # Same keys in the same order, not just equal dictionaries.
    assert (
        result.json() == json.dumps(documented, ensure_ascii=False, separators=(",", ":")).encode()
    )


def test_there_is_one_doc_example_per_documented_request() -> None:
    assert len(list(DOC_BODIES.glob("*.json"))) == 10
    assert {p.stem for p in (ROOT / "examples" / "doc").glob("*.yaml")} == {
        p.stem for p in DOC_BODIES.glob("*.json")
    }


@pytest.mark.parametrize("data", ["recipients.csv", "recipients.jsonl"])
def test_the_campaign_compiles_for_every_recipient(data: Path) -> None:
    results = list(compile_file(CAMPAIGN / "definition.yaml", CAMPAIGN / data))
    assert [r.problems for r in results if not r.ok] == []
    rows = sum(
        1 for line in (CAMPAIGN / data).read_text(encoding="utf-8-sig").splitlines() if line.strip()
    )
    # A CSV's header is not a recipient; a JSONL file has no header.
    assert len(results) >= (rows - 1 if str(data).endswith(".csv") else rows)
    assert [r.row for r in results] == list(range(1, len(results) + 1))
    bodies = [json.loads(r.json()) for r in results]
    assert all(b["message"]["template"]["type"] == "CAROUSEL" for b in bodies)
    assert len({b["to"] for b in bodies}) == len(bodies)


def test_the_campaign_uses_variables_in_every_kind_of_field() -> None:
    first, second = list(compile_file(CAMPAIGN / "definition.yaml", CAMPAIGN / "recipients.csv"))[
        :2
    ]
    a, b = first.body, second.body
    assert a is not None and b is not None
    assert a["to"] != b["to"]
    assert a["message"]["altText"] != b["message"]["altText"]
    columns_a = a["message"]["template"]["columns"]
    columns_b = b["message"]["template"]["columns"]
    for field in ("thumbnailImageUrl", "title", "text"):
        assert any(ca[field] != cb[field] for ca, cb in zip(columns_a, columns_b, strict=True)), (
            field
        )
    actions_a = [action for column in columns_a for action in column["actions"]]
    actions_b = [action for column in columns_b for action in column["actions"]]
    for kind, field in (("URI", "uri"), ("POSTBACK", "data"), ("MESSAGE", "text")):
        pairs = [(x, y) for x, y in zip(actions_a, actions_b, strict=True) if x["type"] == kind]
        assert any(x[field] != y[field] for x, y in pairs), kind
    assert any(x["label"] != y["label"] for x, y in zip(actions_a, actions_b, strict=True))


def test_the_store_location_example_converts_csv_numbers() -> None:
    results = list(compile_file(CAMPAIGN / "store-location.yaml", CAMPAIGN / "stores.csv"))
    assert all(r.ok for r in results), [r.problems for r in results]
    for result in results:
        assert result.body is not None
        assert isinstance(result.body["message"]["latitude"], float)
        assert isinstance(result.body["message"]["longitude"], float)


def test_compiling_the_campaign_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    outputs = []
    for name in ("a.jsonl", "b.jsonl"):
        args = [
            "compile",
            str(CAMPAIGN / "definition.yaml"),
            "--data",
            str(CAMPAIGN / "recipients.csv"),
        ]
        result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.stderr
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0].count(b"\n") == 25


@pytest.mark.parametrize("starter", STARTERS, ids=lambda p: p.stem)
def test_each_starter_compiles_for_a_recipient(starter: Path) -> None:
    compiler = Compiler(starter)
    for name in ("Ann", "佐藤 花子", "A" * 300, "👨‍👩‍👧‍👦" * 50, ""):
        result = compiler.compile({"to": "U1", "name": name})
        assert result.ok, (name, [p.format() for p in result.problems])


def test_there_is_a_starter_for_every_message_kind() -> None:
    assert [p.stem for p in STARTERS] == sorted(
        [
            "text",
            "image",
            "video",
            "audio",
            "location",
            "sticker",
            "imagemap",
            "buttons",
            "confirm",
            "carousel",
        ]
    )
