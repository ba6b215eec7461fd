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
// Before any pixel is decoded the image header is read and the pixel count is
// checked against [Options.MaxPixels], so a small hostile file cannot make
// the decoder allocate gigabytes (a "decompression bomb").
//
// Every failure is returned as an error that names the file and wraps one of
// [ErrEmpty], [ErrUnknownFormat], [ErrCorrupt] or [ErrTooLarge] (test with
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
