set -euo pipefail
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
# No network: the module uses the standard library only; caches in the workspace.
export GOCACHE=/workspace/.cache/go-build GOPATH=/workspace/gopath GOPROXY=off GOFLAGS=-mod=mod
export CGO_ENABLED=1
go version
cd app
go vet ./...
go build -o wl .
./wl
go test -count=1 ./...
echo "WORKLOAD-OK go"
