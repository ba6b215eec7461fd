// Package imageio decodes image files into a canonical in-memory form and
// provides the tensor primitives (resize, crop, normalise) used to feed them
// to a SwAV model.
//
// # Decoding
//
// [Decode] and [DecodeFile] accept JPEG, PNG, GIF (first frame), WebP, BMP
// and TIFF. The format is detected from the file's leading bytes, never from
// its extension. Every decoded image is normalised to one of two types, both
// with their bounds starting at (0, 0):
//
//   - *image.Gray for single-channel sources (grayscale JPEG, PNG, TIFF, ...;
//     16-bit grayscale is reduced to 8 bits);
//   - *image.RGBA, fully opaque, for everything else (colour, paletted,
//     16-bit colour, CMYK/YCCK JPEG, images with transparency).
//
// Transparent and semi-transparent pixels are composited over
// [Options.Background] (white unless set, e.g. to color.Black). This differs
// from PIL's img.convert("RGB"), which discards the alpha channel and exposes
// whatever colour the transparent pixels happen to hold.
//
// The EXIF orientation tag (values 1 to 8) is honoured for JPEG (APP1 "Exif"
// segment), PNG (eXIf chunk) and WebP (EXIF chunk): the returned image is the
// one a viewer would display, as with PIL's ImageOps.exif_transpose.
// Malformed EXIF data is ignored and the image is returned as stored.
//
// # Limits
//
// Decoding is bounded in memory and time, so that one hostile file among
// thousands costs little and fails alone:
//
//   - [DecodeFile] reads regular files only: a directory, FIFO or device (a
//     symbolic link x.png → /dev/zero, say) is refused by its type with
//     [ErrNotRegular] before anything is read, so it cannot block or fill
//     the memory. A file larger than [Options.MaxFileBytes] (default
//     [DefaultMaxFileBytes], 256 MiB) is refused from its size with
//     [ErrTooLarge], and the format is sniffed from the first 16 bytes
//     before the rest is read. [Decode] reads at most MaxFileBytes from
//     its reader.
//   - Before any pixel is decoded the image header is read and the pixel
//     count is checked against [Options.MaxPixels], so a small hostile file
//     cannot make the decoder allocate gigabytes (a "decompression bomb").
//   - A JPEG's marker stream is read first to count its scans, each of
//     which costs image/jpeg a pass over the frame: more than
//     [Options.MaxJPEGScans] (default 100) scans, more scans × pixels than
//     [Options.MaxJPEGScanPixels] (default 2^30, a few seconds of
//     decoding), or a sequential JPEG with more scans than components is
//     refused with [ErrTooComplex] (which also matches ErrTooLarge). This
//     stops the progressive "CPU bomb", e.g. 100 scans over 8192×8192
//     pixels in 14 KiB, which image/jpeg takes tens of seconds and 320 MB
//     to decode, in under a millisecond.
//
// Every failure is returned as an error that names the file and wraps one of
// [ErrEmpty], [ErrUnknownFormat], [ErrCorrupt], [ErrTooLarge] (with
// [ErrTooComplex] for the JPEG budget) or [ErrNotRegular] (test with
// errors.Is); I/O errors are wrapped as they are. Panics raised by the
// underlying decoders on hostile input are recovered and reported as
// [ErrCorrupt].
//
// # Tensors
//
// [ToTensor] converts an image into a [Tensor]: float32 values in [0, 1],
// height × width × channels (HWC) layout. [Resize], [ResizeShorter],
// [CenterCrop], [Crop] and [Tensor.Normalize] follow the semantics of the
// torchvision transforms of the same name (see each function), so a model
// trained with a PyTorch pipeline sees the same numbers here.
//
// Functions taking dimensions or channel counts panic on invalid arguments
// (negative sizes, unsupported channel counts): those are programming
// errors, not data errors.
package imageio
