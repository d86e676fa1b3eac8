; golden: none
; A synthetic bzImage for the Linux/x86 boot protocol path of `-kernel`: one setup sector with a
; 2.15 setup header ("HdrS", LOADED_HIGH, code32_start 1 MiB), and a protected-mode part that the
; loader enters at its 32-bit entry with ESI = boot_params. It prints what the zero page says
; (loader type, command line, e820 map, initrd) and exits through isa-debug-exit. Real QEMU would
; run the (empty) real-mode setup instead, so this guest is ours only (tests/qemu-system/loaders_test.ts).

section setup start=0 vstart=0
[bits 16]
    times 0x1f1 db 0
    db 1                          ; setup_sects: setup is 2 sectors with the boot sector
    dw 0                          ; root_flags
    dd 0                          ; syssize
    dw 0                          ; ram_size
    dw 0                          ; vid_mode
    dw 0                          ; root_dev
    dw 0xaa55                     ; boot_flag
    jmp short real_mode_start     ; 0x200; its offset byte gives the header's end
    db "HdrS"                     ; 0x202
    dw 0x020f                     ; version
    dd 0                          ; realmode_swtch
    dw 0                          ; start_sys_seg
    dw 0                          ; kernel_version
    db 0                          ; type_of_loader
    db 1                          ; loadflags: LOADED_HIGH
    dw 0                          ; setup_move_size
    dd 0x100000                   ; code32_start
    dd 0                          ; ramdisk_image
    dd 0                          ; ramdisk_size
    dd 0                          ; bootsect_kludge
    dw 0                          ; heap_end_ptr
    db 0, 0                       ; ext_loader_ver, ext_loader_type
    dd 0                          ; cmd_line_ptr
    dd 0x0fffffff                 ; initrd_addr_max
    dd 0x200000                   ; kernel_alignment
    db 0, 0                       ; relocatable_kernel, min_alignment
    dw 0                          ; xloadflags
    dd 255                        ; cmdline_size
real_mode_start:
    cli
    hlt
    jmp real_mode_start
    times 1024 - ($ - $$) db 0

section kernel start=1024 vstart=0x100000
[bits 32]
    jmp _start
%include "serial.inc"
_start:
    mov esp, 0x90000 - 16
    mov ebx, esi
    PRINT "boot_params at 0x"
    mov eax, ebx
    call hex32
    PRINT " type_of_loader 0x"
    movzx eax, byte [ebx + 0x210]
    call hex32
    call newline
    PRINT "cmdline: "
    mov esi, [ebx + 0x228]
    call puts
    call newline
    movzx ecx, byte [ebx + 0x1e8]
    PRINT "e820 entries: 0x"
    mov eax, ecx
    call hex32
    call newline
    lea edi, [ebx + 0x2d0]
.e820:
    PRINT "  0x"
    mov eax, [edi]
    call hex32
    PRINT " +0x"
    mov eax, [edi + 8]
    call hex32
    PRINT " type "
    mov eax, [edi + 16]
    call hex32
    call newline
    add edi, 20
    loop .e820
    PRINT "initrd size 0x"
    mov eax, [ebx + 0x21c]
    call hex32
    PRINT " page-aligned "
    mov eax, [ebx + 0x218]
    and eax, 0xfff
    call hex32
    PRINT " below max "
    mov eax, [ebx + 0x218]
    add eax, [ebx + 0x21c]
    cmp eax, 0x0fffffff
    setbe al
    movzx eax, al
    call hex32
    call newline
    PRINT "initrd: "
    mov esi, [ebx + 0x218]
    call puts
    mov al, 0
    jmp exit
