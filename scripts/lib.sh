# Helpers shared by scripts/bench, scripts/bench-sweep, scripts/bench-cluster and scripts/soak
# (sourced, not run).

step() { printf '\n==> %s\n' "$*" >&2; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# json_field KEY: the top-level KEY of the JSON object on standard input.
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# at_port DSN PORT: the DSN with its host replaced by 127.0.0.1:PORT (one node's address).
at_port() { sed -E "s#@[^/]+/#@127.0.0.1:$2/#" <<<"$1"; }

# private_binaries FROM TO: copies `mesher` and `mesher-bench` from FROM into TO (created), so
# that a concurrent build in the shared target directory cannot swap them mid-run.
private_binaries() {
  mkdir -p "$2"
  cp "$1/mesher" "$1/mesher-bench" "$2/"
}

# wait_ready BASE-URL PID LOG: until BASE-URL/readyz answers (15 s at most); on failure, LOG.
wait_ready() {
  for _ in $(seq 1 150); do
    curl -fs "$1/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "the node at $1 did not become ready:" >&2
  cat "$3" >&2
  return 1
}
