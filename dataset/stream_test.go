package dataset_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/imageio"
)

// noLeaks fails the test if goroutines started during it are still
// running shortly after it ends.
func noLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("goroutine leak: %d running, %d before the test\n%s",
					runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func TestOrderedDeliversInOrder(t *testing.T) {
	for _, tc := range []struct{ n, workers int }{
		{0, 3}, {1, 1}, {7, 1}, {100, 4}, {100, 16}, {5, 0},
	} {
		t.Run(fmt.Sprintf("n=%d,workers=%d", tc.n, tc.workers), func(t *testing.T) {
			noLeaks(t)
			// Items take random times, so they finish out of order.
			fn := func(ctx context.Context, i int) (int, error) {
				time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
				return i * i, nil
			}
			want := 0
			for r := range dataset.Ordered(context.Background(), tc.n, tc.workers, fn) {
				if r.Pos != want || r.Index != want || r.Value != want*want || r.Err != nil {
					t.Fatalf("result %d = %+v, want Pos=Index=%d Value=%d", want, r, want, want*want)
				}
				want++
			}
			if want != tc.n {
				t.Fatalf("got %d results, want %d", want, tc.n)
			}
		})
	}
}

func TestOrderedRunsInParallel(t *testing.T) {
	noLeaks(t)
	var running, peak atomic.Int32
	fn := func(ctx context.Context, i int) (struct{}, error) {
		now := running.Add(1)
		for {
			p := peak.Load()
			if now <= p || peak.CompareAndSwap(p, now) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		running.Add(-1)
		return struct{}{}, nil
	}
	for range dataset.Ordered(context.Background(), 40, 4, fn) {
	}
	if p := peak.Load(); p < 2 || p > 4 {
		t.Errorf("peak concurrency %d, want 2..4 with 4 workers", p)
	}
}

func TestOrderedBoundsBuffering(t *testing.T) {
	noLeaks(t)
	const workers = 3
	var started atomic.Int64
	fn := func(ctx context.Context, i int) (int, error) {
		started.Add(1)
		return i, nil
	}
	received := int64(0)
	for r := range dataset.Ordered(context.Background(), 200, workers, fn) {
		// A slow consumer: the workers must wait for it, not race ahead.
		time.Sleep(200 * time.Microsecond)
		received++
		if ahead := started.Load() - received; ahead > 2*workers+1 {
			t.Fatalf("after result %d, %d items computed ahead of the consumer; want <= %d", r.Pos, ahead, 2*workers+1)
		}
	}
	if received != 200 {
		t.Fatalf("received %d results", received)
	}
}

func TestOrderedPerItemErrorsAndPanics(t *testing.T) {
	noLeaks(t)
	boom := errors.New("boom")
	fn := func(ctx context.Context, i int) (string, error) {
		switch i % 5 {
		case 1:
			return "", boom
		case 3:
			panic("bad item")
		}
		return fmt.Sprint(i), nil
	}
	n := 0
	for r := range dataset.Ordered(context.Background(), 20, 3, fn) {
		switch r.Pos % 5 {
		case 1:
			if !errors.Is(r.Err, boom) {
				t.Errorf("item %d: err = %v, want boom", r.Pos, r.Err)
			}
		case 3:
			if r.Err == nil || !strings.Contains(r.Err.Error(), "panic: bad item") {
				t.Errorf("item %d: err = %v, want recovered panic", r.Pos, r.Err)
			}
		default:
			if r.Err != nil || r.Value != fmt.Sprint(r.Pos) {
				t.Errorf("item %d: %+v", r.Pos, r)
			}
		}
		n++
	}
	if n != 20 {
		t.Errorf("got %d results, want 20: errors must not stop the stream", n)
	}
}

func TestOrderedCancelWithoutDraining(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int64
	fn := func(ctx context.Context, i int) (int, error) {
		calls.Add(1)
		select { // slow items that honour cancellation
		case <-time.After(time.Millisecond):
		case <-ctx.Done():
		}
		return i, nil
	}
	ch := dataset.Ordered(ctx, 1_000_000, 4, fn)
	for r := range ch {
		if r.Pos == 10 {
			break // stop reading for good
		}
	}
	cancel()
	// Without another receive, every goroutine must exit...
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutine leak after cancel: %d running, %d before\n%s",
				runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
	// ... and the channel is closed, so a late receive does not block.
	select {
	case _, ok := <-ch:
		if ok {
			t.Error("received a result after cancel and shutdown")
		}
	default:
		t.Error("channel not closed after the workers exited")
	}
	if c := calls.Load(); c > 11+2*4+1+4 {
		t.Errorf("%d items computed for 11 consumed: buffering is not bounded", c)
	}
}

func TestOrderedCancelledContext(t *testing.T) {
	noLeaks(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n := 0
	for range dataset.Ordered(ctx, 1000, 2, func(ctx context.Context, i int) (int, error) { return i, nil }) {
		n++
	}
	if n > 2*2+1 {
		t.Errorf("%d results after cancellation", n)
	}
}

// memSource is an in-memory Source for stream tests; items whose index is
// in bad fail to decode.
type memSource struct {
	n   int
	bad map[int]bool
}

func (s memSource) Len() int              { return s.n }
func (s memSource) Name(i int) string     { return fmt.Sprintf("mem#%d", i) }
func (s memSource) Classes() []string     { return nil }
func (s memSource) Label(int) (int, bool) { return 0, false }
func (s memSource) Image(i int) (image.Image, error) {
	if s.bad[i] {
		return nil, fmt.Errorf("image %s: %w", s.Name(i), imageio.ErrCorrupt)
	}
	m := image.NewGray(image.Rect(0, 0, 1, 1))
	m.Pix[0] = uint8(i)
	return m, nil
}

func pixel(i int, img image.Image) (int, error) {
	return int(img.(*image.Gray).Pix[0]), nil
}

func TestStreamOrderAndErrors(t *testing.T) {
	src := memSource{n: 10, bad: map[int]bool{4: true}}
	tests := []struct {
		name      string
		order     []int
		wantIdx   []int
		wantError map[int]string // position → message substring
	}{
		{"nil order is all", nil, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, map[int]string{4: "image mem#4"}},
		{"permutation", []int{9, 4, 0, 2}, []int{9, 4, 0, 2}, map[int]string{1: "image mem#4"}},
		{"repeats allowed", []int{1, 1, 1}, []int{1, 1, 1}, nil},
		{"empty order", []int{}, nil, nil},
		{"out of range", []int{3, 10, -1}, []int{3, 10, -1}, map[int]string{1: "index 10 out of range", 2: "index -1 out of range"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			var got []int
			for r := range dataset.Stream(context.Background(), src, tc.order, 3, pixel) {
				got = append(got, r.Index)
				if r.Pos != len(got)-1 {
					t.Errorf("Pos %d at position %d", r.Pos, len(got)-1)
				}
				if want, bad := tc.wantError[r.Pos]; bad {
					if r.Err == nil || !strings.Contains(r.Err.Error(), want) {
						t.Errorf("position %d: err = %v, want %q", r.Pos, r.Err, want)
					}
					continue
				}
				if r.Err != nil || r.Value != r.Index {
					t.Errorf("position %d: %+v", r.Pos, r)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.wantIdx) {
				t.Errorf("indices %v, want %v", got, tc.wantIdx)
			}
		})
	}
}

func TestStreamTransformErrorNamesItem(t *testing.T) {
	noLeaks(t)
	boom := errors.New("too dark")
	fn := func(i int, img image.Image) (int, error) {
		if i == 2 {
			return 0, boom
		}
		return i, nil
	}
	for r := range dataset.Stream(context.Background(), memSource{n: 4}, nil, 2, fn) {
		if r.Index == 2 && (!errors.Is(r.Err, boom) || !strings.HasPrefix(r.Err.Error(), "mem#2: ")) {
			t.Errorf("err = %v, want boom prefixed by the item name", r.Err)
		}
	}
}

func TestStreamWithPolicies(t *testing.T) {
	src := memSource{n: 8, bad: map[int]bool{2: true, 5: true}}
	run := func(policy dataset.OnError) (kept []int, skipped []dataset.Skipped, err error) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		for r := range dataset.Stream(ctx, src, nil, 3, pixel) {
			if r.Err != nil {
				if err := policy.Handle(&skipped, src.Name(r.Index), r.Err); err != nil {
					return kept, skipped, err
				}
				continue
			}
			kept = append(kept, r.Value)
		}
		return kept, skipped, nil
	}
	t.Run("skip", func(t *testing.T) {
		noLeaks(t)
		kept, skipped, err := run(dataset.Skip)
		if err != nil || fmt.Sprint(kept) != "[0 1 3 4 6 7]" || len(skipped) != 2 ||
			skipped[0].Name != "mem#2" || skipped[1].Name != "mem#5" || !errors.Is(skipped[0].Err, imageio.ErrCorrupt) {
			t.Errorf("kept %v, skipped %v, err %v", kept, skipped, err)
		}
	})
	t.Run("fail", func(t *testing.T) {
		noLeaks(t)
		kept, skipped, err := run(dataset.Fail)
		if !errors.Is(err, imageio.ErrCorrupt) || !strings.Contains(err.Error(), "mem#2") ||
			fmt.Sprint(kept) != "[0 1]" || len(skipped) != 0 {
			t.Errorf("kept %v, skipped %v, err %v", kept, skipped, err)
		}
	})
}
