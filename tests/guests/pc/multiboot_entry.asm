; qemu: -m 256
; The CPU state a multiboot kernel is entered with: QEMU's multiboot option ROM leaves more than
; the spec's EAX and EBX behind (ECX = the entry point, EDX = 0x511 with mem_upper's high half,
; EDI = 0x1000, its stack and flags, a five-entry GDT, the real-mode IDT limit), and kernels that
; forget to set up their own state run on it. Prints every register as found at the entry, so a
; golden from qemu-system-i386 pins them. Its own multiboot header: multiboot.inc's entry would
; overwrite ESP before main could see it. -m 256 puts a non-zero high half in EDX.
[bits 32]
[org 0x100000]

mb_header:
    dd 0x1BADB002
    dd 0x00010003
    dd -(0x1BADB002 + 0x00010003)
    dd mb_header
    dd 0x100000
    dd 0
    dd 0
    dd entry

%include "serial.inc"

entry:
    mov [saved + 0], eax
    mov [saved + 4], ecx
    mov [saved + 8], edx
    mov [saved + 12], ebx
    mov [saved + 16], esp
    mov [saved + 20], ebp
    mov [saved + 24], esi
    mov [saved + 28], edi
    mov esp, 0x90000
    pushfd
    pop dword [saved + 32]
    sgdt [gdtr]
    sidt [idtr]
    mov esi, names
    mov ebx, saved
.reg:
    call puts                          ; "eax=" ...
.skip:
    lodsb                              ; past the NUL
    test al, al
    jnz .skip
    mov eax, [ebx]
    call hex32
    call newline
    add ebx, 4
    cmp byte [esi], 0
    jne .reg
    PRINT "gdt="
    mov eax, [gdtr + 2]
    call hex32
    PRINT " "
    movzx eax, word [gdtr]
    call hex32
    PRINT 10, "idt="
    mov eax, [idtr + 2]
    call hex32
    PRINT " "
    movzx eax, word [idtr]
    call hex32
    PRINT 10, "cr0="
    mov eax, cr0
    call hex32
    PRINT 10, "cs="
    mov ax, cs
    movzx eax, ax
    call hex32
    PRINT " ds="
    mov ax, ds
    movzx eax, ax
    call hex32
    PRINT " ss="
    mov ax, ss
    movzx eax, ax
    call hex32
    call newline
    xor eax, eax
    jmp exit

names: db "eax=", 0, "ecx=", 0, "edx=", 0, "ebx=", 0, "esp=", 0, "ebp=", 0, "esi=", 0, "edi=", 0
       db "eflags=", 0, 0
saved: times 9 dd 0
gdtr: dw 0
      dd 0
idtr: dw 0
      dd 0
