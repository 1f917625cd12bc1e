"""The offline Pulumi runner: any program under Pulumi's mock runtime (`mockrun.py`), and the policy
pack evaluated over what it registered (`policy_eval.py`), for `sitectl policy-check` and the tests."""
