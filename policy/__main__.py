"""Entry point of the CrossGuard pack: `pulumi preview --policy-pack policy`.

The CLI runs `<project>/.venv/bin/python -u -m pulumi.policy <engine> <this folder>` with this folder as
the working directory (the uv toolchain of PulumiPolicy.yaml); the project is installed in that
virtualenv, so `policy` and `edge_lambda` import like any package.
"""

from pulumi_policy import PolicyPack

from policy.site_policies import PACK_ENFORCEMENT_LEVEL, PACK_NAME, engine_policies

# Starts the analyzer's gRPC server and blocks until the engine is done with it.
PolicyPack(name=PACK_NAME, enforcement_level=PACK_ENFORCEMENT_LEVEL, policies=engine_policies())
