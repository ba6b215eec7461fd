package dataset

import (
	"context"
	"errors"
	"fmt"
	"image"
	"runtime"
	"sync"

	"github.com/swav-go/swav/internal/panics"
)

// Result is one item delivered by Ordered or Stream.
type Result[T any] struct {
	// Pos is the item's position in the delivery order: 0, 1, 2, ...
	Pos int
	// Index is the item's index: equal to Pos for Ordered, the Source
	// index order[Pos] for Stream.
	Index int
	// Value is fn's result; the zero value when Err is not nil.
	Value T
	// Err is fn's error for this item (a panic in fn is reported as an
	// error too). Other items are unaffected: the consumer decides, e.g.
	// with OnError.Handle, whether to skip the item or stop.
	Err error
}

// Ordered computes fn(ctx, i) for i = 0 .. n-1 on workers goroutines and
// delivers the results on the returned channel in order of i, whatever
// order they finish in: a deterministic parallel map. workers <= 0 means
// runtime.GOMAXPROCS(0).
//
// Memory stays flat whatever n is: at most 2×workers items are computed
// ahead of the consumer (plus the one being handed over), so a slow
// consumer stalls the workers instead of buffering results.
//
// The channel is closed after the last result, or early once ctx is
// cancelled; it is closed only after every worker has returned, so no
// goroutine outlives it. To stop early, cancel ctx: there is no need to
// drain the channel. After the channel closes, ctx.Err() tells a complete
// run (nil) from a cancelled one. fn receives a context that is cancelled
// in both cases and should return promptly when it is.
func Ordered[T any](ctx context.Context, n, workers int, fn func(ctx context.Context, i int) (T, error)) <-chan Result[T] {
	return ordered(ctx, n, workers, func(pos int) int { return pos }, fn)
}

// Stream decodes and transforms the images of src on workers goroutines
// and delivers the results in order: item k of the output is source index
// order[k] (all of src, in index order, when order is nil; an empty non-nil
// order yields nothing). For each item it calls src.Image and then fn; a
// failure of either (or an index outside src) becomes the item's Result.Err,
// naming the item. Ordering, buffering and cancellation are as for Ordered.
//
// A typical consumer:
//
//	var skipped []dataset.Skipped
//	for r := range dataset.Stream(ctx, src, order, 4, transform) {
//		if r.Err != nil {
//			if err := policy.Handle(&skipped, src.Name(r.Index), r.Err); err != nil {
//				cancel()
//				return err
//			}
//			continue
//		}
//		use(r.Index, r.Value)
//	}
//	if err := ctx.Err(); err != nil { return err }
func Stream[T any](ctx context.Context, src Source, order []int, workers int, fn func(i int, img image.Image) (T, error)) <-chan Result[T] {
	n, index := src.Len(), func(pos int) int { return pos }
	if order != nil {
		n, index = len(order), func(pos int) int { return order[pos] }
	}
	size := src.Len()
	return ordered(ctx, n, workers, index, func(_ context.Context, i int) (T, error) {
		var zero T
		if i < 0 || i >= size {
			return zero, fmt.Errorf("dataset: index %d out of range [0, %d)", i, size)
		}
		img, err := src.Image(i)
		if err != nil {
			return zero, err // Source errors name the item
		}
		v, err := fn(i, img)
		if err != nil {
			return zero, fmt.Errorf("%s: %w", src.Name(i), err)
		}
		return v, nil
	})
}

// ordered implements Ordered and Stream: positions 0..n-1 are processed,
// fn receives index(pos).
func ordered[T any](parent context.Context, n, workers int, index func(pos int) int, fn func(ctx context.Context, i int) (T, error)) <-chan Result[T] {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	window := 2 * workers
	ctx, cancel := context.WithCancel(parent)
	out := make(chan Result[T])

	type job struct {
		pos  int
		slot chan Result[T] // buffered 1: the worker never blocks on it
	}
	jobs := make(chan job)
	// pending holds the slots of dispatched items in position order; its
	// capacity is what bounds the work done ahead of the consumer.
	pending := make(chan chan Result[T], window)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // dispatcher
		defer wg.Done()
		defer close(jobs)
		defer close(pending)
		for pos := 0; pos < n; pos++ {
			slot := make(chan Result[T], 1)
			select {
			case pending <- slot:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- job{pos, slot}:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				i := index(j.pos)
				r := Result[T]{Pos: j.pos, Index: i}
				if err := ctx.Err(); err != nil {
					r.Err = err
				} else {
					r.Value, r.Err = call(ctx, fn, i)
				}
				j.slot <- r
			}
		}()
	}
	go func() { // collector: delivers in order
		defer func() {
			cancel() // stops the dispatcher if we return early; releases ctx
			wg.Wait()
			close(out)
		}()
		for slot := range pending {
			var r Result[T]
			select {
			case r = <-slot:
			case <-ctx.Done():
				return
			}
			select {
			case out <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// call runs fn, turning a panic into an error so that one bad item cannot
// take the process down.
func call[T any](ctx context.Context, fn func(context.Context, int) (T, error), i int) (T, error) {
	v, err := panics.Call(func() (T, error) { return fn(ctx, i) })
	var p *panics.Error
	if errors.As(err, &p) {
		return v, fmt.Errorf("dataset: item %d: %w", i, err)
	}
	return v, err
}
