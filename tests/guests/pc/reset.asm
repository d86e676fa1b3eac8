; qemu: -no-reboot
; A system reset through the i8042 (command 0xFE pulses the CPU reset line). RAM survives a reset,
; so a marker at 3 MiB tells the second boot from the first. Under -no-reboot (the golden) the
; run ends at the reset with status 0; without it the machine boots the kernel again and the guest
; says so (tests/qemu-system/machine_test.ts compares that run with qemu-system-i386).
%include "multiboot.inc"

%define MARKER 0x300000

main:
    cmp dword [MARKER], 0x52455345      ; "ESER"
    je .second
    mov dword [MARKER], 0x52455345
    PRINT "first boot: resetting through the i8042", 10
.wait_ibf:
    in al, 0x64
    test al, 2
    jnz .wait_ibf
    mov al, 0xfe
    out 0x64, al
.hang:
    hlt
    jmp .hang
.second:
    mov dword [MARKER], 0
    PRINT "second boot: the reset came back here", 10
    ret
