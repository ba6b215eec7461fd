// expAVX2: the float32 exponential of exp32, 4 lanes in float64 (see exp_amd64.go).
//
// The constants, each repeated in 4 lanes (32 bytes): lo at +0; hi at +32; inv at +64;
// shift at +96; ln2hi at +128; ln2lo at +160; c12 at +192; c11 at +224; c10 at +256; c9
// at +288; c8 at +320; c7 at +352; c6 at +384; c5 at +416; c4 at +448; c3 at +480; c2 at
// +512; one at +544; bias at +576; midlo at +608; mask29 at +640; win at +672.
// lo, hi = -87, 88; inv = 1/ln 2; shift = 1.5·2^52; ln2hi + ln2lo = ln 2 (fdlibm's
// split); c12…c2 = 1/12!…1/2!; one = 1; bias = 1023; midlo = 2^28 − 256;
// mask29 = 2^29 − 1; win = 513.

//go:build amd64 && !purego

#include "textflag.h"

DATA expc<>+0(SB)/8, $0xc055c00000000000
DATA expc<>+8(SB)/8, $0xc055c00000000000
DATA expc<>+16(SB)/8, $0xc055c00000000000
DATA expc<>+24(SB)/8, $0xc055c00000000000
DATA expc<>+32(SB)/8, $0x4056000000000000
DATA expc<>+40(SB)/8, $0x4056000000000000
DATA expc<>+48(SB)/8, $0x4056000000000000
DATA expc<>+56(SB)/8, $0x4056000000000000
DATA expc<>+64(SB)/8, $0x3ff71547652b82fe
DATA expc<>+72(SB)/8, $0x3ff71547652b82fe
DATA expc<>+80(SB)/8, $0x3ff71547652b82fe
DATA expc<>+88(SB)/8, $0x3ff71547652b82fe
DATA expc<>+96(SB)/8, $0x4338000000000000
DATA expc<>+104(SB)/8, $0x4338000000000000
DATA expc<>+112(SB)/8, $0x4338000000000000
DATA expc<>+120(SB)/8, $0x4338000000000000
DATA expc<>+128(SB)/8, $0x3fe62e42fee00000
DATA expc<>+136(SB)/8, $0x3fe62e42fee00000
DATA expc<>+144(SB)/8, $0x3fe62e42fee00000
DATA expc<>+152(SB)/8, $0x3fe62e42fee00000
DATA expc<>+160(SB)/8, $0x3dea39ef35793c76
DATA expc<>+168(SB)/8, $0x3dea39ef35793c76
DATA expc<>+176(SB)/8, $0x3dea39ef35793c76
DATA expc<>+184(SB)/8, $0x3dea39ef35793c76
DATA expc<>+192(SB)/8, $0x3e21eed8eff8d898
DATA expc<>+200(SB)/8, $0x3e21eed8eff8d898
DATA expc<>+208(SB)/8, $0x3e21eed8eff8d898
DATA expc<>+216(SB)/8, $0x3e21eed8eff8d898
DATA expc<>+224(SB)/8, $0x3e5ae64567f544e4
DATA expc<>+232(SB)/8, $0x3e5ae64567f544e4
DATA expc<>+240(SB)/8, $0x3e5ae64567f544e4
DATA expc<>+248(SB)/8, $0x3e5ae64567f544e4
DATA expc<>+256(SB)/8, $0x3e927e4fb7789f5c
DATA expc<>+264(SB)/8, $0x3e927e4fb7789f5c
DATA expc<>+272(SB)/8, $0x3e927e4fb7789f5c
DATA expc<>+280(SB)/8, $0x3e927e4fb7789f5c
DATA expc<>+288(SB)/8, $0x3ec71de3a556c734
DATA expc<>+296(SB)/8, $0x3ec71de3a556c734
DATA expc<>+304(SB)/8, $0x3ec71de3a556c734
DATA expc<>+312(SB)/8, $0x3ec71de3a556c734
DATA expc<>+320(SB)/8, $0x3efa01a01a01a01a
DATA expc<>+328(SB)/8, $0x3efa01a01a01a01a
DATA expc<>+336(SB)/8, $0x3efa01a01a01a01a
DATA expc<>+344(SB)/8, $0x3efa01a01a01a01a
DATA expc<>+352(SB)/8, $0x3f2a01a01a01a01a
DATA expc<>+360(SB)/8, $0x3f2a01a01a01a01a
DATA expc<>+368(SB)/8, $0x3f2a01a01a01a01a
DATA expc<>+376(SB)/8, $0x3f2a01a01a01a01a
DATA expc<>+384(SB)/8, $0x3f56c16c16c16c17
DATA expc<>+392(SB)/8, $0x3f56c16c16c16c17
DATA expc<>+400(SB)/8, $0x3f56c16c16c16c17
DATA expc<>+408(SB)/8, $0x3f56c16c16c16c17
DATA expc<>+416(SB)/8, $0x3f81111111111111
DATA expc<>+424(SB)/8, $0x3f81111111111111
DATA expc<>+432(SB)/8, $0x3f81111111111111
DATA expc<>+440(SB)/8, $0x3f81111111111111
DATA expc<>+448(SB)/8, $0x3fa5555555555555
DATA expc<>+456(SB)/8, $0x3fa5555555555555
DATA expc<>+464(SB)/8, $0x3fa5555555555555
DATA expc<>+472(SB)/8, $0x3fa5555555555555
DATA expc<>+480(SB)/8, $0x3fc5555555555555
DATA expc<>+488(SB)/8, $0x3fc5555555555555
DATA expc<>+496(SB)/8, $0x3fc5555555555555
DATA expc<>+504(SB)/8, $0x3fc5555555555555
DATA expc<>+512(SB)/8, $0x3fe0000000000000
DATA expc<>+520(SB)/8, $0x3fe0000000000000
DATA expc<>+528(SB)/8, $0x3fe0000000000000
DATA expc<>+536(SB)/8, $0x3fe0000000000000
DATA expc<>+544(SB)/8, $0x3ff0000000000000
DATA expc<>+552(SB)/8, $0x3ff0000000000000
DATA expc<>+560(SB)/8, $0x3ff0000000000000
DATA expc<>+568(SB)/8, $0x3ff0000000000000
DATA expc<>+576(SB)/8, $0x00000000000003ff
DATA expc<>+584(SB)/8, $0x00000000000003ff
DATA expc<>+592(SB)/8, $0x00000000000003ff
DATA expc<>+600(SB)/8, $0x00000000000003ff
DATA expc<>+608(SB)/8, $0x000000000fffff00
DATA expc<>+616(SB)/8, $0x000000000fffff00
DATA expc<>+624(SB)/8, $0x000000000fffff00
DATA expc<>+632(SB)/8, $0x000000000fffff00
DATA expc<>+640(SB)/8, $0x000000001fffffff
DATA expc<>+648(SB)/8, $0x000000001fffffff
DATA expc<>+656(SB)/8, $0x000000001fffffff
DATA expc<>+664(SB)/8, $0x000000001fffffff
DATA expc<>+672(SB)/8, $0x0000000000000201
DATA expc<>+680(SB)/8, $0x0000000000000201
DATA expc<>+688(SB)/8, $0x0000000000000201
DATA expc<>+696(SB)/8, $0x0000000000000201
GLOBL expc<>(SB), RODATA|NOPTR, $704

// func expAVX2(d, x *float32, n int) int
// Requires: AVX, AVX2, FMA3
TEXT ·expAVX2(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX
	VMOVUPD expc<>+0(SB), Y14
	VMOVUPD expc<>+32(SB), Y15
	VMOVUPD expc<>+64(SB), Y13
	VMOVUPD expc<>+96(SB), Y12

loop:
	LEAQ 4(AX), DX
	CMPQ DX, CX
	JGT  done
	VCVTPS2PD (SI)(AX*4), Y0
	// In range: lo <= x <= hi (false for NaN).
	VCMPPD $0x1d, Y14, Y0, Y1
	VCMPPD $0x12, Y15, Y0, Y2
	VANDPD Y1, Y2, Y1
	// t = x/ln2 + shift: its low bits hold k = round(x/ln2); kf = t - shift.
	VMOVAPD Y0, Y3
	VFMADD213PD Y12, Y13, Y3
	VSUBPD Y12, Y3, Y4
	// r = x - kf*ln2hi - kf*ln2lo.
	VMOVAPD Y0, Y5
	VFNMADD231PD expc<>+128(SB), Y4, Y5
	VFNMADD231PD expc<>+160(SB), Y4, Y5
	// p = sum r^i/i!, i = 0..12, by Horner.
	VMOVUPD expc<>+192(SB), Y6
	VFMADD213PD expc<>+224(SB), Y5, Y6
	VFMADD213PD expc<>+256(SB), Y5, Y6
	VFMADD213PD expc<>+288(SB), Y5, Y6
	VFMADD213PD expc<>+320(SB), Y5, Y6
	VFMADD213PD expc<>+352(SB), Y5, Y6
	VFMADD213PD expc<>+384(SB), Y5, Y6
	VFMADD213PD expc<>+416(SB), Y5, Y6
	VFMADD213PD expc<>+448(SB), Y5, Y6
	VFMADD213PD expc<>+480(SB), Y5, Y6
	VFMADD213PD expc<>+512(SB), Y5, Y6
	VFMADD213PD expc<>+544(SB), Y5, Y6
	VFMADD213PD expc<>+544(SB), Y5, Y6
	// scale = 2^k: ((t's bits) + 1023) << 52.
	VPADDQ expc<>+576(SB), Y3, Y7
	VPSLLQ $52, Y7, Y7
	VMULPD Y7, Y6, Y6
	// Near a float32 rounding midpoint: ((bits - midlo) & mask29) < 513.
	VPSUBQ expc<>+608(SB), Y6, Y8
	VPAND expc<>+640(SB), Y8, Y8
	VMOVDQU expc<>+672(SB), Y9
	VPCMPGTQ Y8, Y9, Y9
	// Stop before this group if a lane is out of range or near a midpoint.
	VMOVMSKPD Y1, BX
	CMPQ BX, $15
	JNE  done
	VMOVMSKPD Y9, BX
	TESTQ BX, BX
	JNZ  done
	VCVTPD2PSY Y6, X6
	VMOVUPS X6, (DI)(AX*4)
	MOVQ DX, AX
	JMP loop

done:
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET
