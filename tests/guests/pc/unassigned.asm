; Reads of physical memory nothing answers: on QEMU 7.2's pc they return 0 (the unassigned
; region's reads, with or without -d guest_errors), not the all-ones of a floating ISA bus.
; Bytes, words and dwords, aligned and not, above RAM (-m 128), in the PCI hole, around the
; IOAPIC and HPET pages, and after a write there (which goes nowhere). Ports are another matter:
; an unassigned port reads all ones on both.
%include "multiboot.inc"

main:
    mov esi, addresses
.next:
    mov ebx, [esi]
    test ebx, ebx
    jz .ports
    mov eax, ebx
    call hex32
    PRINT ":"
    movzx eax, byte [ebx + 1]
    call space_hex
    movzx eax, word [ebx + 2]
    call space_hex
    mov eax, [ebx + 4]
    call space_hex
    mov eax, [ebx + 0xffe]              ; across into the next page
    call space_hex
    mov dword [ebx + 8], 0x12345678
    mov eax, [ebx + 8]
    call space_hex
    call newline
    add esi, 4
    jmp .next
.ports:
    PRINT "port 0x300:"
    mov dx, 0x300
    in al, dx
    movzx eax, al
    call space_hex
    in eax, dx
    call space_hex
    call newline
    ret

space_hex:
    PRINT " "
    jmp hex32

addresses:
    dd 0x08000000, 0x10000000, 0x20000000, 0x80000000, 0xe0000000, 0xfebff000, 0xfec01000, 0xfed01000
    dd 0
