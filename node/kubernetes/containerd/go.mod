module metropolis/node/kubernetes/containerd

go 1.25.0

// The Go that builds both (their go directives: containerd 1.25, runc 1.24); the project's Go 1.23
// fetches it from the module proxy, the same toolchain as gVisor's (../gvisor/go.mod).
toolchain go1.26.8

// The node's container runtime (kubernetes.md §6): containerd 2 for user-namespace pods, and the
// runc it drives (>= 1.2 for idmapped mounts). Each is built inside its own module with that
// module's go.mod and go.sum (build.ts), so these two lines are the only pins.
require (
	github.com/containerd/containerd/v2 v2.2.9
	github.com/opencontainers/runc v1.4.4
)
