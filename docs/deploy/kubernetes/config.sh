#!/bin/sh
# Print the ConfigMaps and Secrets that deployment.yaml mounts, made from a
# regauthd configuration directory:
#
#   sh config.sh /etc/regauth | kubectl -n regauth apply -f -
#   kubectl -n regauth rollout restart deployment/regauthd
#
# Secrets: keys/*.key (private signing keys), users with a password hash,
# tls/. Everything else is public and goes in ConfigMaps. keys/ca.key is
# never copied: the CA key is needed only by `regauthd keys rotate`, which
# runs where the directory lives. Each object must stay under 1 MiB.
set -eu

dir=${1:?usage: config.sh DIR [NAMESPACE]}
ns=${2:-regauth}
[ -f "$dir/regauthd.json" ] || { echo "config.sh: $dir/regauthd.json: no such file" >&2; exit 2; }

# emit KIND NAME DIR [find tests...]: one object holding the regular files
# of DIR that pass the tests (none: no object), then "---".
emit() {
	kind=$1 name=$2 d=$3
	shift 3
	[ -d "$d" ] || return 0
	list=$(find "$d" -mindepth 1 -maxdepth 1 -type f ! -name '.*' "$@" -print | sort)
	[ -n "$list" ] || return 0
	set --
	saved=$IFS
	IFS='
'
	for f in $list; do
		set -- "$@" "--from-file=$f"
	done
	IFS=$saved
	if [ "$kind" = secret ]; then
		kubectl -n "$ns" create secret generic "$name" "$@" --dry-run=client -o yaml
	else
		kubectl -n "$ns" create configmap "$name" "$@" --dry-run=client -o yaml
	fi
	echo ---
}

set -f
emit configmap regauth-settings "$dir" -name regauthd.json
emit configmap regauth-keys-public "$dir/keys" ! -name '*.key'
emit secret regauth-keys "$dir/keys" -name '*.key' ! -name ca.key
emit configmap regauth-users "$dir/users" ! -exec grep -q '"password"' {} ';'
emit secret regauth-user-passwords "$dir/users" -exec grep -q '"password"' {} ';'
for d in policies groups serviceaccounts roles oidc repositories; do
	emit configmap "regauth-$d" "$dir/$d"
done
emit secret regauth-tls "$dir/tls"
