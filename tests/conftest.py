"""Shared fixtures. No test may reach real AWS: credentials are fake and endpoints are moto's.

`make unit` runs the suite in parallel (pytest-xdist, one process per core, each test file whole in one
process), beside the test runs of other checkouts. So a test owns nothing but its process and its
`tmp_path`: ports are the system's choice (port 0: moto_server, `sitectl serve --port 0`, Chromium's
DevTools on a pipe), files go under tmp_path (or tmp_path_factory for a module's fixtures), never in the
repository or a fixed path, and environment variables change through monkeypatch. What is shared on
purpose (.cache/lambda-runtime, the node driver's process) is built so that concurrent runs cannot
clash (docs/testing.md, "Testing without a cloud").
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Literal

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and region for every test, so that nothing can touch a real account."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    # Nor from the instance metadata service: a test meaning "no credentials" must find none.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield


# A tree deeper than Python's recursion limit (tests/test_sitectl_upload.py makes one of 1,200 folders
# and removes it; a run killed meanwhile leaves it behind) would make pytest's clean-up of old
# /tmp/pytest-of-<user>/pytest-N folders, at the end of a later session, fail with a RecursionError:
# shutil.rmtree recurses once per folder level before Python 3.13. Pure Python recursion does not
# grow the C stack on 3.11 and later, so a higher limit, for that clean-up only, is safe.
RMTREE_RECURSION_LIMIT = 100_000


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, object, object]:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, RMTREE_RECURSION_LIMIT))
    try:
        return (yield)
    finally:
        sys.setrecursionlimit(limit)


# Set by bench/mutation.py (`make mutation`) for the test runs mutmut makes.
MUTATION_RUN_ENV = "VERSIONED_SITE_MUTATION_RUN"


@pytest.fixture
def deployer_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A named profile `site-deployer` (access key `deployer`) in a shared credentials file of its own."""
    credentials = tmp_path / "credentials"
    credentials.write_text("[site-deployer]\naws_access_key_id = deployer\naws_secret_access_key = secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    return "site-deployer"


def shared_scope(fixture_name: str, config: pytest.Config) -> Literal["function", "module"]:
    """Scope of the fixtures that build costly state once per module. Under `make mutation`, once per
    test: mutmut runs, for each mutant, the tests that ran its code in a first pass, and code run by a
    shared fixture would be credited to whichever test happened to need it first."""
    return "function" if os.environ.get(MUTATION_RUN_ENV) else "module"


@pytest.fixture
def project_named(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Name the Pulumi project for a test that validates the component's settings outside a program run
    (in a run, Pulumi.yaml's `name:` is the project). The messages name keys under it."""
    from pulumi.runtime import settings

    def name(project: str) -> None:
        monkeypatch.setattr(settings.SETTINGS, "project", project)

    return name


@pytest.fixture
def versioned_site_project(project_named: Callable[[str], None]) -> None:
    """This repository's project name, `versioned-site`, outside a program run."""
    project_named("versioned-site")
