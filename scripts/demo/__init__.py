"""The demo: `make demo` (`walkthrough.py`) and the moto server on 127.0.0.1 that stands in for AWS
in the demo, the tests and the benchmarks (`local_aws.py`)."""
