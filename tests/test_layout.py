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
