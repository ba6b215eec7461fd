package gemm

import "unsafe"

// goKernel is the portable version of the strided 6×16 micro-kernel (see
// kernel6x16 in kernel_amd64.s for the contract).
func goKernel(kc int, a *float32, rsA, csA int, b *float32, c *float32, ldc int, alpha, beta float32) {
	var acc [MR][NR]float32
	ap := unsafe.Pointer(a)
	bs := unsafe.Slice(b, kc*NR)
	for p := 0; p < kc; p++ {
		brow := (*[NR]float32)(bs[p*NR : p*NR+NR])
		for i := 0; i < MR; i++ {
			av := *(*float32)(unsafe.Add(ap, 4*(i*rsA+p*csA)))
			row := &acc[i]
			for j := 0; j < NR; j++ {
				row[j] += av * brow[j]
			}
		}
	}
	storeTile(&acc, c, ldc, alpha, beta)
}

// goKernelIndirect is the portable version of the indirect 6×16 micro-kernel
// (see kernel6x16Indirect in kernel_amd64.s for the contract).
func goKernelIndirect(ntaps int, ptrs []unsafe.Pointer, tapLen int, b *float32, c *float32, ldc int, alpha, beta float32) {
	var acc [MR][NR]float32
	bs := unsafe.Slice(b, ntaps*tapLen*NR)
	for t := 0; t < ntaps; t++ {
		for i := 0; i < MR; i++ {
			row := &acc[i]
			src := unsafe.Slice((*float32)(ptrs[t*MR+i]), tapLen)
			for q, av := range src {
				off := (t*tapLen + q) * NR
				brow := (*[NR]float32)(bs[off : off+NR])
				for j := 0; j < NR; j++ {
					row[j] += av * brow[j]
				}
			}
		}
	}
	storeTile(&acc, c, ldc, alpha, beta)
}

func storeTile(acc *[MR][NR]float32, c *float32, ldc int, alpha, beta float32) {
	cs := unsafe.Slice(c, (MR-1)*ldc+NR)
	for i := 0; i < MR; i++ {
		row := (*[NR]float32)(cs[i*ldc : i*ldc+NR])
		if beta == 0 {
			for j := 0; j < NR; j++ {
				row[j] = alpha * acc[i][j]
			}
			continue
		}
		for j := 0; j < NR; j++ {
			row[j] = alpha*acc[i][j] + beta*row[j]
		}
	}
}
