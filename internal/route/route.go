// Package route is the contract between the API server (internal/api) and
// the packages that serve its paths (jobs, envvars): a route table entry,
// the request a handler gets, the messages envelope every JSON response
// carries, and errors that know their HTTP status.
package route

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Route is one method on one path. The API server authenticates, matches
// and documents (OpenAPI) routes from this table alone, so a handler
// cannot exist without its documentation.
type Route struct {
	Method string
	// Path is a template: literal segments and {param} segments, e.g.
	// /jobs/v1/tool/{tool}/jobs/{name}. A {tool} segment makes the route
	// tool-authenticated.
	Path    string
	Summary string
	// Query lists the query parameters the handler reads.
	Query []Param
	// Request is a value of the JSON body's type, nil when there is none.
	Request any
	// Response is a value of the JSON success body's type. Nil with
	// ContentType set means a non-JSON body (a log stream, metrics).
	Response    any
	ContentType string
	// Status is the success status (default 200).
	Status int
	// TokenAuth, when set, also lets a request without a client
	// certificate in, if it carries ?token= and TokenAuth accepts it for
	// the path's tool (a git host's push webhook has no certificate).
	TokenAuth func(ctx context.Context, tool, token string) error
	Handle    func(w http.ResponseWriter, r *Request) error
}

// Param is a documented query parameter.
type Param struct {
	Name, Type, Description string
}

// Authenticated says whether the route belongs to a tool.
func (rt Route) Authenticated() bool { return strings.Contains(rt.Path, "{tool}") }

// Request is an authenticated request, its tool and path parameters.
type Request struct {
	*http.Request
	// Tool is the caller, from its client certificate; it equals the
	// path's {tool}. Empty on public routes.
	Tool   string
	Params map[string]string
}

// Param is the path parameter name.
func (r *Request) Param(name string) string { return r.Params[name] }

// Messages go with every JSON response, for the client to show its user.
type Messages struct {
	Info    []string `json:"info"`
	Warning []string `json:"warning"`
	Error   []string `json:"error"`
}

// NewMessages is an empty envelope whose lists encode as [] not null.
func NewMessages() Messages {
	return Messages{Info: []string{}, Warning: []string{}, Error: []string{}}
}

// Infof adds an info message.
func (m *Messages) Infof(format string, args ...any) {
	m.Info = append(m.Info, fmt.Sprintf(format, args...))
}

// Warnf adds a warning.
func (m *Messages) Warnf(format string, args ...any) {
	m.Warning = append(m.Warning, fmt.Sprintf(format, args...))
}

// Envelope is a response with nothing but messages.
type Envelope struct {
	Messages Messages `json:"messages"`
}

// Error is a failure the client is told about, with its HTTP status.
type Error struct {
	Status  int
	Message string
	Err     error
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

// Errorf makes an Error with status.
func Errorf(status int, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Status: status, Message: err.Error(), Err: errors.Unwrap(err)}
}

// BadRequest is input the server refuses; nothing was changed.
func BadRequest(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, format, args...)
}

// NotFound is a missing job or variable.
func NotFound(format string, args ...any) *Error {
	return Errorf(http.StatusNotFound, format, args...)
}

// Conflict is a name that is taken.
func Conflict(format string, args ...any) *Error {
	return Errorf(http.StatusConflict, format, args...)
}

// WriteJSON writes body with status.
func WriteJSON(w http.ResponseWriter, status int, body any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(body)
}

// WriteError writes err as an envelope with one error message. Errors that
// are not *Error are internal: the client gets a generic message and the
// detail stays in the server's log.
func WriteError(w http.ResponseWriter, err error) {
	status, msg := http.StatusInternalServerError, "internal error; the platform admins can find details in the API server's log"
	var e *Error
	if errors.As(err, &e) {
		status, msg = e.Status, e.Message
	}
	m := NewMessages()
	m.Error = append(m.Error, msg)
	_ = WriteJSON(w, status, Envelope{Messages: m})
}

// DecodeJSON reads a JSON body of at most limit bytes into v, refusing
// unknown fields so that a typo is an error rather than a default.
func DecodeJSON(r *Request, limit int64, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, limit+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return BadRequest("request body: incomplete or empty JSON (at most %d bytes)", limit)
		}
		return BadRequest("request body: %v", err)
	}
	return nil
}
