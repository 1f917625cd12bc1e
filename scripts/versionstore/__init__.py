"""The version store: the S3 side of `edge_lambda.layout` (claim, seal, list, verify, delete in
`store`), what a build directory uploads (`build`), how a file is sent (`transfer`) and the headers
objects are stored with (`content_headers`). It imports neither click nor sitectl's commands: the
component's release guard and every sitectl command use it alike."""
