package pvesim

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Backup archives are the files vzdump writes to a storage's dump directory. Their names
// carry the guest and the time (pve-storage Storage.pm archive_info); the container's config
// travels inside, as ./etc/vzdump/pct.conf (pve-container VZDump/LXC.pm assemble).

var (
	// backupFileRE is pve-storage's BACKUP_EXT_RE_2 on a file name: the format is group 2.
	backupFileRE = regexp.MustCompile(`^([^/]+\.(tgz|(?:tar|vma)(?:\.(gz|lzo|zst|bz2))?))$`)
	// stdBackupRE is archive_info's standard name, vzdump-<type>-<vmid>-<date>-<time>.<ext>.
	stdBackupRE = regexp.MustCompile(`^vzdump-(lxc|openvz|qemu)-([1-9][0-9]{2,8})-(\d{4}_\d{2}_\d{2}-\d{2}_\d{2}_\d{2})\.(tgz|(?:tar|vma)(?:\.(?:gz|lzo|zst|bz2))?)$`)
	anyBackupRE = regexp.MustCompile(`^vzdump-(lxc|openvz|qemu)-`)
	tarFileRE   = regexp.MustCompile(`\.tar(\.[^.]+)?$`)
)

// backupTimeLayout is vzdump's strftime("-%Y_%m_%d-%H_%M_%S", localtime) without the dash.
const backupTimeLayout = "2006_01_02-15_04_05"

// archiveInfo is what archive_info reads from a backup's file name.
type archiveInfo struct {
	typ    string // lxc, qemu, openvz; "" when the name is not vzdump's
	vmid   int    // 0 unless the name is standard
	ctime  time.Time
	format string // tar, tar.zst, tgz, …
	std    bool
}

func parseArchiveName(name string) (archiveInfo, bool) {
	m := backupFileRE.FindStringSubmatch(name)
	if m == nil {
		return archiveInfo{}, false
	}
	info := archiveInfo{format: m[2]}
	if t := anyBackupRE.FindStringSubmatch(name); t != nil {
		info.typ = t[1]
	}
	if s := stdBackupRE.FindStringSubmatch(name); s != nil {
		info.vmid, _ = strconv.Atoi(s[2])
		if ct, err := time.ParseInLocation(backupTimeLayout, s[3], time.Local); err == nil {
			info.ctime, info.std = ct, true
		}
	}
	return info, true
}

// archiveName is the file vzdump writes for a container backup started at t.
func archiveName(vmid int, t time.Time, compress string) string {
	name := fmt.Sprintf("vzdump-lxc-%d-%s.tar", vmid, t.Local().Format(backupTimeLayout))
	if _, ext := compressor(compress); ext != "" {
		name += "." + ext
	}
	return name
}

// compressor is vzdump's compressor_info: the command and the file extension of a compress
// option (zstd with its default of one thread).
func compressor(compress string) (cmd []string, ext string) {
	switch compress {
	case "1", "lzo":
		return []string{"lzop"}, "lzo"
	case "gzip":
		return []string{"gzip", "--rsyncable"}, "gz"
	case "zstd":
		return []string{"zstd", "--threads=1"}, "zst"
	}
	return nil, ""
}

// decompressor undoes a compression extension, as restore's tar_compression_option picks
// tar's filter by it.
func decompressor(file string) ([]string, error) {
	m := tarFileRE.FindStringSubmatch(file)
	if m == nil {
		return nil, fmt.Errorf("file does not look like a template archive: %s", file)
	}
	switch m[1] {
	case "":
		return nil, nil
	case ".gz":
		return []string{"gzip", "-d", "-c"}, nil
	case ".bz2":
		return []string{"bzip2", "-d", "-c"}, nil
	case ".xz":
		return []string{"xz", "-d", "-c"}, nil
	case ".lzo":
		return []string{"lzop", "-d", "-c"}, nil
	case ".zst":
		return []string{"zstd", "-q", "-d", "-c"}, nil
	}
	return nil, fmt.Errorf("unrecognized compression format: %s", m[1])
}

// writeArchive creates file with what produce writes, through the compressor if any.
func writeArchive(ctx context.Context, file string, compressCmd []string, produce func(io.Writer) error) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if compressCmd == nil {
		if err := produce(f); err != nil {
			return err
		}
		return f.Close()
	}
	cmd := exec.CommandContext(ctx, compressCmd[0], compressCmd[1:]...)
	cmd.Stdout = f
	var stderr strings.Builder
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("unable to start %s: %v", compressCmd[0], err)
	}
	perr := produce(in)
	in.Close()
	werr := cmd.Wait()
	if perr != nil {
		return perr
	}
	if werr != nil {
		return fmt.Errorf("%s failed: %v %s", compressCmd[0], werr, strings.TrimSpace(stderr.String()))
	}
	return f.Close()
}

// readArchive hands the uncompressed tar stream of file to consume.
func readArchive(ctx context.Context, file string, consume func(io.Reader) error) error {
	decompressCmd, err := decompressor(file)
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if decompressCmd == nil {
		return consume(f)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, decompressCmd[0], decompressCmd[1:]...)
	cmd.Stdin = f
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("unable to start %s: %v", decompressCmd[0], err)
	}
	cerr := consume(out)
	// What consume left unread must not block the decompressor.
	_, _ = io.Copy(io.Discard, out)
	werr := cmd.Wait()
	if cerr != nil {
		return cerr
	}
	if werr != nil {
		return fmt.Errorf("%s failed: %v %s", decompressCmd[0], werr, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// errNoArchiveConfig is extract_vzdump_config_tar's error for an archive without pct.conf.
var errNoArchiveConfig = errors.New("ERROR: archive contains no configuration file")

// archiveConfig reads ./etc/vzdump/pct.conf from a backup archive, as recover_config does.
func archiveConfig(ctx context.Context, file string) (string, error) {
	if !fileExists(file) {
		return "", fmt.Errorf("ERROR: file '%s' does not exist", file)
	}
	var conf string
	err := readArchive(ctx, file, func(r io.Reader) error {
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return errNoArchiveConfig
			}
			if err != nil {
				return err
			}
			if path.Clean("/"+h.Name) == "/etc/vzdump/pct.conf" {
				data, err := io.ReadAll(io.LimitReader(tr, 1<<20))
				conf = string(data)
				return err
			}
		}
	})
	return conf, err
}
