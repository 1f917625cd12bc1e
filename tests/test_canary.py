"""Canary releases in the program (cloudfront-function router): the config, the preview's line, the
guards on the canary version, the record beside the pointer and the one store value that carries
both versions (docs/routers.md, "Canary releases")."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from edge_function.code import parse_canary, parse_store_value, viewer_response_code
from edge_lambda import layout
from scripts.offline.mockrun import ProgramError, RecordedResource
from tests.pulumi_scaffold import by_type, run_program
from tests.test_program import MOCK_BUCKET, V1, V2, _engine_lines, set_pointer

V3 = "20261129T120000Z"
FUNCTION = {"router": "cloudfront-function", "version": V1}
CANARY_PARAMETER = "/versioned-site/dev/canary"
HTML = layout.ManifestFile(1, "0" * 64, "text/html", "no-cache")


@pytest.fixture(autouse=True)
def moto() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def uploaded(moto: None) -> None:
    """V1 (pages as p.html) and V2 (pages as p/index.html) complete; V3 claimed but never sealed."""
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket=MOCK_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    pages = {V1: ("index.html", "about.html"), V2: ("index.html", "about/index.html")}
    for version, paths in pages.items():
        manifest = layout.Manifest(version, "2026-11-27T10:15:00+00:00", {path: HTML for path in paths})
        s3.put_object(Bucket=MOCK_BUCKET, Key=layout.manifest_key(version), Body=manifest.to_json().encode())
    s3.put_object(Bucket=MOCK_BUCKET, Key=layout.object_key(V3, "index.html"), Body=b"<h1>3</h1>")


def set_canary(record: str) -> None:
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name=CANARY_PARAMETER, Value=record, Type="String", Overwrite=True
    )


def named(registered: dict[str, RecordedResource], type_token: str, name: str) -> RecordedResource:
    (found,) = [r for r in by_type(registered, type_token) if r.name == name]
    return found


def test_a_canary_rides_in_the_store_value_with_its_own_routes(uploaded: None) -> None:
    set_pointer(V1)
    registered = run_program({**FUNCTION, "canaryVersion": V2, "canaryPercent": "5"})
    value = named(registered, "aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey", "site-live-version").props[
        "value"
    ]
    assert value == (f'{V1} {{"s":"h","x":{{}},"c":{{"v":"{V2}","p":5,"r":{{"s":"d","x":{{}}}}}}}}'), (
        "one value: the live version's routes, and the canary's inside them"
    )
    assert len(value.encode()) <= 1024
    version, routes = parse_store_value(value)
    canary = parse_canary(value)
    assert (version, routes is not None) == (V1, True)
    assert canary is not None and (canary.version, canary.percent) == (V2, 5)
    assert canary.routes is not None and canary.routes.style == "d"
    record = named(registered, "aws:ssm/parameter:Parameter", "site-canary").props
    assert (record["name"], record["insecureValue"]) == (CANARY_PARAMETER, f"{V2} 5")
    response = named(registered, "aws:cloudfront/function:Function", "site-viewer-response").props["code"]
    assert response == viewer_response_code(True, "7b6c3bb5-690e-51aa-b828-34058ec98bf0")


def test_without_a_canary_the_record_says_none_and_no_cookie_is_set(uploaded: None) -> None:
    registered = run_program(FUNCTION)
    assert named(registered, "aws:ssm/parameter:Parameter", "site-canary").props["insecureValue"] == "none"
    value = named(registered, "aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey", "site-live-version").props
    assert parse_canary(value["value"]) is None and '"c"' not in value["value"]
    response = named(registered, "aws:cloudfront/function:Function", "site-viewer-response").props["code"]
    assert response == viewer_response_code(False, "7b6c3bb5-690e-51aa-b828-34058ec98bf0")


@pytest.mark.parametrize(
    ("running", "config", "line"),
    [
        (None, {"canaryVersion": V2, "canaryPercent": "5"}, ("INFO", f"canary {V1} -> {V2} at 5%")),
        (f"{V2} 5", {"canaryVersion": V2, "canaryPercent": "25"}, ("INFO", f"canary {V1} -> {V2} at 25%")),
        (
            f"{V2} 5",
            {"canaryVersion": V2, "canaryPercent": "5"},
            ("INFO", f"canary unchanged: {V1} -> {V2} at 5%"),
        ),
        (f"{V2} 5", {"version": V2}, ("INFO", f"complete canary: {V2} is live for every viewer")),
        (f"{V2} 5", {}, ("WARNING", f"abort canary {V2}: every viewer back on {V1}")),
        ("none", {}, None),
    ],
)
def test_every_preview_says_what_it_does_to_the_canary(
    uploaded: None,
    caplog: pytest.LogCaptureFixture,
    running: str | None,
    config: dict[str, str],
    line: tuple[str, str] | None,
) -> None:
    set_pointer(V1)
    if running is not None:
        set_canary(running)
    caplog.set_level(logging.INFO)
    run_program({**FUNCTION, **config}, preview=True)
    lines = _engine_lines(caplog)
    release = ("INFO", f"release {V1} -> {V2}") if config.get("version") == V2 else None
    expected = [("INFO", f"live version unchanged: {V1}")] if release is None else [release]
    assert lines == expected + ([line] if line is not None else [])


def test_the_canary_version_must_be_complete(uploaded: None) -> None:
    set_pointer(V1)
    with pytest.raises(ProgramError, match=f"version {V3} has no complete upload"):
        run_program({**FUNCTION, "canaryVersion": V3, "canaryPercent": "5"}, preview=True)


def test_the_canary_version_must_be_shared(uploaded: None) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1")
    asset = layout.ManifestFile(1, "1" * 64, "text/javascript", "public, max-age=31536000, immutable")
    manifest = layout.Manifest(
        V3, "2026-11-29T12:00:00+00:00", {"index.html": HTML, "assets/app-1a2b3c4d.js": asset}
    )
    s3.put_object(Bucket=MOCK_BUCKET, Key=layout.manifest_key(V3), Body=manifest.to_json().encode())
    with pytest.raises(ProgramError, match="sitectl share-assets"):
        run_program({**FUNCTION, "canaryVersion": V3, "canaryPercent": "5"}, preview=True)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"version": V1, "canaryVersion": V2, "canaryPercent": "5"},
            "versioned-site:canaryVersion needs router cloudfront-function: the lambda-edge router "
            "rewrites after the cache lookup, under a cache key without the version, so one viewer's "
            "canary page would be cached for everyone. Switch with `pulumi config set router "
            'cloudfront-function` and `pulumi up` (README, "Choosing a router"), or `pulumi config rm '
            "canaryVersion`",
        ),
        (
            {**FUNCTION, "canaryVersion": V1, "canaryPercent": "5"},
            f"versioned-site:canaryVersion {V1} is the live version already: `pulumi config rm "
            "canaryVersion` (and canaryPercent)",
        ),
        (
            {**FUNCTION, "canaryVersion": V2, "canaryPercent": "100"},
            "versioned-site:canaryPercent is 100: set it to a whole number from 1 to 99 (to serve the "
            "canary to everyone, release it: set `version` to it and remove canaryVersion)",
        ),
        (
            {**FUNCTION, "canaryVersion": V2},
            "versioned-site:canaryPercent is 0: set it to a whole number from 1 to 99",
        ),
        (
            {**FUNCTION, "canaryPercent": "5"},
            "versioned-site:canaryPercent is 5 but no canaryVersion is set",
        ),
        (
            {"router": "cloudfront-function", "canaryVersion": V2, "canaryPercent": "5"},
            f"versioned-site:canaryVersion is {V2} but no version is live beside it: release it instead "
            f"(`sitectl release --version {V2}`)",
        ),
        (
            {**FUNCTION, "canaryVersion": "latest", "canaryPercent": "5"},
            "versioned-site:canaryVersion",
        ),
    ],
)
def test_a_canary_the_site_cannot_run_is_refused_before_anything_is_created(
    uploaded: None, config: dict[str, str], message: str
) -> None:
    with pytest.raises(ProgramError) as failure:
        run_program(config, preview=True)
    assert message in str(failure.value.__cause__ or failure.value)
    assert not boto3.client("ssm", region_name="us-east-1").describe_parameters()["Parameters"]


def test_both_versions_routes_must_fit_the_store_value(uploaded: None) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1")
    # 30 pages named the other way than the majority in each: each version fits alone, both do not.
    for version in (V1, V2):
        paths = [f"p{i}.html" for i in range(40)] + [f"guide/chapter-{i:03d}/index.html" for i in range(30)]
        manifest = layout.Manifest(
            version, "2026-11-27T10:15:00+00:00", {p: HTML for p in ["index.html", *paths]}
        )
        s3.put_object(Bucket=MOCK_BUCKET, Key=layout.manifest_key(version), Body=manifest.to_json().encode())
    assert run_program(FUNCTION)  # alone it fits
    with pytest.raises(ProgramError) as failure:
        run_program({**FUNCTION, "canaryVersion": V2, "canaryPercent": "5"})
    assert "routes need" in str(failure.value.__cause__ or failure.value)
    assert "1024" in str(failure.value.__cause__ or failure.value)


@pytest.mark.parametrize(
    "config",
    [{**FUNCTION, "canaryVersion": V3, "canaryPercent": "5"}, {**FUNCTION, "version": V3}],
    ids=["canary", "release"],
)
def test_a_version_stored_by_content_is_neither_canary_nor_live_on_the_function_router(
    uploaded: None, config: dict[str, str]
) -> None:
    """`sitectl upload --router lambda-edge` stores files at `_content/<sha256>/<path>`, which only the
    manifest names: the function, which reads the version's prefix, would answer 404 for them."""
    set_pointer(V1)
    by_content = layout.ManifestFile(1, "1" * 64, "text/html", "no-cache", "", layout.CONTENT_AREA)
    manifest = layout.Manifest(
        V3, "2026-11-29T12:00:00+00:00", {"index.html": HTML, "about.html": by_content}
    )
    boto3.client("s3", region_name="eu-west-1").put_object(
        Bucket=MOCK_BUCKET, Key=layout.manifest_key(V3), Body=manifest.to_json().encode()
    )
    with pytest.raises(ProgramError) as failure:
        run_program(config, preview=True)
    assert (
        f"version {V3} stores 1 files by content (first: about.html), which only the lambda-edge router "
        "serves; the cloudfront-function router reads them from the version's prefix. Upload the build "
        "again with `sitectl upload --router cloudfront-function` and release that version."
    ) in str(failure.value.__cause__ or failure.value)
