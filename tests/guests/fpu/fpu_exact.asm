; x87 results that a double-based FPU computes exactly as an 80-bit one does: every
; vector here is exactly representable at 53 bits, or is an exception response, so
; our FPU must print exactly what QEMU prints. Covers loads/stores in every format,
; arithmetic in memory and register forms, integer and BCD conversion with each RC,
; compares (FCOM*/FUCOM*/FICOM/FCOMI*), FCMOVcc, FXAM, FPREM/FPREM1, FSCALE,
; FXTRACT, FRNDINT, FSQRT, masked exceptions, FSTENV/FSAVE/FRSTOR.
; Where QEMU 7.2 departs from the SDM (stack faults, C1, FOP, FPREM1's quotient
; bits, DE on loads, pointer fields of FXSAVE/FRSTOR) the vectors live in
; fpu_qemu_diff.asm instead, with the difference documented there.
%include "multiboot.inc"
%include "../fpu/fpu_report.inc"

main:
    fninit
    ENV "init env"
    fnstcw [BUF]
    DUMP "init fcw", BUF, 2

    ; ---- loads and stores in every format
    fld dword [f32_1p5]
    ST64 "m32 1.5 as m64"
    fld qword [f64_m2p25]
    ST80 "m64 -2.25 as m80"
    fld tword [f80_3]
    ST64 "m80 3 as m64"
    fld qword [f64_m2p25]
    fstp dword [BUF]
    DUMP "m64 -2.25 as m32", BUF, 4
    fild word [i16_m7]
    ST64 "m16 -7"
    fild dword [i32_big]
    ST64 "m32 123456789"
    fild qword [i64_big]
    ST80 "m64 2^52+1"
    fldz
    fchs
    ST80 "-0 m80"
    fld qword [f64_inf]
    ST80 "inf m80"
    fld qword [f64_qnan]
    ST80 "qnan m80"
    fld qword [f64_tiny]
    ST80 "m64 denormal as m80"
    fnclex

    ; ---- arithmetic, memory forms
    fld qword [f64_m2p25]
    fadd dword [f32_1p5]
    fmul qword [f64_m2p25]
    fsub dword [f32_1p5]
    fsubr qword [f64_m2p25]
    fdiv dword [f32_1p5]
    fdivr qword [f64_m2p25]
    ST64 "mem chain"
    fld1
    fiadd word [i16_m7]
    fimul dword [i32_3]
    fisub word [i16_m7]
    fisubr dword [i32_3]
    fidiv word [i16_m7]
    fidivr dword [i32_3]
    ST64 "int chain"
    SW "int chain sw"

    ; ---- arithmetic, register forms
    fld qword [f64_m2p25]          ; st1
    fld dword [f32_1p5]            ; st0
    fadd st0, st1
    fsub st1, st0
    fmul st0, st1
    fdivr st1, st0
    fsubr st0, st1
    fdiv st1, st0
    fxch st1
    ST64 "reg st0"
    ST64 "reg st1"
    fld1
    fld1
    fld1
    fld dword [f32_1p5]
    faddp st1, st0
    fmulp st2, st0
    fsubp st1, st0
    fld qword [f64_2p25]
    fdivrp st1, st0
    ST64 "popping forms"
    fld1
    fld qword [f64_m2p25]
    fsubrp st1, st0
    ST64 "fsubrp"
    fld1
    fld qword [f64_m2p25]
    fdivp st1, st0
    ST64 "fdivp"
    fld dword [f32_1p5]
    fld qword [f64_m2p25]
    fsub st1, st0
    fdiv st1, st0
    fstp st0
    ST64 "dc sub/div"

    ; ---- integer stores with each rounding mode
%assign rc 0
%rep 4
    RC rc
    fld qword [f64_2p5]
    fistp word [BUF]
    fld qword [f64_m2p5]
    fistp dword [BUF + 2]
    fld qword [f64_3p5]
    fistp qword [BUF + 6]
    fld qword [f64_m3p75]
    fist dword [BUF + 14]
    frndint
    fstp qword [BUF + 18]
    DUMP "fist rc", BUF, 26
    fnclex
%assign rc rc + 1
%endrep
    RC 0
    fld qword [f64_big]
    fistp dword [BUF]
    fld qword [f64_big]
    fistp word [BUF + 4]
    fld qword [f64_big]
    fistp qword [BUF + 6]
    DUMP "fist overflow", BUF, 14
    SW "fist overflow sw"
    fnclex

    ; ---- BCD
    fld qword [f64_bcd]
    fbstp [BUF]
    DUMP "fbstp", BUF, 10
    fbld [BUF]
    ST64 "fbld"
    fld qword [f64_m2p5]
    fbstp [BUF]
    DUMP "fbstp -2.5", BUF, 10
    fld qword [f64_1e40]
    fbstp [BUF]
    DUMP "fbstp overflow", BUF, 10
    SW "fbstp sw"
    fnclex

    ; ---- compares
    fld dword [f32_1p5]
    fcom qword [f64_m2p25]
    SW "fcom gt"
    fcom dword [f32_1p5]
    SW "fcom eq"
    ficom word [i16_m7]
    SW "ficom gt"
    ficom dword [i32_3]
    SW "ficom lt"
    fld qword [f64_qnan]
    fucom st1
    SW "fucom nan"
    fcom st1
    SW "fcom nan"
    fnclex
    fucomi st0, st1
    EFL "fucomi nan"
    fstp st0
    fld qword [f64_m2p25]
    fcomi st0, st1
    EFL "fcomi lt"
    fxch st1
    fucomi st0, st1
    EFL "fucomi gt"
    fld st0
    fcomip st0, st1
    EFL "fcomip eq"
    fcompp
    SW "fcompp"
    fldz
    ftst
    SW "ftst zero"
    fchs
    fld1
    fucompp
    SW "fucompp"
    fld qword [f64_m2p25]
    fcomp dword [f32_1p5]
    SW "fcomp"
    fld1
    ficomp word [i16_m7]
    SW "ficomp"

    ; ---- fcmovcc
    fld1
    fldz
    stc
    fcmovb st0, st1
    fst qword [BUF]
    clc
    fldz
    fcmovb st0, st2
    fst qword [BUF + 8]
    xor eax, eax                   ; ZF=1 PF=1
    fcmove st0, st2
    fst qword [BUF + 16]
    fldz
    fcmovne st0, st3
    fcmovu st0, st3
    fst qword [BUF + 24]
    DUMP "fcmov", BUF, 32
    fninit

    ; ---- fxam classes
    fld1
    fchs
    fxam
    SW "fxam -1"
    fldz
    fxam
    SW "fxam 0"
    fld qword [f64_inf]
    fxam
    SW "fxam inf"
    fld qword [f64_qnan]
    fxam
    SW "fxam nan"
    fld qword [f64_tiny]
    fnclex                         ; DE on loading a denormal: see fpu_qemu_diff.asm
    fxam
    SW "fxam denormal m64"
    ffree st0
    fxam
    SW "fxam empty"
    fninit

    ; ---- fprem / fprem1 / fscale / fxtract / fsqrt / fabs / fchs
    fild dword [i32_5]
    fild dword [i32_17]
    fprem
    SW "fprem 17,5"
    ST64 "fprem 17,5 r"
    fild dword [i32_18]
    fprem1
    ST64 "fprem1 18,5 r"
    fild dword [i32_m17]
    fprem
    SW "fprem -17,5"
    ST64 "fprem -17,5 r"
    fild dword [i32_m17]
    fprem1
    ST64 "fprem1 -17,5 r"
    fstp st0
    fld dword [f32_1p5]
    fld qword [f64_2e40]
    fprem
    SW "fprem partial"
    ST64 "fprem partial r"
    fstp st0
    fild dword [i32_5]
    fld qword [f64_m2p25]
    fscale
    ST64 "fscale"
    ST64 "fscale st1"
    fild dword [i32_m17]
    fxtract
    ST64 "fxtract sig"
    ST64 "fxtract exp"
    fld qword [f64_2p25]
    fsqrt
    ST64 "fsqrt"
    fld qword [f64_m2p25]
    fabs
    ST64 "fabs"
    fld qword [f64_3p5]
    fld1
    fpatan
    fstp st0
    fld qword [f64_3p5]
    frndint
    ST64 "frndint 3.5"
    fnclex

    ; ---- masked exceptions and stack faults
    fld1
    fldz
    fdivp st1, st0
    ST64 "1/0"
    SW "1/0 sw"
    fnclex
    fldz
    fldz
    fdivp st1, st0
    ST80 "0/0"
    SW "0/0 sw"
    fnclex
    fld1
    fchs
    fsqrt
    ST64 "sqrt -1"
    SW "sqrt -1 sw"
    fnclex
    fld qword [f64_inf]
    fld qword [f64_inf]
    fsubp st1, st0
    ST64 "inf-inf"
    fnclex
    fld qword [f64_snan]
    ST64 "snan via fld"
    SW "snan sw"
    fnclex
    fld qword [f64_snan]
    fstp tword [BUF]
    fld tword [BUF]
    fld1
    faddp st1, st0
    ST64 "snan+1"
    SW "snan+1 sw"
    fnclex
    fninit
    fld qword [f64_big]
    fmul st0, st0
    fst dword [BUF]
    DUMP "m32 overflow", BUF, 4
    fnclex
    fld qword [f64_tiny]
    fnclex
    fst dword [BUF]
    DUMP "m32 underflow", BUF, 4
    SW "m32 underflow sw"
    fninit

    ; ---- control instructions
    fld1
    fldz
    fdecstp
    SW "fdecstp"
    fincstp
    fincstp
    SW "fincstp"
    ffree st0
    fnstenv [BUF]
    DUMP "tag after ffree", BUF + 8, 2
    fninit
    fldpi
    fldl2e
    fldln2
    fldz
    fld1
    fnstenv [BUF]
    DUMP "tag const", BUF + 8, 2
    fninit
    mov word [BUF], 0x0c7f
    fldcw [BUF]
    fnstcw [BUF + 2]
    DUMP "fldcw", BUF + 2, 2
    fninit

    ; ---- fsave / frstor: the image itself differs from QEMU in FOP (see fpu_qemu_diff.asm),
    ; so check what FRSTOR restores through the registers and status words instead.
    fld qword [f64_m2p25]
    fld dword [f32_1p5]
    fldz
    fld qword [f64_inf]
    fnsave [BUF]
    SW "after fsave"
    fnstenv [BUF + 0x200]
    DUMP "tag after fsave", BUF + 0x208, 2
    frstor [BUF]
    fnstenv [BUF + 0x200]
    DUMP "fcw/fsw/ftw after frstor", BUF + 0x200, 12
    ST80 "frstor st0"
    ST80 "frstor st1"
    ST80 "frstor st2"
    ST80 "frstor st3"
    fninit
    ret

align 16
f32_1p5:   dd 1.5
f64_m2p25: dq -2.25
f64_2p25:  dq 2.25
f64_2p5:   dq 2.5
f64_m2p5:  dq -2.5
f64_3p5:   dq 3.5
f64_m3p75: dq -3.75
f64_big:   dq 1.0e20
f64_1e40:  dq 1.0e40
f64_bcd:   dq -1234567890123.0
f64_2e40:  dq 0x4840000000000000    ; 2^133
f64_inf:   dq 0x7ff0000000000000
f64_qnan:  dq 0x7ff8000000000123
f64_snan:  dq 0x7ff0000000000456
f64_tiny:  dq 0x0000000000000100
f80_3:     dt 3.0
i16_m7:    dw -7
i32_3:     dd 3
i32_5:     dd 5
i32_17:    dd 17
i32_18:    dd 18
i32_m17:   dd -17
i32_big:   dd 123456789
i64_big:   dq 0x0010000000000001
