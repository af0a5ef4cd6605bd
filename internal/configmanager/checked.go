package configmanager

import (
	"bytes"
	"fmt"
	"strings"
)

// CheckPassedMarker starts the line a checked script prints when its check passes and the
// script is not run.
const CheckPassedMarker = "check-passed:"

// RenderCheckedScript wraps script so that it runs only when check fails: the check is run
// with bash -c (as the original store's custom installers ran theirs), then the script from a
// private file, then the check again, which must now pass. The check and the script are
// embedded single-quoted, never evaluated while the wrapper is parsed.
func RenderCheckedScript(name, check string, script []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "#!/bin/bash\n# Runs script %s only when its check fails. Rendered by LXC Template Manager.\nset -uo pipefail\n", oneLine(name))
	b.WriteString("check=" + singleQuote(check) + "\n")
	b.WriteString("script=" + singleQuote(string(script)) + "\n")
	fmt.Fprintf(&b, `if bash -c "$check" >/dev/null 2>&1; then
	echo "%s the check of %s passes; not running it"
	exit 0
fi
echo "check-failed: the check of %s fails; running it"
file=$(mktemp -p /var/lib/config-manager lxctm-checked.XXXXXX 2>/dev/null || mktemp) || exit 1
trap 'rm -f "$file"' EXIT
printf '%%s' "$script" >"$file"
chmod 700 "$file"
# A script without a #! line runs with /bin/sh, as every other script does.
if [ "$(head -c 2 "$file")" = '#!' ]; then
	"$file"
else
	/bin/sh "$file"
fi
code=$?
if [ "$code" -ne 0 ]; then
	exit "$code"
fi
if ! bash -c "$check"; then
	echo "check-failed: %s finished but its check still fails" >&2
	exit 1
fi
echo "check-passed: %s is in place"
`, CheckPassedMarker, oneLine(name), oneLine(name), oneLine(name), oneLine(name))
	return b.Bytes()
}

func singleQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// oneLine keeps a name inside its comment or echo line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '\n', '\r', '"', '$', '`', '\\':
			return '_'
		}
		return r
	}, s)
}
