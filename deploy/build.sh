#!/bin/sh
# The one command that builds the gateway. tests/run-all.sh (CI) runs it with `release`, and
# deploy/Dockerfile's builder stage runs it too (deploy/check.sh verifies both), so a green CI
# means the image's build step works.
#   sh deploy/build.sh [PROFILE]   PROFILE: release (default, the tests) or dist (the image)
# The binary lands in target/PROFILE/mastra-gateway.
set -eu
profile="${1:-release}"
exec cargo build --locked --profile "$profile" --bin mastra-gateway
