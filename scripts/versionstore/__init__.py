"""The version store: the S3 side of `edge_lambda.layout` (list, read manifests, delete) and the
headers objects are stored with. It imports neither click nor sitectl's commands: the component's
release guard and every sitectl command use it alike."""
