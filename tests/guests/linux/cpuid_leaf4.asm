; Finding 7 of the Linux boot: CPUID leaf 4 (deterministic cache parameters) depends on the subleaf
; in ECX. The kernel's find_num_cache_leaves() (arch/x86/kernel/cpu/cacheinfo.c) counts subleaves
; until the cache type in EAX[4:0] is 0 (null); QEMU's qemu32 answers L1d, L1i, L2, L3, then 0.
; `lib/cpu/models.ts` cpuid() ignores the subleaf, so every subleaf is the L1d cache and the kernel
; spins in that loop forever, right after "Calibrating delay loop". Leaf 2 and a subleaf of leaf 1
; (which must ignore ECX) are printed too.
%include "multiboot.inc"

main:
    xor esi, esi
.sub:
    PRINT "leaf 4."
    mov eax, esi
    call hex32
    mov eax, 4
    mov ecx, esi
    cpuid
    call regs
    inc esi
    cmp esi, 6
    jb .sub
    PRINT "leaf 2  "
    mov eax, 2
    xor ecx, ecx
    cpuid
    call regs
    PRINT "leaf 1.5"
    mov eax, 1
    mov ecx, 5
    cpuid
    and ebx, 0x00ffffff                ; the APIC id byte is per CPU
    call regs
    ret

; regs: prints EAX EBX ECX EDX and a newline
regs:
    push eax
    mov al, ' '
    call putc
    pop eax
    call hex32
    mov al, ' '
    call putc
    mov eax, ebx
    call hex32
    mov al, ' '
    call putc
    mov eax, ecx
    call hex32
    mov al, ' '
    call putc
    mov eax, edx
    call hex32
    call newline
    ret
