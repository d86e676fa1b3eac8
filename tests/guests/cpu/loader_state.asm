; The entry state QEMU's multiboot loader leaves: GDT (base, limit, descriptors), IDT, CR0,
; EFLAGS and the data segment selectors.
%include "multiboot.inc"
main:
    sgdt [gdtr]
    mov eax, [gdtr+2]
    call hex32
    call newline
    movzx eax, word [gdtr]
    call hex32
    call newline
    mov esi, [gdtr+2]
    mov ecx, 5
.l: mov eax, [esi+4]
    call hex32
    mov eax, [esi]
    call hex32
    call newline
    add esi, 8
    loop .l
    sidt [gdtr]
    mov eax, [gdtr+2]
    call hex32
    movzx eax, word [gdtr]
    call hex32
    call newline
    mov eax, cr0
    call hex32
    call newline
    pushfd
    pop eax
    call hex32
    call newline
    mov eax, ss
    call hex32
    mov eax, ds
    call hex32
    mov eax, es
    call hex32
    mov eax, fs
    call hex32
    mov eax, gs
    call hex32
    call newline
    ret
gdtr: dq 0
