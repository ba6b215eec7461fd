package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// Header is the JSON metadata section of a checkpoint. It is encoded with a
// fixed field order (the order below) and map keys sorted, and decoded
// strictly: unknown fields are an error (use Extra for extensions).
type Header struct {
	// FormatVersion is the layout version of the file. Encode always writes
	// the package's FormatVersion, ignoring the value set here; Decode
	// fills it in.
	FormatVersion int `json:"format_version"`
	// Kind says what the checkpoint holds, e.g. "swav-model" or
	// "linear-probe". It is a free string, not interpreted here.
	Kind string `json:"kind"`
	// Model is the architecture configuration, owned by the model package.
	// It must be valid JSON; it is stored compacted (insignificant
	// whitespace removed).
	Model json.RawMessage `json:"model,omitempty"`
	// Preprocess describes the input pipeline the model expects.
	Preprocess *Preprocess `json:"preprocess,omitempty"`
	// Training records where in training the checkpoint was taken.
	Training *Training `json:"training,omitempty"`
	// Float16 is true when float tensors were stored as float16 (an
	// inference export). Encode sets it when EncodeOptions.Float16 is set
	// and keeps it set when it already was (re-saving a float16 export
	// does not restore the lost precision).
	Float16 bool `json:"float16"`
	// Extra holds free-form extensions, each value valid JSON (stored
	// compacted). Keys are written in sorted order.
	Extra map[string]json.RawMessage `json:"extra,omitempty"`
}

// Preprocess describes how images must be prepared for the model.
type Preprocess struct {
	// InputSize is the side, in pixels, of the square network input.
	InputSize int `json:"input_size"`
	// ResizeSize is the side the shorter image edge is resized to before
	// center-cropping to InputSize.
	ResizeSize int `json:"resize_size"`
	// Mean is the per-channel mean subtracted from [0,1] pixel values.
	Mean []float64 `json:"mean"`
	// Std is the per-channel standard deviation pixel values are divided by.
	Std []float64 `json:"std"`
	// Channels is the number of input channels (3 for RGB).
	Channels int `json:"channels"`
	// Interpolation names the resize filter, e.g. "bilinear" or "bicubic".
	Interpolation string `json:"interpolation"`
}

// Training records the training state a checkpoint was taken at.
type Training struct {
	// Epoch is the number of completed epochs.
	Epoch int `json:"epoch"`
	// Step is the number of completed optimizer steps.
	Step int64 `json:"step"`
	// Seed is the random seed of the run.
	Seed int64 `json:"seed"`
	// Dataset names the training data.
	Dataset string `json:"dataset"`
	// LibraryVersion is the version of the software that wrote the file.
	LibraryVersion string `json:"library_version"`
	// Time is when the checkpoint was taken; omitted when zero. It is
	// stored as RFC 3339 text with its UTC offset (not its time.Location).
	Time time.Time `json:"time,omitzero"`
	// Extra holds free-form values (hyper-parameters, metrics, ...). Keys
	// are written in sorted order; after decoding, JSON numbers appear as
	// json.Number so they re-encode exactly.
	Extra map[string]any `json:"extra,omitempty"`
}

// marshalHeader encodes h deterministically: struct fields in declaration
// order, map keys sorted, no HTML escaping, no trailing newline.
func marshalHeader(h *Header) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(h); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// unmarshalHeader decodes a header strictly: valid UTF-8, one JSON object,
// no unknown fields, nothing after it. Errors do not wrap a sentinel.
func unmarshalHeader(b []byte) (Header, error) {
	var h Header
	if !utf8.Valid(b) {
		return h, errors.New("header is not valid UTF-8")
	}
	if len(b) == 0 || b[0] != '{' {
		return h, errors.New("header is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&h); err != nil {
		return Header{}, fmt.Errorf("header JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Header{}, errors.New("header JSON: data after the object")
	}
	return h, nil
}
