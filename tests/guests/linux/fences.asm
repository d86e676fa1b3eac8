; Finding 3 of the Linux boot: the memory-ordering and cache-hint instructions the kernel patches in
; once CPUID says SSE/SSE2 (alternatives: mb() = MFENCE, rmb() = LFENCE, wmb() = SFENCE), and
; CLFLUSH/PREFETCHh/hint NOPs from its string and cache code. QEMU's TCG runs them as ordering
; no-ops; each line below is printed after its instruction ran. CLFLUSH is #UD: qemu32's CPUID has no
; CLFSH bit (the kernel checks it before using CLFLUSH). Ours has no 0F AE /5-/7 or 0F 18-1E rows.
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

%macro TRY 2+
    EXPECT %%next
    %2
    PRINT %1, 10
%%next:
%endmacro

main:
    call cpu_setup
    TRY "mfence", mfence
    TRY "lfence", lfence
    TRY "sfence", sfence
    TRY "clflush", clflush [buf]
    TRY "prefetchnta", prefetchnta [buf]
    TRY "prefetcht0", prefetcht0 [buf]
    TRY "prefetcht1", prefetcht1 [buf]
    TRY "prefetcht2", prefetcht2 [buf]
    TRY "nop 0f 19", db 0x0f, 0x19, 0x00
    TRY "nop 0f 1e", db 0x0f, 0x1e, 0xc0
    TRY "nopl 0f 1f /0", db 0x0f, 0x1f, 0x44, 0x00, 0x00
    TRY "pause", pause
    mov eax, [buf]
    call hex32
    call newline
    ret

align 64
buf: dd 0x12345678
