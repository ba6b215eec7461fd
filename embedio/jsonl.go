package embedio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// jsonlEncoder writes one {"path":...,"embedding":[...]} object per line.
type jsonlEncoder struct {
	out   *atomicFile
	line  []byte        // scratch buffer for one line
	quote bytes.Buffer  // scratch buffer for the JSON-quoted path
	enc   *json.Encoder // encodes into quote, without HTML escaping
}

// newJSONLEncoder creates the temporary JSON Lines file.
func newJSONLEncoder(path string, _ int) (encoder, []*atomicFile, error) {
	out, err := newAtomicFile(path)
	if err != nil {
		return nil, nil, err
	}
	e := &jsonlEncoder{out: out}
	e.enc = json.NewEncoder(&e.quote)
	e.enc.SetEscapeHTML(false)
	return e, []*atomicFile{out}, nil
}

// check implements encoder: JSON cannot carry non-UTF-8 paths or
// non-finite numbers without altering them.
func (e *jsonlEncoder) check(path string, vec []float32) error {
	if !utf8.ValidString(path) {
		return fmt.Errorf("path is not valid UTF-8, which JSON cannot represent exactly; use the npy or csv format")
	}
	for i, v := range vec {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("embedding value %d is %v, which JSON cannot represent", i, v)
		}
	}
	return nil
}

// write implements encoder.
func (e *jsonlEncoder) write(path string, vec []float32) error {
	e.quote.Reset()
	if err := e.enc.Encode(path); err != nil {
		return fmt.Errorf("encode path: %w", err)
	}
	quoted := bytes.TrimSuffix(e.quote.Bytes(), []byte{'\n'})

	b := append(e.line[:0], `{"path":`...)
	b = append(b, quoted...)
	b = append(b, `,"embedding":[`...)
	for i, v := range vec {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(v), 'g', -1, 32)
	}
	b = append(b, "]}\n"...)
	e.line = b
	_, err := e.out.bw.Write(b)
	return err
}

// finish implements encoder; rows are already in the file buffer.
func (e *jsonlEncoder) finish(int) error { return nil }
