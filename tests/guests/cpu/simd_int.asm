; MMX and SSE2 integer, move and control instructions: each line is one instruction's result on
; fixed operands (A op B), XMM printed as four dwords high to low, MMX as two. Then the faults:
; SSE without CR4.OSFXSR (#UD), with CR0.TS (#NM), CR0.EM (#UD), MOVDQA misaligned (#GP),
; LDMXCSR reserved bits (#GP), and FXSAVE/FXRSTOR carrying XMM and MXCSR.
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

; X "name", insn: xmm0 = A, xmm1 = B, run insn, print xmm0
%macro X 2+
    movdqu xmm0, [va]
    movdqu xmm1, [vb]
    %2
    PRINT %1, " "
    call dumpx
%endmacro
; M "name", insn: mm0 = A, mm1 = B, run insn, print mm0
%macro M 2+
    movq mm0, [va]
    movq mm1, [vb]
    %2
    PRINT %1, " "
    call dumpm
%endmacro
; R "name", insn: run insn (result in eax), print eax
%macro R 2+
    movdqu xmm0, [va]
    movdqu xmm1, [vb]
    movq mm0, [va]
    %2
    PRINT %1, " "
    call hex32
    call newline
%endmacro

main:
    call cpu_setup
    mov eax, cr4
    or eax, 0x600
    mov cr4, eax
    mov eax, cr0
    and eax, ~0x0c
    or eax, 0x22
    mov cr0, eax
    X "paddb", paddb xmm0, xmm1
    X "paddw", paddw xmm0, xmm1
    X "paddd", paddd xmm0, xmm1
    X "paddq", paddq xmm0, xmm1
    X "psubb", psubb xmm0, xmm1
    X "psubq", psubq xmm0, xmm1
    X "paddsb", paddsb xmm0, xmm1
    X "paddsw", paddsw xmm0, xmm1
    X "paddusb", paddusb xmm0, xmm1
    X "paddusw", paddusw xmm0, xmm1
    X "psubsb", psubsb xmm0, xmm1
    X "psubsw", psubsw xmm0, xmm1
    X "psubusb", psubusb xmm0, xmm1
    X "psubusw", psubusw xmm0, xmm1
    X "pcmpeqb", pcmpeqb xmm0, xmm1
    X "pcmpeqw", pcmpeqw xmm0, xmm1
    X "pcmpeqd", pcmpeqd xmm0, xmm1
    X "pcmpgtb", pcmpgtb xmm0, xmm1
    X "pcmpgtw", pcmpgtw xmm0, xmm1
    X "pcmpgtd", pcmpgtd xmm0, xmm1
    X "pand", pand xmm0, xmm1
    X "pandn", pandn xmm0, xmm1
    X "por", por xmm0, xmm1
    X "pxor", pxor xmm0, xmm1
    X "pminub", pminub xmm0, xmm1
    X "pmaxub", pmaxub xmm0, xmm1
    X "pminsw", pminsw xmm0, xmm1
    X "pmaxsw", pmaxsw xmm0, xmm1
    X "pavgb", pavgb xmm0, xmm1
    X "pavgw", pavgw xmm0, xmm1
    X "pmullw", pmullw xmm0, xmm1
    X "pmulhw", pmulhw xmm0, xmm1
    X "pmulhuw", pmulhuw xmm0, xmm1
    X "pmuludq", pmuludq xmm0, xmm1
    X "pmaddwd", pmaddwd xmm0, xmm1
    X "psadbw", psadbw xmm0, xmm1
    X "punpcklbw", punpcklbw xmm0, xmm1
    X "punpckhbw", punpckhbw xmm0, xmm1
    X "punpcklwd", punpcklwd xmm0, xmm1
    X "punpckhwd", punpckhwd xmm0, xmm1
    X "punpckldq", punpckldq xmm0, xmm1
    X "punpckhdq", punpckhdq xmm0, xmm1
    X "punpcklqdq", punpcklqdq xmm0, xmm1
    X "punpckhqdq", punpckhqdq xmm0, xmm1
    X "packsswb", packsswb xmm0, xmm1
    X "packuswb", packuswb xmm0, xmm1
    X "packssdw", packssdw xmm0, xmm1
    X "pshufd", pshufd xmm0, xmm1, 0x1b
    X "pshuflw", pshuflw xmm0, xmm1, 0x4e
    X "pshufhw", pshufhw xmm0, xmm1, 0xb1
    X "psllw", psllw xmm0, 3
    X "psrlw", psrlw xmm0, 3
    X "psraw", psraw xmm0, 3
    X "pslld", pslld xmm0, 7
    X "psrld", psrld xmm0, 7
    X "psrad", psrad xmm0, 31
    X "psllq", psllq xmm0, 12
    X "psrlq", psrlq xmm0, 12
    X "pslldq", pslldq xmm0, 5
    X "psrldq", psrldq xmm0, 3
    X "psrldq16", psrldq xmm0, 17
    X "psllw x", psllw xmm0, [count4]
    X "psraw x", psraw xmm0, [count99]
    X "psrlq x", psrlq xmm0, [count99]
    X "pinsrw", pinsrw xmm0, [vb + 2], 5
    X "movd", movd xmm0, [vb + 4]
    X "movq", movq xmm0, xmm1
    X "movq m", movq xmm0, [vb + 8]
    X "movss", movss xmm0, xmm1
    X "movsd m", movsd xmm0, [vb]
    X "movhlps", movhlps xmm0, xmm1
    X "movlhps", movlhps xmm0, xmm1
    X "movhps", movhps xmm0, [vb]
    X "movlpd", movlpd xmm0, [vb + 8]
    X "andnps", andnps xmm0, xmm1
    X "orpd", orpd xmm0, xmm1
    R "pmovmskb", pmovmskb eax, xmm1
    R "pextrw", pextrw eax, xmm1, 6
    R "movd r", movd eax, xmm1
    R "movmskps", movmskps eax, xmm1
    R "movmskpd", movmskpd eax, xmm1
    R "pmovmskb mm", pmovmskb eax, mm0
    M "paddb mm", paddb mm0, mm1
    M "psubsw mm", psubsw mm0, mm1
    M "pmaddwd mm", pmaddwd mm0, mm1
    M "punpckhbw mm", punpckhbw mm0, mm1
    M "packsswb mm", packsswb mm0, mm1
    M "pshufw mm", pshufw mm0, mm1, 0x1b
    M "psrlq mm", psrlq mm0, 8
    M "psadbw mm", psadbw mm0, mm1
    M "paddq mm", paddq mm0, mm1
    M "pinsrw mm", pinsrw mm0, eax, 3
    ; stores
    movdqu xmm1, [vb]
    movdqu [buf], xmm1
    movq [buf], xmm0
    movhps [buf + 8], xmm0
    movd [buf + 4], mm1
    mov eax, 0x11223344
    movnti [buf + 12], eax
    mov esi, buf
    PRINT "stores "
    call dumpmem
    ; maskmovdqu: bytes of xmm1 where xmm2's bit 7 is set, to [edi]
    pxor xmm2, xmm2
    pcmpeqb xmm2, xmm2
    psrlw xmm2, 8
    mov edi, buf
    maskmovdqu xmm1, xmm2
    PRINT "maskmovdqu "
    call dumpmem
    ; x87 tags after MMX and EMMS
    movq mm3, [va]
    fnstenv [env]
    PRINT "ftw mmx "
    mov eax, [env + 8]
    call hex32
    call newline
    emms
    fnstenv [env]
    PRINT "ftw emms "
    mov eax, [env + 8]
    call hex32
    call newline
    ; MXCSR
    stmxcsr [buf]
    PRINT "mxcsr "
    mov eax, [buf]
    call hex32
    call newline
    mov dword [buf], 0x7f80
    ldmxcsr [buf]
    stmxcsr [buf + 4]
    PRINT "mxcsr' "
    mov eax, [buf + 4]
    call hex32
    call newline
    ; FXSAVE/FXRSTOR with XMM
    movdqu xmm5, [va]
    fxsave [area]
    PRINT "fxsave "
    mov esi, area + 160 + 5 * 16
    call dumpmem
    PRINT "fxsave mxcsr "
    mov eax, [area + 24]
    call hex32
    call newline
    mov dword [area + 160 + 5 * 16], 0xcafef00d
    mov dword [area + 24], 0x1f80
    fxrstor [area]
    PRINT "fxrstor "
    movdqu [buf], xmm5
    mov esi, buf
    call dumpmem
    stmxcsr [buf]
    mov eax, [buf]
    PRINT "fxrstor mxcsr "
    call hex32
    call newline
    ; faults
    EXPECT .f1
    ldmxcsr [bad]
.f1:
    EXPECT .f2
    movdqa xmm0, [va + 1]
.f2:
    EXPECT .f3
    movaps xmm0, [va + 4]
.f3:
    mov eax, cr0
    or eax, 8
    mov cr0, eax
    EXPECT .f4
    paddb xmm0, xmm1
.f4:
    EXPECT .f5
    paddb mm0, mm1
.f5:
    clts
    mov eax, cr4
    and eax, ~0x200
    mov cr4, eax
    EXPECT .f6
    pxor xmm0, xmm0
.f6:
    PRINT "mmx without osfxsr "
    movq mm0, [va]
    paddb mm0, mm0
    movd eax, mm0
    call hex32
    call newline
    mov eax, cr0
    or eax, 4
    mov cr0, eax
    EXPECT .f7
    paddb mm0, mm1
.f7:
    ret

; dumpx: print xmm0 as four dwords, high first
dumpx:
    movdqu [out], xmm0
    mov esi, out
dumpmem:
    mov eax, [esi + 12]
    call hex32
    mov al, ' '
    call putc
    mov eax, [esi + 8]
    call hex32
    mov al, ' '
    call putc
    mov eax, [esi + 4]
    call hex32
    mov al, ' '
    call putc
    mov eax, [esi]
    call hex32
    call newline
    ret

dumpm:
    movq [out], mm0
    mov eax, [out + 4]
    call hex32
    mov al, ' '
    call putc
    mov eax, [out]
    call hex32
    call newline
    ret

align 16
va: dd 0x80017fff, 0x12345678, 0xfedcba98, 0x00ff7f80
vb: dd 0x7f7f8001, 0x87654321, 0x01020304, 0xff00ff01
    dd 0, 0, 0, 0
count4: dd 4, 0, 0, 0
count99: dd 99, 0, 0, 0
bad: dd 0x10000
out: times 16 db 0
buf: times 32 db 0
env: times 28 db 0
align 16
area: times 512 db 0
