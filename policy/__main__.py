"""Entry point of the CrossGuard pack: `pulumi preview --policy-pack policy`.

The CLI runs this file with the pack's own virtualenv and `policy/` as the working directory, so the
repository root goes on sys.path first: the policies live in `policy.site_policies` and use
`edge_lambda.layout`, neither of which is installed in that virtualenv.
"""

import sys
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parent.parent
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

from pulumi_policy import PolicyPack  # noqa: E402

from policy.site_policies import PACK_ENFORCEMENT_LEVEL, PACK_NAME, POLICIES  # noqa: E402

# Starts the analyzer's gRPC server and blocks until the engine is done with it.
PolicyPack(name=PACK_NAME, enforcement_level=PACK_ENFORCEMENT_LEVEL, policies=POLICIES)
