"""`pulumi new <this repository's URL>`: the template block of Pulumi.yaml, and the project it makes.

The Pulumi CLI cannot run here, so `pulumi_new` below does what it does, as read in pulumi/pulumi at
1b5949891b3cefcb9974752b24a5ecef0acc86c8 (docs/adoption.md, "A Pulumi template"): copy the files
(`templates/project_templates.go`, `CopyTemplateFiles`: everything but `.git`, with `${PROJECT}`
replaced), rename the project and drop `template:` (`project/newcmd/new.go`), and save each template
config value under the new project's namespace unless the key names one (`newcmd/config.go`,
`ParseConfigKeyForProject`). The program then runs on that project under Pulumi's mocks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from moto import mock_aws

from components.site import PRICE_CLASSES
from edge_function import ROUTERS
from scripts.commands.project import set_stack_config
from scripts.offline.mockrun import run_program
from tests.pulumi_scaffold import ROOT, SiteMocks


def template() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["template"])


def pulumi_new(destination: Path, project: str, stack: str, answers: dict[str, str]) -> Path:
    for name in ("Pulumi.yaml", "__main__.py", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        text = (ROOT / name).read_text().replace("${PROJECT}", project)
        (destination / name).write_text(text)
    document = yaml.safe_load((destination / "Pulumi.yaml").read_text())
    document["name"] = project
    del document["template"]
    (destination / "Pulumi.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    for key, spec in template()["config"].items():
        value = answers.get(key, spec.get("default", ""))
        full_key = key if ":" in key else f"{project}:{key}"
        set_stack_config(destination, stack, project, full_key, str(value))
    return destination


def test_every_prompt_says_what_it_is_and_defaults_to_the_projects_default() -> None:
    block = template()
    assert block["displayName"] and block["description"] and "sitectl" in block["quickstart"]
    project_config = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    for key, spec in block["config"].items():
        assert len(spec["description"]) > 30, key
        if ":" not in key:
            # A template key of the project is one the program reads, with the same default.
            assert str(spec["default"]).lower() == str(project_config[key]["default"]).lower(), key
    assert block["config"]["router"]["default"] in ROUTERS
    assert block["config"]["priceClass"]["default"] in PRICE_CLASSES


def test_the_project_pulumi_new_makes_deploys_under_its_own_name(tmp_path: Path) -> None:
    project = pulumi_new(tmp_path, "my-site", "dev", {"priceClass": "PriceClass_200", "spaFallback": "true"})
    stack_file = yaml.safe_load((project / "Pulumi.dev.yaml").read_text())["config"]
    assert stack_file["my-site:priceClass"] == "PriceClass_200"
    assert stack_file["aws:region"] == "eu-west-1"
    with mock_aws():
        run = run_program(project, "dev", use_stack_config=True, mocks=SiteMocks(), preview=False)
    by_type = {r.type: r for r in run.resources}
    parameters = {r.props["name"] for r in run.resources if r.type == "aws:ssm/parameter:Parameter"}
    assert "/my-site/dev/live-version" in parameters
    assert by_type["aws:cloudfront/distribution:Distribution"].props["priceClass"] == "PriceClass_200"
    # The edge function, not the switch's (both are Lambda functions of the site).
    (edge,) = [
        r for r in run.resources if r.type == "aws:lambda/function:Function" and r.name.endswith("-edge")
    ]
    bundle = edge.props["code"].assets["edge_lambda/config.json"].text
    assert json.loads(bundle)["spa_fallback"] is True
    assert by_type["pulumi:pulumi:Stack"].outputs["versionConfigKey"] == "my-site:version"


def test_the_template_block_does_not_reach_the_new_project(tmp_path: Path) -> None:
    project = pulumi_new(tmp_path, "my-site", "dev", {})
    assert "template" not in yaml.safe_load((project / "Pulumi.yaml").read_text())
