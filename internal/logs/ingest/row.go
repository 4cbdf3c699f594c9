package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// collected is one line as vlagent's Kubernetes collector sends it (its
// remote write in JSON lines): _time, then the collector's fields about
// the container (its name, the pod's name, namespace, container id, IP,
// node, and the pod's labels), then the line's own: _msg for a line of
// text, or the fields of a line the container wrote as a JSON object.
//
// The container writes the line, so it can write any field name, the
// collector's included. Only the first occurrence of the collector's
// fields counts (vlagent puts its own first), and the line's own fields
// are those after them.
type collected struct {
	time   string
	meta   map[string]string
	labels map[string]string
	own    []field
}

type field struct{ name, value string }

// The collector's fields.
const (
	metaContainer = "kubernetes.container_name"
	metaPod       = "kubernetes.pod_name"
	metaNamespace = "kubernetes.pod_namespace"
	labelPrefix   = "kubernetes.pod_labels."
)

var metaFields = map[string]bool{
	metaContainer: true, metaPod: true, metaNamespace: true,
	"kubernetes.container_id": true, "kubernetes.pod_ip": true, "kubernetes.pod_node_name": true,
}

// parseCollected reads one JSON line of the collector.
func parseCollected(line []byte) (collected, error) {
	c := collected{meta: map[string]string{}, labels: map[string]string{}}
	fields, ok := scanFlat(line)
	if !ok {
		return parseCollectedSlow(line)
	}
	inMeta := true
	for _, f := range fields {
		name, value := f.name, f.value
		switch {
		case name == "_time" && c.time == "":
			c.time = value
		case inMeta && metaFields[name]:
			if _, seen := c.meta[name]; !seen {
				c.meta[name] = value
				continue
			}
			inMeta = false
			c.own = append(c.own, f)
		case inMeta && strings.HasPrefix(name, labelPrefix):
			label := strings.TrimPrefix(name, labelPrefix)
			if _, seen := c.labels[label]; !seen {
				c.labels[label] = value
				continue
			}
			inMeta = false
			c.own = append(c.own, f)
		default:
			inMeta = false
			c.own = append(c.own, f)
		}
	}
	return c, c.check()
}

func (c collected) check() error {
	if c.time == "" {
		return errors.New("no _time")
	}
	if c.meta[metaNamespace] == "" || c.meta[metaPod] == "" {
		return errors.New("no pod or namespace")
	}
	return nil
}

// scanFlat reads a JSON object whose values are all strings, as vlagent
// writes every line, keeping its members' order and repeated names; ok
// is false for anything else (parseCollectedSlow reads it).
func scanFlat(b []byte) (out []field, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil, skipSpace(b, i+1) == len(b)
	}
	for {
		name, j, ok := scanString(b, i)
		if !ok {
			return nil, false
		}
		j = skipSpace(b, j)
		if j >= len(b) || b[j] != ':' {
			return nil, false
		}
		value, k, ok := scanString(b, skipSpace(b, j+1))
		if !ok {
			return nil, false
		}
		out = append(out, field{name, value})
		k = skipSpace(b, k)
		if k >= len(b) {
			return nil, false
		}
		switch b[k] {
		case ',':
			i = skipSpace(b, k+1)
		case '}':
			return out, skipSpace(b, k+1) == len(b)
		default:
			return nil, false
		}
	}
}

// scanString reads the JSON string at b[i:], returning it and where it
// ends.
func scanString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", i, false
	}
	escaped := false
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			if !escaped {
				return string(b[i+1 : j]), j + 1, true
			}
			var s string
			if err := json.Unmarshal(b[i:j+1], &s); err != nil {
				return "", j, false
			}
			return s, j + 1, true
		default:
			if b[j] < 0x20 {
				return "", j, false
			}
		}
	}
	return "", len(b), false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// parseCollectedSlow reads a line with values other than strings.
func parseCollectedSlow(line []byte) (collected, error) {
	c := collected{meta: map[string]string{}, labels: map[string]string{}}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return c, errors.New("not a JSON object")
	}
	inMeta := true
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return c, err
		}
		name, ok := tok.(string)
		if !ok {
			return c, fmt.Errorf("a key that is not a string: %v", tok)
		}
		value, err := readValue(dec)
		if err != nil {
			return c, fmt.Errorf("%s: %w", name, err)
		}
		switch {
		case name == "_time" && c.time == "":
			c.time = value
		case inMeta && metaFields[name]:
			if _, seen := c.meta[name]; !seen {
				c.meta[name] = value
				continue
			}
			inMeta = false
			c.own = append(c.own, field{name, value})
		case inMeta && strings.HasPrefix(name, labelPrefix):
			label := strings.TrimPrefix(name, labelPrefix)
			if _, seen := c.labels[label]; !seen {
				c.labels[label] = value
				continue
			}
			inMeta = false
			c.own = append(c.own, field{name, value})
		default:
			inMeta = false
			c.own = append(c.own, field{name, value})
		}
	}
	return c, c.check()
}

// readValue reads a value as the string it stands for: strings as they
// are (vlagent sends every field as a string), anything else as its JSON.
func readValue(dec *json.Decoder) (string, error) {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return "", err
	}
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	return string(raw), nil
}

// message is the line as the container wrote it: its text, or, for a line
// that was a JSON object, an object of its fields (the collector flattens
// nested objects into dotted names and keeps every value as a string).
func (c collected) message() string {
	if len(c.own) == 1 && c.own[0].name == "_msg" {
		return c.own[0].value
	}
	if len(c.own) == 0 {
		return ""
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range c.own {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.name)
		v, _ := json.Marshal(f.value)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.String()
}
