; `-d guest_errors`: accesses QEMU 7.2's pc logs, and some it does not. Unassigned memory (the PCI
; hole above RAM, below the IOAPIC, after the IOAPIC's page): "Invalid read/write at addr ..., reason:
; rejected", an unaligned access split into its two aligned halves. The HPET covers 1 KiB of its
; page: the rest is a subpage access, logged at the address and at the page offset. The local
; APIC's registers repeat over 1 MiB (no log), unassigned I/O ports log nothing, and so do bad IDE
; commands, PIC/PIT/RTC/fw_cfg oddities. The i8042 logs controller commands it does not know.
; tests/qemu-system/guest_errors_test.ts compares the log with tests/golden/pc/guest_errors.log.
%include "multiboot.inc"

main:
    mov eax, [0xe0000000]
    mov dword [0xe0000010], 0x12345678
    mov ax, [0xe0000020]
    mov byte [0xe0000031], 1
    mov eax, [0xe0000002]               ; unaligned: two aligned reads
    mov ax, [0xe0000041]
    mov eax, [0x10000000]               ; just above 128 MiB of RAM
    mov eax, [0xfebff000]
    mov eax, [0xfec01000]
    mov word [0xfed01000], 1
    mov eax, [0xfed00400]               ; HPET page, past its registers
    mov eax, [0xfed00802]
    mov dword [0xfed00c00], 1
    mov eax, [0xfee01030]               ; APIC version, through an alias
    cmp eax, [0xfee00030]
    jne fail
    PRINT "mmio", 10
    mov dx, 0x300                       ; nothing at this port
    in al, dx
    out dx, al
    in eax, dx
    cmp eax, 0xffffffff
    jne fail
    mov al, 0x05                        ; i8042 commands QEMU does not know
    out 0x64, al
    mov al, 0x21
    out 0x64, al
    mov al, 0x61
    out 0x64, al
    mov al, 0xe0
    out 0x64, al
    mov al, 0xa1                        ; not even the version byte
    out 0x64, al
    mov al, 0xaa                        ; but the self-test, 0x55
    out 0x64, al
.obf:
    in al, 0x64
    test al, 1
    jz .obf
    in al, 0x60
    cmp al, 0x55
    jne fail
    mov dx, 0x1f6                       ; IDE: no drive, a bad command
    mov al, 0xa0
    out dx, al
    mov dx, 0x1f7
    mov al, 0xff
    out dx, al
    mov dx, 0x510                       ; fw_cfg: an unknown key, a data write
    mov ax, 0x7777
    out dx, ax
    inc dx
    in al, dx
    out dx, al
    mov al, 0x7f                        ; CMOS past the RTC's registers
    out 0x70, al
    in al, 0x71
    PRINT "ports", 10
    ret

fail:
    PRINT "FAIL", 10
    mov eax, 1
    jmp exit
