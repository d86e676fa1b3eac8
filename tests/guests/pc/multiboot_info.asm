; qemu: -initrd tests/guests/pc/module_a.txt,tests/guests/pc/module_b.txt -append hello-cmdline
; The multiboot loader's view of the PC: prints the boot magic, the command line, the lower/upper
; memory sizes, the memory map and each module's string and first line, so the same guest under
; QEMU and under our machine shows the whole multiboot information structure.
%include "multiboot.inc"

main:
    PRINT "magic: 0x"
    mov eax, [mb_info_magic]
    call hex32
    call newline
    mov ebx, [mb_info_ptr]
    PRINT "flags: 0x"
    mov eax, [ebx]
    call hex32
    call newline
    PRINT "mem_lower: 0x"
    mov eax, [ebx + 4]
    call hex32
    PRINT " mem_upper: 0x"
    mov eax, [ebx + 8]
    call hex32
    call newline
    ; the command line is "<kernel path> <-append>": print what follows the path
    PRINT "cmdline after the kernel path: "
    mov esi, [ebx + 16]
.skip_path:
    lodsb
    cmp al, ' '
    jne .skip_path
    call puts
    call newline
    ; memory map: entries of (size, base64, length64, type)
    mov esi, [ebx + 48]
    mov ecx, [ebx + 44]
    add ecx, esi
.mmap:
    cmp esi, ecx
    jae .mods
    PRINT "mmap: base 0x"
    mov eax, [esi + 4]
    call hex32
    PRINT " length 0x"
    mov eax, [esi + 12]
    call hex32
    PRINT " type "
    mov eax, [esi + 20]
    call hex32
    call newline
    add esi, [esi]
    add esi, 4
    jmp .mmap
.mods:
    PRINT "mods_count: 0x"
    mov eax, [ebx + 20]
    call hex32
    call newline
    mov edi, [ebx + 24]
    mov ecx, [ebx + 20]
.mod:
    test ecx, ecx
    jz .done
    PRINT "module: "
    mov esi, [edi + 8]
    call puts
    PRINT " size 0x"
    mov eax, [edi + 4]
    sub eax, [edi]
    call hex32
    PRINT " page-aligned "
    mov eax, [edi]
    and eax, 0xfff
    call hex32
    PRINT " first line: "
    mov esi, [edi]
.line:
    lodsb
    cmp al, 10
    je .eol
    call putc
    jmp .line
.eol:
    call newline
    add edi, 16
    dec ecx
    jmp .mod
.done:
    ret
