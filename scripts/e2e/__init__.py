"""`sitectl e2e` (`make e2e`): the whole product on a real AWS account, in throwaway stacks.

`run.py` holds the plan, the runner (steps timed on an injected clock, a time cap), the ledger that
makes every run cleanable by the same command, and the report; `throwaway.py` is the Pulumi side
(Automation API, a local backend by default). Every sitectl step goes through sitectl's own commands,
in-process, so only the calls to AWS and the engine differ from what the tests run.
"""
