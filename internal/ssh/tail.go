package ssh

import (
	"bytes"
	"io"
	"strings"
)

// maxTailBytes bounds how far back tailLines reads, whatever the number of lines asked for.
const maxTailBytes = 64 << 10

// tailLines returns the last n lines of the first size bytes of r, without the final newline,
// reading backwards at most maxTailBytes. A line cut by that bound is dropped. The result is
// valid UTF-8, as Kubernetes status needs.
func tailLines(r io.ReaderAt, size int64, n int) (string, error) {
	if n <= 0 || size <= 0 {
		return "", nil
	}
	const chunk = 4096
	var buf []byte
	end := size
	for end > 0 && int64(len(buf)) < maxTailBytes {
		step := min(int64(chunk), end, maxTailBytes-int64(len(buf)))
		part := make([]byte, step)
		if _, err := r.ReadAt(part, end-step); err != nil && err != io.EOF {
			return "", err
		}
		buf = append(part, buf...)
		end -= step
		// n lines need n newlines before them, not counting a newline that ends the file.
		if bytes.Count(bytes.TrimSuffix(buf, []byte("\n")), []byte("\n")) >= n {
			break
		}
	}
	text := strings.TrimSuffix(string(buf), "\n")
	lines := strings.Split(text, "\n")
	if end > 0 {
		// The first line started before what was read.
		lines = lines[1:]
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.ToValidUTF8(strings.Join(lines, "\n"), "\uFFFD"), nil
}
