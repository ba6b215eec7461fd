package gemm

//go:generate go run -C asm . -out ../kernel_amd64.s -stubs ../kernel_amd64.go -pkg gemm
