#!/usr/bin/env bash
# Replace the vendored Swagger UI and ReDoc files with the npm packages of the versions pinned below.
# To upgrade: change a version here, run this script, update the table in README.md beside it, run
# the docs tests (tests/api/test_openapi.py, tests/browser/) and look at /docs and /redoc.
set -euo pipefail

SWAGGER_UI_DIST_VERSION=5.36.0
REDOC_VERSION=2.5.4

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# npm checks each tarball against the registry's integrity hash.
(cd "$work" && npm pack --silent "swagger-ui-dist@$SWAGGER_UI_DIST_VERSION" "redoc@$REDOC_VERSION" >/dev/null)
mkdir "$work/swagger-ui" "$work/redoc"
tar -xzf "$work/swagger-ui-dist-$SWAGGER_UI_DIST_VERSION.tgz" -C "$work/swagger-ui" --strip-components=1
tar -xzf "$work/redoc-$REDOC_VERSION.tgz" -C "$work/redoc" --strip-components=1

rm -rf "$here/swagger-ui" "$here/redoc"
mkdir "$here/swagger-ui" "$here/redoc"
for file in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png LICENSE NOTICE; do
    cp "$work/swagger-ui/$file" "$here/swagger-ui/"
done
cp "$work/redoc/bundles/redoc.standalone.js" "$work/redoc/bundles/redoc.standalone.js.LICENSE.txt" \
    "$work/redoc/LICENSE" "$here/redoc/"
# The files are copied unchanged (their source maps are left out: only a browser's developer tools
# ask for them), so each checksum printed here matches the file inside the package.
(cd "$here" && sha256sum swagger-ui/* redoc/*)
