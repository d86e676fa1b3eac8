; Architectural state that must survive a snapshot taken at any instruction: long loops that keep
; their live values in the x87 stack (with a non-default FCW), in all eight XMM registers (with
; MXCSR rounding down) and in all eight MMX registers, plus debug registers and MSRs written once
; at the start and read back at the end. tests/cpu/snapshot_test.ts stops it part way, restores
; the snapshot into a fresh CPU and checks the finish equals an uninterrupted run (and QEMU's).
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

%define ROUNDS 1500

main:
    call cpu_setup
    mov eax, cr0
    and eax, ~4                           ; EM off
    or eax, 2                             ; MP on
    mov cr0, eax
    mov eax, cr4
    or eax, 0x200                         ; OSFXSR
    mov cr4, eax
    ; Written once, read back at the end.
    mov eax, 0x00123450
    mov dr0, eax
    mov eax, 0x00234560
    mov dr1, eax
    mov eax, 0x00345670
    mov dr2, eax
    mov eax, 0x00456780
    mov dr3, eax
    mov ecx, 0x174                        ; SYSENTER_CS
    mov eax, 0x08
    xor edx, edx
    wrmsr
    mov ecx, 0x175                        ; SYSENTER_ESP
    mov eax, 0x0008f000
    wrmsr
    mov ecx, 0x176                        ; SYSENTER_EIP
    mov eax, 0x00101234
    wrmsr
    mov ecx, 0x277                        ; PAT
    mov eax, 0x00010406
    mov edx, 0x00070105
    wrmsr
    mov ecx, 0x200                        ; MTRRphysBase0
    mov eax, 0x00000006
    xor edx, edx
    wrmsr

    ; ---- phase 1: x87 and SSE side by side ----
    finit
    fldcw [fcw]                           ; round toward zero, double precision
    ldmxcsr [mxcsr]                       ; round down
    fld qword [x87_k]
    fld qword [x87_b]
    fld qword [x87_a]                     ; st0 = a, st1 = b, st2 = k
    movaps xmm0, [v0]
    movaps xmm1, [v1]
    movaps xmm2, [v0]
    movaps xmm3, [v1]
    movapd xmm4, [d0]
    movapd xmm5, [d1]
    movapd xmm6, [d0]
    movapd xmm7, [d1]
    mov ecx, ROUNDS
.p1:
    fadd st0, st1                         ; a + b
    fmul st0, st2                         ; (a + b) * k
    fxch st1                              ; next round adds the other way
    fmul qword [x87_m]                    ; keeps FDP pointing at memory
    addps xmm0, xmm1
    mulps xmm0, [vk]
    subps xmm1, xmm2
    addps xmm2, [vk]
    addps xmm3, xmm0
    mulps xmm3, [vk]
    addpd xmm4, xmm5
    mulpd xmm4, [dk]
    subpd xmm5, xmm6
    addpd xmm6, xmm7
    mulpd xmm6, [dk]
    divpd xmm7, [ddiv]
    addpd xmm7, xmm4
    dec ecx
    jnz .p1
    fstp qword [out_x87]
    fstp qword [out_x87 + 8]
    fnstcw [out_cw]
    fnstsw [out_sw]
    stmxcsr [out_mxcsr]
%assign r 0
%rep 8
    movdqu [out_xmm + r * 16], xmm %+ r
%assign r r + 1
%endrep
    ffree st0                             ; k is left: empty the stack before MMX
    fincstp

    ; ---- phase 2: MMX ----
%assign r 0
%rep 8
    movq mm %+ r, [m %+ %eval(r % 2)]
%assign r r + 1
%endrep
    mov ecx, ROUNDS
.p2:
    paddw mm0, mm1
    pxor mm1, mm0
    psllq mm1, 1
    paddd mm2, mm0
    pmullw mm3, mm2
    paddb mm3, [m1]
    psubusb mm4, mm3
    paddusw mm4, mm1
    psrlq mm5, 3
    por mm5, mm4
    pmaddwd mm6, mm5
    paddd mm6, mm7
    punpcklbw mm7, mm0
    pxor mm7, mm6
    dec ecx
    jnz .p2
%assign r 0
%rep 8
    movq [out_mm + r * 8], mm %+ r
%assign r r + 1
%endrep
    emms

    ; ---- report ----
    PRINT "x87 "
    mov esi, out_x87
    mov ecx, 4
    call dump
    PRINT "fcw "
    movzx eax, word [out_cw]
    call hex32
    PRINT " fsw "
    movzx eax, word [out_sw]
    call hex32
    PRINT " mxcsr "
    mov eax, [out_mxcsr]
    call hex32
    call newline
    mov esi, out_xmm
    mov ebx, 8
.xmm:
    PRINT "xmm "
    mov ecx, 4
    call dump
    add esi, 16
    dec ebx
    jnz .xmm
    PRINT "mm "
    mov esi, out_mm
    mov ecx, 16
    call dump
    PRINT "dr "
    mov eax, dr0
    call hex32
    PRINT " "
    mov eax, dr1
    call hex32
    PRINT " "
    mov eax, dr2
    call hex32
    PRINT " "
    mov eax, dr3
    call hex32
    call newline
    PRINT "msr"
    mov esi, msr_list
.msr:
    lodsd
    test eax, eax
    jz .msr_done
    mov ecx, eax
    rdmsr
    PRINT " "
    xchg eax, edx
    call hex32
    xchg eax, edx
    call hex32
    jmp .msr
.msr_done:
    call newline
    ret

; dump: ECX dwords from ESI in hex, space separated, then a newline (ESI kept)
dump:
    push esi
.d: lodsd
    call hex32
    mov al, ' '
    call putc
    loop .d
    call newline
    pop esi
    ret

section .data
align 16
v0: dd 1.5, -2.25, 1000.125, 0.3
v1: dd 0.7, 3.1, -0.01, 12.5
vk: dd 0.75, 0.5, 0.9, 0.25
d0: dq 1.0e10, -3.3
d1: dq 0.125, 7.77
dk: dq 0.5, 0.25
ddiv: dq 3.0, 1.1
m0: dq 0x0123456789abcdef
m1: dq 0x0f1e2d3c4b5a6978
x87_a: dq 2.5
x87_b: dq -1.75
x87_k: dq 0.61
x87_m: dq 1.0000001
fcw: dw 0x0e7f
mxcsr: dd 0x3f80
msr_list: dd 0x174, 0x175, 0x176, 0x277, 0x200, 0
align 16
out_xmm: times 8 * 16 db 0
out_mm: times 8 * 8 db 0
out_x87: times 16 db 0
out_cw: dw 0
out_sw: dw 0
out_mxcsr: dd 0
