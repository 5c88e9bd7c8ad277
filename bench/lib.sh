# Shared by bench/run and bench/instructions: tool checks, the nginx server, the scenarios.
# Source it with BENCH set; it defines functions only.

# nginx and taskset present, two cores: sets NGINX and NCPU, or exits.
bench_checks() {
  NGINX="$(command -v nginx || true)"
  [ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
  if [ -z "$NGINX" ]; then
    echo "$0: nginx is not installed (Debian: apt-get install nginx-light, or scripts/install-deps.sh)" >&2
    exit 1
  fi
  command -v taskset >/dev/null || { echo "$0: taskset (util-linux) is missing" >&2; exit 1; }
  NCPU="$(nproc)"
  if [ "$NCPU" -lt 2 ]; then
    echo "$0: needs 2 cores (server on 0, client on 1); nproc=$NCPU" >&2
    exit 1
  fi
}

# nginx (1 worker, core 0) on three ephemeral loopback ports: sets TMP, NGINX_PID, P_HTTP,
# P_HTTPS, P_H2 and an EXIT trap that stops it. Needs BIN (bench-util).
bench_start_server() {
  TMP="$(mktemp -d /tmp/httptrace-bench.XXXXXX)"
  NGINX_PID=""
  cleanup() {
    if [ -n "$NGINX_PID" ]; then
      kill "$NGINX_PID" 2>/dev/null || true
      wait "$NGINX_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  mkdir -p "$TMP/www"
  "$BIN/bench-util" gen "$TMP/www/13" 13
  "$BIN/bench-util" gen "$TMP/www/64k" 65536
  "$BIN/bench-util" certs "$TMP"
  chmod 755 "$TMP" "$TMP/www"; chmod 644 "$TMP/www/13" "$TMP/www/64k"
  read -r P_HTTP P_HTTPS P_H2 < <("$BIN/bench-util" ports 3)
  cat > "$TMP/nginx.conf" <<EOF
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  client_body_temp_path $TMP/cb;
  proxy_temp_path $TMP/px;
  fastcgi_temp_path $TMP/fc;
  uwsgi_temp_path $TMP/uw;
  scgi_temp_path $TMP/sc;
  ssl_certificate $TMP/leaf.pem;
  ssl_certificate_key $TMP/leaf.key;
  ssl_session_cache shared:SSL:10m;
  ssl_session_tickets on;
  root $TMP/www;
  server { listen 127.0.0.1:$P_HTTP backlog=4096; }
  server { listen 127.0.0.1:$P_HTTPS ssl backlog=4096; }
  server { listen 127.0.0.1:$P_H2 ssl http2 backlog=4096; http2_max_concurrent_streams 128; }
}
EOF
  taskset -c 0 "$NGINX" -p "$TMP" -c "$TMP/nginx.conf" -g 'daemon off;' 2>"$TMP/nginx.stderr" &
  NGINX_PID=$!
  if ! "$BIN/bench-util" wait 10 "$P_HTTP" "$P_HTTPS" "$P_H2"; then
    echo "$0: nginx did not start:" >&2
    cat "$TMP/nginx.stderr" "$TMP/error.log" >&2 2>/dev/null || true
    exit 1
  fi
}

# SCENARIOS: "name|url|concurrency|body length|extra flags|raw?" (needs the ports), filtered by
# ONLY (comma-separated names) when set.
bench_scenarios() {
  # name | url | concurrency | body length | extra flags | raw?
  SCENARIOS=(
    "h1-c1-13|http://127.0.0.1:$P_HTTP/13|1|13||raw"
    "h1-c32-13|http://127.0.0.1:$P_HTTP/13|32|13||raw"
    "h1-c1-64k|http://127.0.0.1:$P_HTTP/64k|1|65536||raw"
    "h1-c32-64k|http://127.0.0.1:$P_HTTP/64k|32|65536||raw"
    "https-h1-c32-13|https://127.0.0.1:$P_HTTPS/13|32|13||"
    "h2-c1-13|https://127.0.0.1:$P_H2/13|1|13|--h2|"
    "h2-c32-13|https://127.0.0.1:$P_H2/13|32|13|--h2|"
    "new-tcp-c1-13|http://127.0.0.1:$P_HTTP/13|1|13|--new-conn|raw"
    "new-tls-c1-13|https://127.0.0.1:$P_HTTPS/13|1|13|--new-conn|"
  )
  if [ -n "${ONLY:-}" ]; then
    local keep=() s
    for s in "${SCENARIOS[@]}"; do
      case ",$ONLY," in *",${s%%|*},"*) keep+=("$s") ;; esac
    done
    SCENARIOS=("${keep[@]}")
  fi
}
