#!/usr/bin/env bash
# Validates the deployment files: deploy/Dockerfile, deploy/docker-compose.yml,
# deploy/haproxy.cfg and the Kubernetes manifests in deploy/k8s/.
#
#   scripts/validate-deploy.sh [DIR]     # DIR defaults to deploy/ next to this script
#
# DIR may be a copy of deploy/ anywhere (to test broken copies); the Dockerfile's COPY
# sources are always checked against this repository's root.
#
# Installs its tools when missing (Debian packages docker-compose and haproxy; a Python
# venv with kubernetes-validate, dockerfile-parse and PyYAML; the npm package
# dockerfile-utils) under $CROWDWIRE_DEPLOY_TOOLS (default ~/.cache/crowdwire-validate-deploy),
# and stops with an error if any of them cannot be had. kubectl (for `kubectl kustomize`)
# or a standalone kustomize must already be installed.
#
# Environment: K8S_VERSIONS (default "1.30.0 1.35.0"): Kubernetes versions whose schemas
# the manifests must pass.
#
# Exit status: 0 when every check passes, 1 when any check fails, 2 when a tool is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPLOY="${1:-$ROOT/deploy}"
TOOLS="${CROWDWIRE_DEPLOY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/crowdwire-validate-deploy}"
K8S_VERSIONS="${K8S_VERSIONS:-1.30.0 1.35.0}"

PY_PINS="kubernetes-validate==1.37.0 dockerfile-parse==2.0.1 PyYAML==6.0.2"
NPM_PIN="dockerfile-utils@0.16.3"

say() { printf '\n== %s\n' "$*"; }
die() { printf '\nVALIDATE-DEPLOY: cannot run: %s\n' "$*" >&2; exit 2; }

[[ -d "$DEPLOY" ]] || die "no such directory: $DEPLOY"
DEPLOY="$(cd "$DEPLOY" && pwd)"
for f in Dockerfile Dockerfile.dockerignore docker-compose.yml haproxy.cfg k8s/kustomization.yaml; do
  [[ -f "$DEPLOY/$f" ]] || { printf 'FAIL: %s/%s is missing\n' "$DEPLOY" "$f" >&2; exit 1; }
done

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# ---------------------------------------------------------------------------- tools
apt_install() { # packages...
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "$@" > "$WORK/apt.log" 2>&1 \
    || { apt-get update -qq > /dev/null 2>&1 && apt-get install -y -qq "$@" > "$WORK/apt.log" 2>&1; } \
    || { cat "$WORK/apt.log" >&2; die "could not install Debian package(s): $*"; }
}

say "tools"
command -v docker-compose > /dev/null || apt_install docker-compose
command -v haproxy > /dev/null || apt_install haproxy
command -v python3 > /dev/null || apt_install python3 python3-venv
python3 -c 'import venv, ensurepip' 2> /dev/null || apt_install python3-venv
{ command -v node > /dev/null && command -v npm > /dev/null; } || apt_install nodejs npm
if command -v kustomize > /dev/null; then
  KUSTOMIZE=(kustomize build)
elif command -v kubectl > /dev/null && kubectl kustomize --help > /dev/null 2>&1; then
  KUSTOMIZE=(kubectl kustomize)
else
  die "kubectl (with 'kubectl kustomize') or kustomize is needed to render deploy/k8s and is not installed"
fi
python3 -c 'import sys; assert sys.version_info >= (3, 11)' 2> /dev/null \
  || die "python3 >= 3.11 is needed (tomllib), found $(python3 --version 2>&1)"

VENV="$TOOLS/venv"
if [[ "$(cat "$VENV/.pins" 2> /dev/null)" != "$PY_PINS" ]]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "could not create a Python venv in $VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install -q --disable-pip-version-check $PY_PINS \
    || die "could not install $PY_PINS from PyPI"
  printf '%s' "$PY_PINS" > "$VENV/.pins"
fi
PY="$VENV/bin/python"
KV="$VENV/bin/kubernetes-validate"

NODE_DIR="$TOOLS/node"
DFU="$NODE_DIR/node_modules/dockerfile-utils/bin/dockerfile-utils"
if [[ "$(cat "$NODE_DIR/.pins" 2> /dev/null)" != "$NPM_PIN" || ! -f "$DFU" ]]; then
  rm -rf "$NODE_DIR"
  mkdir -p "$NODE_DIR"
  npm install --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error "$NPM_PIN" > "$WORK/npm.log" 2>&1 \
    || { cat "$WORK/npm.log" >&2; die "could not install $NPM_PIN from npm"; }
  printf '%s' "$NPM_PIN" > "$NODE_DIR/.pins"
fi
[[ -f "$DFU" ]] || die "dockerfile-utils is not where npm should have put it: $DFU"

printf 'docker-compose %s; %s; %s; kubernetes-validate %s; dockerfile-utils %s\n' \
  "$(docker-compose version --short 2> /dev/null || echo '?')" \
  "$(haproxy -v 2> /dev/null | head -n1 | cut -d' ' -f1-3)" "${KUSTOMIZE[*]}" \
  "$("$KV" --version 2> /dev/null | awk '{print $NF}')" "$(node "$DFU" --version | awk '{print $3}')"

# ------------------------------------------------------------- python check helpers
cat > "$WORK/checks.py" << 'PYEOF'
"""Structural and cross-file checks for the deployment files (run by validate-deploy.sh)."""
import fnmatch
import glob
import os
import re
import sys
import tomllib

import yaml

errors = []


def err(msg):
    errors.append(msg)


def finish(what):
    if errors:
        for e in errors:
            print(f"  - {e}")
        print(f"FAIL: {what}: {len(errors)} problem(s)")
        sys.exit(1)
    print(f"ok: {what}")


def image_tag_problem(ref):
    """None if `ref` names an explicit, non-latest tag or a digest; else the problem."""
    if "$" in ref:
        return f"unresolved variable in image {ref!r}"
    if "@sha256:" in ref:
        return None
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {ref!r} has no tag (means :latest)"
    if last.split(":", 1)[1] == "latest":
        return f"image {ref!r} uses the latest tag"
    return None


# ------------------------------------------------------------------------ Dockerfile
def ignore_patterns(path):
    pats = []
    if os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if line and not line.startswith("#"):
                pats.append(line.rstrip("/"))
    return pats


def ignored(rel, pats):
    """Whether `rel` (or one of its parents) is excluded (Docker's rules, simplified; no `!`)."""
    parts = rel.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        p = "/".join(parts[:i])
        for pat in pats:
            if pat.startswith("!"):
                continue
            if fnmatch.fnmatchcase(p, pat):
                return True
            if pat.startswith("**/") and (fnmatch.fnmatchcase(p, pat[3:]) or fnmatch.fnmatchcase(p, "*/" + pat[3:])):
                return True
    return False


def check_dockerfile(deploy, root):
    from dockerfile_parse import DockerfileParser

    path = os.path.join(deploy, "Dockerfile")
    parser = DockerfileParser(path=path)
    instrs = [i for i in parser.structure if i["instruction"] not in ("COMMENT",)]
    known = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
             "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER"}
    for i in instrs:
        if i["instruction"] not in known:
            err(f"line {i['startline'] + 1}: unknown instruction {i['instruction']}")

    # Stages, with global ARG defaults substituted into FROM.
    args, stages = {}, []
    for i in instrs:
        ins, val = i["instruction"], i["value"]
        if ins == "ARG" and not stages:
            k, _, v = val.partition("=")
            args[k.strip()] = v.strip().strip('"')
        elif ins == "FROM":
            toks = [t for t in val.split() if not t.startswith("--")]
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), toks[0])
            name = toks[2] if len(toks) >= 3 and toks[1].lower() == "as" else None
            stages.append({"image": image, "name": name, "instrs": [], "line": i["startline"] + 1})
        elif stages:
            stages[-1]["instrs"].append(i)
    if len(stages) < 2:
        err(f"expected a multi-stage build (builder + runtime), found {len(stages)} stage(s)")
        return "Dockerfile structure"
    names = {s["name"] for s in stages if s["name"]}
    for s in stages:
        if s["image"] in names or s["image"] == "scratch":
            continue
        problem = image_tag_problem(s["image"])
        if problem:
            err(f"FROM at line {s['line']}: {problem}")

    def runs(stage):
        return [i["value"] for i in stage["instrs"] if i["instruction"] == "RUN"]

    builders = [s for s in stages[:-1] if any("cargo build" in r for r in runs(s))]
    if not builders:
        err("no builder stage: no stage before the last runs `cargo build`")
    else:
        b = builders[-1]
        cmd = next(r for r in runs(b) if "cargo build" in r)
        for flag in ("--release", "--locked"):
            if flag not in cmd.split():
                err(f"the builder's cargo build lacks {flag}")
        if not re.search(r"(-p|--package)[ =]crowdwire(\s|$)", cmd):
            err("the builder's cargo build does not select the crowdwire package (-p crowdwire)")
        if not b["image"].startswith("rust:"):
            err(f"builder stage image {b['image']!r} is not an official rust image")
        # glibc of the runtime must be at least the builder's: same Debian release.
        rel = lambda img: next((c for c in ("bullseye", "bookworm", "trixie") if c in img), None)
        if rel(b["image"]) != rel(stages[-1]["image"]):
            err(f"builder {b['image']!r} and runtime {stages[-1]['image']!r} are not the same Debian release")

        # Everything the build reads must be copied in and not excluded by the ignore file.
        pats = ignore_patterns(path + ".dockerignore")
        sources = []
        for i in b["instrs"]:
            if i["instruction"] in ("COPY", "ADD"):
                toks = [t for t in i["value"].split() if not t.startswith("--")]
                if any(t.startswith("--from") for t in i["value"].split()):
                    continue
                for src in toks[:-1]:
                    src = src.strip("/") if src not in ("/", ".", "./") else "."
                    sources.append(src)
                    if not glob.glob(os.path.join(root, src)):
                        err(f"COPY source {src!r} does not exist in the build context {root}")
                    elif src != "." and ignored(src, pats):
                        err(f"COPY source {src!r} is excluded by Dockerfile.dockerignore")

        def covered(rel):
            return any(s == "." or rel == s or rel.startswith(s + "/") for s in sources)

        needed = {"Cargo.toml": "workspace manifest", "Cargo.lock": "lockfile (--locked)"}
        ws = tomllib.load(open(os.path.join(root, "Cargo.toml"), "rb"))
        members = []
        for pat in ws.get("workspace", {}).get("members", []):
            members += [os.path.relpath(p, root) for p in glob.glob(os.path.join(root, pat))
                        if os.path.exists(os.path.join(p, "Cargo.toml"))]
        for m in members:
            needed[m] = "workspace member"
            manifest = tomllib.load(open(os.path.join(root, m, "Cargo.toml"), "rb"))
            tables = [manifest.get(k, {}) for k in ("dependencies", "build-dependencies")]
            for t in tables:
                for dep, spec in t.items():
                    if isinstance(spec, dict) and "path" in spec:
                        p = os.path.relpath(os.path.normpath(os.path.join(root, m, spec["path"])), root)
                        needed[p] = f"path dependency of {m}"
            for rs in glob.glob(os.path.join(root, m, "src", "**", "*.rs"), recursive=True):
                for folder in re.findall(r'#\[folder\s*=\s*"([^"]+)"\]', open(rs, encoding="utf-8").read()):
                    p = os.path.relpath(os.path.normpath(os.path.join(root, m, folder)), root)
                    needed[p] = f"rust-embed folder of {m}"
        for rel, why in sorted(needed.items()):
            if not covered(rel):
                err(f"{rel} ({why}) is not copied into the builder stage")

        for want in (".git", "target", "node_modules", "e2e/artifacts"):
            if not ignored(want, pats):
                err(f"Dockerfile.dockerignore does not exclude {want}")

    final = stages[-1]
    fin = final["instrs"]
    users = [i["value"].split(":")[0].strip() for i in fin if i["instruction"] == "USER"]
    if not users:
        err("the runtime stage has no USER instruction (it would run as root)")
    elif users[-1] in ("root", "0"):
        err(f"the runtime stage's last USER is {users[-1]} (root)")
    builder_refs = {s["name"] for s in builders} | {str(stages.index(s)) for s in builders}
    copied = False
    for i in fin:
        if i["instruction"] == "COPY":
            m = re.search(r"--from=(\S+)", i["value"])
            if m and m.group(1) in builder_refs and "crowdwire" in i["value"].split()[-1]:
                copied = True
    if not copied:
        err("the runtime stage does not COPY --from=<builder> the crowdwire binary")
    if any("cargo" in r for r in runs(final)) or final["image"].startswith("rust:"):
        err("the runtime stage builds or ships the Rust toolchain; it should only receive the binary")
    if not any("ca-certificates" in r for r in runs(final)):
        err("the runtime stage does not install ca-certificates")
    exposed = " ".join(i["value"] for i in fin if i["instruction"] == "EXPOSE").split()
    if not any(e in ("8000", "8000/tcp") for e in exposed):
        err("the runtime stage does not EXPOSE 8000")
    udp = [e for e in exposed if e.endswith("/udp")]
    if not any(int(e[:-4].split("-")[0]) <= 40000 <= int(e[:-4].split("-")[-1]) for e in udp):
        err("the runtime stage does not EXPOSE the media UDP ports (40000-.../udp)")
    starts = [i["value"] for i in fin if i["instruction"] in ("ENTRYPOINT", "CMD")]
    if not any("crowdwire" in s for s in starts):
        err("neither ENTRYPOINT nor CMD of the runtime stage runs crowdwire")
    return "Dockerfile structure"


# ---------------------------------------------------------------------------- compose
def ports_of(svc):
    out = []
    for p in svc.get("ports", []) or []:
        if isinstance(p, dict):
            out.append((str(p.get("published", "")), str(p["target"]), p.get("protocol", "tcp")))
        else:  # short syntax: [ip:]host:container[/proto], ranges allowed
            spec, _, proto = str(p).partition("/")
            bits = spec.split(":")
            host, cont = (bits[-2] if len(bits) > 1 else ""), bits[-1]
            hr, cr = host.split("-"), cont.split("-")
            for k, c in enumerate(range(int(cr[0]), int(cr[-1]) + 1)):
                h = str(int(hr[0]) + k) if host else ""
                out.append((h, str(c), proto or "tcp"))
    return out


def check_compose(rendered, deploy):
    cfg = yaml.safe_load(open(rendered))
    svcs = cfg.get("services", {})
    want = ["postgres", "redis", "rabbitmq", "api1", "api2", "media1", "media2", "lb"]
    for s in want:
        if s not in svcs:
            err(f"service {s} is missing")
    for name, s in svcs.items():
        img = s.get("image")
        if not img:
            err(f"service {name} names no image")
        elif image_tag_problem(img):
            err(f"service {name}: {image_tag_problem(img)}")
    for s in ("postgres", "redis", "rabbitmq"):
        if s in svcs and not (svcs[s].get("healthcheck") or {}).get("test"):
            err(f"service {s} has no healthcheck (the API services wait for service_healthy)")
    apis = [n for n in svcs if re.fullmatch(r"api\d+", n)]
    medias = [n for n in svcs if re.fullmatch(r"media\d+", n)]
    secrets = set()
    for n in apis:
        s, env = svcs[n], svcs[n].get("environment") or {}
        if (s.get("command") or [None])[0] != "serve":
            err(f"{n}: command is not `serve`")
        if env.get("CROWDWIRE_MEDIA_MODE") != "nodes":
            err(f"{n}: CROWDWIRE_MEDIA_MODE is not nodes")
        for var, scheme in (("CROWDWIRE_DATABASE_URL", "postgres://"), ("CROWDWIRE_REDIS_URL", "redis://"),
                            ("CROWDWIRE_AMQP_URL", "amqp://")):
            if not str(env.get(var) or "").startswith(scheme):
                err(f"{n}: {var} is not a {scheme} URL")
        if str(env.get("CROWDWIRE_TRUST_FORWARDED_FOR")).lower() != "true":
            err(f"{n}: CROWDWIRE_TRUST_FORWARDED_FOR is not true (it runs behind the load balancer)")
        if not str(env.get("CROWDWIRE_BIND", "")).startswith("0.0.0.0:"):
            err(f"{n}: CROWDWIRE_BIND does not listen on 0.0.0.0")
        admin = str(env.get("CROWDWIRE_ADMIN_BIND") or "")
        if not admin.startswith("0.0.0.0:"):
            err(f"{n}: CROWDWIRE_ADMIN_BIND does not listen on 0.0.0.0 (Prometheus scrapes /metrics there)")
        elif any(c == admin.rsplit(":", 1)[1] for _, c, _ in ports_of(s)):
            err(f"{n}: publishes its admin port {admin} (metrics are not for the public)")
        secrets.add(env.get("CROWDWIRE_JWT_SECRET"))
        deps = s.get("depends_on") or {}
        for infra in ("postgres", "redis", "rabbitmq"):
            if (deps.get(infra) or {}).get("condition") != "service_healthy":
                err(f"{n}: does not depend on {infra} with condition service_healthy")
    if len(secrets) != 1:
        err("the API replicas do not share one CROWDWIRE_JWT_SECRET")
    used = {}
    for n in medias:
        s, env = svcs[n], svcs[n].get("environment") or {}
        if (s.get("command") or [None])[0] != "media":
            err(f"{n}: command is not `media`")
        for var in ("CROWDWIRE_AMQP_URL", "CROWDWIRE_REDIS_URL", "CROWDWIRE_MEDIA_ANNOUNCE_IP",
                    "CROWDWIRE_HEALTH_BIND", "CROWDWIRE_MEDIA_BIND", "CROWDWIRE_MEDIA_WORKERS"):
            if not env.get(var):
                err(f"{n}: {var} is not set")
        if env.get("CROWDWIRE_MEDIA_ANNOUNCE_IP") not in (None, "127.0.0.1"):
            err(f"{n}: CROWDWIRE_MEDIA_ANNOUNCE_IP defaults to {env.get('CROWDWIRE_MEDIA_ANNOUNCE_IP')}, not 127.0.0.1")
        try:
            first = int(str(env.get("CROWDWIRE_MEDIA_BIND")).rsplit(":", 1)[1])
            workers = int(env.get("CROWDWIRE_MEDIA_WORKERS"))
        except (TypeError, ValueError, IndexError):
            err(f"{n}: cannot read CROWDWIRE_MEDIA_BIND / CROWDWIRE_MEDIA_WORKERS")
            continue
        udp = sorted((int(h or 0), int(c)) for h, c, proto in ports_of(s) if proto == "udp")
        expect = [(p, p) for p in range(first, first + workers)]
        if udp != expect:
            err(f"{n}: published UDP ports {udp} are not host=container {first}..{first + workers - 1} "
                f"(one per worker, same number outside as the node announces)")
        for h, _ in udp:
            if h in used:
                err(f"{n}: UDP port {h} is also published by {used[h]}")
            used[h] = n
        if any(proto != "udp" for _, _, proto in ports_of(s)):
            err(f"{n}: publishes TCP ports; media nodes publish only their UDP range")
    if "lb" in svcs:
        lb = svcs["lb"]
        if ("8000", "8000", "tcp") not in ports_of(lb):
            err("lb: does not publish port 8000")
        mounts = [str(v).split(":")[0] if not isinstance(v, dict) else v.get("source") for v in lb.get("volumes", [])]
        cfgs = [m for m in mounts if m and m.endswith(".cfg")]
        if not cfgs:
            err("lb: mounts no HAProxy configuration file")
        for m in cfgs:
            if not os.path.isfile(m):
                err(f"lb: mounted configuration {m} does not exist")
            elif os.path.dirname(m) != deploy:
                err(f"lb: mounted configuration {m} is not in {deploy}")
    return "docker-compose.yml services"


def check_haproxy(cfgfile, rendered):
    svcs = yaml.safe_load(open(rendered)).get("services", {})
    apis = sorted(n for n in svcs if re.fullmatch(r"api\d+", n))
    text = open(cfgfile).read()
    lines = [l.split("#", 1)[0].strip() for l in text.splitlines()]
    sections, cur = {}, None
    for l in lines:
        if not l:
            continue
        head = l.split()
        if head[0] in ("global", "defaults", "frontend", "backend", "listen", "resolvers"):
            cur = " ".join(head[:2])
            sections[cur] = []
        elif cur:
            sections[cur].append(l)
    backends = {k: v for k, v in sections.items() if k.startswith("backend ")}
    servers = {}
    for k, v in backends.items():
        for l in v:
            t = l.split()
            if t[0] == "server":
                servers[t[1]] = (k, t[2])
    api_backends = set()
    for n in apis:
        if n not in servers:
            err(f"compose service {n} is not a server in any HAProxy backend")
            continue
        k, addr = servers[n]
        api_backends.add(k)
        port = str((svcs[n].get("environment") or {}).get("CROWDWIRE_BIND", ":8000")).rsplit(":", 1)[1]
        if addr != f"{n}:{port}":
            err(f"HAProxy server {n} points at {addr}, the service listens on {n}:{port}")
    for k in api_backends:
        body = " ".join(backends[k] + sections.get("defaults", []))
        if "option httpchk" not in body or "/api/v1/health" not in body:
            err(f"{k}: no active health check on /api/v1/health (option httpchk + http-check send)")
        if re.search(r"\b(cookie|stick-table|stick on|balance source|hash-type)\b", body):
            err(f"{k}: uses sticky sessions; any replica serves any socket, none are wanted")
    defaults = " ".join(v for k, vs in sections.items() if k.startswith("defaults") or k in api_backends for v in vs)
    m = re.search(r"timeout tunnel (\d+)(ms|s|m|h|d)?", defaults)
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 0.001}
    if not m:
        err("no `timeout tunnel` (WebSocket idle timeout) in defaults or the API backend")
    elif int(m.group(1)) * units[m.group(2)] < 120:
        err(f"timeout tunnel {m.group(1)}{m.group(2) or 'ms'} is shorter than the required 120 s")
    binds = [l.split()[1] for k, vs in sections.items() if k.startswith(("frontend", "listen")) for l in vs
             if l.startswith("bind ")]
    if not any(b.rsplit(":", 1)[-1] == "8000" for b in binds):
        err("no HAProxy frontend binds port 8000 (the port the compose file publishes)")
    return "haproxy.cfg against the compose services"


# ----------------------------------------------------------------------- kubernetes
def load_docs(path):
    return [d for d in yaml.safe_load_all(open(path)) if d is not None]


def check_kustomize_lists(k8s):
    dirs = [k8s] + sorted(os.path.dirname(p) for p in glob.glob(os.path.join(k8s, "*", "kustomization.yaml")))
    root_text = open(os.path.join(k8s, "kustomization.yaml")).read()
    for d in dirs:
        kpath = os.path.join(d, "kustomization.yaml")
        try:
            k = yaml.safe_load(open(kpath)) or {}
        except yaml.YAMLError as e:
            err(f"{kpath}: not YAML: {e}")
            continue
        refs = list(k.get("resources", []) or []) + list(k.get("patchesStrategicMerge", []) or [])
        refs += [p["path"] for p in (k.get("patches", []) or []) if isinstance(p, dict) and "path" in p]
        comps = list(k.get("components", []) or [])
        for r in refs + comps:
            if "://" in r:
                continue
            if not os.path.exists(os.path.normpath(os.path.join(d, r))):
                err(f"{kpath} lists {r}, which does not exist")
        for img in k.get("images", []) or []:
            ref = img.get("newName", img.get("name", "")) + (":" + str(img["newTag"]) if "newTag" in img else "")
            if img.get("digest"):
                ref += "@" + img["digest"]
            if image_tag_problem(ref):
                err(f"{kpath}: images: {image_tag_problem(ref)}")
        listed = {os.path.normpath(os.path.join(d, r)) for r in refs}
        files = [f for f in glob.glob(os.path.join(d, "*.y*ml")) if os.path.basename(f) not in
                 ("kustomization.yaml", "kustomization.yml")]
        for f in sorted(files):
            if os.path.normpath(f) not in listed:
                err(f"{kpath} does not list {os.path.basename(f)}")
            # Tags as written, before kustomize's `images:` rewrites them.
            for img in re.findall(r"^\s*-?\s*image:\s*[\"']?([^\s\"'#]+)", open(f).read(), flags=re.M):
                if image_tag_problem(img):
                    err(f"{os.path.relpath(f, k8s)}: {image_tag_problem(img)}")
        if d != k8s:
            name = os.path.basename(d)
            if k.get("kind") != "Component":
                err(f"{kpath}: a sub-folder of k8s/ must be a kustomize Component (kind: Component)")
            if name not in comps_offered(root_text) and name not in (yaml.safe_load(root_text) or {}).get("components", []):
                err(f"component {name}/ is neither used nor offered in a commented `# components:` block of k8s/kustomization.yaml")
    return "kustomization.yaml files list every manifest; image tags as written"


def comps_offered(text):
    out, inside = [], False
    for l in text.splitlines():
        if re.fullmatch(r"#\s*components:\s*", l):
            inside = True
            continue
        m = re.fullmatch(r"#\s+-\s+(\S+)\s*", l)
        if inside and m:
            out.append(m.group(1))
        else:
            inside = False
    return out


def enable_components(kfile):
    text = open(kfile).read()
    names = comps_offered(text)
    if not names:
        print("no commented components to enable")
        return
    new, inside = [], False
    for l in text.splitlines():
        if re.fullmatch(r"#\s*components:\s*", l):
            inside = True
            new.append("components:")
            continue
        m = re.fullmatch(r"#\s+-\s+(\S+)\s*", l)
        if inside and m:
            new.append(f"  - {m.group(1)}")
            continue
        inside = False
        new.append(l)
    open(kfile, "w").write("\n".join(new) + "\n")
    print("enabled components: " + ", ".join(names))


def port_names(container):
    return {p.get("name") for p in container.get("ports", []) if p.get("name")} | \
        {p.get("containerPort") for p in container.get("ports", [])}


def env_value(c, name):
    for e in c.get("env", []) or []:
        if e.get("name") == name:
            return e.get("value")
    return None


def check_k8s(rendered, label):
    docs = load_docs(rendered)
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d.get("kind"), []).append(d)
        if (d.get("metadata") or {}).get("namespace"):
            err(f"{d['kind']}/{d['metadata'].get('name')}: sets metadata.namespace (the manifests are namespace-free)")
    cms = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    secrets = {d["metadata"]["name"]: d for d in by_kind.get("Secret", [])}
    deps = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", []) + by_kind.get("StatefulSet", [])}
    for kind in ("Deployment", "Service", "Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                 "ConfigMap", "Secret"):
        if kind not in by_kind:
            err(f"no {kind} in the rendered manifests")
    admin_ports = {}
    for name, d in deps.items():
        spec = d["spec"]
        tpl = spec["template"]
        labels = tpl["metadata"].get("labels", {})
        sel = spec["selector"].get("matchLabels", {})
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            err(f"{name}: selector {sel} does not match the pod template labels {labels}")
        pod = tpl["spec"]
        psc = pod.get("securityContext", {})
        if not psc.get("runAsNonRoot"):
            err(f"{name}: pod securityContext.runAsNonRoot is not true")
        if psc.get("runAsUser") == 0:
            err(f"{name}: runs as UID 0")
        vols = {v["name"] for v in pod.get("volumes", [])}
        for c in pod["containers"]:
            cid = f"{name}/{c['name']}"
            problem = image_tag_problem(c.get("image", ""))
            if problem:
                err(f"{cid}: {problem}")
            for probe in ("readinessProbe", "livenessProbe"):
                p = c.get(probe)
                if not p:
                    err(f"{cid}: no {probe}")
                    continue
                port = (p.get("httpGet") or p.get("tcpSocket") or {}).get("port")
                if port is not None and port not in port_names(c):
                    err(f"{cid}: {probe} port {port!r} is not a declared container port")
            csc = c.get("securityContext", {})
            if not csc.get("readOnlyRootFilesystem"):
                err(f"{cid}: readOnlyRootFilesystem is not true")
            if csc.get("allowPrivilegeEscalation") is not False:
                err(f"{cid}: allowPrivilegeEscalation is not false")
            if not (c.get("resources", {}).get("requests", {}) or {}).get("cpu"):
                err(f"{cid}: no CPU request (the CPU HPA needs one)")
            for m in c.get("volumeMounts", []):
                if m["name"] not in vols:
                    err(f"{cid}: mounts undefined volume {m['name']}")
            for ef in c.get("envFrom", []) or []:
                if "configMapRef" in ef and ef["configMapRef"]["name"] not in cms:
                    err(f"{cid}: envFrom ConfigMap {ef['configMapRef']['name']} is not defined")
                if "secretRef" in ef and ef["secretRef"]["name"] not in secrets:
                    err(f"{cid}: envFrom Secret {ef['secretRef']['name']} is not defined")
            for e in c.get("env", []) or []:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref and not ref.get("optional"):
                    s = secrets.get(ref["name"])
                    keys = set((s or {}).get("stringData", {}) or {}) | set((s or {}).get("data", {}) or {})
                    if ref["key"] not in keys:
                        err(f"{cid}: env {e['name']} needs key {ref['key']} of Secret {ref['name']}, not defined")
            args = c.get("args") or c.get("command") or []
            if "media" in args:
                if not pod.get("hostNetwork"):
                    print(f"  note: {cid} does not use hostNetwork; its UDP ports must be exposed another way")
                elif pod.get("dnsPolicy") != "ClusterFirstWithHostNet":
                    err(f"{cid}: hostNetwork without dnsPolicy ClusterFirstWithHostNet cannot resolve cluster Services")
                try:
                    first = int(str(env_value(c, "CROWDWIRE_MEDIA_BIND")).rsplit(":", 1)[1])
                    workers = int(env_value(c, "CROWDWIRE_MEDIA_WORKERS"))
                    health = int(str(env_value(c, "CROWDWIRE_HEALTH_BIND")).rsplit(":", 1)[1])
                except (TypeError, ValueError, IndexError):
                    err(f"{cid}: CROWDWIRE_MEDIA_BIND, CROWDWIRE_MEDIA_WORKERS and CROWDWIRE_HEALTH_BIND must be set")
                    continue
                udp = sorted(p["containerPort"] for p in c.get("ports", []) if p.get("protocol") == "UDP")
                if udp != list(range(first, first + workers)):
                    err(f"{cid}: UDP ports {udp} are not {first}..{first + workers - 1} (one per worker)")
                tcp = [p["containerPort"] for p in c.get("ports", []) if p.get("protocol", "TCP") == "TCP"]
                if health not in tcp:
                    err(f"{cid}: CROWDWIRE_HEALTH_BIND port {health} is not a declared TCP port")
            if "serve" in args and env_value(c, "CROWDWIRE_MEDIA_MODE") not in ("nodes", "embedded", "off"):
                err(f"{cid}: CROWDWIRE_MEDIA_MODE must be set (nodes, with the media Deployment)")
            if "serve" in args:
                try:
                    admin = int(str(env_value(c, "CROWDWIRE_ADMIN_BIND")).rsplit(":", 1)[1])
                except (TypeError, ValueError, IndexError):
                    err(f"{cid}: CROWDWIRE_ADMIN_BIND must be set (Prometheus scrapes /metrics there, on the pod IP)")
                    continue
                declared = [p for p in c.get("ports", []) if p.get("containerPort") == admin]
                if not declared:
                    err(f"{cid}: CROWDWIRE_ADMIN_BIND port {admin} is not a declared container port")
                admin_ports.setdefault(name, set()).update({admin} | {p.get("name") for p in declared})
                ann = tpl["metadata"].get("annotations") or {}
                if ann.get("prometheus.io/scrape") == "true" and str(ann.get("prometheus.io/port")) != str(admin):
                    err(f"{name}: prometheus.io/port is not the admin port {admin} (CROWDWIRE_ADMIN_BIND)")

    def matching(selector):
        return [n for n, d in deps.items()
                if selector and all(d["spec"]["template"]["metadata"].get("labels", {}).get(k) == v
                                    for k, v in selector.items())]

    services = {d["metadata"]["name"]: d for d in by_kind.get("Service", [])}
    for name, s in services.items():
        targets = matching(s["spec"].get("selector", {}))
        if not targets:
            err(f"Service {name}: selector matches no Deployment")
        for p in s["spec"].get("ports", []):
            tp = p.get("targetPort", p.get("port"))
            for t in targets:
                if not any(tp in port_names(c) for c in deps[t]["spec"]["template"]["spec"]["containers"]):
                    err(f"Service {name}: targetPort {tp!r} is not a port of {t}")
                if tp in admin_ports.get(t, set()):
                    err(f"Service {name}: exposes the admin port {tp!r} of {t} (metrics are not for the public)")
    for ing in by_kind.get("Ingress", []):
        for rule in ing["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                svc = path["backend"]["service"]
                s = services.get(svc["name"])
                if not s:
                    err(f"Ingress {ing['metadata']['name']}: backend Service {svc['name']} is not defined")
                    continue
                want = svc["port"].get("name") or svc["port"].get("number")
                if not any(want in (p.get("name"), p.get("port")) for p in s["spec"]["ports"]):
                    err(f"Ingress {ing['metadata']['name']}: Service {svc['name']} has no port {want!r}")
        ann = ing["metadata"].get("annotations", {})
        for a in ("nginx.ingress.kubernetes.io/proxy-read-timeout", "nginx.ingress.kubernetes.io/proxy-send-timeout"):
            if int(ann.get(a, 0)) < 120:
                err(f"Ingress {ing['metadata']['name']}: {a} is missing or below 120 s (WebSockets)")
    hpa_targets = set()
    for h in by_kind.get("HorizontalPodAutoscaler", []):
        ref = h["spec"]["scaleTargetRef"]
        if ref["name"] not in deps:
            err(f"HPA {h['metadata']['name']}: target {ref['kind']}/{ref['name']} is not defined")
        hpa_targets.add(ref["name"])
        if not any(m.get("type") == "Resource" and m["resource"]["name"] == "cpu" for m in h["spec"].get("metrics", [])):
            err(f"HPA {h['metadata']['name']}: no CPU metric")
    for n in deps:
        if n not in hpa_targets:
            err(f"Deployment {n} has no HorizontalPodAutoscaler")
    pdb_targets = set()
    for p in by_kind.get("PodDisruptionBudget", []):
        t = matching(p["spec"]["selector"].get("matchLabels", {}))
        if not t:
            err(f"PDB {p['metadata']['name']}: selector matches no Deployment")
        pdb_targets |= set(t)
    for n in deps:
        if n not in pdb_targets:
            err(f"Deployment {n} has no PodDisruptionBudget")
    return f"Kubernetes cross-references ({label})"


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    if mode == "enable-components":
        enable_components(*rest)
    else:
        label = {"dockerfile": check_dockerfile, "compose": check_compose, "haproxy": check_haproxy,
                 "kustomize-lists": check_kustomize_lists, "k8s": check_k8s}[mode](*rest)
        finish(label)  # exits 1 when any problem was recorded
PYEOF

# ------------------------------------------------------------------------- checks
FAILED=()
check() { # name command...
  local name="$1"
  shift
  if "$@"; then :; else FAILED+=("$name"); fi
}

dockerfile_lint() {
  local out
  out="$(node "$DFU" lint "$DEPLOY/Dockerfile" 2>&1)" || true
  if [[ -n "$out" ]]; then
    printf '%s\n' "$out" | sed 's/^/  /'
    echo "FAIL: dockerfile-utils lint reported problems in $DEPLOY/Dockerfile"
    return 1
  fi
  echo "ok: dockerfile-utils lint"
}

compose_check() {
  local f="$DEPLOY/docker-compose.yml" base=(env -i "PATH=$PATH" "HOME=$HOME")
  local secret="validate-deploy-0123456789abcdef-0123456789abcdef"
  if ! "${base[@]}" CROWDWIRE_JWT_SECRET="$secret" docker-compose -f "$f" config -q 2> "$WORK/compose.err"; then
    sed 's/^/  /' "$WORK/compose.err"
    echo "FAIL: docker-compose config rejected $f"
    return 1
  fi
  echo "ok: docker-compose config -q"
  if "${base[@]}" docker-compose -f "$f" config -q > /dev/null 2> "$WORK/compose-nosecret.err"; then
    echo "FAIL: $f is accepted without CROWDWIRE_JWT_SECRET (it must use \${CROWDWIRE_JWT_SECRET:?...})"
    return 1
  fi
  if ! grep -q CROWDWIRE_JWT_SECRET "$WORK/compose-nosecret.err"; then
    sed 's/^/  /' "$WORK/compose-nosecret.err"
    echo "FAIL: without CROWDWIRE_JWT_SECRET, docker-compose failed but not because of it"
    return 1
  fi
  echo "ok: refused without CROWDWIRE_JWT_SECRET"
  if docker compose version > /dev/null 2>&1; then # Compose v2 too, where Docker is installed
    "${base[@]}" CROWDWIRE_JWT_SECRET="$secret" docker compose -f "$f" config -q \
      || { echo "FAIL: docker compose (v2) config rejected $f"; return 1; }
    echo "ok: docker compose (v2) config -q"
  fi
  "${base[@]}" CROWDWIRE_JWT_SECRET="$secret" docker-compose -f "$f" config > "$WORK/compose.rendered.yml" \
    || { echo "FAIL: docker-compose config"; return 1; }
  "$PY" "$WORK/checks.py" compose "$WORK/compose.rendered.yml" "$DEPLOY"
}

haproxy_check() {
  local cfg="$DEPLOY/haproxy.cfg" out rc=0
  # Server names resolve only on the compose network: init-addr ...,none lets the check
  # pass without them; any other warning fails.
  out="$(haproxy -c -f "$cfg" 2>&1)" || rc=$?
  if [[ $rc -ne 0 ]]; then
    printf '%s\n' "$out" | sed 's/^/  /'
    echo "FAIL: haproxy -c rejected $cfg"
    return 1
  fi
  if printf '%s\n' "$out" | grep -E '\[(WARNING|ALERT)\]' | grep -v 'could not resolve address' | grep -q .; then
    printf '%s\n' "$out" | grep -E '\[(WARNING|ALERT)\]' | grep -v 'could not resolve address' | sed 's/^/  /'
    echo "FAIL: haproxy -c warned about $cfg"
    return 1
  fi
  echo "ok: haproxy -c"
  [[ -f "$WORK/compose.rendered.yml" ]] || { echo "FAIL: the compose file did not render; cannot cross-check haproxy.cfg"; return 1; }
  "$PY" "$WORK/checks.py" haproxy "$cfg" "$WORK/compose.rendered.yml"
}

k8s_check() {
  local k8s="$DEPLOY/k8s" v files=() ok=0
  "$PY" "$WORK/checks.py" kustomize-lists "$k8s" || ok=1
  while IFS= read -r f; do files+=("$f"); done < <(find "$k8s" -name '*.y*ml' ! -name 'kustomization.y*ml' | sort)
  [[ ${#files[@]} -gt 0 ]] || { echo "FAIL: no manifests in $k8s"; return 1; }
  if ! "${KUSTOMIZE[@]}" "$k8s" > "$WORK/k8s.yaml" 2> "$WORK/kustomize.err"; then
    sed 's/^/  /' "$WORK/kustomize.err"
    echo "FAIL: ${KUSTOMIZE[*]} $k8s"
    return 1
  fi
  echo "ok: ${KUSTOMIZE[*]} deploy/k8s"
  # The same with every component that kustomization.yaml offers in its commented block.
  cp -r "$k8s" "$WORK/k8s-components"
  "$PY" "$WORK/checks.py" enable-components "$WORK/k8s-components/kustomization.yaml" | sed 's/^/  /'
  if ! "${KUSTOMIZE[@]}" "$WORK/k8s-components" > "$WORK/k8s-components.yaml" 2> "$WORK/kustomize.err"; then
    sed 's/^/  /' "$WORK/kustomize.err"
    echo "FAIL: ${KUSTOMIZE[*]} with the optional components enabled"
    return 1
  fi
  echo "ok: ${KUSTOMIZE[*]} deploy/k8s with the optional components"
  for v in $K8S_VERSIONS; do
    if "$KV" -k "$v" --strict --quiet "${files[@]}" "$WORK/k8s.yaml" "$WORK/k8s-components.yaml" > "$WORK/kv.out" 2>&1 \
      && ! grep -qE '^(ERROR|WARN)' "$WORK/kv.out"; then
      echo "ok: kubernetes-validate --strict against Kubernetes $v (${#files[@]} files + 2 rendered sets)"
    else
      sed -e "s|$WORK/k8s-components.yaml|<rendered with components>|" -e "s|$WORK/k8s.yaml|<rendered deploy/k8s>|" \
        -e 's/^/  /' "$WORK/kv.out"
      echo "FAIL: kubernetes-validate --strict against Kubernetes $v"
      ok=1
    fi
  done
  "$PY" "$WORK/checks.py" k8s "$WORK/k8s.yaml" "deploy/k8s" || ok=1
  "$PY" "$WORK/checks.py" k8s "$WORK/k8s-components.yaml" "with components" || ok=1
  return $ok
}

say "Dockerfile ($DEPLOY/Dockerfile)"
check "Dockerfile lint" dockerfile_lint
check "Dockerfile structure" "$PY" "$WORK/checks.py" dockerfile "$DEPLOY" "$ROOT"

say "docker-compose ($DEPLOY/docker-compose.yml)"
check "docker-compose.yml" compose_check

say "load balancer ($DEPLOY/haproxy.cfg)"
check "haproxy.cfg" haproxy_check

say "Kubernetes ($DEPLOY/k8s)"
check "k8s manifests" k8s_check

if [[ ${#FAILED[@]} -gt 0 ]]; then
  joined="$(IFS='|'; echo "${FAILED[*]}")"
  printf '\nVALIDATE-DEPLOY FAILED: %s\n' "${joined//|/, }" >&2
  exit 1
fi
printf '\nvalidate-deploy: all checks passed for %s\n' "$DEPLOY"
