package importer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"
)

// WriteYAML writes the buckets, then the templates, as a multi-document YAML stream. Fields
// the importer never sets — status, creationTimestamp, empty sections — are left out, so the
// manifests read like hand-written ones.
func WriteYAML(w io.Writer, res *Result) error {
	var out bytes.Buffer
	for _, obj := range objectsOf(res) {
		doc, err := manifest(obj)
		if err != nil {
			return err
		}
		out.WriteString("---\n")
		out.Write(doc)
	}
	_, err := w.Write(out.Bytes())
	return err
}

// manifest renders one object as YAML without status and without empty values.
func manifest(obj any) ([]byte, error) {
	data, err := manifestJSON(obj)
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(data)
}

// manifestJSON renders one object as JSON without status and without empty values.
func manifestJSON(obj any) ([]byte, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding %T: %w", obj, err)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decoding %T: %w", obj, err)
	}
	delete(m, "status")
	prune(m)
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	return json.Marshal(m)
}

// prune removes nulls and empty objects, which carry nothing, from m and its children.
func prune(m map[string]any) {
	for k, v := range m {
		switch v := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			prune(v)
			if len(v) == 0 {
				delete(m, k)
			}
		case []any:
			for _, item := range v {
				if child, ok := item.(map[string]any); ok {
					prune(child)
				}
			}
		}
	}
}
