// Package beamembed embeds image corpora with swav-go on Apache Beam (Go SDK), so the
// same pipeline runs in-process on Prism and on Dataflow, Flink or Spark through the
// portable runner.
//
// The pipeline built by [Build]:
//
//  1. Match: each input pattern is expanded on a worker. A local pattern (no scheme) is
//     expanded by the swav-embed CLI's doublestar walker (dataset.Walk: "**" crosses
//     folders, hidden files match, a path that cannot be read while walking goes to the
//     dead letter), so a pattern selects the same files here as in `swav-embed embed`;
//     a pattern with a scheme (gs://, s3://, memfs:// …) is listed through Beam's
//     filesystem registry (filesystem.New(…).List). A pattern that matches nothing fails
//     the pipeline, as it fails the CLI. Paths matched by several patterns are kept once
//     (filter.Distinct, whose shuffle also spreads the files over the workers).
//  2. Embed: a DoFn whose Setup loads the model once per worker process, shared by
//     the DoFn instances of its bundle threads (the embedded default model, a local
//     checkpoint, or one read through a Beam filesystem), reads
//     each file with the CLI's bounded readers (imageio.DecodeFile for local files:
//     regular files only, size checked before reading; for remote files the size from
//     the filesystem is checked against the same cap before and while reading), and
//     embeds the prepared inputs in batches of Options.BatchSize within a bundle,
//     FinishBundle flushing the last partial batch. A file that cannot be embedded is
//     sent to the dead-letter output with a reason ([Reason]) and the error text the
//     CLI reports for it.
//  3. Write: embeddings are keyed by a hash of their path into Options.Shards shards;
//     each shard is written, sorted by path, in every requested format under
//     PREFIX-SSSSS-of-NNNNN.EXT (embedio's formats: .jsonl lines {"path","embedding"},
//     .npy float32 N×D with a PREFIX-…npy.paths.txt sidecar, .csv), so the output is the
//     same whatever the bundling and a rerun rewrites the same bytes. A shard that
//     receives no file writes nothing. The dead letter is PREFIX-deadletter.jsonl, one
//     {"path","reason","error"} line per failed file, sorted by path, written (possibly
//     empty) on every run.
//
// Beam metrics counters, namespace "swav": "embedded", "bytes_read" (bytes of the files
// embedded), "batches" (forward passes) and "skipped_REASON" for each dead-letter
// reason. A folder that two overlapping local patterns both fail to read counts once
// per pattern but is listed once in the dead letter.
package beamembed
