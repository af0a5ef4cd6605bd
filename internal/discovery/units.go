package discovery

import (
	"errors"
	"fmt"
	"strings"
)

// Unit is one line of `systemctl list-units --plain --no-legend`.
type Unit struct {
	Name   string // e.g. nginx.service
	Load   string // loaded, not-found, masked…
	Active string // active, failed…
	Sub    string // running, exited…
	// Description is the rest of the line. When some unit has a pending job, systemctl adds a
	// JOB column that blanks cannot tell apart from the description, so it may begin with the
	// job's type ("start", "stop", "reload").
	Description string
}

// ServiceName is the unit name without its .service suffix.
func (u Unit) ServiceName() string { return strings.TrimSuffix(u.Name, ".service") }

// ParseUnits parses `systemctl list-units --type=service --state=running --plain --no-legend
// --no-pager`. Lines it does not understand are reported in the error and skipped.
func ParseUnits(out string) ([]Unit, error) {
	var (
		units []Unit
		errs  []error
	)
	for i, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		fields, rest := splitFields(line, 4)
		// Without --plain, systemctl marks failed units with a bullet before the name.
		if len(fields) > 0 && (fields[0] == "●" || fields[0] == "*") {
			fields, rest = splitFields(strings.TrimLeft(line, " \t")[len(fields[0]):], 4)
		}
		if len(fields) < 4 {
			errs = append(errs, &LineError{Source: "systemctl", Line: i + 1, Err: fmt.Errorf("want at least 4 fields, got %d", len(fields))})
			continue
		}
		if !isUnitName(fields[0]) && !strings.Contains(fields[0], ".") {
			errs = append(errs, &LineError{Source: "systemctl", Line: i + 1, Err: errors.New("first field is not a unit name")})
			continue
		}
		units = append(units, Unit{
			Name: fields[0], Load: fields[1], Active: fields[2], Sub: fields[3],
			Description: strings.TrimSpace(rest),
		})
	}
	return units, errors.Join(errs...)
}
