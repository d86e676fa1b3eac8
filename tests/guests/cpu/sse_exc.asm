; MXCSR exception flags and rounding for SSE/SSE2 arithmetic, compares and conversions: each
; case loads MXCSR (all masked, the case's rounding), runs one instruction on xmm0 (and xmm1 or
; memory) and prints the low result and MXCSR. Then unmasked exceptions: #XM (vector 19) with
; CR4.OSXMMEXCPT, #UD without it, the destination left as it was.
;
; QEMU 7.2's softfloat departs from the SDM here, and we follow the SDM (golden sse_exc.sdm.txt):
; it never sets DE for a denormal operand, and it raises neither #XM nor #UD for an unmasked
; exception (it stores the masked response). The lines that differ:
; [differs] addss denormal
; [differs] cvtss2sd den
; [differs] addsd denormal
; [differs] divss unmasked
; [differs] addps PE unmasked
; [differs] sqrtsd IE unmask
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

%define RN 0x1f80
%define RD 0x3f80
%define RU 0x5f80
%define RZ 0x7f80

; S "name", mxcsr, a, b, insn: singles a, b in xmm0, xmm1
%macro S 5+
    mov dword [tmp], %3
    movss xmm0, [tmp]
    mov dword [tmp], %4
    movss xmm1, [tmp]
    mov dword [tmp], %2
    ldmxcsr [tmp]
    %5
    PRINT %1
    call report
%endmacro
; D "name", mxcsr, a, b, insn: doubles (qword constants) a, b in xmm0, xmm1
%macro D 5+
    mov dword [tmp], %3 & 0xffffffff
    mov dword [tmp + 4], %3 >> 32
    movsd xmm0, [tmp]
    mov dword [tmp], %4 & 0xffffffff
    mov dword [tmp + 4], %4 >> 32
    movsd xmm1, [tmp]
    mov dword [tmp], %2
    ldmxcsr [tmp]
    %5
    PRINT %1
    call report
%endmacro

%define ONE      0x3f800000
%define TWO      0x40000000
%define TINY_S   0x3f800001               ; 1 + 2^-23
%define MAX_S    0x7f7fffff
%define MIN_S    0x00800000               ; smallest normal
%define DEN_S    0x00000001
%define QNAN_S   0x7fc00000
%define SNAN_S   0x7f800001
%define INF_S    0x7f800000
%define NEG1_S   0xbf800000
%define THIRD_S  0x3eaaaaab
%define ONE_D    0x3ff0000000000000
%define THREE_D  0x4008000000000000
%define MAX_D    0x7fefffffffffffff
%define MIN_D    0x0010000000000000
%define DEN_D    0x0000000000000001
%define SNAN_D   0x7ff0000000000001
%define BIG_D    0x41f0000000000000        ; 2^32

main:
    call cpu_setup
    mov eax, cr4
    or eax, 0x200                         ; OSFXSR only, for now
    mov cr4, eax
    mov eax, cr0
    and eax, ~0x0c
    or eax, 0x22
    mov cr0, eax
    PRINT "sse_exc", 10
    S "addss exact      ", RN, ONE, ONE, addss xmm0, xmm1
    S "divss 1/3 RN     ", RN, ONE, 0x40400000, divss xmm0, xmm1
    S "divss 1/3 RD     ", RD, ONE, 0x40400000, divss xmm0, xmm1
    S "divss 1/3 RU     ", RU, ONE, 0x40400000, divss xmm0, xmm1
    S "divss -1/3 RZ    ", RZ, NEG1_S, 0x40400000, divss xmm0, xmm1
    S "addss 1+tiny RU  ", RU, ONE, 0x33000000, addss xmm0, xmm1
    S "subss 1-tiny RD  ", RD, ONE, 0x33000000, subss xmm0, xmm1
    S "mulss overflow   ", RN, MAX_S, TWO, mulss xmm0, xmm1
    S "mulss ovf RZ     ", RZ, MAX_S, TWO, mulss xmm0, xmm1
    S "mulss ovf RD neg ", RD, MAX_S, 0xc0000000, mulss xmm0, xmm1
    S "mulss underflow  ", RN, MIN_S, 0x3e000000, mulss xmm0, xmm1
    S "mulss uf exact   ", RN, MIN_S, 0x3f000000, mulss xmm0, xmm1
    S "mulss uf FTZ     ", RN | 0x8000, MIN_S, 0x3e000000, mulss xmm0, xmm1
    ; 2^-126 * (1 + 2^-13) * (1 - 2^-13) = 2^-126 * (1 - 2^-26): tininess is after rounding with
    ; unbounded exponent (SDM Vol. 1, 4.9.1.5), so RN (up to 2^-126) is not tiny; RZ is.
    S "mulss uf edge RN ", RN, 0x00800400, 0x3f7ff800, mulss xmm0, xmm1
    S "mulss uf edge RZ ", RZ, 0x00800400, 0x3f7ff800, mulss xmm0, xmm1
    S "addss denormal   ", RN, DEN_S, ONE, addss xmm0, xmm1
    S "addss den DAZ    ", RN | 0x40, DEN_S, DEN_S, addss xmm0, xmm1
    S "divss 1/0        ", RN, ONE, 0, divss xmm0, xmm1
    S "divss 0/0        ", RN, 0, 0, divss xmm0, xmm1
    S "subss inf-inf    ", RN, INF_S, INF_S, subss xmm0, xmm1
    S "sqrtss -1        ", RN, 0, NEG1_S, sqrtss xmm0, xmm1
    S "sqrtss 2         ", RN, 0, TWO, sqrtss xmm0, xmm1
    S "addss snan       ", RN, ONE, SNAN_S, addss xmm0, xmm1
    S "addss qnan       ", RN, ONE, QNAN_S, addss xmm0, xmm1
    S "mulps 4 lanes    ", RN, THIRD_S, THIRD_S, mulps xmm0, xmm1
    S "cmpltss qnan     ", RN, ONE, QNAN_S, cmpltss xmm0, xmm1
    S "cmpeqss qnan     ", RN, ONE, QNAN_S, cmpeqss xmm0, xmm1
    S "cmpeqss snan     ", RN, ONE, SNAN_S, cmpeqss xmm0, xmm1
    S "minss qnan       ", RN, ONE, QNAN_S, minss xmm0, xmm1
    S "maxss snan       ", RN, SNAN_S, ONE, maxss xmm0, xmm1
    S "comiss qnan      ", RN, ONE, QNAN_S, comiss xmm0, xmm1
    S "ucomiss qnan     ", RN, ONE, QNAN_S, ucomiss xmm0, xmm1
    S "ucomiss snan     ", RN, ONE, SNAN_S, ucomiss xmm0, xmm1
    S "cvtss2si 2.5 RN  ", RN, 0, 0x40200000, cvtss2si eax, xmm1
    S "cvtss2si 2.5 RU  ", RU, 0, 0x40200000, cvtss2si eax, xmm1
    S "cvttss2si 1e10   ", RN, 0, 0x501502f9, cvttss2si eax, xmm1
    S "cvtss2si qnan    ", RN, 0, QNAN_S, cvtss2si eax, xmm1
    S "cvtss2sd snan    ", RN, 0, SNAN_S, cvtss2sd xmm0, xmm1
    S "cvtss2sd den     ", RN, 0, DEN_S, cvtss2sd xmm0, xmm1
    S "cvtps2dq 2.5 RD  ", RD, 0, 0x40200000, cvtps2dq xmm0, xmm1
    S "cvtdq2ps 2^24+1  ", RN, 0, 0x01000001, cvtdq2ps xmm0, xmm1
    S "cvtsi2ss 2^24+1  ", RZ, 0, 0, cvtsi2ss xmm0, [odd24]
    D "addsd exact      ", RN, ONE_D, ONE_D, addsd xmm0, xmm1
    D "divsd 1/3 RN     ", RN, ONE_D, THREE_D, divsd xmm0, xmm1
    D "divsd 1/3 RU     ", RU, ONE_D, THREE_D, divsd xmm0, xmm1
    D "divsd 1/3 RZ     ", RZ, ONE_D, THREE_D, divsd xmm0, xmm1
    D "mulsd overflow   ", RN, MAX_D, MAX_D, mulsd xmm0, xmm1
    D "mulsd ovf RZ     ", RZ, MAX_D, MAX_D, mulsd xmm0, xmm1
    D "mulsd underflow  ", RN, MIN_D, THREE_D >> 1, mulsd xmm0, xmm1
    D "mulsd uf edge RN ", RN, 0x0010000002000000, 0x3feffffffc000000, mulsd xmm0, xmm1
    D "mulsd uf edge RZ ", RZ, 0x0010000002000000, 0x3feffffffc000000, mulsd xmm0, xmm1
    D "addsd denormal   ", RN, DEN_D, ONE_D, addsd xmm0, xmm1
    D "divsd 1/0        ", RN, ONE_D, 0, divsd xmm0, xmm1
    D "sqrtsd snan      ", RN, 0, SNAN_D, sqrtsd xmm0, xmm1
    D "cvtsd2ss ovf     ", RN, 0, MAX_D, cvtsd2ss xmm0, xmm1
    D "cvtsd2ss 1/3 RU  ", RU, 0, 0x3fd5555555555555, cvtsd2ss xmm0, xmm1
    D "cvtsd2si 2^32    ", RN, 0, BIG_D, cvtsd2si eax, xmm1
    D "cvttsd2si -2.5   ", RN, 0, 0xc004000000000000, cvttsd2si eax, xmm1
    D "comisd snan      ", RN, ONE_D, SNAN_D, comisd xmm0, xmm1

    ; unmasked: ZE unmasked, without then with CR4.OSXMMEXCPT
    EXPECT .ud
    S "divss unmasked   ", RN & ~0x200, ONE, 0, divss xmm0, xmm1
.ud:
    call report
    mov eax, cr4
    or eax, 0x400
    mov cr4, eax
    EXPECT .xm
    S "divss unmasked   ", RN & ~0x200, ONE, 0, divss xmm0, xmm1
.xm:
    call report
    EXPECT .xm2
    S "addps PE unmasked", RN & ~0x1000, THIRD_S, ONE, addps xmm0, xmm1
.xm2:
    call report
    EXPECT .xm3
    S "sqrtsd IE unmask ", RN & ~0x80, 0, 0, sqrtsd xmm0, [negd]
.xm3:
    call report
    ret

; report: " xmm0.lo64 eax mxcsr eflags" and a newline; keeps nothing
report:
    pushfd
    push eax
    movsd [tmp], xmm0
    stmxcsr [tmp + 8]
    mov eax, [tmp + 4]
    call sp_hex
    mov eax, [tmp]
    call hex32
    pop eax
    call sp_hex
    mov eax, [tmp + 8]
    call sp_hex
    pop eax
    and eax, 0x8d5
    call sp_hex
    jmp newline

; sp_hex: a space, then EAX in hex
sp_hex:
    push eax
    mov al, ' '
    call putc
    pop eax
    jmp hex32

align 8
tmp: dd 0, 0, 0, 0
odd24: dd 0x01000001
negd: dq -2.0
