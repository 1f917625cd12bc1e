"""`sitectl verify`: does the URL serve version V, and does the site work?

"Serves V" is read off each response: every object of a version is stored with the user metadata
`layout.VERSION_METADATA_KEY`, which S3 returns as `layout.VERSION_HEADER` and CloudFront passes on to
viewers. "Works" is: the root page answers 200, each smoke path answers its expected status, and every
same-origin asset the root page references (scripts, module preloads, preloads, stylesheets, icons,
images) answers 200 from V with the Content-Type V's manifest records (a file V stores in the shared
area, and with the cloudfront-function router any fingerprinted file, may be marked with the version
that stored it there, and must have the bytes V's manifest records).

Requests carry no cache-busting query: what CloudFront's cache holds is what viewers get, and that is
what must be right. `release --verify` and `rollback --verify` use `release_and_verify` below: wait for
the CloudFront invalidation, poll the check until a deadline, and on failure release the previously
live version once, through the same path.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import click

from edge_function import CLOUDFRONT_FUNCTION
from edge_function.viewer_bucket import SPLIT_COOKIE
from edge_lambda import layout
from edge_lambda.routes import Redirect, RouteSettings, VersionRoutes, route
from edge_lambda.site_rules import REDIRECTS_FILE, file_answers
from scripts.commands import http_client
from scripts.commands.errors import RefusedError, SitectlError, aws_errors
from scripts.commands.http_client import Response as Response
from scripts.commands.options import Output, did_you_mean, json_output, version_option
from scripts.commands.site import Site, http_url, is_released, missing_pointer, site_options
from scripts.versionstore import store as storage

DEFAULT_TIMEOUT_SECONDS = 10.0
# Enough to check a typical page's assets in a few round trips without looking like a flood.
MAX_CONCURRENT_REQUESTS = 8
# CloudFront usually completes an invalidation in a minute or two; AWS documents no upper bound.
DEFAULT_INVALIDATION_TIMEOUT_SECONDS = 900.0
INVALIDATION_POLL_SECONDS = 10.0
DEFAULT_VERIFY_TIMEOUT_SECONDS = 120.0
VERIFY_POLL_SECONDS = 5.0
INVALIDATION_COMPLETED = "Completed"
# Every stored object's content hash (layout.SHA256_METADATA_KEY), as S3 and CloudFront pass it on.
_SHA256_HEADER = f"x-amz-meta-{layout.SHA256_METADATA_KEY}"

# `<link rel=...>` values whose target a browser fetches while loading the page.
_FETCHED_LINK_RELS = frozenset({"stylesheet", "modulepreload", "preload", "icon", "apple-touch-icon"})


def fetch(url: str, timeout: float) -> Response:
    """GET `url` as a viewer would (no cache-busting), following no redirect, within `timeout` seconds
    in all; never raises for what the site answers (`http_client`)."""
    return http_client.get(url, timeout, headers={"User-Agent": "sitectl-verify"})


# The cookie with which a request asks the cloudfront-function router for the running canary, whatever
# its viewer's bucket (edge_function/viewer_bucket.py; ignored while no canary runs).
CANARY_COOKIE = f"{SPLIT_COOKIE}=canary"


def fetch_as_canary(url: str, timeout: float) -> Response:
    """`fetch` as the canary's viewers get the site: with `CANARY_COOKIE`."""
    return http_client.get(url, timeout, headers={"User-Agent": "sitectl-verify", "Cookie": CANARY_COOKIE})


class _References(HTMLParser):
    """The URLs a browser fetches while loading a page, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "script" and values.get("src"):
            self.found.append(values["src"])
        elif tag == "link" and values.get("href"):
            if _FETCHED_LINK_RELS & set(values.get("rel", "").lower().split()):
                self.found.append(values["href"])
        elif tag in ("img", "source"):
            if values.get("src"):
                self.found.append(values["src"])
            # srcset: comma-separated candidates, each a URL then an optional descriptor.
            for candidate in values.get("srcset", "").split(","):
                if candidate.split():
                    self.found.append(candidate.split()[0])


def referenced_urls(html: str) -> list[str]:
    """The assets a page references, as written, without repeats."""
    parser = _References()
    parser.feed(html)
    parser.close()
    return list(dict.fromkeys(url.strip() for url in parser.found if url.strip()))


@dataclass(frozen=True)
class SmokePath:
    path: str
    status: int = 200


def parse_smoke_path(text: str) -> SmokePath:
    """`/about/` (expects 200) or `/old-page=301`; RefusedError for anything else."""
    path, _, status = text.partition("=")
    if not path.startswith("/"):
        raise RefusedError(f"--path {text!r} must start with '/', e.g. --path /about/ or --path /gone=404")
    if status and not (status.isdigit() and 100 <= int(status) <= 599):
        raise RefusedError(f"--path {text!r}: the expected status after '=' must be 100-599")
    return SmokePath(path, int(status) if status else 200)


@dataclass
class VerifyReport:
    url: str
    version: str
    served: str | None = None  # the version marker of the root page
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what passed or was skipped, for -v
    checks: list[dict[str, object]] = field(default_factory=list)  # each request and its result, for --json

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Target:
    url: str
    label: str  # the path (and query) as requested
    expected_status: int
    manifest_path: str | None  # the file of the version it should come from, when known
    referenced: bool
    expected_location: str | None = None  # a redirect rule's target (absolute, resolved)
    rule: str = ""  # where that rule is written (`_redirects:3`), for messages


def _manifest_path(path: str, version: str, manifest: layout.Manifest) -> str | None:
    # The file the edge serves for this path (without SPA fallback, with the default trailing-slash
    # setting; a redirect names no file).
    target = route(path or "/", VersionRoutes.from_paths(manifest.files), RouteSettings())
    if isinstance(target, Redirect):
        return None
    relative = unquote(target[1:])
    return relative if relative in manifest.files else None


def _shared_copy(target: _Target, answer: Response, manifest: layout.Manifest) -> bool:
    """A fingerprinted file served from the shared area with the bytes `manifest` records: the
    cloudfront-function router serves those from there, marked with the version that published them."""
    path = target.manifest_path
    if path is None or not (manifest.files[path].fingerprinted or manifest.files[path].stored_once):
        return False
    return answer.headers.get(_SHA256_HEADER) == manifest.files[path].sha256


def _stored_shared(target: _Target, manifest: layout.Manifest) -> bool:
    """A file the version stores once, in the shared or the content area, marked with the version that
    stored it there."""
    return target.manifest_path is not None and manifest.files[target.manifest_path].stored_once


def _check(
    target: _Target, answer: Response, version: str, manifest: layout.Manifest, shared_assets: bool
) -> list[str]:
    label = target.label
    if answer.error is not None:
        return [f"{label}: no answer: {answer.error}"]
    if answer.status != target.expected_status:
        hint = ""
        if target.referenced and target.manifest_path is None:
            hint = f" (referenced by the root page; not in the manifest of {version})"
        if target.rule:
            hint = f" ({target.rule} of {version})"
        return [f"{label}: HTTP {answer.status}, expected {target.expected_status}{hint}"]
    if target.expected_location is not None:
        location = answer.headers.get("location")
        served = resolve(target.url, location) if location else None
        if served != target.expected_location:
            return [
                f"{label}: Location {location!r}, expected {target.expected_location!r} "
                f"({target.rule} of {version})"
            ]
    if answer.status != 200:
        return []
    problems = []
    marker = answer.headers.get(layout.VERSION_HEADER)
    if marker is None:
        problems.append(
            f"{label}: no {layout.VERSION_HEADER} header, so which version served it is unknown "
            "(an object uploaded without the version marker, or a CDN dropping the header)"
        )
    elif marker != version and not (
        (shared_assets or _stored_shared(target, manifest)) and _shared_copy(target, answer, manifest)
    ):
        problems.append(f"{label}: serves version {marker}, expected {version}")
    if target.manifest_path is not None:
        recorded = manifest.files[target.manifest_path].content_type
        served = answer.headers.get("content-type")
        if served != recorded:
            problems.append(
                f"{label}: Content-Type {served!r}, the manifest of {version} records {recorded!r}"
            )
    return problems


def verify_site(
    url: str,
    version: str,
    manifest: layout.Manifest,
    smoke_paths: Sequence[SmokePath] = (),
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    fetcher: Callable[[str, float], Response] = fetch,
    shared_assets: bool = False,
) -> VerifyReport:
    """Check that `url` serves `version` (described by `manifest`) and works; never raises for what
    the site answers, every problem is a line of the report. With `shared_assets` (the
    cloudfront-function router), a fingerprinted file may come from the shared area: marked with the
    version that published it, it must carry the sha256 `manifest` records."""
    root_url = url.rstrip("/") + "/"
    origin = urlsplit(root_url)[:2]
    report = VerifyReport(url=root_url, version=version)
    root = _Target(root_url, "/", 200, _manifest_path("/", version, manifest), referenced=False)
    root_answer = fetcher(root_url, timeout)
    report.served = root_answer.headers.get(layout.VERSION_HEADER)
    root_problems = _check(root, root_answer, version, manifest, shared_assets)
    report.problems += root_problems
    report.checks.append(_check_record(root, root_answer, root_problems))

    targets: list[_Target] = rule_targets(root_url, manifest)
    for smoke in smoke_paths:
        target_url = resolve(root_url, smoke.path)
        assert target_url is not None  # a smoke path starts with '/'
        path = urlsplit(target_url).path
        targets.append(
            _Target(
                target_url, _label(target_url), smoke.status, _manifest_path(path, version, manifest), False
            )
        )
    if root_answer.status == 200:
        if not root_answer.complete:
            report.notes.append(
                f"searched the first {len(root_answer.body)} bytes of / for assets: the page is longer"
            )
        html = root_answer.body.decode("utf-8", errors="replace")
        for reference in referenced_urls(html):
            target_url = resolve(root_url, reference)
            if target_url is None:
                shown = http_client.one_line(repr(reference))
                report.problems.append(f"the root page references {shown}, which is not a valid URL")
                continue
            if urlsplit(target_url)[:2] != origin:
                shown = http_client.one_line(reference)
                report.notes.append(f"skipped {shown}: not on {origin[0]}://{origin[1]}")
                continue
            path = urlsplit(target_url).path
            targets.append(
                _Target(target_url, _label(target_url), 200, _manifest_path(path, version, manifest), True)
            )
    targets = list({target.url: target for target in targets}.values())

    with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_REQUESTS) as pool:
        answers = list(pool.map(lambda target: fetcher(target.url, timeout), targets))
    for target, answer in zip(targets, answers, strict=True):
        problems = _check(target, answer, version, manifest, shared_assets)
        report.problems += problems
        report.checks.append(_check_record(target, answer, problems))
        if not problems:
            report.notes.append(
                f"ok {target.label}: {answer.status} {answer.headers.get('content-type', '')}"
            )
    return report


def rule_targets(root_url: str, manifest: layout.Manifest) -> list[_Target]:
    """Each redirect rule of the version's `_redirects` with a literal `from` (no splat, no placeholder)
    that applies (forced, or no file answers it): its status and Location, so that a release that
    drops a redirect fails verification. A `--path` for the same path replaces it."""
    files = manifest.files
    targets = []
    for rule in manifest.rules.literal_redirects():
        path = rule.source.text
        if not rule.force and file_answers(unquote(path), files):
            continue
        url = resolve(root_url, path)
        location = resolve(url, rule.target({})) if url is not None else None
        if url is None or location is None:
            continue
        targets.append(
            _Target(url, _label(url), rule.status, None, False, location, f"{REDIRECTS_FILE}:{rule.line}")
        )
    return targets


def resolve(base: str, reference: str) -> str | None:
    """`reference` resolved against `base` and encoded as a browser requests it (spaces, non-ASCII
    characters and the like percent-encoded, the fragment left behind); None when it is no URL."""
    try:
        joined = urlsplit(urljoin(base, http_client.browser_url(reference)))
        joined.port  # noqa: B018 - raises ValueError for a port that is not a number in 0-65535
    except ValueError:
        return None
    return urlunsplit((joined.scheme, joined.netloc, joined.path, joined.query, ""))


def _check_record(target: _Target, answer: Response, problems: list[str]) -> dict[str, object]:
    """One check as `verify --json` reports it."""
    return {
        "path": target.label,
        "expected_status": target.expected_status,
        "status": answer.status if answer.error is None else None,
        "served_version": answer.headers.get(layout.VERSION_HEADER),
        "content_type": answer.headers.get("content-type"),
        "ok": not problems,
        "problems": problems,
    }


def _count(problems: list[str]) -> str:
    return f"{len(problems)} problem{'' if len(problems) == 1 else 's'}"


def _label(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


# --- release --verify -------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyPolicy:
    """How long to wait, and on what clock (tests pass a ManualClock)."""

    invalidation_timeout: float = DEFAULT_INVALIDATION_TIMEOUT_SECONDS
    verify_timeout: float = DEFAULT_VERIFY_TIMEOUT_SECONDS
    invalidation_poll: float = INVALIDATION_POLL_SECONDS
    verify_poll: float = VERIFY_POLL_SECONDS
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def wait_for_invalidations(
    cloudfront: Any,
    distribution_id: str,
    policy: VerifyPolicy,
    on_output: Callable[[str], Any],
    seen: list[str] | None = None,
) -> float:
    """Wait until no invalidation of the distribution is in progress; the seconds it took.

    The switch creates its invalidation during `up` and records its id only in its own state (a
    targeted `up` is not a reliable way to refresh stack outputs), so this waits for every
    invalidation in progress right after `up`, which includes the switch's. The first page of
    ListInvalidations holds the newest ones.
    """
    started = policy.clock()
    listed = cloudfront.list_invalidations(DistributionId=distribution_id)["InvalidationList"]
    pending = [item["Id"] for item in listed.get("Items", []) if item["Status"] != INVALIDATION_COMPLETED]
    if seen is not None:
        seen += pending
    while pending:
        for invalidation_id in list(pending):
            answer = cloudfront.get_invalidation(DistributionId=distribution_id, Id=invalidation_id)
            if answer["Invalidation"]["Status"] == INVALIDATION_COMPLETED:
                pending.remove(invalidation_id)
        elapsed = policy.clock() - started
        if not pending:
            break
        if elapsed >= policy.invalidation_timeout:
            raise SitectlError(
                f"CloudFront invalidation {', '.join(pending)} of {distribution_id} still in progress after "
                f"{elapsed:.0f} s: check it with `aws cloudfront get-invalidation`, then run `sitectl verify`"
            )
        on_output(f"waiting for CloudFront invalidation {', '.join(pending)} ({elapsed:.0f} s)")
        policy.sleep(min(policy.invalidation_poll, policy.invalidation_timeout - elapsed))
    elapsed = policy.clock() - started
    on_output(f"CloudFront invalidation complete ({elapsed:.0f} s)")
    return elapsed


def poll_verify(
    verify: Callable[[str], VerifyReport], version: str, policy: VerifyPolicy, on_output: Callable[[str], Any]
) -> VerifyReport:
    """Verify `version` until it passes or `policy.verify_timeout` has passed; the last report."""
    deadline = policy.clock() + policy.verify_timeout
    said: list[str] = []
    while True:
        report = verify(version)
        remaining = deadline - policy.clock()
        if report.ok or remaining <= 0:
            return report
        if report.problems != said:  # say what changed, not every poll
            said = report.problems
            more = f" (and {len(said) - 1} more)" if len(said) > 1 else ""
            on_output(f"not yet: {said[0]}{more}; checking again for up to {remaining:.0f} s")
        policy.sleep(min(policy.verify_poll, remaining))


Release = Callable[[str, str], Any]
"""(version, action) -> None: `release_version` on the stack, e.g. action "release" or "rollback to"."""


def release_and_verify(
    version: str,
    live_before: str | None,
    *,
    release: Release,
    wait_for_cache: Callable[[], Any],
    verify: Callable[[str], VerifyReport],
    policy: VerifyPolicy,
    on_output: Callable[[str], Any],
    action: str = "release",
) -> VerifyReport:
    """Release `version`, wait for the cache, verify; on failure release `live_before` once the same
    way and verify it. Returns the passing report; raises SitectlError (exit 1) naming what failed
    and what is live now. Never rolls back to a version that failed verification, never twice."""
    fallback_ok = False
    if is_released(live_before) and live_before != version:
        assert live_before is not None
        # Checked while it is still live: the only moment it can be checked through the URL.
        before = verify(live_before)
        fallback_ok = before.ok
        state = "passes" if before.ok else f"fails ({_count(before.problems)})"
        on_output(f"live now: {live_before}, which {state} verification")
        for problem in before.problems:
            on_output(f"  {problem}")

    started = policy.clock()
    release(version, action)
    try:
        wait_for_cache()
    except SitectlError as error:
        # Not knowing what viewers get is no reason to roll back a version that may be fine.
        raise SitectlError(f"{version} is live but not verified: {error.message}") from error
    report = poll_verify(verify, version, policy, on_output)
    elapsed = policy.clock() - started
    if report.ok:
        on_output(f"verified: {report.url} serves {version}, working ({elapsed:.1f} s after the {action})")
        return report
    on_output(f"FAILED: {version} fails verification {elapsed:.1f} s after the {action}:")
    for problem in report.problems:
        on_output(f"  {problem}")
    failed = f"{version} failed verification ({_count(report.problems)})"
    if not is_released(live_before) or live_before == version:
        raise SitectlError(f"{failed}; no earlier version to roll back to: live now {version}, needs a human")
    assert live_before is not None
    if not fallback_ok:
        raise SitectlError(
            f"{failed}; not rolling back to {live_before}, which failed verification before the {action}: "
            f"live now {version}, the site needs a human"
        )
    on_output(f"rolling back to {live_before}")
    rollback_started = policy.clock()
    try:
        release(live_before, "rollback to")
        wait_for_cache()
    except SitectlError as error:
        raise SitectlError(f"{failed}; the rollback to {live_before} failed: {error.message}") from error
    back = poll_verify(verify, live_before, policy, on_output)
    took = policy.clock() - rollback_started
    if not back.ok:
        for problem in back.problems:
            on_output(f"  {problem}")
        raise SitectlError(
            f"{failed}; rolled back to {live_before}, which now fails verification too: "
            f"live now {live_before}, the site needs a human"
        )
    on_output(
        f"rolled back: {back.url} serves {live_before}, working ({took:.1f} s after the rollback began)"
    )
    raise SitectlError(f"{failed}; rolled back: live now {live_before}, which passes verification")


# --- command line -----------------------------------------------------------------------------


def version_manifest(site: Site, version: str) -> layout.Manifest:
    """The manifest of `version`; RefusedError when it has none."""
    bucket = site.bucket()
    manifest = storage.read_manifest(site.s3(), bucket, version)
    if manifest is None:
        suggestion = did_you_mean(version, storage.complete_versions(site.s3(), bucket))
        raise RefusedError(
            f"version {version} has no manifest in {bucket}: only complete versions can be verified"
            + suggestion
        )
    return manifest


def site_url(site: Site) -> str:
    url = site.url()
    if not url:
        raise RefusedError("no URL to verify: pass --url (or set SITE_URL), or name the stack with --stack")
    return http_url(url)


def site_verifier(
    site: Site, smoke_paths: Sequence[SmokePath], timeout: float, canary: str | None = None
) -> Callable[[str], VerifyReport]:
    """version -> its report, against the site's URL, with each manifest read once; the version
    `canary` is requested as its viewers get it (`CANARY_COOKIE`)."""
    url = site_url(site)
    manifests: dict[str, layout.Manifest] = {}
    # The stack's `router` output; without a stack, Lambda@Edge's rule: every file from the version.
    shared_assets = site.has_stack and site.outputs().get("router") == CLOUDFRONT_FUNCTION

    def verify(version: str) -> VerifyReport:
        if version not in manifests:
            manifests[version] = version_manifest(site, version)
        return verify_site(
            url,
            version,
            manifests[version],
            smoke_paths,
            timeout=timeout,
            shared_assets=shared_assets,
            fetcher=fetch_as_canary if version == canary else fetch,
        )

    return verify


@dataclass(frozen=True)
class VerifyOptions:
    """`release --verify` / `rollback --verify`: what to check and how long to wait."""

    paths: tuple[str, ...]
    timeout: float
    verify_timeout: float
    invalidation_timeout: float


@dataclass(frozen=True)
class PreparedVerification:
    """Everything resolved before the release changes anything: bad input is refused (exit 2) first."""

    live_before: str | None
    verify: Callable[[str], VerifyReport]
    wait_for_cache: Callable[[], Any]
    policy: VerifyPolicy
    timings: dict[str, Any] = field(default_factory=dict)  # the invalidations waited for, and how long

    def run(
        self, version: str, release: Release, action: str, on_output: Callable[[str], Any]
    ) -> VerifyReport:
        return release_and_verify(
            version,
            self.live_before,
            release=release,
            wait_for_cache=self.wait_for_cache,
            verify=self.verify,
            policy=self.policy,
            on_output=on_output,
            action=action,
        )


def prepare_verification(
    site: Site,
    options: VerifyOptions,
    dry_run: bool,
    on_output: Callable[[str], Any],
    canary: str | None = None,
) -> PreparedVerification:
    """Refuse bad input (exit 2) before anything changes; `canary`: the version checked as a canary's
    viewers get it (`site_verifier`)."""
    if dry_run:
        raise RefusedError(
            "--verify needs a real release: drop --dry-run (a preview changes nothing to verify)"
        )
    smoke_paths = [parse_smoke_path(path) for path in options.paths]
    distribution_id = site.outputs().get("distributionId")
    if not distribution_id:
        raise RefusedError(
            f"stack {site.stack_name!r} has no distributionId output, needed to wait for the invalidation: "
            "run a full `pulumi up` of the stack once"
        )
    policy = VerifyPolicy(
        invalidation_timeout=options.invalidation_timeout, verify_timeout=options.verify_timeout
    )
    cloudfront = site.deps.cloudfront_factory()
    timings: dict[str, Any] = {"invalidations": [], "invalidation_seconds": 0.0}

    def wait_for_cache() -> None:
        elapsed = wait_for_invalidations(
            cloudfront, str(distribution_id), policy, on_output, seen=timings["invalidations"]
        )
        timings["invalidation_seconds"] += round(elapsed, 3)

    return PreparedVerification(
        live_before=site.live_version(),
        verify=site_verifier(site, smoke_paths, options.timeout, canary),
        wait_for_cache=wait_for_cache,
        policy=policy,
        timings=timings,
    )


def verify_release_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The --verify options of release and rollback, passed on as `verification: VerifyOptions | None`."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        options = VerifyOptions(
            paths=kwargs.pop("paths"),
            timeout=kwargs.pop("timeout"),
            verify_timeout=kwargs.pop("verify_timeout"),
            invalidation_timeout=kwargs.pop("invalidation_timeout"),
        )
        verify = kwargs.pop("verify")
        if not verify and options.paths:
            raise RefusedError("--path is a check of --verify: add --verify")
        return function(*args, verification=options if verify else None, **kwargs)

    decorated: Callable[..., Any] = wrapper
    decorators: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        click.option(
            "--verify",
            is_flag=True,
            help="After `up`, wait for the invalidation and verify the URL (as `sitectl verify`); on "
            "failure release the previously live version and exit 1.",
        ),
        smoke_path_option,
        timeout_option,
        click.option(
            "--verify-timeout",
            type=click.FloatRange(0),
            default=DEFAULT_VERIFY_TIMEOUT_SECONDS,
            show_default=True,
            help="Seconds to keep re-checking after the invalidation before declaring failure.",
        ),
        click.option(
            "--invalidation-timeout",
            type=click.FloatRange(0),
            default=DEFAULT_INVALIDATION_TIMEOUT_SECONDS,
            show_default=True,
            help="Seconds to wait for the CloudFront invalidation to complete.",
        ),
    ]
    for decorate in reversed(decorators):
        decorated = decorate(decorated)
    return decorated


def smoke_path_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--path",
        "paths",
        multiple=True,
        help="A smoke path to check besides the root page: /about/ (expects 200 from the version) or "
        "/gone=404. Repeatable.",
    )(function)


def timeout_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--timeout",
        type=click.FloatRange(0.1, 120),
        default=DEFAULT_TIMEOUT_SECONDS,
        show_default=True,
        help="Seconds each HTTP request may take in all (connect, headers, body).",
    )(function)


@click.command("verify")
@json_output
@version_option("The version the URL must serve (default: the pointer's).")
@smoke_path_option
@timeout_option
@click.option(
    "--wait",
    type=click.FloatRange(0),
    default=0,
    show_default=True,
    help="Keep re-checking for up to this many seconds until it passes (e.g. after `pulumi up`, while "
    "the CloudFront invalidation completes).",
)
@click.option("-v", "--verbose", is_flag=True, help="Also list what passed and what was skipped.")
@click.option(
    "--canary",
    is_flag=True,
    help=f"Check the running canary as its viewers get it (each request sends `Cookie: {CANARY_COOKIE}`); "
    "default version: the canary's.",
)
@site_options()
@aws_errors
def verify_command(
    version: str | None,
    paths: tuple[str, ...],
    timeout: float,
    wait: float,
    verbose: bool,
    canary: bool,
    site: Site,
    output: Output,
) -> None:
    """Check that the URL serves --version V (default: the pointer's) and works: root page, smoke
    paths, and every same-origin asset the root page references answer as expected, from that
    version, with the Content-Type its manifest records. Exit 0 when all pass, 1 with one line per
    problem, 2 for bad input."""
    smoke_paths = [parse_smoke_path(path) for path in paths]
    if canary and version is None:
        running = site.canary()
        if running is None:
            where = f"stack {site.stack_name!r}" if site.has_stack else "this site"
            raise RefusedError(
                f"no canary runs on {where} (its record beside the pointer says none, or there is no "
                "pointer to read: pass --stack or --parameter): start one with `sitectl canary VERSION "
                "--percent P`, or name the version with --version"
            )
        version = running[0]
    if version is None:
        version = site.live_version()
        named = site.parameter()
        if version is None and named is not None:
            raise RefusedError(missing_pointer(named))
        if version is None:
            raise RefusedError("which version? pass --version, or --stack / --parameter to read the pointer")
        if not is_released(version):
            raise RefusedError("the pointer holds 'none': nothing is released, pass --version")
    verify = site_verifier(site, smoke_paths, timeout, version if canary else None)
    report = poll_verify(verify, version, VerifyPolicy(verify_timeout=wait), output.say)
    lines = [*(report.notes if verbose else []), *report.problems]
    if report.ok:
        viewers = " to the canary's viewers" if canary else ""
        lines.append(f"ok: {report.url} serves {version}{viewers}, working")
    output.result(verify_document(report), lines)
    if not report.ok:
        raise SitectlError(f"{report.url} fails verification of {version}: {_count(report.problems)}")


def verify_document(report: VerifyReport) -> dict[str, object]:
    """`verify --json` (README, "sitectl: naming, output, exit codes")."""
    return {
        "url": report.url,
        "version": report.version,
        "served": report.served,
        "ok": report.ok,
        "problems": report.problems,
        "checks": report.checks,
    }
