; Finding 4 of the Linux boot: CPUID.1:EDX advertises MMX, SSE and SSE2 (as QEMU's qemu32 model
; does), so user space takes the SSE2 paths: glibc's i686 ifuncs (strlen/memchr/memcpy-sse2 in the
; static busybox) use MOVDQU/MOVDQA, PXOR, PCMPEQB, PMOVMSKB, BSF; the kernel saves the state with
; FXSAVE once CR4.OSFXSR is set. This guest does what an SSE2 strlen does on a 16-byte block, then
; MMX's EMMS and an SSE move, printing each step's result. Ours has no 0F 6x/7x/Dx/Ex/1x/2x/5x
; rows, so the first SSE2 instruction is an unknown opcode.
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

main:
    call cpu_setup
    mov eax, cr4
    or eax, 0x600                      ; OSFXSR | OSXMMEXCPT, as the kernel sets them
    mov cr4, eax
    mov eax, cr0
    and eax, ~0x0c                     ; no EM, no TS
    or eax, 0x02                       ; MP
    mov cr0, eax
    ; strlen of "linux-guest" (11 bytes) in a 16-byte aligned block
    pxor xmm0, xmm0
    movdqa xmm1, [text]
    pcmpeqb xmm1, xmm0
    pmovmskb eax, xmm1
    PRINT "zero mask "
    call hex32
    call newline
    bsf eax, eax
    PRINT "strlen "
    call hex32
    call newline
    ; unaligned load and store
    movdqu xmm2, [text + 1]
    movdqu [copy], xmm2
    PRINT "copy "
    mov esi, copy
    call puts
    call newline
    ; SSE: movaps, xorps to zero, store
    movaps xmm3, [text]
    xorps xmm3, xmm3
    movaps [copy], xmm3
    mov eax, [copy]
    PRINT "xorps "
    call hex32
    call newline
    ; MMX: movq, paddb, movd, emms
    movq mm0, [bytes]
    paddb mm0, mm0
    movd eax, mm0
    emms
    PRINT "paddb "
    call hex32
    call newline
    ret

align 16
text: db "linux-guest", 0, 0, 0, 0, 0
      times 16 db 0
copy: times 32 db 0
bytes: db 1, 2, 3, 4, 5, 6, 7, 8
