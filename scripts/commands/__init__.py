"""sitectl's commands, one module each, on top of the version store (`scripts.versionstore`):
`site.py` resolves the bucket, stack and pointer every command works on, `stack.py` is the Pulumi
Automation API behind a small Protocol, `errors.py` the one-line errors and exit codes."""
