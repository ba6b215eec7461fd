package embedio

import (
	"encoding/csv"
	"errors"
	"fmt"
	"strconv"
)

// csvEncoder writes a "path,v0,...,v{D-1}" header and one record per row.
type csvEncoder struct {
	out *csv.Writer
	rec []string // scratch record: path then dim values
}

// newCSVEncoder creates the temporary CSV file and writes the header.
func newCSVEncoder(path string, dim int) (encoder, []*atomicFile, error) {
	f, err := newAtomicFile(path)
	if err != nil {
		return nil, nil, err
	}
	e := &csvEncoder{out: csv.NewWriter(f.bw), rec: make([]string, dim+1)}
	e.rec[0] = "path"
	for i := range dim {
		e.rec[i+1] = "v" + strconv.Itoa(i)
	}
	if err := e.out.Write(e.rec); err != nil {
		return nil, nil, errors.Join(fmt.Errorf("embedio: write header of %s: %w", path, err), f.discard())
	}
	return e, []*atomicFile{f}, nil
}

// check implements encoder; CSV quoting can hold any path and value.
func (e *csvEncoder) check(string, []float32) error { return nil }

// write implements encoder.
func (e *csvEncoder) write(path string, vec []float32) error {
	e.rec[0] = path
	for i, v := range vec {
		e.rec[i+1] = strconv.FormatFloat(float64(v), 'g', -1, 32)
	}
	return e.out.Write(e.rec)
}

// finish implements encoder: it flushes the CSV writer's own buffer.
func (e *csvEncoder) finish(int) error {
	e.out.Flush()
	return e.out.Error()
}
