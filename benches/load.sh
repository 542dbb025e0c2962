#!/usr/bin/env bash
# The gateway's load benchmark: privgate with masking on against a plain nginx reverse
# proxy, both in front of the example upstream (examples/legacy-booking), same machine,
# same load, everything on 127.0.0.1.
#
# 1. Installs wrk and nginx when missing (apt-get; Debian), builds release binaries
#    (CARGO_TARGET_DIR is honoured).
# 2. Small responses: starts legacy-booking (default 10,000 appointments), nginx (its own
#    config in a temporary directory: loopback port, HTTP/1.1 and keep-alive to the
#    upstream, buffering as an operator sets it, worker_processes = the gateway's
#    workers, no access log) and privgate (masking on: policies/clinic, bearer EdDSA JWT
#    of the receptionist role against a throwaway JWKS, as `privgate demo` does). Runs
#    wrk against the upstream directly, nginx and privgate, interleaved, ROUNDS times;
#    records req/s, p50/p99, and the CPU time of each process (utime+stime from
#    /proc/PID/stat; nginx: master + workers) per request, and the machine's other load.
#    Then the same with a fast upstream (the same page as a static file from one nginx
#    worker; STATIC=0 skips it): legacy-booking spends ~0.3 ms of CPU per page, so with
#    it the two cores are mostly the upstream's; without it the proxies' own cost shows.
# 3. Export: restarts the three with an upstream seeded for a ~100 MB export and fetches
#    GET /api/appointments/export?format=ndjson&limit=N (N measured to give ~100 MB)
#    with curl through each, ROUNDS times: wall time, bytes out, peak RSS (VmHWM, reset
#    before each export; nginx: the largest worker). privgate serves it as the
#    data-exporter role; the clinic policy gates exports behind step-up and approval,
#    flows the gateway does not have yet, so the benchmark's copy of the policy has no
#    step-up and `export: { approval: not_required }` (no cap, no quota) on the export
#    routes; nothing else changes, the role's plan is the same.
# 4. Prints the tables, the ratios against nginx and the targets (pass/miss): small req/s
#    >= 0.75x nginx, p99 <= nginx + 1 ms, export <= 1.5x nginx's time, peak RSS < 64 MiB.
#    The targets are judged on the legacy upstream; the fast upstream's verdicts are shown
#    in parentheses. A report, not a test: it exits 0 whatever the ratios are.
# Every process it starts is stopped on exit, Ctrl-C included; the temporary directory is
# removed. Takes about ROUNDS * 6 * (DURATION + WARMUP) + 60 seconds plus the build
# (about 8 minutes with the defaults).
#
# Usage: bash benches/load.sh
#   DURATION=30 CONNECTIONS=32 THREADS=2 WARMUP=3   wrk per target and round
#   ROUNDS=2            interleaved rounds (medians reported, and each round)
#   WORKERS=<cores>     privgate workers and nginx worker_processes
#   PAGE_SIZE=20        the small response: /api/appointments?page=1&page_size=PAGE_SIZE
#   EXPORT_BYTES=100000000 EXPORT_FORMAT=ndjson     the export (json, ndjson or csv)
#   KEEP_LOGS=DIR       copy the processes' logs there before the temporary dir goes
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

duration="${DURATION:-30}"
connections="${CONNECTIONS:-32}"
threads="${THREADS:-2}"
warmup="${WARMUP:-3}"
rounds="${ROUNDS:-2}"
workers="${WORKERS:-$(nproc)}"
page_size="${PAGE_SIZE:-20}"
export_bytes="${EXPORT_BYTES:-100000000}"
export_format="${EXPORT_FORMAT:-ndjson}"
case "$export_format" in
  json) export_type="application/json; charset=utf-8" ;;
  ndjson) export_type="application/x-ndjson" ;;
  csv) export_type="text/csv; charset=utf-8" ;;
  *) echo "EXPORT_FORMAT is json, ndjson or csv" >&2; exit 2 ;;
esac
small_appointments=10000
issuer="https://bench.privgate.invalid"
audience="privgate"
helper="$root/benches/load_helper.py"

# --- what it needs -----------------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v python3 >/dev/null || need+=(python3)
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

cargo build --release -p privgate -p legacy-booking
bin="${CARGO_TARGET_DIR:-target}/release"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac

# --- processes and cleanup ---------------------------------------------------------
work="$(mktemp -d /tmp/privgate-load.XXXXXX)"
pids=()

stop_pids() {
  local pid deadline
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  deadline=$((SECONDS + 5))
  for pid in "$@"; do
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

cleanup() {
  trap - EXIT INT TERM
  if [ "${#pids[@]}" -gt 0 ]; then stop_pids "${pids[@]}"; fi
  if [ -n "${KEEP_LOGS:-}" ]; then
    mkdir -p "$KEEP_LOGS" && cp "$work"/*.log "$work"/*.out "$work"/wrk-* "$KEEP_LOGS"/ 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT
trap 'exit 143' TERM

# Waits (at most $3 seconds) for process $1 to print a `... on http://ADDR` line into $2;
# prints ADDR.
wait_for_address() {
  local pid="$1" file="$2" limit="$3" deadline line
  deadline=$((SECONDS + limit))
  while [ "$SECONDS" -lt "$deadline" ]; do
    line="$(grep -m1 -o 'listening on http://[0-9.:]*' "$file" 2>/dev/null || true)"
    if [ -n "$line" ]; then
      echo "${line#listening on http://}"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "process $pid exited before listening; its output:" >&2
      cat "$file" "${file%.out}.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.1
  done
  echo "process $pid did not listen within $limit s" >&2
  return 1
}

wait_for_port() {
  local port="$1" deadline=$((SECONDS + 10))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$port" >&2
  return 1
}

# utime + stime (clock ticks) of the given processes, all their threads included.
ticks() {
  local total=0 pid stat
  for pid in "$@"; do
    # A process that is gone (Ctrl-C reaches the whole group) counts nothing.
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || continue
    stat="${stat##*) }"
    # shellcheck disable=SC2086
    set -- $stat
    total=$((total + ${12} + ${13}))
  done
  echo "$total"
}

# stime alone (clock ticks): the kernel's share.
sys_ticks() {
  local total=0 pid stat
  for pid in "$@"; do
    # A process that is gone (Ctrl-C reaches the whole group) counts nothing.
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || continue
    stat="${stat##*) }"
    # shellcheck disable=SC2086
    set -- $stat
    total=$((total + ${13}))
  done
  echo "$total"
}

# Busy ticks of the whole machine (every CPU), from /proc/stat.
machine_ticks() {
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
reset_hwm() { echo 5 > "/proc/$1/clear_refs"; }
nginx_workers() { cat "/proc/$nginx_pid/task/$nginx_pid/children"; }
max_worker_hwm() {
  local pid max=0 v
  for pid in $(nginx_workers); do
    v="$(hwm_kb "$pid")"
    [ "$v" -gt "$max" ] && max="$v"
  done
  echo "$max"
}

# --- configuration -----------------------------------------------------------------
python3 "$helper" keys "$work"
small_token="$(python3 "$helper" token "$work" receptionist --issuer "$issuer" --audience "$audience")"
export_token="$(python3 "$helper" token "$work" data-exporter --issuer "$issuer" --audience "$audience")"

# The clinic policy with the export routes' step-up and approval gates removed (see
# above), and without its rate limits (a load test is one identity at thousands of
# requests a second: every request past the limit would be a cheap 429).
cp -r "$root/policies/clinic" "$work/policy"
sed -i -E -e '/^[[:space:]]+step_up:/d' -e '/^[[:space:]]+rate_limit:/d' \
  -e 's/^([[:space:]]+)export:.*/\1export: { approval: not_required }/' "$work/policy/routes.yaml"
"$bin/privgate" policy check "$work/policy" >/dev/null 2>&1 || "$bin/privgate" policy check "$work/policy"

write_gateway_config() {
  cat > "$work/gateway.yaml" <<EOF
listen: "127.0.0.1:0"
upstream: { url: "http://$1" }
policy_dir: "$work/policy"
identity:
  jwt: { jwks_file: jwks.json, issuer: "$issuer", audience: $audience }
keys: { hash_key_file: hash.key, token_key_file: token.key, token_key_id: bench }
workers: $workers
EOF
}

# The head of an nginx config in $work/$1 with $2 worker processes.
nginx_config_head() {
  mkdir -p "$work/$1"
  cat <<EOF
daemon off;
master_process on;
worker_processes $2;
pid $work/$1/nginx.pid;
error_log $work/$1.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/$1/client_body;
  proxy_temp_path $work/$1/proxy;
  fastcgi_temp_path $work/$1/fastcgi;
  uwsgi_temp_path $work/$1/uwsgi;
  scgi_temp_path $work/$1/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 65s;
EOF
}

# The reverse proxy under test: to upstream $1, listening on port $2.
write_nginx_config() {
  mkdir -p "$work/nginx"
  { nginx_config_head nginx "$workers"; cat <<EOF
  upstream booking {
    server $1;
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:$2;
    location / {
      proxy_pass http://booking;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_buffering on;
      proxy_buffer_size 16k;
      proxy_buffers 16 16k;
      proxy_busy_buffers_size 32k;
      proxy_max_temp_file_size 0;
      proxy_read_timeout 30s;
    }
  }
}
EOF
  } > "$work/nginx/nginx.conf"
}

# A fast upstream: one nginx worker serving the page saved from legacy-booking as a
# static file at the same path, on port $1, with the legacy X-Powered-By.
write_static_config() {
  mkdir -p "$work/static"
  { nginx_config_head static 1; cat <<EOF
  server {
    listen 127.0.0.1:$1;
    server_tokens off;
    location = /api/appointments {
      alias $work/static/appointments.json;
      default_type "application/json; charset=utf-8";
      add_header X-Powered-By "PHP/5.3.3";
    }
    location = /api/appointments/export {
      alias $work/static/export.body;
      default_type "$export_type";
    }
  }
}
EOF
  } > "$work/static/nginx.conf"
}

# Starts legacy-booking with $1 appointments; sets upstream_pid, upstream_addr.
start_booking() {
  local appointments="$1" name="$2"
  "$bin/legacy-booking" --listen 127.0.0.1:0 --appointments "$appointments" \
    --db "$work/$name.sqlite" > "$work/upstream-$name.out" 2> "$work/upstream-$name.log" &
  upstream_pid=$!
  pids+=("$upstream_pid")
  upstream_addr="$(wait_for_address "$upstream_pid" "$work/upstream-$name.out" 600)"
}

# The static upstream's directory. nginx's workers run as `nobody`: they may pass through
# the work directory to it, nothing more (the keys stay the owner's).
static_dir() {
  mkdir -p "$work/static"
  chmod 600 "$work"/*.key "$work"/sign.pem
  chmod 711 "$work"
  chmod 755 "$work/static"
}

# Starts the static upstream (write $work/static/appointments.json first).
start_static() {
  local port
  port="$(python3 "$helper" freeport)"
  write_static_config "$port"
  "$nginx_bin" -p "$work/static" -c "$work/static/nginx.conf" -e "$work/static.log" &
  upstream_pid=$!
  pids+=("$upstream_pid")
  wait_for_port "$port"
  upstream_addr="127.0.0.1:$port"
}

# Starts nginx and privgate in front of $upstream_addr; sets nginx_pid/_port, gw_pid/_addr.
start_proxies() {
  local name="$1"
  nginx_port="$(python3 "$helper" freeport)"
  write_nginx_config "$upstream_addr" "$nginx_port"
  "$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx.log" &
  nginx_pid=$!
  pids+=("$nginx_pid")
  wait_for_port "$nginx_port"

  write_gateway_config "$upstream_addr"
  # The gateway logs a line per request to stderr (it has no switch for that); a file
  # takes it, as journald would.
  "$bin/privgate" run --config "$work/gateway.yaml" > "$work/privgate-$name.out" \
    2> "$work/privgate-$name.log" &
  gw_pid=$!
  pids+=("$gw_pid")
  gw_addr="$(wait_for_address "$gw_pid" "$work/privgate-$name.out" 30)"
}

stop_all() {
  stop_pids "$gw_pid" "$nginx_pid" "$upstream_pid"
  pids=()
}

url_of() {
  case "$1" in
    upstream) echo "http://$upstream_addr" ;;
    nginx) echo "http://127.0.0.1:$nginx_port" ;;
    privgate) echo "http://$gw_addr" ;;
  esac
}

# The upstream's processes: legacy-booking, or the static nginx's master and worker.
upstream_pids() {
  echo "$upstream_pid"
  if [ "$scenario" = static ]; then cat "/proc/$upstream_pid/task/$upstream_pid/children"; fi
}

proxy_pids() {
  case "$1" in
    upstream) echo "" ;;
    nginx) echo "$nginx_pid $(nginx_workers)" ;;
    privgate) echo "$gw_pid" ;;
  esac
}

results="$work/results"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || cat "$root/.commit" 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$root" status --porcelain -- crates examples Cargo.toml Cargo.lock 2>/dev/null)" ]; then
  commit="$commit+uncommitted"
fi

echo
echo "== machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $("$nginx_bin" -v 2>&1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), privgate at $commit, workers $workers"

# --- small responses ---------------------------------------------------------------
small_path="/api/appointments?page=1&page_size=$page_size"
auth=(-H "Authorization: Bearer $small_token")

# The same page through each target: all answer 200, nginx passes it unchanged, privgate
# masks it (and the same way in both scenarios).
check_pages() {
  local t status
  for t in upstream nginx privgate; do
    status="$(curl -sS --max-time 10 -o "$work/page-$scenario-$t.json" -w '%{http_code}' \
      "${auth[@]}" "$(url_of "$t")$small_path")"
    if [ "$status" != 200 ]; then
      echo "$t ($scenario) answered $status to $small_path:" >&2
      head -c 500 "$work/page-$scenario-$t.json" >&2
      exit 1
    fi
  done
  cmp -s "$work/page-$scenario-upstream.json" "$work/page-$scenario-nginx.json" ||
    echo "note: nginx's page differs from the upstream's ($scenario)"
  if cmp -s "$work/page-$scenario-upstream.json" "$work/page-$scenario-privgate.json" ||
    ! grep -q '\*\*\*\*' "$work/page-$scenario-privgate.json"; then
    echo "privgate's page is not masked ($scenario); refusing to measure" >&2
    exit 1
  fi
  if [ "$scenario" = static ] && ! cmp -s "$work/page-legacy-privgate.json" "$work/page-static-privgate.json"; then
    echo "note: privgate masked the static copy of the page differently"
  fi
}

run_wrk() {
  local t="$1" round="$2" url pids_t before_p before_s before_u before_m wall_start out
  url="$(url_of "$t")$small_path"
  wrk -t"$threads" -c"$connections" -d"${warmup}s" "${auth[@]}" "$url" > /dev/null
  out="$work/wrk-$scenario-$t-$round.txt"
  # shellcheck disable=SC2046
  pids_t="$(proxy_pids "$t")"
  # shellcheck disable=SC2086
  before_p="$(if [ -n "$pids_t" ]; then ticks $pids_t; else echo 0; fi)"
  # shellcheck disable=SC2086
  before_s="$(if [ -n "$pids_t" ]; then sys_ticks $pids_t; else echo 0; fi)"
  # shellcheck disable=SC2046
  before_u="$(ticks $(upstream_pids))"
  before_m="$(machine_ticks)"
  wall_start="$(date +%s.%N)"
  TIMEFORMAT='wrkcpu %U %S'
  { time wrk -t"$threads" -c"$connections" -d"${duration}s" --latency "${auth[@]}" "$url" > "$out"; } 2> "$out.time"
  local wall_end after_p after_s after_u after_m wrk_cpu proxy_ticks upstream_ticks hwm
  wall_end="$(date +%s.%N)"
  pids_t="$(proxy_pids "$t")"
  # shellcheck disable=SC2086
  after_p="$(if [ -n "$pids_t" ]; then ticks $pids_t; else echo 0; fi)"
  # shellcheck disable=SC2086
  after_s="$(if [ -n "$pids_t" ]; then sys_ticks $pids_t; else echo 0; fi)"
  # shellcheck disable=SC2046
  after_u="$(ticks $(upstream_pids))"
  after_m="$(machine_ticks)"
  proxy_ticks=$((after_p - before_p))
  upstream_ticks=$((after_u - before_u))
  wrk_cpu="$(awk '/^wrkcpu/ { print $2 + $3 }' "$out.time")"
  case "$t" in
    nginx) hwm="$(max_worker_hwm)" ;;
    privgate) hwm="$(hwm_kb "$gw_pid")" ;;
    *) hwm="$(hwm_kb "$upstream_pid")" ;;
  esac
  # Cores kept busy by anything else on the machine during the run (other work: noise).
  local other
  other="$(awk -v m=$((after_m - before_m)) -v p="$proxy_ticks" -v u="$upstream_ticks" -v w="$wrk_cpu" \
    -v hz="$(getconf CLK_TCK)" -v s="$wall_start" -v e="$wall_end" \
    'BEGIN { o = (m - p - u) / hz - w; if (o < 0) o = 0; printf "%.2f", o / (e - s) }')"
  echo "kind=small scenario=$scenario target=$t round=$round wrk=$out proxy_ticks=$proxy_ticks proxy_sys_ticks=$((after_s - before_s)) upstream_ticks=$upstream_ticks hwm_kb=$hwm other_cores=$other" >> "$results"
  printf '  %-9s round %s: %s, %s\n' "$t" "$round" \
    "$(awk '/Requests\/sec/ { print $2 " req/s" }' "$out")" \
    "$(awk '$1 == "99%" { print "p99 " $2 }' "$out")"
}

small_rounds() {
  echo "== small ($scenario upstream): wrk -t$threads -c$connections -d${duration}s --latency (after a ${warmup}s warm-up), $rounds round(s)"
  for round in $(seq 1 "$rounds"); do
    for t in upstream nginx privgate; do
      run_wrk "$t" "$round"
    done
  done
}

# 1. The paged list from legacy-booking itself.
scenario=legacy
start_booking "$small_appointments" small
start_proxies small
echo "== small: upstream http://$upstream_addr, nginx http://127.0.0.1:$nginx_port (pid $nginx_pid), privgate http://$gw_addr (pid $gw_pid)"
check_pages
small_bytes="$(stat -c %s "$work/page-legacy-upstream.json")"
echo "page: $small_bytes bytes upstream, $(stat -c %s "$work/page-legacy-privgate.json") masked by privgate (receptionist)"
cat > "$results" <<EOF
kind=meta small_path=$small_path small_bytes=$small_bytes threads=$threads connections=$connections duration=$duration rounds=$rounds
EOF
small_rounds
stop_all

# 2. The same page from a fast upstream (one static nginx worker): legacy-booking spends
# ~0.3 ms of CPU on each page, which leaves the proxies a small share of the two cores;
# with the upstream out of the way the proxies' own cost decides.
if [ "${STATIC:-1}" = 1 ]; then
  scenario=static
  static_dir
  cp "$work/page-legacy-upstream.json" "$work/static/appointments.json"
  chmod 644 "$work/static/appointments.json"
  start_static
  start_proxies static
  check_pages
  small_rounds
  stop_all
fi

# --- export --------------------------------------------------------------------------
# Bytes per row of this format with the default data (about 365 for NDJSON, 210 for CSV):
# seed enough rows for the export with a margin, then measure the real size.
per_row_guess=200
export_appointments=$(( export_bytes / per_row_guess + 1000 ))
echo "== export: seeding $export_appointments appointments (takes a while)"
scenario=legacy
start_booking "$export_appointments" export
start_proxies export
probe="$(curl -sS --max-time 30 -o /dev/null -w '%{size_download}' \
  "http://$upstream_addr/api/appointments/export?format=$export_format&limit=2000")"
limit=$(( export_bytes * 2000 / probe ))
if [ "$limit" -gt "$export_appointments" ]; then limit="$export_appointments"; fi
export_path="/api/appointments/export?format=$export_format&limit=$limit"
echo "kind=meta_export export_path=$export_path" >> "$results"
echo "== export: GET $export_path ($((probe / 2000)) bytes a row), $rounds round(s)"

export_auth=(-H "Authorization: Bearer $export_token")
export_rounds() {
  local round t p line status size secs hwm before_p before_u after_p after_u
  for round in $(seq 1 "$rounds"); do
    for t in upstream nginx privgate; do
      case "$t" in
        nginx) for p in $(nginx_workers); do reset_hwm "$p"; done ;;
        privgate) reset_hwm "$gw_pid" ;;
        upstream) reset_hwm "$upstream_pid" ;;
      esac
      # shellcheck disable=SC2046
      before_p="$(ticks $(proxy_pids "$t"))"
      # shellcheck disable=SC2046
      before_u="$(ticks $(upstream_pids))"
      line="$(curl -sS --max-time 300 -o /dev/null -w '%{http_code} %{size_download} %{time_total}' \
        "${export_auth[@]}" "$(url_of "$t")$export_path")"
      read -r status size secs <<< "$line"
      # shellcheck disable=SC2046
      after_p="$(ticks $(proxy_pids "$t"))"
      # shellcheck disable=SC2046
      after_u="$(ticks $(upstream_pids))"
      case "$t" in
        nginx) hwm="$(max_worker_hwm)" ;;
        privgate) hwm="$(hwm_kb "$gw_pid")" ;;
        upstream) hwm="$(hwm_kb "$upstream_pid")" ;;
      esac
      echo "kind=export scenario=$scenario target=$t round=$round status=$status bytes=$size seconds=$secs hwm_kb=$hwm proxy_ticks=$((after_p - before_p)) upstream_ticks=$((after_u - before_u))" >> "$results"
      printf '  %-9s round %s: %s, %s bytes, %s s, peak RSS %s KiB\n' "$t" "$round" "$status" "$size" "$secs" "$hwm"
    done
  done
}
export_rounds
if [ "${STATIC:-1}" = 1 ]; then
  # The same bytes from the static upstream: what the proxies themselves sustain.
  static_dir
  curl -sS --max-time 300 -o "$work/static/export.body" "http://$upstream_addr$export_path"
  chmod 644 "$work/static/export.body"
fi
stop_all

if [ "${STATIC:-1}" = 1 ]; then
  echo "== export ($((export_bytes / 1000000)) MB from the static upstream)"
  scenario=static
  start_static
  start_proxies export-static
  export_rounds
  stop_all
fi

python3 "$helper" report "$results"
