package discovery

import (
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// CollectorPath is where the collector script is installed in the container (config-manager
// uploads it with the rest of its files).
const CollectorPath = "/etc/config-manager/collect-services.sh"

// CollectCommand runs the collector; its stdout is the document ParseSnapshot reads.
const CollectCommand = "/bin/bash " + CollectorPath

//go:embed collect-services.sh
var collectorScript []byte

// CollectorScript returns the collector script.
func CollectorScript() []byte { return append([]byte(nil), collectorScript...) }

const (
	documentMagic  = "lxctm-discovery 1\n"
	maxSectionSize = 8 << 20
)

// Section kinds of the collector's document.
const (
	sectionSockets     = "ss"
	sectionCgroup      = "cgroup"
	sectionUnits       = "units"
	sectionCredentials = "credentials"
	sectionStderr      = "stderr"
	sectionProblem     = "problem"
)

// Snapshot is what the collector saw in one run.
type Snapshot struct {
	Sockets []Socket
	// UnitByPID maps the pid of each socket's processes to its systemd unit, where one was found.
	UnitByPID map[int]string
	// Running is the running services.
	Running     []Unit
	Credentials []CredentialsFile
	// Problems are what went wrong in the container or in parsing, short of a broken document:
	// a failed command, lines that were not understood. They never quote credentials.
	Problems []string
}

// ParseSnapshot reads the collector's document. The error is for a document that is not one
// (wrong start, bad framing, cut short); everything inside that went wrong is in Problems.
func ParseSnapshot(doc []byte) (*Snapshot, error) {
	rest, ok := strings.CutPrefix(string(doc), documentMagic)
	if !ok {
		return nil, errors.New("collector output does not start with " + strconv.Quote(strings.TrimSpace(documentMagic)))
	}
	snap := &Snapshot{UnitByPID: map[int]string{}}
	sawSockets, sawUnits := false, false
	for {
		header, after, found := strings.Cut(rest, "\n")
		if !found {
			return nil, errors.New("collector output is cut short: no end line")
		}
		if header == "end" {
			break
		}
		kind, status, content, arg, next, err := readSection(header, after)
		if err != nil {
			return nil, err
		}
		rest = next
		switch kind {
		case sectionSockets:
			sawSockets = true
			if status != 0 {
				snap.Problems = append(snap.Problems, fmt.Sprintf("ss exited with status %d", status))
			}
			sockets, err := ParseSockets(content)
			snap.Sockets = append(snap.Sockets, sockets...)
			snap.addProblems(err)
		case sectionCgroup:
			pid, err := strconv.Atoi(arg)
			if err != nil || pid <= 0 {
				snap.Problems = append(snap.Problems, "cgroup section without a pid")
				continue
			}
			// A process that exited between ss and cat has no cgroup: not a problem.
			if status != 0 {
				continue
			}
			if unit, ok := UnitFromCgroup(content); ok {
				snap.UnitByPID[pid] = unit
			}
		case sectionUnits:
			sawUnits = true
			if status != 0 {
				snap.Problems = append(snap.Problems, fmt.Sprintf("systemctl list-units exited with status %d", status))
			}
			units, err := ParseUnits(content)
			snap.Running = append(snap.Running, units...)
			snap.addProblems(err)
		case sectionCredentials:
			if status != 0 {
				snap.Problems = append(snap.Problems, fmt.Sprintf("reading credentials file %s failed with status %d", truncate(arg), status))
				continue
			}
			f := ParseCredentialsFile(arg, []byte(content))
			snap.Credentials = append(snap.Credentials, f)
			snap.addProblems(f.Err)
		case sectionStderr:
			// Only for commands that print no secrets: credentials files are read by cat,
			// whose errors name the file, never its content.
			snap.Problems = append(snap.Problems, fmt.Sprintf("%s: %s", truncate(arg), message(content)))
		case sectionProblem:
			snap.Problems = append(snap.Problems, message(content))
		}
	}
	if !sawSockets {
		snap.Problems = append(snap.Problems, "collector output has no ss section")
	}
	if !sawUnits {
		snap.Problems = append(snap.Problems, "collector output has no units section")
	}
	return snap, nil
}

// readSection reads one "section KIND STATUS SIZE [ARG]" header and its content.
func readSection(header, rest string) (kind string, status int, content, arg, next string, err error) {
	fields := strings.SplitN(header, " ", 5)
	if len(fields) < 4 || fields[0] != "section" {
		return "", 0, "", "", "", errors.New("collector output has a malformed section header")
	}
	kind = fields[1]
	if status, err = strconv.Atoi(fields[2]); err != nil {
		return "", 0, "", "", "", fmt.Errorf("section %s: status is not a number", truncate(kind))
	}
	size, err := strconv.Atoi(fields[3])
	if err != nil || size < 0 || size > maxSectionSize {
		return "", 0, "", "", "", fmt.Errorf("section %s: size is not a number up to %d", truncate(kind), maxSectionSize)
	}
	if len(fields) == 5 {
		arg = fields[4]
	}
	if len(rest) < size+1 {
		return "", 0, "", "", "", fmt.Errorf("section %s is cut short", truncate(kind))
	}
	if rest[size] != '\n' {
		return "", 0, "", "", "", fmt.Errorf("section %s does not end where its size says", truncate(kind))
	}
	return kind, status, rest[:size], arg, rest[size+1:], nil
}

func (s *Snapshot) addProblems(err error) {
	if err == nil {
		return
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			s.Problems = append(s.Problems, e.Error())
		}
		return
	}
	s.Problems = append(s.Problems, err.Error())
}

// message is the first line of a collector message, cut to a length fit for a condition.
func message(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	if len(line) > 240 {
		return line[:240] + "…"
	}
	return line
}
