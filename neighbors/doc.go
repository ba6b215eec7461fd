// Package neighbors finds the embeddings most similar to a query: exact brute-force
// search, and an approximate HNSW index (hierarchical navigable small-world graph, cosine
// similarity) that is saved beside an embeddings file and loaded without rebuilding.
//
// A Set is read from any file `swav-embed embed` writes (.npy with its .paths.txt
// sidecar, .jsonl, .csv) and held L2-normalised, so cosine similarity is a dot product.
// Exact answers a query with one dot product per row and a top-k heap; below
// ExactThreshold (10⁴) vectors that is about a millisecond and no index is needed. Index
// walks the graph with a beam of Ef candidates; its similarities are exact dot products
// and only its recall is approximate (BENCHMARKS.md, section "search", has the
// recall@10 and queries/s at 10⁵ vectors).
//
//	set, err := neighbors.Read("emb.npy")
//	ix, err := neighbors.Build(ctx, set, neighbors.IndexOptions{})
//	err = ix.Save(neighbors.DefaultIndexPath("emb.npy"))
//	…
//	ix, err = neighbors.Load("emb.npy.hnsw", set) // ErrStale if emb.npy changed
//	hits, err := ix.Search(query, 10)
//
// An index file is checked before it is used (checksums and every link), so a damaged,
// truncated or hostile file is an error, never a crash.
//
// The graph is this package's own (layered.go) rather than github.com/coder/hnsw's:
// v0.6.1, the only version served, has the search bugs fixed upstream in coder/hnsw#17
// and #22 (its heap evicts arbitrary elements and its search stops after the first
// expansion that does not improve the best result); it measured recall@10 0.21 at ef 64
// on 3000 random 16-d vectors with its own Search and 0.64 with a correct search over its
// graph, where this graph gives 1.00 (TestIndexRecall).
package neighbors
