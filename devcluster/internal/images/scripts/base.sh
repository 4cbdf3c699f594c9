# Stage "base": a suite's minbase plus the common packages, by mmdebstrap
# into $TARGET; the arguments are mmdebstrap's.
mmdebstrap "$@"
cleanup "$TARGET"
