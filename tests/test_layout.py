from datetime import UTC, datetime

import pytest

from edge_lambda import layout


@pytest.mark.parametrize(
    "value",
    ["20261127T101500Z", "20261127T101500Z-1a2b3c4", "20261127T101500Z-" + "a" * 40],
)
def test_valid_versions(value: str) -> None:
    assert layout.validate_version(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "latest",
        "20261127T101500",
        "20261327T101500Z",
        "20261127T101500Z-XYZ1234",
        "20261127T101500Z-abc",
        "../20261127T101500Z",
        "20261127T101500Z/",
        None,
        20261127,
    ],
)
def test_invalid_versions_name_the_format(value: object) -> None:
    with pytest.raises(layout.InvalidVersionError, match="YYYYMMDDTHHMMSSZ"):
        layout.validate_version(value)


def test_new_version_is_utc_timestamp_with_optional_sha() -> None:
    now = datetime(2026, 11, 27, 10, 15, 0, tzinfo=UTC)
    assert layout.new_version(now) == "20261127T101500Z"
    assert layout.new_version(now, "1A2B3C4") == "20261127T101500Z-1a2b3c4"


def test_keys_and_manifest_round_trip() -> None:
    v = "20261127T101500Z"
    assert layout.object_key(v, "css/site.css") == "20261127T101500Z/css/site.css"
    assert layout.manifest_key(v) == "_manifests/20261127T101500Z.json"
    assert not layout.manifest_key(v).startswith(layout.version_prefix(v))
    assert layout.version_from_manifest_key(layout.manifest_key(v)) == v
    assert layout.version_from_manifest_key("_manifests/garbage.json") is None
    with pytest.raises(ValueError, match="relative"):
        layout.object_key(v, "../x")
    m = layout.Manifest(
        v, "2026-11-27T10:15:00+00:00", {"index.html": layout.ManifestFile(3, "ab", "text/html", "no-cache")}
    )
    assert layout.Manifest.from_json(m.to_json()) == m
    assert m.total_bytes == 3


def test_newest_first() -> None:
    assert layout.sort_newest_first(["20261127T101500Z", "20261128T000000Z", "20251127T101500Z"]) == [
        "20261128T000000Z",
        "20261127T101500Z",
        "20251127T101500Z",
    ]


def test_the_files_digest_is_the_one_claims_recorded_before() -> None:
    """The digest is computed without the indented JSON; it is still what claims recorded since the
    digest exists (the files part of `to_json`, read back, dumped with sorted keys)."""
    import hashlib
    import json

    from edge_lambda.site_rules import parse_rule_files

    files = {
        "index.html": layout.ManifestFile(3, "a" * 64, "text/html; charset=utf-8", "no-cache", "e" * 32),
        "assets/app.0123abcd.js": layout.ManifestFile(
            9, "b" * 64, "text/javascript", layout.IMMUTABLE_CACHE_CONTROL, "f" * 32, layout.SHARED_AREA
        ),
        "docs/ünïcode page.html": layout.ManifestFile(
            1, "c" * 64, "text/html", "no-cache", "", layout.CONTENT_AREA
        ),
    }
    rules = parse_rule_files("/old /new 301\n/blog/* /posts/:splat 200!\n", "/*\n  X-Frame-Options: DENY\n")
    for manifest in (
        layout.Manifest("20261127T100000Z", "2026-11-27T10:00:00+00:00", files),
        layout.Manifest("20261127T110000Z", "2026-11-27T11:00:00+00:00", files, rules),
    ):
        data = json.loads(manifest.to_json())
        part = {"files": data["files"], "rules": data["rules"]} if "rules" in data else data["files"]
        before = hashlib.sha256(json.dumps(part, sort_keys=True).encode()).hexdigest()
        assert manifest.files_digest() == before


def test_a_manifest_with_unusual_names_and_values_reads_back_as_written() -> None:
    from edge_lambda.site_rules import parse_rule_files

    files = {
        "index.html": layout.ManifestFile(3, "a" * 64, "text/html; charset=utf-8", "no-cache", "e" * 32),
        "assets/app.0123abcd.js": layout.ManifestFile(
            9, "b" * 64, "text/javascript", layout.IMMUTABLE_CACHE_CONTROL, "f" * 32, layout.SHARED_AREA
        ),
        'docs/ünïcode "quoted" \\ page\U0001f600.html': layout.ManifestFile(
            0, "c" * 64, "text/html", "no-cache", "", layout.CONTENT_AREA
        ),
        "a b.txt": layout.ManifestFile(12345678901, "d" * 64, "text/plain", "max-age=60", "9" * 32 + "-3"),
    }
    rules = parse_rule_files("/old /new 301\n/files /x 302\n", '/*\n  X-Frame-Options: "DENY"\n')
    for manifest in (
        layout.Manifest("20261127T100000Z", "2026-11-27T10:00:00+00:00", files),
        layout.Manifest("20261127T110000Z", "2026-11-27T11:00:00+00:00", files, rules),
        layout.Manifest("20261127T120000Z", "2026-11-27T12:00:00+00:00", {}, rules),
        layout.Manifest("20261127T130000Z", "2026-11-27T13:00:00+00:00"),
    ):
        assert layout.Manifest.from_json(manifest.to_json()) == manifest
