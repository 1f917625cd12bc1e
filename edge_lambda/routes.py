"""Clean URLs: which key of a version answers a viewer path, from what the version holds.

Real builds name their pages two ways: `about.html` (Next.js `output: 'export'` by default, SvelteKit
adapter-static by default, Astro `build.format: 'file'`, Hugo `uglyURLs`) or `about/index.html` (Astro
and Hugo by default, Next.js `trailingSlash: true`), and some ship files without an extension
(`/.well-known/apple-app-site-association`, `/LICENSE`, ACME tokens). As Netlify, Vercel and Cloudflare
Pages do:

- `/about` serves the file `about` when the version has one, else `about.html`, else `about/index.html`;
- `/about/` serves `about/index.html`, else `about.html`;
- `trailingSlash` (`auto`, the default, `always`, `never`) says when the other spelling of a page
  redirects (`redirect_status` 308 or 301, query string kept): `auto` redirects `/about` to `/about/`
  only for a folder page (relative links inside it then resolve as the build meant), `always` every
  page to its `/` form, `never` every page to its form without `/`.

What routing needs of a version fits in `VersionRoutes`: the version's majority page style (`h`: pages
are `p.html`, `d`: pages are `p/index.html`, `s`: a single-page app, where a path naming nothing gets
the root `index.html`) and, for each path that is not answered the majority's way, its exception. Both
routers hold the same object: the Lambda@Edge handler builds it from the version's sealed manifest (read
once per version per container), the CloudFront Function parses it from the KeyValueStore value the
release wrote (`to_summary`, at most `MAX_SUMMARY_BYTES`). A path that names nothing in the version is
answered as the majority style would answer it (a folder-style site redirects `/nothing` to `/nothing/`,
which is then the 404 page), so the two routers agree on every path, known or not.

Standard library only: it ships in the Lambda@Edge bundle.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from edge_lambda.fingerprint import is_immutable_asset, is_shared_by_name
from edge_lambda.site_rules import SiteRules, answering_file

INDEX_DOCUMENT = "index.html"
PAGE_SUFFIX = ".html"
TRAILING_SLASH_MODES = ("auto", "always", "never")
REDIRECT_STATUSES = (301, 308)
DEFAULT_TRAILING_SLASH = "auto"
DEFAULT_REDIRECT_STATUS = 308
# How long a viewer may keep a redirect: a later version may route the path the other way (a 308 is
# otherwise cached by browsers as permanent).
REDIRECT_CACHE_CONTROL = "max-age=300"

# Page styles, and the kinds of a path in an exception (`kind` of `/p`, then `folder kind` of `/p/`):
# `f` the file itself, `h` `p.html`, `d` `p/index.html`, `s` the root index.html (single-page app).
FILE, HTML, FOLDER, SPA = "f", "h", "d", "s"
# A KeyValueStore value holds at most 1,024 bytes; the version id (up to 57) and a space come first.
MAX_SUMMARY_BYTES = 1024 - 58


class RoutesTooLargeError(ValueError):
    """A version's routing exceptions do not fit the KeyValueStore value of the CloudFront Function."""


def has_extension(name: str) -> bool:
    """True when the last segment of `name` has a `.` after its leading dots (`a.css`, `.env.local`)."""
    return "." in name.rsplit("/", 1)[-1].lstrip(".")


@dataclass(frozen=True)
class VersionRoutes:
    """What the routers know of one version's files (see the module docstring)."""

    style: str = FOLDER
    exceptions: Mapping[str, str] = field(default_factory=dict)
    """path (decoded, relative) -> two letters: the kind of `/path`, then of `/path/`."""
    unshared: tuple[str, ...] = ()
    """Files whose names look hashed (`is_shared_by_name`) that the upload did not take as fingerprinted:
    the CloudFront Function serves them from the version, not from the shared area."""
    shared: tuple[str, ...] = ()
    """Files the upload took as fingerprinted whose names do not look hashed (declared by the site)."""
    rules: SiteRules = field(default_factory=SiteRules, compare=False)
    """The build's `_redirects` and `_headers` (from its manifest; the Lambda@Edge router and serve)."""
    files: frozenset[str] | None = field(default=None, compare=False)
    """Every file of the version, when the router holds the manifest (None: only the summary above):
    a build rule applies only where no file answers the path."""

    def file_answers(self, path: str) -> bool:
        """Whether a file answers the decoded `path`, where a build rule not forced is passed over: one
        of the version's as clean URLs resolve it (unknown files: none), or a fingerprinted name the
        shared area serves (`serves_shared`): a page of another version open across a release asks for
        its chunks there, which a `/* /index.html 200` rule would otherwise answer with the page."""
        if self.serves_shared(urllib.parse.quote(path)):
            return True
        return self.files is not None and answering_file(path, self.files) is not None

    stored: Mapping[str, str] = field(default_factory=dict, compare=False)
    """path -> the key prefix holding it, for files stored outside the version's prefix (its manifest's
    `in`: the shared area). The Lambda@Edge handler reads the manifest, so it asks for those keys
    directly; the CloudFront Function, which has only the store value, reads every fingerprinted file
    from the shared area by its name anyway (`serves_shared`)."""

    def serves_shared(self, uri: str) -> bool:
        """Whether the CloudFront Function reads the file `uri` from the shared area: a hash-shaped name
        (any version's: an open page of another version asks for its own chunks) unless this version
        says otherwise."""
        if uri.endswith("/"):
            return False
        path = urllib.parse.unquote(uri[1:])
        return path in self.shared or (is_shared_by_name(uri) and path not in self.unshared)

    def key_prefix(self, version: str, target: str) -> str:
        """The key prefix (`version`, or the area holding it) of the route target `target`
        (`/about.html`, percent-encoded as the viewer sent it)."""
        if not self.stored:
            return version
        return self.stored.get(urllib.parse.unquote(target[1:]), version)

    def default(self, path: str) -> str:
        return (FILE if has_extension(path) else self.style) + (FOLDER if self.style == SPA else self.style)

    def kinds(self, path: str) -> str:
        return self.exceptions.get(path) or self.default(path)

    @classmethod
    def unknown(cls, spa_fallback: bool) -> VersionRoutes:
        """What routing assumes of a version whose files it does not know (the rules from before it
        knew them): every page a folder, or, for a single-page app, the root index.html."""
        return cls(SPA) if spa_fallback else cls(FOLDER)

    @classmethod
    def from_paths(
        cls,
        paths: Iterable[str],
        spa_fallback: bool = False,
        fingerprinted: Collection[str] | None = None,
        rules: SiteRules | None = None,
        stored: Mapping[str, str] | None = None,
    ) -> VersionRoutes:
        """The routes of a version holding the files `paths` (relative, as in its manifest), of which
        its upload took `fingerprinted` as fingerprinted (None: as the strict name rule says, for a
        version whose decision is not known), with its build's `rules`, and stored `stored` outside
        its prefix (path -> key prefix: `Manifest.stored_elsewhere`)."""
        files = set(paths)
        taken = {p for p in files if is_immutable_asset(p)} if fingerprinted is None else set(fingerprinted)
        unshared = tuple(sorted(p for p in files - taken if is_shared_by_name("/" + p)))
        shared = tuple(sorted(p for p in taken if not is_shared_by_name("/" + p)))
        # An index.html is its folder's page (`/`, `/about/`), not a page named `index`.
        html = {
            p[: -len(PAGE_SUFFIX)]
            for p in files
            if p.endswith(PAGE_SUFFIX) and p != INDEX_DOCUMENT and not p.endswith("/" + INDEX_DOCUMENT)
        }
        folders = {p[: -len(INDEX_DOCUMENT) - 1] for p in files if p.endswith("/" + INDEX_DOCUMENT)}
        if spa_fallback:
            style = SPA
        else:
            pages = [p for p in html if not has_extension(p)]
            folder_pages = [p for p in folders if not has_extension(p)]
            style = HTML if len(pages) > len(folder_pages) else FOLDER
        routes = cls(style)
        exceptions = {}
        for path in files | html | folders:
            kind = FILE if path in files else HTML if path in html else FOLDER
            folder_kind = FOLDER if path in folders else HTML if path in html else routes.default(path)[1]
            if kind + folder_kind != routes.default(path):
                exceptions[path] = kind + folder_kind
        return cls(
            style, exceptions, unshared, shared, rules or SiteRules(), frozenset(files), dict(stored or {})
        )

    def to_summary(self) -> str:
        """The compact JSON the CloudFront Function reads; RoutesTooLargeError beyond its budget."""
        data: dict[str, object] = {"s": self.style, "x": dict(sorted(self.exceptions.items()))}
        if self.unshared:
            data["n"] = list(self.unshared)
        if self.shared:
            data["a"] = list(self.shared)
        summary = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        size = len(summary.encode("utf-8"))
        if size > MAX_SUMMARY_BYTES:
            paths = [*self.exceptions, *self.unshared, *self.shared]
            raise RoutesTooLargeError(
                f"{len(paths)} paths are not routed the way most pages are "
                f"(first: {min(paths)!r}); they need {size} bytes, and the cloudfront-function "
                f"router's KeyValueStore value has {MAX_SUMMARY_BYTES}"
            )
        return summary

    @classmethod
    def from_summary(cls, text: str) -> VersionRoutes:
        data = json.loads(text)
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("s"), str)
            or not isinstance(data.get("x"), dict)
        ):
            raise ValueError("routes must be a JSON object with a string `s` and an object `x`")
        lists = [data.get(name, []) for name in ("n", "a")]
        if not all(isinstance(paths, list) for paths in lists):
            raise ValueError("routes' `n` and `a` must be arrays")
        unshared, shared = (tuple(str(path) for path in paths) for paths in lists)
        exceptions = {str(path): str(kinds) for path, kinds in data["x"].items()}
        return cls(data["s"], exceptions, unshared, shared)


@dataclass(frozen=True)
class RouteSettings:
    """A site's routing settings (stack config `trailingSlash`, `redirectStatus`, `spaFallback`)."""

    trailing_slash: str = DEFAULT_TRAILING_SLASH
    redirect_status: int = DEFAULT_REDIRECT_STATUS
    spa_fallback: bool = False

    def __post_init__(self) -> None:
        if self.trailing_slash not in TRAILING_SLASH_MODES:
            raise ValueError(
                f"trailingSlash {self.trailing_slash!r} is not one of {', '.join(TRAILING_SLASH_MODES)}"
            )
        if self.redirect_status not in REDIRECT_STATUSES:
            raise ValueError(f"redirectStatus {self.redirect_status} is not 301 or 308")


@dataclass(frozen=True)
class Redirect:
    """Send the viewer to `location` (the other spelling of the same page, query string kept)."""

    location: str
    status: int


def route(uri: str, routes: VersionRoutes, settings: RouteSettings) -> str | Redirect:
    """The version-relative key path (`/about.html`, the URI's own spelling kept) that answers `uri`,
    or the redirect to send instead. `uri` must have passed `handler.uri_problem`."""
    if uri == "/":
        return "/" + INDEX_DOCUMENT
    slash = uri.endswith("/")
    bare = uri[:-1] if slash else uri
    # Paths in the version are its file names; the URI is percent-encoded once (S3 decodes the key once).
    kinds = routes.kinds(urllib.parse.unquote(bare[1:]))
    mode = settings.trailing_slash
    if slash:
        if mode == "never" and kinds[0] != FILE:
            return Redirect(bare, settings.redirect_status)
        return uri + INDEX_DOCUMENT if kinds[1] == FOLDER else bare + PAGE_SUFFIX
    kind = kinds[0]
    if kind == FILE:
        return uri
    if kind == SPA:
        return "/" + INDEX_DOCUMENT
    if kind == HTML:
        return Redirect(uri + "/", settings.redirect_status) if mode == "always" else uri + PAGE_SUFFIX
    return uri + "/" + INDEX_DOCUMENT if mode == "never" else Redirect(uri + "/", settings.redirect_status)
