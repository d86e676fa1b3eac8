; CPUID leaves of the default model (qemu32) as the guest sees them: basic leaves
; 0..max and extended leaves 0x80000000..max, each as EAX EBX ECX EDX.
%include "multiboot.inc"

main:
    xor esi, esi
    call dump_range
    mov esi, 0x80000000
    call dump_range
    ret

; dump_range: prints leaves ESI..max where max is CPUID(ESI).EAX
dump_range:
    mov eax, esi
    cpuid
    mov edi, eax
.leaf:
    mov eax, esi
    xor ecx, ecx
    cpuid
    push eax
    mov eax, esi
    call hex32
    mov al, ':'
    call putc
    pop eax
    call space_hex
    mov eax, ebx
    call space_hex
    mov eax, ecx
    call space_hex
    mov eax, edx
    call space_hex
    call newline
    inc esi
    cmp esi, edi
    jbe .leaf
    ret

space_hex:
    push eax
    mov al, ' '
    call putc
    pop eax
    call hex32
    ret
