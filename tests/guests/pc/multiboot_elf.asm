; A multiboot kernel in ELF form (no a.out kludge): the file is an ELF32 executable, written out
; by hand since the guests are flat nasm output, with one PT_LOAD segment at 1 MiB. The loader must
; take the entry point and load address from the ELF headers, as QEMU's does for `-kernel guest.elf`.
[bits 32]
[org 0x100000]

%define MB_MAGIC 0x1BADB002
%define MB_FLAGS 0x00000003            ; page-align modules, memory info; no address fields

elf_header:
    db 0x7f, "ELF", 1, 1, 1, 0         ; 32-bit, little-endian, version 1, System V
    times 8 db 0
    dw 2                               ; e_type: executable
    dw 3                               ; e_machine: i386
    dd 1                               ; e_version
    dd _start                          ; e_entry
    dd program_header - elf_header     ; e_phoff
    dd 0                               ; e_shoff
    dd 0                               ; e_flags
    dw 52                              ; e_ehsize
    dw 32                              ; e_phentsize
    dw 1                               ; e_phnum
    dw 40                              ; e_shentsize
    dw 0                               ; e_shnum
    dw 0                               ; e_shstrndx
program_header:
    dd 1                               ; p_type: PT_LOAD
    dd 0                               ; p_offset
    dd elf_header                      ; p_vaddr
    dd elf_header                      ; p_paddr
    dd file_end - elf_header           ; p_filesz
    dd bss_end - elf_header            ; p_memsz: a zeroed bss follows the file
    dd 7                               ; p_flags: RWX
    dd 0x1000                          ; p_align

    align 4
mb_header:
    dd MB_MAGIC
    dd MB_FLAGS
    dd -(MB_MAGIC + MB_FLAGS)

_start:
    mov esp, 0x90000
    mov [boot_magic], eax
    jmp main

%include "serial.inc"

main:
    PRINT "multiboot ELF kernel, magic 0x"
    mov eax, [boot_magic]
    call hex32
    call newline
    PRINT "bss is zero: "
    mov edi, bss_start
    mov ecx, (bss_end - bss_start) / 4
    xor eax, eax
    repe scasd
    jne .dirty
    PRINT "yes", 10
    jmp .done
.dirty:
    PRINT "no", 10
.done:
    xor eax, eax
    jmp exit

boot_magic: dd 0
file_end:

bss_start equ file_end
bss_end equ file_end + 4096
