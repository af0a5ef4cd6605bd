package pvesim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ticketLifetime is how long a PVE auth ticket stays valid.
const ticketLifetime = 2 * time.Hour

// authenticator checks API tokens and the tickets it signs. Its key lives in memory, so tickets
// do not survive a restart; clients log in again, as after a key rotation on real PVE.
type authenticator struct {
	tokens map[string]string
	users  map[string]string
	key    []byte
	now    func() time.Time
}

func newAuthenticator(tokens, users map[string]string) *authenticator {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &authenticator{tokens: tokens, users: users, key: key, now: time.Now}
}

var tokenHeaderRE = regexp.MustCompile(`(?:^|\s)PVEAPIToken(?:=| )([^;]*)`)

var (
	errNoTicket   = &apiError{Code: http.StatusUnauthorized, Message: "No ticket"}
	errAuthFailed = &apiError{Code: http.StatusUnauthorized, Message: "Authentication failed!"}
	errBadCSRF    = &apiError{Code: http.StatusUnauthorized, Message: "Permission denied - invalid csrf token"}
)

// authenticate returns the user of a request: the token id for API tokens, the ticket's user
// otherwise. Like pveproxy it checks the CSRF token of ticket requests that are not GETs.
func (a *authenticator) authenticate(r *http.Request) (user string, token bool, err *apiError) {
	if m := tokenHeaderRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		value := strings.TrimSpace(m[1])
		i := strings.LastIndexByte(value, '=')
		if i < 0 {
			return "", true, errAuthFailed
		}
		id, secret := value[:i], value[i+1:]
		want, ok := a.tokens[id]
		if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
			return "", true, errAuthFailed
		}
		return id, true, nil
	}
	ticket := ""
	if c, e := r.Cookie("PVEAuthCookie"); e == nil {
		ticket, _ = url.PathUnescape(c.Value)
	}
	if ticket == "" {
		return "", false, errNoTicket
	}
	user, ok := a.verifyTicket(ticket)
	if !ok {
		return "", false, errAuthFailed
	}
	if r.Method != http.MethodGet && !a.verifyCSRF(user, r.Header.Get("CSRFPreventionToken")) {
		return "", false, errBadCSRF
	}
	return user, false, nil
}

func (a *authenticator) sign(parts ...string) string {
	mac := hmac.New(sha256.New, a.key)
	mac.Write([]byte(strings.Join(parts, "\x00")))
	return base64.RawStdEncoding.EncodeToString(mac.Sum(nil))
}

// ticket is PVE:<user>:<hex time>::<signature>, the format of real PVE tickets.
func (a *authenticator) ticket(user string) string {
	ts := fmt.Sprintf("%08X", a.now().Unix())
	plain := "PVE:" + user + ":" + ts
	return plain + "::" + a.sign("ticket", plain)
}

func (a *authenticator) verifyTicket(t string) (string, bool) {
	plain, sig, ok := strings.Cut(t, "::")
	if !ok {
		return "", false
	}
	fields := strings.Split(plain, ":")
	if len(fields) != 3 || fields[0] != "PVE" {
		return "", false
	}
	if !hmac.Equal([]byte(sig), []byte(a.sign("ticket", plain))) || !a.fresh(fields[2]) {
		return "", false
	}
	return fields[1], true
}

func (a *authenticator) csrf(user string) string {
	ts := fmt.Sprintf("%08X", a.now().Unix())
	return ts + ":" + a.sign("csrf", user, ts)
}

func (a *authenticator) verifyCSRF(user, token string) bool {
	ts, sig, ok := strings.Cut(token, ":")
	return ok && a.fresh(ts) && hmac.Equal([]byte(sig), []byte(a.sign("csrf", user, ts)))
}

func (a *authenticator) fresh(hexTime string) bool {
	sec, err := strconv.ParseInt(hexTime, 16, 64)
	if err != nil {
		return false
	}
	age := a.now().Sub(time.Unix(sec, 0))
	return age > -5*time.Minute && age < ticketLifetime
}

// login checks a password, or a still valid ticket of the same user as PVE allows for renewal.
func (a *authenticator) login(user, password string) bool {
	if strings.HasPrefix(password, "PVE:") {
		tu, ok := a.verifyTicket(password)
		return ok && tu == user
	}
	want, ok := a.users[user]
	return ok && subtle.ConstantTimeCompare([]byte(want), []byte(password)) == 1
}

// isRoot reports whether the request is root@pam itself, the only user PVE exempts from its
// container permission rules (an API token of root@pam is not root@pam).
func (r *request) isRoot() bool { return r.user == "root@pam" }

// taskUser splits the user of a task into user and token name, as the task status shows them.
func taskUser(user string) (string, string) {
	u, tok, _ := strings.Cut(user, "!")
	return u, tok
}

// allPrivileges is the cap object of a ticket answer for a user allowed everything.
var allPrivileges = map[string]map[string]int{
	"vms": {"VM.Allocate": 1, "VM.Audit": 1, "VM.Backup": 1, "VM.Clone": 1, "VM.Config.CDROM": 1, "VM.Config.CPU": 1,
		"VM.Config.Cloudinit": 1, "VM.Config.Disk": 1, "VM.Config.HWType": 1, "VM.Config.Memory": 1,
		"VM.Config.Network": 1, "VM.Config.Options": 1, "VM.Console": 1, "VM.Migrate": 1, "VM.Monitor": 1,
		"VM.PowerMgmt": 1, "VM.Snapshot": 1, "VM.Snapshot.Rollback": 1, "Permissions.Modify": 1},
	"storage": {"Datastore.Allocate": 1, "Datastore.AllocateSpace": 1, "Datastore.AllocateTemplate": 1,
		"Datastore.Audit": 1, "Permissions.Modify": 1},
	"nodes": {"Sys.AccessNetwork": 1, "Sys.Audit": 1, "Sys.Console": 1, "Sys.Incoming": 1, "Sys.Modify": 1, "Sys.PowerMgmt": 1,
		"Sys.Syslog": 1, "Permissions.Modify": 1},
	"dc":     {"Sys.Audit": 1, "SDN.Allocate": 1, "SDN.Audit": 1, "SDN.Use": 1},
	"sdn":    {"SDN.Allocate": 1, "SDN.Audit": 1, "SDN.Use": 1, "Permissions.Modify": 1},
	"access": {"User.Modify": 1, "Group.Allocate": 1, "Permissions.Modify": 1},
}

func (s *Server) createTicket(r *request) (any, error) {
	user := r.params["username"]
	if realm := r.params["realm"]; realm != "" && !strings.Contains(user, "@") {
		user += "@" + realm
	}
	if !s.auth.login(user, r.params["password"]) {
		s.log.Info("Login failed", "user", user)
		if d := s.opts.UnauthorizedDelay; d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
			}
		}
		return nil, &apiError{Code: http.StatusUnauthorized, Message: "authentication failure"}
	}
	return map[string]any{
		"username":            user,
		"ticket":              s.auth.ticket(user),
		"CSRFPreventionToken": s.auth.csrf(user),
		"cap":                 allPrivileges,
	}, nil
}
