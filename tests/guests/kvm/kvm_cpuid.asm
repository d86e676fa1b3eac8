; What a guest sees of its hypervisor through CPUID, as Linux's kvm_detect looks for it: the
; hypervisor bit (leaf 1, ECX bit 31) and the signature at leaf 0x40000000. Prints
; "hypervisor bit: 1", then "signature: KVMKVMKVM" under -accel kvm (tcg offers no such leaf,
; and the line shows what leaf 0x40000000 returns instead).
%include "multiboot.inc"

main:
    PRINT "hypervisor bit: "
    mov eax, 1
    xor ecx, ecx
    cpuid
    shr ecx, 31
    mov al, cl
    add al, '0'
    call putc
    call newline
    PRINT "signature: "
    mov eax, 0x40000000
    xor ecx, ecx
    cpuid
    mov [sig], ebx
    mov [sig + 4], ecx
    mov [sig + 8], edx
    mov byte [sig + 12], 0
    mov esi, sig
.print:
    lodsb
    test al, al
    jz .done
    cmp al, ' '
    jb .dot
    cmp al, '~'
    jbe .put
.dot:
    mov al, '.'
.put:
    call putc
    jmp .print
.done:
    call newline
    ret

sig: times 16 db 0
