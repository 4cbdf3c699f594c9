# Shared by the build stages; each runs in its own mount and PID namespace,
# so whatever it mounts goes away with it, whether it succeeds or not.
set -eu

# cleanup ROOT removes what apt and dpkg leave behind that belongs in no
# layer (files that did not exist below leave no whiteout).
cleanup() {
	r=$1
	rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb \
		"$r"/var/log/apt/* "$r"/var/log/dpkg.log "$r"/var/log/alternatives.log \
		"$r"/var/lib/dpkg/*-old "$r"/var/cache/debconf/*-old "$r"/var/cache/ldconfig/aux-cache \
		"$r"/etc/resolv.conf "$r"/etc/hostname "$r"/tmp/* "$r"/var/tmp/*
}

# share_debs FROM TO hard-links FROM's packages into TO where missing: the
# machine's builds share one directory of downloaded packages.
share_debs() {
	find "$1" -maxdepth 1 -name '*.deb' -type f | while read -r f; do
		[ -e "$2/${f##*/}" ] || ln "$f" "$2/" 2>/dev/null || cp "$f" "$2/" || true
	done
}
