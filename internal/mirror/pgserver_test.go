package mirror

import (
	"testing"

	"templatemanager.dev/lxc-template-manager/internal/mirror/pgtest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// startOwnPostgres runs a PostgreSQL of the test's own, so that the test can stop it while the
// machine's server keeps serving the other tests.
func startOwnPostgres(t *testing.T) *ownPostgres {
	t.Helper()
	testkit.SkipUnlessFull(t, testkit.PostgreSQL)
	s, err := pgtest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Remove)
	p := &ownPostgres{s}
	p.start(t)
	return p
}

type ownPostgres struct{ *pgtest.Server }

func (p *ownPostgres) dsn(db string) string { return p.DSN(db) }

func (p *ownPostgres) start(t *testing.T) {
	t.Helper()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
}

func (p *ownPostgres) stop(t *testing.T) {
	t.Helper()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
}
