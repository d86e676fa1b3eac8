; Seeded random vectors for the rounding machinery: 2048 operand pairs (an LCG,
; seed 0x2545F491) with exponents within 2^±128, each combined by FADD, FSUB,
; FMUL, FDIV, FSQRT, FRNDINT and stored to m64, plus FST m32, FISTP m64/m32,
; FBSTP and FCOMP (condition codes), under precision
; control "double" in all four rounding modes. With 53-bit precision an 80-bit
; FPU rounds exactly as ours does (results here stay inside the double range), so
; every checksum must match QEMU's. PC=single is left out: QEMU 7.2 misrounds
; random operands there (see fpu_qemu_diff.asm); fpu_precision covers it. Each
; line folds 64 pairs: every stored result and the exception flags (IE ZE OE UE
; PE; DE and C1 are left out, see fpu_qemu_diff.asm) after every operation.
%include "multiboot.inc"
%include "../fpu/fpu_report.inc"

%define A      BUF + 0x10
%define B      BUF + 0x18
%define R      BUF + 0x20
%define SUM    BUF + 0x30
%define SEED   BUF + 0x34
%define CHUNKS BUF + 0x38
%define TMP    BUF + 0x3c

; RANDOM_DOUBLE addr: a double with random sign and significand, exponent 2^-128..2^127.
%macro RANDOM_DOUBLE 1
    call rand
    mov [%1], eax
    call rand
    mov [TMP], eax
    and eax, 0x800fffff
    mov [%1 + 4], eax
    mov eax, [TMP]
    shr eax, 3
    and eax, 0x0ff00000
    add eax, (1023 - 128) << 20
    or [%1 + 4], eax
%endmacro

; FOLD: SUM = rol(SUM, 5) ^ R.lo ^ R.hi ^ (FSW & (C3 C2 C0 IE ZE OE UE PE));
; clears the exceptions.
%macro FOLD 0
    fnstsw ax
    and eax, 0x453d
    xor eax, [R]
    xor eax, [R + 4]
    mov [TMP], eax
    mov eax, [SUM]
    rol eax, 5
    xor eax, [TMP]
    mov [SUM], eax
    fnclex
%endmacro

; OP2 insn: R = A insn B (m64).
%macro OP2 1
    fld qword [A]
    %1 qword [B]
    fstp qword [R]
    FOLD
%endmacro

main:
    fninit
    mov dword [SEED], 0x2545f491
    mov dword [CHUNKS], 32
.chunk:
    mov dword [SUM], 0
    mov ecx, 64
.pair:
    RANDOM_DOUBLE A
    RANDOM_DOUBLE B
%assign rc 0
%rep 4
    fldcw [cw + 2 * rc]
    OP2 fadd
    OP2 fsub
    OP2 fmul
    OP2 fdiv
    fld qword [A]
    fabs
    fsqrt
    fstp qword [R]
    FOLD
    fld qword [B]
    frndint
    fstp qword [R]
    FOLD
    mov dword [R + 4], 0
    fld qword [A]
    fstp dword [R]
    FOLD
    fld qword [A]
    fistp qword [R]
    FOLD
    mov dword [R + 4], 0
    fld qword [B]
    fistp dword [R]
    FOLD
    fld qword [A]
    fbstp [R]
    FOLD
    fld qword [A]
    fcomp qword [B]
    FOLD
%assign rc rc + 1
%endrep
    dec ecx
    jnz .pair
    DUMP "chunk", SUM, 4
    dec dword [CHUNKS]
    jnz .chunk
    ret

; rand: EAX = the next LCG value (Numerical Recipes' constants).
rand:
    mov eax, [SEED]
    imul eax, eax, 1664525
    add eax, 1013904223
    mov [SEED], eax
    ret

cw: dw 0x027f, 0x067f, 0x0a7f, 0x0e7f   ; PC=double, RC nearest/down/up/chop, all masked
