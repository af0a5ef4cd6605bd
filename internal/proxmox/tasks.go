package proxmox

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// TaskStatus implements Client.
func (c *APIClient) TaskStatus(ctx context.Context, upid UPID) (TaskStatus, error) {
	parts, err := upid.Parse()
	if err != nil {
		return TaskStatus{}, &Error{Kind: ErrBadRequest, Op: "get task status", Message: err.Error()}
	}
	type status struct {
		Status     string     `json:"status"`
		ExitStatus string     `json:"exitstatus"`
		Type       string     `json:"type"`
		ID         flexString `json:"id"`
		User       string     `json:"user"`
		TokenID    string     `json:"tokenid"`
		StartTime  flexNum    `json:"starttime"`
	}
	op := "get task status"
	r, err := get[status](ctx, c, op, string(upid),
		fmt.Sprintf("/nodes/%s/tasks/%s/status", url.PathEscape(parts.Node), upid))
	if err != nil {
		return TaskStatus{}, err
	}
	ts := TaskStatus{
		UPID: upid, Node: parts.Node, Type: r.Type, ID: string(r.ID), User: r.User,
		StartTime: parts.StartTime, ExitStatus: r.ExitStatus,
	}
	if ts.Type == "" {
		ts.Type, ts.ID = parts.Type, parts.ID
	}
	if r.TokenID != "" {
		ts.User += "!" + r.TokenID
	}
	if ts.User == "" {
		ts.User = parts.User
	}
	if r.StartTime > 0 {
		ts.StartTime = time.Unix(int64(r.StartTime), 0).UTC()
	}
	switch r.Status {
	case "running":
		ts.Running = true
		ts.ExitStatus = ""
	case "stopped":
	default:
		return TaskStatus{}, invalid(op+" "+string(upid), fmt.Errorf("unknown task status %q", r.Status))
	}
	return ts, nil
}

// taskLogPage is how many lines one log request asks for.
const taskLogPage = 500

// TaskLogTail implements Client.
func (c *APIClient) TaskLogTail(ctx context.Context, upid UPID, n int) ([]string, error) {
	parts, err := upid.Parse()
	if err != nil {
		return nil, &Error{Kind: ErrBadRequest, Op: "get task log", Message: err.Error()}
	}
	if n <= 0 {
		return nil, nil
	}
	type line struct {
		N flexNum `json:"n"`
		T string  `json:"t"`
	}
	var tail []string
	for start := 0; ; start += taskLogPage {
		page, err := get[[]line](ctx, c, "get task log", string(upid),
			fmt.Sprintf("/nodes/%s/tasks/%s/log?start=%d&limit=%d", url.PathEscape(parts.Node), upid, start, taskLogPage))
		if err != nil {
			return nil, err
		}
		for _, l := range page {
			tail = append(tail, l.T)
		}
		if len(tail) > n {
			tail = append([]string(nil), tail[len(tail)-n:]...)
		}
		if len(page) < taskLogPage {
			return tail, nil
		}
	}
}
