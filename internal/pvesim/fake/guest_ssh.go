package fake

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"
)

// serve accepts SSH connections until l closes.
func (g *Guest) serve(l net.Listener) {
	config := &gossh.ServerConfig{PublicKeyCallback: g.authorize}
	config.AddHostKey(g.signer)
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		go g.handle(conn, config)
	}
}

// authorize lets in root with a key of /root/.ssh/authorized_keys, read at every login as sshd does.
func (g *Guest) authorize(meta gossh.ConnMetadata, key gossh.PublicKey) (*gossh.Permissions, error) {
	if meta.User() != "root" {
		return nil, fmt.Errorf("user %s unknown", meta.User())
	}
	g.mu.Lock()
	data, _ := g.readLocked("/root/.ssh/authorized_keys")
	g.mu.Unlock()
	want := key.Marshal()
	for len(data) > 0 {
		k, _, _, rest, err := gossh.ParseAuthorizedKey(data)
		if err != nil {
			break
		}
		if bytes.Equal(k.Marshal(), want) {
			return &gossh.Permissions{}, nil
		}
		data = rest
	}
	return nil, errors.New("key not authorized")
}

func (g *Guest) handle(tcp net.Conn, config *gossh.ServerConfig) {
	conn, chans, reqs, err := gossh.NewServerConn(tcp, config)
	if err != nil {
		_ = tcp.Close()
		return
	}
	g.mu.Lock()
	if !g.running || g.conns == nil {
		g.mu.Unlock()
		_ = conn.Close()
		return
	}
	g.conns[conn] = true
	g.mu.Unlock()
	g.sessions.Add(1)
	defer func() {
		g.mu.Lock()
		delete(g.conns, conn)
		g.mu.Unlock()
		_ = conn.Close()
	}()
	go gossh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(gossh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go g.session(ch, chReqs)
	}
}

// session serves one channel: an exec or the sftp subsystem.
func (g *Guest) session(ch gossh.Channel, reqs <-chan *gossh.Request) {
	defer ch.Close()
	for req := range reqs {
		switch req.Type {
		case "exec":
			var payload struct{ Command string }
			if err := gossh.Unmarshal(req.Payload, &payload); err != nil {
				_ = req.Reply(false, nil)
				return
			}
			_ = req.Reply(true, nil)
			go func() { _, _ = io.Copy(io.Discard, ch) }()
			g.commands.Add(1)
			code := g.exec(payload.Command, ch, ch.Stderr())
			_ = ch.CloseWrite()
			status := make([]byte, 4)
			binary.BigEndian.PutUint32(status, uint32(code))
			_, _ = ch.SendRequest("exit-status", false, status)
			return
		case "subsystem":
			var payload struct{ Name string }
			if err := gossh.Unmarshal(req.Payload, &payload); err != nil || payload.Name != "sftp" {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			go gossh.DiscardRequests(reqs)
			h := &sftpHandler{g: g}
			srv := sftp.NewRequestServer(ch, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h})
			_ = srv.Serve()
			_ = srv.Close()
			return
		case "env", "pty-req":
			_ = req.Reply(req.Type == "env", nil)
		default:
			_ = req.Reply(false, nil)
		}
	}
}

// exec runs one command line and returns its exit code.
func (g *Guest) exec(line string, stdout, stderr io.Writer) int {
	out, errText, code := g.run(line)
	_, _ = io.WriteString(stdout, out)
	if errText != "" {
		if !strings.HasSuffix(errText, "\n") {
			errText += "\n"
		}
		_, _ = io.WriteString(stderr, errText)
	}
	return code
}
