#!/bin/sh
# The Kairos bundle's installer: kairos-agent extracts the bundle image (Dockerfile.bundle) into a
# temporary directory and runs this script there on first boot (environment CONTAINERDIR, the
# extracted directory, and BUNDLE_TARGET). It copies the operator's rendered install
# (assets/kairos-operator.yaml, from `cargo xtask dist`) into the directory whose manifests the
# cluster's distribution applies by itself, after applying the image overrides of the node's
# configuration. POSIX sh; it needs only kairos-agent, awk, mkdir, cp and mv.
#
# Configuration (`kairos-agent config get <key>`, the node's cloud-config), with the keys and
# the directory choice of the upstream kairos-operator bundle:
#
#   kairosOperator.manifest_dir     the directory to write to; else
#   k0s.enabled: true, or k0s on PATH   /var/lib/k0s/manifests/kairos-operator/; else
#   k3s.enabled: true, or k3s on PATH   /var/lib/rancher/k3s/server/manifests/; else exit 1.
#
#   kairosOperator.images.operator       the operator's image (Deployment kairos-operator)
#   kairosOperator.images.nodeAgent      the node agent's image (DaemonSet kairos-node-agent)
#   kairosOperator.images.sentinel       the reboot pods' image (KAIROS_REBOOT_IMAGE)
#   kairosOperator.images.nodeOpDefault  a NodeOp's image when it names none (NODEOP_DEFAULT_IMAGE)
#
# The file written is always `kairos-operator.yaml`: deleting it removes nothing from the
# cluster by itself (see README.md, "Removing the Bundle Installation").
#
# Environment for tests and by-hand runs: ROOT (default empty) is prefixed to every directory
# written; CONTAINERDIR (default: this script's directory) holds assets/.
set -eu

# The images of the rendered install (deploy/default/kustomization.yaml `images:`); an override
# replaces the image of every container running one of them, whatever its tag.
OPERATOR_REPOSITORY=ghcr.io/kairos-io/kairos-operator-rs/operator
AGENT_REPOSITORY=ghcr.io/kairos-io/kairos-operator-rs/node-agent
MANIFEST=kairos-operator.yaml

log() {
    echo "kairos-operator bundle: $*"
}

die() {
    echo "kairos-operator bundle: error: $*" >&2
    exit 1
}

# The value of one configuration key, empty when unset (kairos-agent prints `null`).
config() {
    value=$(kairos-agent config get "$1" 2>/dev/null | tr -d '\n') || value=
    case $value in
        null | '""' | "''") value= ;;
    esac
    printf '%s' "$value"
}

command -v kairos-agent >/dev/null 2>&1 || die "kairos-agent not found on PATH"

bundle_dir=${CONTAINERDIR:-$(cd "$(dirname "$0")" && pwd)}
source_manifest="$bundle_dir/assets/$MANIFEST"
[ -f "$source_manifest" ] || die "$source_manifest is missing: the bundle image is incomplete"

manifest_dir=$(config kairosOperator.manifest_dir)
k0s=$(config k0s.enabled)
k3s=$(config k3s.enabled)
if [ -n "$manifest_dir" ]; then
    log "using kairosOperator.manifest_dir $manifest_dir"
elif [ "$k0s" = true ] || command -v k0s >/dev/null 2>&1; then
    log "k0s detected"
    manifest_dir=/var/lib/k0s/manifests/kairos-operator/
elif [ "$k3s" = true ] || command -v k3s >/dev/null 2>&1; then
    log "k3s detected"
    manifest_dir=/var/lib/rancher/k3s/server/manifests/
else
    die "cannot tell where to install the manifest: set k0s.enabled, k3s.enabled or kairosOperator.manifest_dir in the cloud-config"
fi
target_dir="${ROOT:-}/${manifest_dir#/}"
target_dir=${target_dir%/}

operator_image=$(config kairosOperator.images.operator)
agent_image=$(config kairosOperator.images.nodeAgent)
reboot_image=$(config kairosOperator.images.sentinel)
nodeop_image=$(config kairosOperator.images.nodeOpDefault)

mkdir -p "$target_dir"
# Written beside the target under a name the distributions do not apply, then renamed: they
# never read a half-written manifest.
partial="$target_dir/.$MANIFEST.partial"
trap 'rm -f "$partial"' EXIT

# The overlays: container images replaced, and the operator's environment extended, in the
# rendered install (`kubectl kustomize` output: one `image:` per container, the operator's
# Deployment with one container whose `env:` list is present).
awk -v operator_repo="$OPERATOR_REPOSITORY" -v operator_image="$operator_image" \
    -v agent_repo="$AGENT_REPOSITORY" -v agent_image="$agent_image" \
    -v reboot_image="$reboot_image" -v nodeop_image="$nodeop_image" '
# The repository of an image reference: without its digest, and without a tag after the last /.
function repository(ref,   r) {
    r = ref
    sub(/@.*/, "", r)
    if (match(r, /:[^\/]*$/)) r = substr(r, 1, RSTART - 1)
    return r
}
function env_item(indent, name, value) {
    print indent "- name: " name
    print indent "  value: \"" value "\""
}
BEGIN { want_env = (reboot_image != "" || nodeop_image != ""); env_done = 0 }
/^---/ { kind = ""; pending = 0 }
/^kind: / { kind = $2 }
pending {
    match($0, /^ */)
    indent = substr($0, 1, RLENGTH)
    if (reboot_image != "") env_item(indent, "KAIROS_REBOOT_IMAGE", reboot_image)
    if (nodeop_image != "") env_item(indent, "NODEOP_DEFAULT_IMAGE", nodeop_image)
    pending = 0
    env_done = 1
}
kind == "Deployment" && want_env && !env_done && /^ *(- )?env:$/ { pending = 1 }
/^ *(- )?image: / {
    ref = $NF
    gsub(/["\047]/, "", ref)
    repo = repository(ref)
    new = ""
    if (repo == operator_repo && operator_image != "") new = operator_image
    if (repo == agent_repo && agent_image != "") new = agent_image
    if (new != "") {
        sub(/image: .*/, "image: " new)
        replaced[repo] = 1
    }
}
{ print }
END {
    if (want_env && !env_done) { print "no env: list in the operator Deployment" | "cat 1>&2"; exit 3 }
    if (operator_image != "" && !(operator_repo in replaced)) { print "no container runs " operator_repo | "cat 1>&2"; exit 3 }
    if (agent_image != "" && !(agent_repo in replaced)) { print "no container runs " agent_repo | "cat 1>&2"; exit 3 }
}' "$source_manifest" >"$partial" || die "could not apply the image overrides to $source_manifest"

for override in "operator:$operator_image" "nodeAgent:$agent_image" "sentinel:$reboot_image" "nodeOpDefault:$nodeop_image"; do
    case $override in
        *:) ;;
        *) log "image ${override%%:*} set to ${override#*:}" ;;
    esac
done
mv -f "$partial" "$target_dir/$MANIFEST"
log "installed $target_dir/$MANIFEST"
