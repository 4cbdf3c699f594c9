// Package homefs writes files into directories that an untrusted user
// controls: a tool's home. The platform runs as root and the tool may plant
// symlinks, FIFOs, huge files or hard links where the platform expects its
// own files, so:
//
//   - every path is resolved relative to an open directory with openat2
//     RESOLVE_NO_SYMLINKS|RESOLVE_BENEATH: no symlink is ever followed;
//   - files are replaced, never modified in place: written to a fresh
//     temporary file (O_EXCL), given their mode and owner through that new
//     file's descriptor, then renamed over the old name (rename replaces a
//     symlink itself, not its target);
//   - reads accept only regular files of bounded size, opened non-blocking.
package homefs

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// MaxFileSize bounds what Read accepts; a tool can make its files as big as
// its quota allows, and the platform must not read them into memory.
const MaxFileSize = 1 << 20

// ErrNotRegular is returned for a symlink, FIFO, device or directory where a
// regular file was expected, and for a file over MaxFileSize.
var ErrNotRegular = errors.New("not a regular file")

// tempMarker names temporary files so that leftovers of a crash can be
// recognised and removed.
const tempMarker = ".tf-tmp-"

// Owner is who files are given to. Chown is skipped when not running as
// root (tests, dev setups), where it would fail anyway.
type Owner struct {
	UID, GID int
}

// Dir is an open directory inside a home.
type Dir struct {
	f     *os.File
	path  string // for messages only; never used to open anything
	owner Owner
	chown bool
}

var canChown = os.Geteuid() == 0

// OpenHome opens an existing home directory. The home path comes from the
// platform's configuration (its parent is not the tool's), but the home's
// last component must not be a symlink either.
func OpenHome(path string, owner Owner) (*Dir, error) {
	fd, err := unix.Open(path, unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open home", Path: path, Err: err}
	}
	return &Dir{f: os.NewFile(uintptr(fd), path), path: path, owner: owner, chown: canChown}, nil
}

// EnsureHome creates the home directory (and its parents, owned by the
// platform) when it does not exist, giving the home itself to owner, and
// opens it.
func EnsureHome(path string, owner Owner, perm os.FileMode) (*Dir, error) {
	d, err := OpenHome(path, owner)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return d, err
	}
	parent := path[:strings.LastIndex(path, "/")]
	if parent != "" {
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", parent, err)
		}
	}
	if err := unix.Mkdir(path, uint32(perm)); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, &os.PathError{Op: "mkdir", Path: path, Err: err}
	}
	d, err = OpenHome(path, owner)
	if err != nil {
		return nil, err
	}
	if err := d.fixDir(perm); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Close closes the directory.
func (d *Dir) Close() error { return d.f.Close() }

// Path is the directory's path, for messages.
func (d *Dir) Path() string { return d.path }

func (d *Dir) fd() int { return int(d.f.Fd()) }

func (d *Dir) sub(name string) string { return d.path + "/" + name }

func openBeneath(dirfd int, name string, flags uint64, mode uint64) (int, error) {
	return unix.Openat2(dirfd, name, &unix.OpenHow{
		Flags:   flags | unix.O_CLOEXEC,
		Mode:    mode,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	})
}

// Subdir opens (creating it when missing) the directory name inside d, owned
// by d's owner with perm. Anything else found under that name (a symlink,
// a file) is removed first: it is the tool's to lose, and following it is
// not an option.
func (d *Dir) Subdir(name string, perm os.FileMode) (*Dir, error) {
	if strings.Contains(name, "/") || name == "" || name == "." || name == ".." {
		return nil, fmt.Errorf("subdir %q: one path component expected", name)
	}
	for attempt := 0; attempt < 3; attempt++ {
		fd, err := openBeneath(d.fd(), name, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_NOFOLLOW, 0)
		if err == nil {
			sub := &Dir{f: os.NewFile(uintptr(fd), d.sub(name)), path: d.sub(name), owner: d.owner, chown: d.chown}
			if err := sub.fixDir(perm); err != nil {
				sub.Close()
				return nil, err
			}
			return sub, nil
		}
		switch {
		case errors.Is(err, unix.ENOENT):
			if err := unix.Mkdirat(d.fd(), name, uint32(perm)); err != nil && !errors.Is(err, unix.EEXIST) {
				return nil, &os.PathError{Op: "mkdir", Path: d.sub(name), Err: err}
			}
		case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.EXDEV):
			// A symlink or a non-directory sits where our directory goes.
			if err := unix.Unlinkat(d.fd(), name, 0); err != nil {
				return nil, &os.PathError{Op: "remove", Path: d.sub(name), Err: err}
			}
		default:
			return nil, &os.PathError{Op: "open", Path: d.sub(name), Err: err}
		}
	}
	return nil, fmt.Errorf("open %s: it keeps changing under us", d.sub(name))
}

// fixDir gives a directory we opened its owner and mode. A directory cannot
// be hard-linked, so changing it through its descriptor is safe.
func (d *Dir) fixDir(perm os.FileMode) error {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd(), &st); err != nil {
		return &os.PathError{Op: "stat", Path: d.path, Err: err}
	}
	if st.Mode&0o7777 != uint32(perm) {
		if err := unix.Fchmod(d.fd(), uint32(perm)); err != nil {
			return &os.PathError{Op: "chmod", Path: d.path, Err: err}
		}
	}
	if d.chown && (int(st.Uid) != d.owner.UID || int(st.Gid) != d.owner.GID) {
		if err := unix.Fchown(d.fd(), d.owner.UID, d.owner.GID); err != nil {
			return &os.PathError{Op: "chown", Path: d.path, Err: err}
		}
	}
	return nil
}

// FileInfo is what Read reports about a file besides its content.
type FileInfo struct {
	Mode  os.FileMode // permission bits
	UID   int
	GID   int
	Links int
}

// Drifted says whether a file found by Read is not as this package would
// have written it: another mode or owner, or extra hard links (through
// which a tool could make the platform touch someone else's file). Such a
// file is rewritten, never fixed in place.
func (d *Dir) Drifted(info FileInfo, perm os.FileMode) bool {
	if info.Mode != perm || info.Links != 1 {
		return true
	}
	return d.chown && (info.UID != d.owner.UID || info.GID != d.owner.GID)
}

// Read returns the content of the regular file name in d. A missing file is
// an error satisfying errors.Is(err, os.ErrNotExist); anything but a regular
// file of at most MaxFileSize is ErrNotRegular.
func (d *Dir) Read(name string) ([]byte, FileInfo, error) {
	fd, err := openBeneath(d.fd(), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
			return nil, FileInfo{}, fmt.Errorf("%s: %w (a symlink)", d.sub(name), ErrNotRegular)
		}
		return nil, FileInfo{}, &os.PathError{Op: "open", Path: d.sub(name), Err: err}
	}
	f := os.NewFile(uintptr(fd), d.sub(name))
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, FileInfo{}, &os.PathError{Op: "stat", Path: d.sub(name), Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, FileInfo{}, fmt.Errorf("%s: %w", d.sub(name), ErrNotRegular)
	}
	if st.Size > MaxFileSize {
		return nil, FileInfo{}, fmt.Errorf("%s: %w (%d bytes, more than %d)", d.sub(name), ErrNotRegular, st.Size, MaxFileSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, FileInfo{}, fmt.Errorf("read %s: %w", d.sub(name), err)
	}
	info := FileInfo{Mode: os.FileMode(st.Mode & 0o7777), UID: int(st.Uid), GID: int(st.Gid), Links: int(st.Nlink)}
	return data, info, nil
}

// Write replaces the file name in d with data, mode perm, owned by d's
// owner, atomically: readers see the old file or the new one, never a part.
func (d *Dir) Write(name string, data []byte, perm os.FileMode) error {
	tmp := tempName(name)
	fd, err := openBeneath(d.fd(), tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW, uint64(perm))
	if err != nil {
		return &os.PathError{Op: "create", Path: d.sub(tmp), Err: err}
	}
	f := os.NewFile(uintptr(fd), d.sub(tmp))
	cleanup := func(err error) error {
		_ = f.Close() // the write already failed: that error is the one to report
		_ = unix.Unlinkat(d.fd(), tmp, 0)
		return err
	}
	if _, err := f.Write(data); err != nil {
		return cleanup(fmt.Errorf("write %s: %w", d.sub(name), err))
	}
	// The umask may have narrowed perm at creation.
	if err := unix.Fchmod(fd, uint32(perm)); err != nil {
		return cleanup(&os.PathError{Op: "chmod", Path: d.sub(tmp), Err: err})
	}
	if d.chown {
		if err := unix.Fchown(fd, d.owner.UID, d.owner.GID); err != nil {
			return cleanup(&os.PathError{Op: "chown", Path: d.sub(tmp), Err: err})
		}
	}
	if err := f.Sync(); err != nil {
		return cleanup(fmt.Errorf("sync %s: %w", d.sub(name), err))
	}
	if err := f.Close(); err != nil {
		return cleanup(fmt.Errorf("close %s: %w", d.sub(name), err))
	}
	if err := unix.Renameat(d.fd(), tmp, d.fd(), name); err != nil {
		_ = unix.Unlinkat(d.fd(), tmp, 0)
		return &os.PathError{Op: "rename", Path: d.sub(name), Err: err}
	}
	return nil
}

// Rename renames old to new inside d (neither is followed if a symlink).
func (d *Dir) Rename(oldName, newName string) error {
	if err := unix.Renameat(d.fd(), oldName, d.fd(), newName); err != nil {
		return &os.PathError{Op: "rename", Path: d.sub(oldName), Err: err}
	}
	return nil
}

// Remove removes the file (or symlink) name from d; a missing one is fine.
func (d *Dir) Remove(name string) error {
	if err := unix.Unlinkat(d.fd(), name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "remove", Path: d.sub(name), Err: err}
	}
	return nil
}

// Exists reports whether anything (not following symlinks) is called name.
func (d *Dir) Exists(name string) (bool, error) {
	var st unix.Stat_t
	err := unix.Fstatat(d.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, &os.PathError{Op: "stat", Path: d.sub(name), Err: err}
	}
	return true, nil
}

// RemoveTemporaries deletes temporary files a crashed writer left in d.
func (d *Dir) RemoveTemporaries() error {
	names, err := readDirNames(d)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		if strings.Contains(n, tempMarker) {
			errs = append(errs, d.Remove(n))
		}
	}
	return errors.Join(errs...)
}

func readDirNames(d *Dir) ([]string, error) {
	// Read through a fresh descriptor: reading d.f would move its offset.
	fd, err := openBeneath(d.fd(), ".", unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: d.path, Err: err}
	}
	f := os.NewFile(uintptr(fd), d.path)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.path, err)
	}
	return names, nil
}

func tempName(name string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "." + name + tempMarker + hex.EncodeToString(b[:])
}
