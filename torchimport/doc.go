// Package torchimport converts PyTorch checkpoints of ResNets, and of SwAV models with
// their projection head and prototypes, into swav-go checkpoints, so the paper's own
// released weights can be used for inference (package infer) without Python.
//
// # Converting the released SwAV ResNet-50
//
// The SwAV authors publish their pretrained models as PyTorch files, e.g.
// swav_800ep_pretrain.pth.tar (ResNet-50, 800 epochs, 75.3% ImageNet linear top-1), linked
// from the facebookresearch/swav README. These machines cannot download it (they reach
// package registries only): fetch it elsewhere and copy it over. Then
//
//	swav-embed convert swav_800ep_pretrain.pth.tar --out swav-rn50.swav
//
// writes swav-rn50.swav, a checkpoint of kind "swav-model" holding the backbone, the
// 2048→2048→128 projection head with its batch norm and the 3000 prototypes, with SwAV's
// evaluation preprocessing (resize 256, centre crop 224, bilinear, mean 0.485 0.456 0.406,
// std 0.228 0.224 0.225) in its header. The command calls ConvertFile; from Go:
//
//	err := torchimport.ConvertFile("swav_800ep_pretrain.pth.tar", "swav-rn50.swav", torchimport.ConvertOptions{})
//
// The wider released models (RN50-w2, -w4, -w5) convert the same way: their width
// multiplier is read off conv1 (128, 256, 320 channels), and the ×5 model's head, which
// has no batch norm (Linear, ReLU, Linear), is recognised from its keys. Any
// torchvision-layout ResNet state dict converts too (torchvision's own resnet18/50
// weights, or a model fine-tuned from them), its fc classifier being dropped; it then has
// no head, and infer computes its pooled features. ConvertOptions sets what a state dict
// does not record: the preprocessing, batch norm's epsilon and momentum, float16 storage,
// or dropping the head.
//
// # Reading PyTorch files
//
// ReadStateDict reads both serialisations of torch.save: the zip archive of PyTorch 1.6
// and later, and the stream format of earlier versions, whichever a file uses (a
// ".pth.tar" name notwithstanding, neither is a tar file; the real tar format of
// PyTorch before 0.4 is refused with ErrUnsupported). Its pickle reader is written for the subset
// torch.save uses and never executes or imports anything the file names. It is bounded:
// sizes are checked against the file before allocating, so truncated, corrupt or hostile
// files produce errors (wrapping ErrCorrupt, ErrNotCheckpoint or ErrUnsupported), never
// panics. Training checkpoints ({"epoch", "state_dict", "optimizer", …}) are accepted: the
// state dict is taken from their "state_dict" entry and the other entries' tensors are
// not read.
//
// # Limits
//
// Only regular files are opened (a FIFO, device or directory is refused by name and
// reason, without blocking), of at most DefaultMaxFileBytes (4 GiB, above the 2.3 GB of
// the largest released model, ResNet-50-w5; ReadOptions.MaxFileBytes and
// `swav-embed convert --max-input-bytes` change it). What reading allocates is bounded
// too, so that a small hostile file cannot claim gigabytes: the storages read plus
// their float32 tensors by ReadOptions.MaxTensorBytes (by default three times the file
// plus 64 MiB: tensors that share one storage thousands of times, or broadcast one
// value to millions, are refused), the decoded pickle values by 256 MiB (a state dict's
// pickle needs a few MiB), and the zip directory listing by 16 MiB. Exceeding a limit
// gives an error wrapping ErrTooLarge.
//
// Convert refuses parameters stored as integers or bools (ErrArchitecture) and NaN or
// infinite values, or negative running variances (ErrInvalidValues), naming every
// offending tensor; the int64 num_batches_tracked counters are ignored.
//
// # Name mapping
//
// A "module." prefix (DataParallel) is removed, then
//
//	conv1.weight [O,I,kh,kw]          → backbone/conv1/kernel [kh,kw,I,O]
//	bn1.{weight,bias,running_mean,running_var}
//	                                  → backbone/bn1/{…}
//	layerS.B.convN.weight             → backbone/layerS/B/convN/kernel
//	layerS.B.bnN.*                    → backbone/layerS/B/bnN/*
//	layerS.B.downsample.0.weight      → backbone/layerS/B/downsample/0/kernel
//	layerS.B.downsample.1.*           → backbone/layerS/B/downsample/1/*
//	projection_head.0.{weight,bias}   → projection/0/{kernel [in,out], bias}
//	projection_head.1.* (BatchNorm1d) → projection/1/*
//	projection_head.3 (or .2 without batch norm)
//	                                  → projection/3
//	projection_head.{weight,bias} (a single Linear)
//	                                  → projection/0
//	prototypes.weight [K,D]           → prototypes/kernel [D,K]
//
// and fc.* and num_batches_tracked are ignored (listed in the header's Extra under
// ExtraKey). Everything else is an error.
package torchimport
