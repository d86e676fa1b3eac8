; The multiboot information structure as the loader leaves it: flags, mem_lower/mem_upper,
; boot_device, module count, the memory map entries and the boot loader name. (The command line
; holds the kernel's path, which differs between machines, so only its presence is printed.)
%include "multiboot.inc"

main:
    mov ebx, [mb_info_ptr]
    PRINT "magic "
    mov eax, [mb_info_magic]
    call hex32
    call newline
    PRINT "flags "
    mov eax, [ebx]
    call hex32
    PRINT " mem_lower "
    mov eax, [ebx + 4]
    call hex32
    PRINT " mem_upper "
    mov eax, [ebx + 8]
    call hex32
    call newline
    PRINT "boot_device "
    mov eax, [ebx + 12]
    call hex32
    PRINT " mods "
    mov eax, [ebx + 20]
    call hex32
    PRINT " cmdline set "
    mov eax, [ebx + 16]
    test eax, eax
    setnz al
    movzx eax, al
    call hex32
    call newline
    PRINT "mmap length "
    mov eax, [ebx + 44]
    call hex32
    call newline
    mov esi, [ebx + 48]
    mov edi, esi
    add edi, [ebx + 44]
.entry:
    cmp esi, edi
    jae .name
    mov eax, [esi + 8]
    call hex32
    mov eax, [esi + 4]
    call hex32
    mov al, ' '
    call putc
    mov eax, [esi + 16]
    call hex32
    mov eax, [esi + 12]
    call hex32
    mov al, ' '
    call putc
    mov eax, [esi + 20]
    call hex32
    call newline
    add esi, [esi]
    add esi, 4
    jmp .entry
.name:
    PRINT "loader: "
    mov esi, [ebx + 64]
    call puts
    call newline
    ret
