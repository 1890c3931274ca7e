# Shell functions shared by the bench scripts (sourced; each script defines `die`).

# Waits until a server answers /api/v1/health with 200 (or dies, or 30 s pass).
wait_health() { # url pid log
  for _ in $(seq 1 300); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "$1/api/v1/health")" == 200 ]] && return 0
    kill -0 "$2" 2> /dev/null || die "a server exited; its log: $(tail -5 "$3")"
    sleep 0.1
  done
  die "a server did not become healthy: $(tail -5 "$3")"
}

# Busy CPU of the whole machine over 3 s, in % of one core (nothing of the caller runs then).
machine_busy() {
  python3 - << 'PY'
import os, time
def read():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)
b0, t0 = read(); time.sleep(3); b1, t1 = read()
print(int((b1 - b0) / max(t1 - t0, 1) * os.cpu_count() * 100))
PY
}
