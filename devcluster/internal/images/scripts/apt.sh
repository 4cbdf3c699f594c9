# Stage "apt": apt-get install $PACKAGES in a chroot on an overlayfs of
# $LOWER (colon-separated, topmost first) whose upper dir $UPPER becomes the
# layer. The suite's package lists ($LISTS) and downloaded packages
# ($ARCHIVES) are mounted from the machine's cache, so they stay out of it.
m=$MERGED
mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$UPPER,workdir=$WORK,redirect_dir=off,index=off,metacopy=off" "$m"
mount -t proc proc "$m/proc"
mount --rbind /dev "$m/dev"
mount -t tmpfs tmpfs "$m/tmp"
mkdir -p "$LISTS" "$PRIVATE_ARCHIVES/partial"
share_debs "$ARCHIVES" "$PRIVATE_ARCHIVES"
mount --bind "$PRIVATE_ARCHIVES" "$m/var/cache/apt/archives"
mount --bind "$LISTS" "$m/var/lib/apt/lists"
cp /etc/resolv.conf "$m/etc/resolv.conf"
# Services that packages would start (lighttpd) must not run here.
printf '#!/bin/sh\nexit 101\n' >"$m/usr/sbin/policy-rc.d"
chmod 755 "$m/usr/sbin/policy-rc.d"
# Packages of $MAIN_ONLY never come from the security archive (see
# Recipe.MainArchive); the pin is this stage's only, not the layer's.
pin=$m/etc/apt/preferences.d/devcluster-main-archive
if [ -n "${MAIN_ONLY:-}" ]; then
	printf 'Package: %s\nPin: release l=Debian-Security\nPin-Priority: -1\n' "$MAIN_ONLY" >"$pin"
fi
# Man pages are not installed, but update-alternatives links them and fails
# when their directory is missing (openjdk's java.1.gz).
mkdir -p "$m/usr/share/man/man1"
export DEBIAN_FRONTEND=noninteractive
# The lists stay compressed on disk: a quarter of the space.
apt="apt-get -q -o Acquire::GzipIndexes=true -o Acquire::CompressionTypes::Order::=gz"
# shellcheck disable=SC2086 # a command and its options
flock "$LISTS.lock" chroot "$m" $apt update
# shellcheck disable=SC2086 # a list of package names
flock -s "$LISTS.lock" chroot "$m" $apt -y install --no-install-recommends $PACKAGES
rm -f "$m/usr/sbin/policy-rc.d" "$pin"
share_debs "$PRIVATE_ARCHIVES" "$ARCHIVES"
umount "$m/var/lib/apt/lists" "$m/var/cache/apt/archives" "$m/tmp" "$m/proc"
umount -R "$m/dev"
cleanup "$m"
